package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// send GETs a URL once with each token of a file (one a line) as a bearer
// token, from several workers, and wants a 200 with the text for every
// one: the cache benchmark's fill.
func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	target := fs.String("url", "", "a URL protected with accept bearer")
	file := fs.String("file", "", "the tokens, one a line")
	want := fs.String("want", "", "text the body must contain")
	workers := fs.Int("workers", 8, "concurrent requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *workers < 1 {
		return errors.New("send: -workers must be positive")
	}
	tokens, err := readLines(*file)
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return parallel(len(tokens), *workers, func(i int) error {
		req, _ := http.NewRequest(http.MethodGet, *target, nil)
		req.Header.Set("Authorization", "Bearer "+tokens[i])
		resp, body, err := do(c, req)
		if err == nil && (resp.StatusCode != http.StatusOK || !strings.Contains(string(body), *want)) {
			// The token itself is never printed: its line number is.
			err = fmt.Errorf("token on line %d: %d %.300s (want 200 with %q)", i+1, resp.StatusCode, body, *want)
		}
		return err
	})
}

// parallel runs fn for 0..n-1 on that many workers and returns the first
// error any returned.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// readLines returns the non-empty lines of a file.
func readLines(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" {
			out = append(out, line)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, nil
}
