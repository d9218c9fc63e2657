package authserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/store"
)

// outageStore fails every operation with store.ErrUnavailable while down,
// as a backend does whose database went away, and passes it to the
// store it wraps otherwise.
type outageStore struct {
	store.Store
	down atomic.Bool
}

// errOutage is what an outageStore answers while down.
var errOutage = fmt.Errorf("%w: the test's database is away", store.ErrUnavailable)

// whileUp runs op unless o is down.
func whileUp[T any](o *outageStore, op func() (T, error)) (T, error) {
	if o.down.Load() {
		var zero T
		return zero, errOutage
	}
	return op()
}

func (o *outageStore) Sweep(ctx context.Context, now time.Time) (store.SweepResult, error) {
	return whileUp(o, func() (store.SweepResult, error) { return o.Store.Sweep(ctx, now) })
}

func (o *outageStore) Ping(ctx context.Context) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.Ping(ctx)
}

func (o *outageStore) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	return whileUp(o, func() ([]store.SigningKey, error) { return o.Store.ListKeys(ctx) })
}

func (o *outageStore) UpdateKeys(ctx context.Context, update func(current []store.SigningKey) ([]store.SigningKey, error)) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.UpdateKeys(ctx, update)
}

func (o *outageStore) CreateToken(ctx context.Context, t store.Token) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.CreateToken(ctx, t)
}

func (o *outageStore) IssueTokens(ctx context.Context, spend *store.Spend, tokens []store.Token) (store.Token, error) {
	return whileUp(o, func() (store.Token, error) { return o.Store.IssueTokens(ctx, spend, tokens) })
}

func (o *outageStore) GetToken(ctx context.Context, kind store.TokenKind, id string) (store.Token, error) {
	return whileUp(o, func() (store.Token, error) { return o.Store.GetToken(ctx, kind, id) })
}

func (o *outageStore) ConsumeToken(ctx context.Context, kind store.TokenKind, id string, now time.Time) (store.Token, error) {
	return whileUp(o, func() (store.Token, error) { return o.Store.ConsumeToken(ctx, kind, id, now) })
}

func (o *outageStore) UpdateToken(ctx context.Context, kind store.TokenKind, id string, update func(store.Token) (store.Token, error)) (store.Token, error) {
	return whileUp(o, func() (store.Token, error) { return o.Store.UpdateToken(ctx, kind, id, update) })
}

func (o *outageStore) RevokeToken(ctx context.Context, kind store.TokenKind, id string, now time.Time) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.RevokeToken(ctx, kind, id, now)
}

func (o *outageStore) RevokeFamily(ctx context.Context, familyID string, now time.Time) (int64, error) {
	return whileUp(o, func() (int64, error) { return o.Store.RevokeFamily(ctx, familyID, now) })
}

func (o *outageStore) RevokeClientTokens(ctx context.Context, clientID string, now time.Time) (int64, error) {
	return whileUp(o, func() (int64, error) { return o.Store.RevokeClientTokens(ctx, clientID, now) })
}

func (o *outageStore) ListSubjectTokens(ctx context.Context, subject string, kind store.TokenKind) ([]store.Token, error) {
	return whileUp(o, func() ([]store.Token, error) { return o.Store.ListSubjectTokens(ctx, subject, kind) })
}

func (o *outageStore) RevokedAfter(ctx context.Context, after store.RevocationCursor, limit int) ([]store.Revocation, error) {
	return whileUp(o, func() ([]store.Revocation, error) { return o.Store.RevokedAfter(ctx, after, limit) })
}

func (o *outageStore) GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	return whileUp(o, func() ([]byte, error) { return o.Store.GetOrCreateSecret(ctx, name, generate) })
}

func (o *outageStore) CreateClient(ctx context.Context, c store.RegisteredClient) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.CreateClient(ctx, c)
}

func (o *outageStore) GetClient(ctx context.Context, id string) (store.RegisteredClient, error) {
	return whileUp(o, func() (store.RegisteredClient, error) { return o.Store.GetClient(ctx, id) })
}

func (o *outageStore) UpdateClient(ctx context.Context, id string, update func(store.RegisteredClient) (store.RegisteredClient, error)) (store.RegisteredClient, error) {
	return whileUp(o, func() (store.RegisteredClient, error) { return o.Store.UpdateClient(ctx, id, update) })
}

func (o *outageStore) DeleteClient(ctx context.Context, id string) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.DeleteClient(ctx, id)
}

func (o *outageStore) CreateUser(ctx context.Context, u store.UserRecord) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.CreateUser(ctx, u)
}

