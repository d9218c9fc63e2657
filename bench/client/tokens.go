package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// tokens prints N access tokens from the client credentials grant, one
// per line, fetched by 8 workers: the revocation benchmark's pool.
func tokens(args []string) error {
	fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
	issuer := fs.String("issuer", "", "issuer URL")
	id := fs.String("client", "", "client id")
	secret := fs.String("secret", "", "client secret")
	n := fs.Int("n", 1000, "how many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	out := make([]string, *n)
	err := parallel(*n, 8, func(i int) error {
		t, err := tokenRequest(c, *issuer, *id, *secret, url.Values{"grant_type": {"client_credentials"}})
		out[i] = t.AccessToken
		return err
	})
	if err != nil {
		return err
	}
	fmt.Println(strings.Join(out, "\n"))
	return nil
}

// refresh signs in once, then runs the authorization code flow with PKCE
// N times for a client that skips consent, and prints the N refresh
// tokens, one per line: the refresh benchmark's starting pool.
func refresh(args []string) error {
	fs := flag.NewFlagSet("refresh", flag.ContinueOnError)
	issuer := fs.String("issuer", "", "issuer URL")
	id := fs.String("client", "", "client id")
	secret := fs.String("secret", "", "client secret")
	redirect := fs.String("redirect", "", "the client's redirect URI (never contacted)")
	user := fs.String("user", "", "username")
	pass := fs.String("password", "", "password")
	n := fs.Int("n", 100, "how many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	jar, _ := cookiejar.New(nil)
	stop := func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), *redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: stop}
	api := &http.Client{Timeout: 30 * time.Second}
	for i := range *n {
		verifier := randomString()
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{
			"response_type": {"code"}, "client_id": {*id}, "redirect_uri": {*redirect},
			"scope": {"openid offline_access"}, "state": {randomString()},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		}
		req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(*issuer, "/")+"/authorize?"+q.Encode(), nil)
		req.Header.Set("Accept", "text/html")
		resp, body, err := do(browser, req)
		if err != nil {
			return err
		}
		if i == 0 && resp.StatusCode == http.StatusOK {
			if resp, body, err = signIn(browser, resp, body, *user, *pass); err != nil {
				return err
			}
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode/100 != 3 || loc.Query().Get("code") == "" {
			return fmt.Errorf("authorization %d: want a redirect with a code, got %d %s %.300s", i, resp.StatusCode, resp.Header.Get("Location"), body)
		}
		t, err := tokenRequest(api, *issuer, *id, *secret, url.Values{
			"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {*redirect}, "code_verifier": {verifier},
		})
		if err != nil {
			return err
		}
		if t.RefreshToken == "" {
			return errors.New("the token response has no refresh_token")
		}
		fmt.Println(t.RefreshToken)
	}
	return nil
}

// signIn posts the sign-in form on page and returns the response to it.
func signIn(c *http.Client, resp *http.Response, page []byte, user, pass string) (*http.Response, []byte, error) {
	m := formAction.FindSubmatch(page)
	if m == nil || !strings.Contains(string(page), `name="password"`) {
		return nil, nil, fmt.Errorf("want the sign-in page, got %d %.300s", resp.StatusCode, page)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		return nil, nil, fmt.Errorf("sign-in form action %q: %v", m[1], err)
	}
	form := url.Values{}
	for _, f := range hiddenField.FindAllSubmatch(page, -1) {
		form.Set(html.UnescapeString(string(f[1])), html.UnescapeString(string(f[2])))
	}
	form.Set("username", user)
	form.Set("password", pass)
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	return do(c, req)
}

// tokenResponse is the part of a token response the helper reads.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// tokenRequest posts form to the token endpoint with HTTP Basic client
// authentication and wants a 200 with an access token.
func tokenRequest(c *http.Client, issuer, id, secret string, form url.Values) (tokenResponse, error) {
	req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(issuer, "/")+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, body, err := do(c, req)
	if err != nil {
		return tokenResponse{}, err
	}
	var t tokenResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &t) != nil || t.AccessToken == "" {
		return tokenResponse{}, fmt.Errorf("token endpoint: %d %.300s", resp.StatusCode, body)
	}
	return t, nil
}

// hash prints a bcrypt hash (cost 10) of the secret given.
func hash(args []string) error {
	if len(args) != 1 {
		return errors.New("hash SECRET")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(args[0]), 10)
	if err != nil {
		return err
	}
	fmt.Println(string(h))
	return nil
}

// randomString is 32 random bytes, base64url: a PKCE verifier or a state.
func randomString() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
