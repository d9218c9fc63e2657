package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: client ports|token|tokens|send|refresh|hash|session|check ..."))
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "ports":
		err = ports(args)
	case "token":
		err = token(args)
	case "session":
		err = session(args)
	case "check":
		err = check(args)
	case "tokens":
		err = tokens(args)
	case "send":
		err = send(args)
	case "refresh":
		err = refresh(args)
	case "hash":
		err = hash(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "client:", err)
	os.Exit(1)
}

// ports prints N distinct free loopback ports. They are free when
// checked; the caller binds them right after.
func ports(args []string) error {
	if len(args) != 1 {
		return errors.New("ports N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return fmt.Errorf("ports %q: want a positive number", args[0])
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// token gets an access token with the client credentials grant.
func token(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	issuer := fs.String("issuer", "", "issuer URL")
	id := fs.String("client", "", "client id")
	secret := fs.String("secret", "", "client secret")
	scope := fs.String("scope", "", "scope")
	if err := fs.Parse(args); err != nil {
		return err
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if *scope != "" {
		form.Set("scope", *scope)
	}
	t, err := tokenRequest(&http.Client{Timeout: 30 * time.Second}, *issuer, *id, *secret, form)
	if err != nil {
		return err
	}
	fmt.Println(t.AccessToken)
	return nil
}

var (
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// session signs in as a browser would: the protected page redirects to
// the sign-in page, the form is posted, and the redirects lead back
// through the gateway's callback, which sets the session cookie. It
// prints the cookie as NAME=VALUE.
func session(args []string) error {
	fs := flag.NewFlagSet("session", flag.ContinueOnError)
	target := fs.String("url", "", "a URL protected with accept session")
	user := fs.String("user", "", "username")
	pass := fs.String("password", "", "password")
	name := fs.String("cookie", "authgate_session_gw", "session cookie name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second} // follows redirects, keeping cookies
	get := func(u string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept", "text/html")
		return do(c, req)
	}
	resp, body, err := get(*target)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: want the sign-in page, got %d %.300s", *target, resp.StatusCode, body)
	}
	resp, body, err = signIn(c, resp, body, *user, *pass)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != *target {
		return fmt.Errorf("after signing in: %d at %s, want 200 at %s: %.300s", resp.StatusCode, resp.Request.URL, *target, body)
	}
	u, _ := url.Parse(*target)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == *name {
			fmt.Printf("%s=%s\n", ck.Name, ck.Value)
			return nil
		}
	}
	return fmt.Errorf("signed in, but no %s cookie for %s", *name, *target)
}

// check GETs url with the headers given and wants 200 (and text in the
// body, if set): the benchmark must not measure refusals.
func check(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	target := fs.String("url", "", "URL")
	header := fs.String("header", "", "a request header, Name: value")
	want := fs.String("want", "", "text the body must contain")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req, _ := http.NewRequest(http.MethodGet, *target, nil)
	if *header != "" {
		k, v, ok := strings.Cut(*header, ":")
		if !ok {
			return fmt.Errorf("header %q: want Name: value", *header)
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, body, err := do(c, req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), *want) {
		return fmt.Errorf("GET %s: %d %.300s (want 200 with %q)", *target, resp.StatusCode, body, *want)
	}
	return nil
}

func do(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}
