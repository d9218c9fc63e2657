package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Revoke revokes a refresh token at the provider (RFC 7009), so that a
// signed-out session's grant cannot be used again. A provider without a
// revocation endpoint is not an error: the session itself is ended.
func (l *Login) Revoke(ctx context.Context, refreshToken string) error {
	if err := l.load(ctx); err != nil {
		return err
	}
	if l.RevocationURL == "" || refreshToken == "" {
		return nil
	}
	status, _, err := postClientForm(ctx, l.HTTPClient, l.RevocationURL, l.ClientID, l.ClientSecret,
		url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}})
	if err != nil {
		return fmt.Errorf("revoking the refresh token: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("revoking the refresh token: status %d", status)
	}
	return nil
}

// postClientForm posts a form to an endpoint of a provider as a client
// with client_secret_basic (the id and secret form-encoded, RFC 6749
// §2.3.1), within 10 seconds, and returns the status and at most 64 KiB of
// the body.
func postClientForm(ctx context.Context, client *http.Client, endpoint, clientID, secret string, form url.Values) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}