func (o *outageStore) GetUser(ctx context.Context, id string) (store.UserRecord, error) {
	return whileUp(o, func() (store.UserRecord, error) { return o.Store.GetUser(ctx, id) })
}

func (o *outageStore) GetUserByUsername(ctx context.Context, username string) (store.UserRecord, error) {
	return whileUp(o, func() (store.UserRecord, error) { return o.Store.GetUserByUsername(ctx, username) })
}

func (o *outageStore) GetUserByProvider(ctx context.Context, provider, subject string) (store.UserRecord, error) {
	return whileUp(o, func() (store.UserRecord, error) { return o.Store.GetUserByProvider(ctx, provider, subject) })
}

func (o *outageStore) UpdateUser(ctx context.Context, id string, update func(store.UserRecord) (store.UserRecord, error)) (store.UserRecord, error) {
	return whileUp(o, func() (store.UserRecord, error) { return o.Store.UpdateUser(ctx, id, update) })
}

func (o *outageStore) DeleteUser(ctx context.Context, id string) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.DeleteUser(ctx, id)
}

func (o *outageStore) ListUsers(ctx context.Context) ([]store.UserRecord, error) {
	return whileUp(o, func() ([]store.UserRecord, error) { return o.Store.ListUsers(ctx) })
}

func (o *outageStore) RevokeSubjectTokens(ctx context.Context, subject string, now time.Time) (int64, error) {
	return whileUp(o, func() (int64, error) { return o.Store.RevokeSubjectTokens(ctx, subject, now) })
}

func (o *outageStore) CreateFactor(ctx context.Context, f store.Factor) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.CreateFactor(ctx, f)
}

func (o *outageStore) GetFactor(ctx context.Context, userID string, kind store.FactorKind, id string) (store.Factor, error) {
	return whileUp(o, func() (store.Factor, error) { return o.Store.GetFactor(ctx, userID, kind, id) })
}

func (o *outageStore) ListFactors(ctx context.Context, userID string) ([]store.Factor, error) {
	return whileUp(o, func() ([]store.Factor, error) { return o.Store.ListFactors(ctx, userID) })
}

func (o *outageStore) FindFactors(ctx context.Context, kind store.FactorKind, id string) ([]store.Factor, error) {
	return whileUp(o, func() ([]store.Factor, error) { return o.Store.FindFactors(ctx, kind, id) })
}

func (o *outageStore) UpdateFactor(ctx context.Context, userID string, kind store.FactorKind, id string, update func(store.Factor) (store.Factor, error)) (store.Factor, error) {
	return whileUp(o, func() (store.Factor, error) { return o.Store.UpdateFactor(ctx, userID, kind, id, update) })
}

func (o *outageStore) DeleteFactor(ctx context.Context, userID string, kind store.FactorKind, id string) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Store.DeleteFactor(ctx, userID, kind, id)
}

func (o *outageStore) DeleteUserFactors(ctx context.Context, userID string) (int64, error) {
	return whileUp(o, func() (int64, error) { return o.Store.DeleteUserFactors(ctx, userID) })
}

