package authserver

import (
	"context"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// TestEndpointName: every endpoint is named by its path, a name in the
// path by a placeholder, and anything else is "other", so a scanner's
// paths never become metric labels.
func TestEndpointName(t *testing.T) {
	e := newEnv(t, svcOpenRegistration)
	for _, tt := range []struct{ path, want string }{
		{"/token", "/token"},
		{"/token/", "/token"},
		{"/introspect", "/introspect"},
		{"/", "/"},
		{"/.well-known/openid-configuration", "/.well-known/openid-configuration"},
		{"/register", "/register"},
		{"/register/some-client-id", "/register/{client_id}"},
		{"/register/a/b", "other"},
		{"/login", "/login"},
		{"/login/no-such-provider", "other"},
		{"/tokens", "other"},
		{"/wp-admin/setup.php", "other"},
		{"/token/x", "other"},
	} {
		if got := e.srv.EndpointName(tt.path); got != tt.want {
			t.Errorf("EndpointName(%q) = %q; want %q", tt.path, got, tt.want)
		}
	}
}

// TestRevocationLag: the lag is measured from the revocation's
// revoked_at to its announcement, and a revoked_at in the future (the
// revoking instance's clock ahead) counts as no lag.
func TestRevocationLag(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var lags []time.Duration
	e.srv.ObserveRevocationLag(func(d time.Duration) { lags = append(lags, d) })
	now := e.clock.Now()
	for _, id := range []string{"behind", "ahead"} {
		if err := e.store.CreateToken(ctx, store.Token{Kind: store.AccessToken, ID: id, ClientID: "c", Subject: "c",
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.RevokeToken(ctx, store.AccessToken, "behind", now.Add(-3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RevokeToken(ctx, store.AccessToken, "ahead", now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PollRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	// The store keeps revoked_at to the millisecond or so.
	if len(lags) != 2 || (lags[0]-3*time.Second).Abs() > 10*time.Millisecond || lags[1] != 0 {
		t.Errorf("lags %v; want [3s 0s]", lags)
	}
	if err := e.srv.PollRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	if len(lags) != 2 {
		t.Errorf("lags %v after a second poll; want each revocation observed once", lags)
	}
}
