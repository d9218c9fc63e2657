package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// jwks fetches the published key set.
func (tc *testCaddy) jwks() jose.JSONWebKeySet {
	tc.t.Helper()
	r := tc.get("/jwks")
	if r.status != http.StatusOK {
		tc.t.Fatalf("GET /jwks: %d %s", r.status, r.body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		tc.t.Fatalf("decoding JWKS: %v", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			tc.t.Fatalf("the JWKS publishes private key material for %s", k.KeyID)
		}
	}
	return set
}

// accessClaims are the RFC 9068 claims a test checks.
type accessClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// verifyJWT checks an access token's signature against the published
// keys, as a resource server would, and returns its kid and claims.
func (tc *testCaddy) verifyJWT(raw string) (string, accessClaims) {
	tc.t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		tc.t.Fatalf("parsing access token: %v", err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
		tc.t.Errorf("typ = %v; want at+jwt (RFC 9068)", h.ExtraHeaders[jose.HeaderType])
	}
	set := tc.jwks()
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		tc.t.Fatalf("kid %q is not in the JWKS", h.KeyID)
	}
	if keys[0].Algorithm != h.Algorithm || keys[0].Use != "sig" {
		tc.t.Errorf("published key alg/use = %s/%s; token alg %s", keys[0].Algorithm, keys[0].Use, h.Algorithm)
	}
	var c accessClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		tc.t.Fatalf("verifying access token against the JWKS: %v", err)
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: tc.issuer, Time: time.Now()}, time.Minute); err != nil {
		tc.t.Fatalf("claims: %v", err)
	}
	return h.KeyID, c
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestClientOptions: the Caddyfile's client options reach the server: a
// secret_hash in bcrypt or argon2id, a quoted secret with special
// characters, and a client's own access_token_lifetime. Client
// authentication itself is tested in authserver.
func TestClientOptions(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("some-salt-value!")
	argon := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte("argon-secret"), salt, 1, 64, 1, 32))
	tc := startCaddy(t, defaultClients+`
		client hashed {
			secret_hash `+string(hash)+`
		}
		client argon {
			secret_hash `+argon+`
		}
		client brief {
			secret brief-secret
			access_token_lifetime 1m
		}`)
	tc.token("hashed", "hashed-secret", nil)
	tc.token("argon", "argon-secret", nil)
	tc.token("special", "p@ss:w%rd &x=", nil)
	if r := tc.postForm("/token", url.Values{"grant_type": {"client_credentials"}}, "hashed", "wrong"); r.status != http.StatusUnauthorized {
		t.Errorf("a wrong secret for a hashed client: %d", r.status)
	}
	r := tc.postForm("/token", url.Values{"grant_type": {"client_credentials"}}, "brief", "brief-secret")
	if r.status != http.StatusOK || r.json(t)["expires_in"] != float64(60) {
		t.Errorf("a client's access_token_lifetime: %d %s", r.status, r.body)
	}
}

// TestRotationKeepsOldTokensValid rotates the signing key through the
// admin API: new tokens use the new key, old ones keep verifying.
func TestRotationKeepsOldTokensValid(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	before := tc.token("svc", "svc-secret", nil)
	oldKid, _ := tc.verifyJWT(before)

	r := tc.adminPost("/authgate/keys/rotate")
	if r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	after := tc.token("svc", "svc-secret", nil)
	newKid, _ := tc.verifyJWT(after)
	if newKid == oldKid {
		t.Fatal("the signing key did not change")
	}
	if n := len(tc.jwks().Keys); n != 2 {
		t.Errorf("JWKS has %d keys; want the current and the previous", n)
	}
	tc.verifyJWT(before)
	if !tc.active(before) || !tc.active(after) {
		t.Error("a token stopped being active across rotation")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+tc.admin+"/authgate/keys/rotate", nil)
	if r := do(t, req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET on rotate: %d", r.status)
	}
}

// TestRestartKeepsState stops Caddy and starts it again on the same data
// directory: keys, tokens and revocations survive.
func TestRestartKeepsState(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	kept := tc.token("svc", "svc-secret", nil)
	revoked := tc.token("svc", "svc-secret", nil)
	if r := tc.postForm("/revoke", url.Values{"token": {revoked}}, "svc", "svc-secret"); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	kid, _ := tc.verifyJWT(kept)

	tc.restart()

	if !tc.active(kept) {
		t.Error("a token is inactive after a restart")
	}
	if tc.active(revoked) {
		t.Error("a revoked token is active after a restart")
	}
	if again, _ := tc.verifyJWT(tc.token("svc", "svc-secret", nil)); again != kid {
		t.Errorf("a restart changed the signing key: %s then %s", kid, again)
	}
}

// TestReloadSharesStore reloads the config as `caddy reload` does: the
// store handle is shared, not reopened, and tokens stay valid.
func TestReloadSharesStore(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	tok := tc.token("svc", "svc-secret", nil)
	before := activeApp(t)

	tc.reload(defaultClients + `
		client added {
			secret added-secret
		}`)
	after := activeApp(t)
	if before == after {
		t.Fatal("the reload did not replace the app")
	}
	if before.store != after.store {
		t.Error("the reload reopened the store")
	}
	if n, _ := storePool.References("sqlite:" + tc.dataDir + "/authgate.db"); n != 1 {
		t.Errorf("store pool holds %d references after the reload; want 1", n)
	}
	if !tc.active(tok) {
		t.Error("a token is inactive after a reload")
	}
	tc.token("added", "added-secret", nil)
}

func activeApp(t *testing.T) *App {
	t.Helper()
	app, err := caddy.ActiveContext().App("authgate")
	if err != nil {
		t.Fatal(err)
	}
	return app.(*App)
}