// TestStoreOutageAnswers: while the store is unavailable, every endpoint
// that needs it answers 503 temporarily_unavailable with Retry-After
// (never 500, never a 4xx that blames the client), pages answer the 503
// error page (never a redirect), and once the store is back the same
// requests succeed.
func TestStoreOutageAnswers(t *testing.T) {
	var outage *outageStore
	e := signinEnv(t, func(c *Config) {
		outage = &outageStore{Store: c.Store}
		c.Store = outage
		c.Registration = RegistrationPolicy{Mode: "open"}
		c.LoginAttempts = 3
	})
	// A user of the store, whose password the store must be asked for.
	if err := e.store.CreateUser(context.Background(), store.UserRecord{ID: "dave-id", Username: "dave", PasswordHash: testPasswordHash}); err != nil {
		t.Fatal(err)
	}
	svcToken := e.svcToken("svc", "svc-secret", nil)
	userToken := e.signedIn("openid")
	b := e.signinSignedIn()
	code, verifier := e.signinCode(b)
	stranger := e.browser()
	signInPage := stranger.get(signinAuthorizeURL())
	if !isSignInPage(signInPage) {
		t.Fatalf("no sign-in page: %d %s", signInPage.status, signInPage.body)
	}

	endpoints := []struct {
		name string
		do   func() response
	}{
		{"token, client credentials", func() response {
			return e.postForm(pathToken, url.Values{"grant_type": {GrantClientCredentials}}, "svc", "svc-secret")
		}},
		{"token, authorization code", func() response { return e.signinToken(signinRedeemForm(code, verifier)) }},
		{"introspect", func() response { return e.postForm(pathIntrospect, url.Values{"token": {svcToken}}, "rs", "rs-secret") }},
		{"revoke", func() response { return e.postForm(pathRevoke, url.Values{"token": {svcToken}}, "svc", "svc-secret") }},
		{"par", func() response {
			q := signinParams(oauth2.GenerateVerifier())
			q.Set("client_id", "pushy")
			return e.postForm(pathPAR, q, "", "")
		}},
		{"device code", func() response {
			return e.postForm(pathDeviceCode, url.Values{"client_id": {"tv"}, "scope": {"read"}}, "", "")
		}},
		{"register", func() response {
			return e.svcRequest(http.MethodPost, pathRegister, "application/json",
				`{"redirect_uris":["https://new.example/cb"],"token_endpoint_auth_method":"none"}`, nil)
		}},
		{"userinfo", func() response {
			return e.get(pathUserInfo, http.Header{"Authorization": {"Bearer " + userToken.AccessToken}})
		}},
	}
	pages := []struct {
		name string
		do   func() response
	}{
		{"authorize, signed in", func() response { return b.get(signinAuthorizeURL()) }},
		{"authorize, signed out", func() response { return stranger.get(signinAuthorizeURL()) }},
		// Never "you are signed out" while the session stays valid.
		{"sign-out", func() response { return b.get(pathLogout) }},
		{"sign-in", func() response {
			f := fields(signInPage)
			f.Set("username", "alice")
			f.Set("password", alicePassword)
			return stranger.post(pathLogin, f)
		}},
	}
	// A sign-in for no application, so that only the password needs the
	// store.
	daveBrowser := e.browser()
	davePage := daveBrowser.get(pathLogin)
	if !isSignInPage(davePage) {
		t.Fatalf("no sign-in page at %s: %d %s", pathLogin, davePage.status, davePage.body)
	}
	signInDave := func() response {
		f := fields(davePage)
		f.Set("username", "dave")
		f.Set("password", alicePassword)
		return daveBrowser.post(pathLogin, f)
	}

	outage.down.Store(true)
	for _, ep := range endpoints {
		t.Run("down/"+ep.name, func(t *testing.T) {
			r := ep.do()
			if r.status != http.StatusServiceUnavailable {
				t.Fatalf("%d %s; want 503", r.status, r.body)
			}
			if code := r.errorCode(t); code != "temporarily_unavailable" {
				t.Errorf("error %q; want temporarily_unavailable", code)
			}
			if ra := r.header.Get("Retry-After"); ra != retryAfter {
				t.Errorf("Retry-After %q; want %s", ra, retryAfter)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q; want no-store", cc)
			}
			if strings.Contains(string(r.body), "test's database") {
				t.Errorf("the answer shows the store's error: %s", r.body)
			}
		})
	}
	for _, p := range pages {
		t.Run("down/"+p.name, func(t *testing.T) {
			r := p.do()
			if why := signinIsErrorPage(r, http.StatusServiceUnavailable); why != "" {
				t.Fatalf("not the 503 error page (%s): %d %s", why, r.status, r.body)
			}
			if ra := r.header.Get("Retry-After"); ra != retryAfter {
				t.Errorf("Retry-After %q; want %s", ra, retryAfter)
			}
		})
	}

	// Sign-ins the store could not check do not count as failures: more
	// of them than the limit allows lock nobody out.
	for i := range 4*3 + 1 { // the address's limit is four times the name's
		if r := signInDave(); r.status != http.StatusServiceUnavailable {
			t.Fatalf("sign-in %d of a stored user during the outage: %d %s", i, r.status, r.body)
		}
	}

	outage.down.Store(false)
	e.clock.Advance(time.Second)
	if r := signInDave(); r.status == http.StatusTooManyRequests || r.status >= 500 {
		t.Errorf("sign-in of a stored user after the outage: %d %s", r.status, r.body)
	}
	for _, ep := range endpoints {
		t.Run("up/"+ep.name, func(t *testing.T) {
			if r := ep.do(); r.status/100 != 2 {
				t.Errorf("%d %s once the store is back", r.status, r.body)
			}
		})
	}
	// The browser that could not sign out is still signed in, and can.
	if r := b.get(signinAuthorizeURL()); r.status != http.StatusSeeOther {
		t.Errorf("authorize once the store is back: %d %s", r.status, r.body)
	}
	if r := b.get(pathLogout); !isPage(r, "Sign out?") {
		t.Errorf("sign-out once the store is back: %d %s", r.status, r.body)
	}
}
