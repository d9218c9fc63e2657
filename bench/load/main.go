// Command load requests client credentials tokens from several workers
// for a while and prints, each second, how many answers of each status
// came back: what an operator sees of the token endpoint while something
// happens to it (a database restart, a reload). It keeps every token it
// received and, at the end, introspects each to count any lost.
//
//	load -issuer http://127.0.0.1:9000 -client demo-service -secret demo-service-secret -seconds 20
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	issuer := flag.String("issuer", "", "issuer URL")
	id := flag.String("client", "", "client id")
	secret := flag.String("secret", "", "client secret")
	workers := flag.Int("workers", 4, "concurrent clients")
	seconds := flag.Int("seconds", 20, "how long")
	flag.Parse()
	base := strings.TrimSuffix(*issuer, "/")
	c := &http.Client{Timeout: 30 * time.Second}
	var (
		mu      sync.Mutex
		perSec  = map[int]map[string]int{}
		tokens  []string
		wg      sync.WaitGroup
		start   = time.Now()
		end     = start.Add(time.Duration(*seconds) * time.Second)
		retries = map[string]int{}
	)
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				status, tok, retry := post(c, base+"/token", url.Values{"grant_type": {"client_credentials"}}, *id, *secret)
				sec := int(time.Since(start).Seconds())
				mu.Lock()
				if perSec[sec] == nil {
					perSec[sec] = map[string]int{}
				}
				perSec[sec][status]++
				if tok != "" {
					tokens = append(tokens, tok)
				}
				if retry != "" {
					retries[retry]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	secs := make([]int, 0, len(perSec))
	for s := range perSec {
		secs = append(secs, s)
	}
	sort.Ints(secs)
	for _, s := range secs {
		var parts []string
		for st, n := range perSec[s] {
			parts = append(parts, fmt.Sprintf("%s=%d", st, n))
		}
		sort.Strings(parts)
		fmt.Printf("second %2d: %s\n", s, strings.Join(parts, " "))
	}
	fmt.Printf("Retry-After values seen: %v\n", retries)
	lost := 0
	for _, tok := range tokens {
		form := url.Values{"token": {tok}}
		req, _ := http.NewRequest(http.MethodPost, base+"/introspect", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(*id), url.QueryEscape(*secret))
		resp, err := c.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "introspect:", err)
			os.Exit(1)
		}
		var in struct {
			Active bool `json:"active"`
		}
		json.NewDecoder(resp.Body).Decode(&in)
		resp.Body.Close()
		if !in.Active {
			lost++
		}
	}
	fmt.Printf("%d tokens received, %d not active afterwards\n", len(tokens), lost)
}

// post sends form with Basic client authentication; it returns the
// status (with the OAuth error code for an error), the access token of a
// 200, and a Retry-After header.
func post(c *http.Client, u string, form url.Values, id, secret string) (string, string, string) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := c.Do(req)
	if err != nil {
		return "transport_error", "", ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	json.Unmarshal(body, &r)
	status := fmt.Sprint(resp.StatusCode)
	if r.Error != "" {
		status += ":" + r.Error
	}
	return status, r.AccessToken, resp.Header.Get("Retry-After")
}
