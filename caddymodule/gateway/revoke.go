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
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.RevocationURL, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("revoking the refresh token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(l.ClientID), url.QueryEscape(l.ClientSecret))
	client := l.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("revoking the refresh token: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // drained for reuse
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revoking the refresh token: status %d", resp.StatusCode)
	}
	return nil
}
