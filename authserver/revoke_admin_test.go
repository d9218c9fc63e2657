package authserver

import (
	"context"
	"errors"
	"testing"
)

// TestRevokeTokensByOperator: RevokeTokens revokes by jti, client or
// subject, counts only records not revoked before, announces the
// revoked access tokens on the revocation feed at once, and refuses an
// unknown jti, an empty value and an unknown way.
func TestRevokeTokensByOperator(t *testing.T) {
	e := newEnv(t, nil)
	var log revocationLog
	log.subscribe(e.srv)
	ctx := context.Background()

	one, two, three := e.svcToken("svc", "svc-secret", nil), e.svcToken("svc", "svc-secret", nil), e.svcToken("svc", "svc-secret", nil)
	if n, err := e.srv.RevokeTokens(ctx, RevokeByJTI, jti(t, one)); err != nil || n != 1 {
		t.Fatalf("by jti: %d, %v; want 1", n, err)
	}
	if e.svcActive(one) || !e.svcActive(two) || !log.heard(jti(t, one)) {
		t.Fatal("by jti: want exactly that token inactive and announced")
	}
	if n, err := e.srv.RevokeTokens(ctx, RevokeByJTI, jti(t, one)); err != nil || n != 0 {
		t.Errorf("by jti again: %d, %v; want 0", n, err)
	}
	if _, err := e.srv.RevokeTokens(ctx, RevokeByJTI, "no-such-jti"); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("an unknown jti: %v", err)
	}

	if n, err := e.srv.RevokeTokens(ctx, RevokeByClient, "svc"); err != nil || n != 2 {
		t.Fatalf("by client: %d, %v; want the 2 tokens still active", n, err)
	}
	if e.svcActive(two) || e.svcActive(three) || !log.heard(jti(t, two)) || !log.heard(jti(t, three)) {
		t.Fatal("by client: want both tokens inactive and announced")
	}
	if n, err := e.srv.RevokeTokens(ctx, RevokeByClient, "svc"); err != nil || n != 0 {
		t.Errorf("by client again: %d, %v; want 0", n, err)
	}

	// A client credentials token's subject is the client.
	four := e.svcToken("svc", "svc-secret", nil)
	if n, err := e.srv.RevokeTokens(ctx, RevokeBySubject, "svc"); err != nil || n != 1 {
		t.Fatalf("by subject: %d, %v; want 1", n, err)
	}
	if e.svcActive(four) || !log.heard(jti(t, four)) {
		t.Error("by subject: want the token inactive and announced")
	}

	if _, err := e.srv.RevokeTokens(ctx, RevokeByClient, ""); err == nil {
		t.Error("an empty client was accepted")
	}
	if _, err := e.srv.RevokeTokens(ctx, "family", "x"); err == nil {
		t.Error("an unknown way was accepted")
	}
}

// TestRevokeOneAccessTokenOfAFamily: revoking one access token by its
// jti revokes that token only. The refresh tokens of its family, and the
// tokens they are exchanged for later, stay good (it used to make every
// later token of the family be stored revoked, while the refresh still
// answered 200).
func TestRevokeOneAccessTokenOfAFamily(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.signedIn("openid", "offline_access")
	if n, err := e.srv.RevokeTokens(context.Background(), RevokeByJTI, jti(t, tok.AccessToken)); err != nil || n != 1 {
		t.Fatalf("by jti: %d, %v; want 1", n, err)
	}
	if e.svcActive(tok.AccessToken) {
		t.Fatal("the revoked access token is active")
	}
	next := e.signinRefreshOK("app", tok.RefreshToken, "")
	at, _ := next["access_token"].(string)
	rt, _ := next["refresh_token"].(string)
	if !e.svcActive(at) || !e.svcActive(rt) {
		t.Errorf("after one access token of the family was revoked, a refresh gave tokens active: access %v, refresh %v; want both",
			e.svcActive(at), e.svcActive(rt))
	}
}
