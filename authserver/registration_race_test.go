package authserver

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// spentOnRead is a store on which another registration spends each
// initial access token just after this one read it: the race between the
// check and the spend.
type spentOnRead struct{ store.Store }

func (s spentOnRead) GetToken(ctx context.Context, kind store.TokenKind, id string) (store.Token, error) {
	rec, err := s.Store.GetToken(ctx, kind, id)
	if err == nil && kind == store.InitialAccessToken {
		s.Store.ConsumeToken(ctx, kind, id, time.Now()) //nolint:errcheck // the other registration's spend
	}
	return rec, err
}

// TestRegistrationTokenSpentByAnother: a registration whose single-use
// initial access token another registration spent between the check and
// the spend is refused like any bad token (401 invalid_token with a
// Bearer challenge), and registers nothing.
func TestRegistrationTokenSpentByAnother(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		cfg.Store = spentOnRead{cfg.Store}
		cfg.Registration = RegistrationPolicy{Mode: RegistrationToken}
	})
	token, err := e.srv.IssueInitialAccessToken(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.url("/register"), strings.NewReader(`{"redirect_uris":["https://app.example/cb"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	r := e.do(nil, req)
	if r.status != http.StatusUnauthorized || r.errorCode(t) != "invalid_token" {
		t.Fatalf("%d %s; want 401 invalid_token", r.status, r.body)
	}
	if c := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer ") || !strings.Contains(c, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q; want a Bearer invalid_token challenge", c)
	}
}
