package gateway

// Benchmarks of the gateway's per-request cost (issue 6; DESIGN.md §8):
//
//	go test -run '^$' -bench . -benchmem ./caddymodule/gateway
//
// Decide is what the authgate handler runs for every request; the
// Middleware benchmarks add what the handler does around it (strip the
// identity headers a client sent, apply the identity's headers), which is
// everything but Caddy's placeholders and the proxying. bench/run.sh
// measures the whole server.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authgate/authgate/policy"
)

// countingVerifier answers every token with the same identity, cacheable
// for an hour, and counts its calls.
type countingVerifier struct{ calls atomic.Int64 }

func (v *countingVerifier) Verify(context.Context, string) (*Identity, time.Time, error) {
	v.calls.Add(1)
	return benchIdentity(), time.Now().Add(time.Hour), nil
}

func benchIdentity() *Identity {
	claims := map[string]any{"iss": "http://127.0.0.1:9000", "sub": "bench-service", "client_id": "bench-service", "scope": "read",
		"jti": "jti-1", "aud": []any{"http://127.0.0.1:9001"}}
	return IdentityFromClaims(claims, AuthBearer)
}

// es256Verifier verifies compact ES256 JWTs with go-jose, as the bundled
// server's verifier does before its store lookup: parse, check the
// signature, decode the claims, check exp. Its answers are never cached
// (the zero time), so every request pays for a verification.
type es256Verifier struct{ key *ecdsa.PublicKey }

func (v es256Verifier) Verify(_ context.Context, token string) (*Identity, time.Time, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	payload, err := jws.Verify(v.key)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if exp, _ := claims["exp"].(float64); time.Now().Unix() >= int64(exp) {
		return nil, time.Time{}, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return IdentityFromClaims(claims, AuthBearer), time.Time{}, nil
}

// signES256 returns a compact JWS of claims, shaped like the bundled
// server's access tokens.
func signES256(b *testing.B, key *ecdsa.PrivateKey, claims map[string]any) string {
	b.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "bench-key"))
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		b.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchTokenClaims() map[string]any {
	now := time.Now()
	return map[string]any{"iss": "http://127.0.0.1:9000", "sub": "bench-service", "client_id": "bench-service", "scope": "read",
		"aud": []any{"http://127.0.0.1:9001"}, "jti": random(16), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// newBenchGateway returns a gateway configured as bench/run.sh's routes:
// `accept bearer` + `require scope read`, or `accept session`.
func newBenchGateway(b *testing.B, bearer bool, v Verifier) *Gateway {
	b.Helper()
	cfg := Config{Hosts: []string{"127.0.0.1"}}
	if bearer {
		p, err := policy.Compile(policy.Config{Require: policy.Requirements{Scopes: []string{"read"}}})
		if err != nil {
			b.Fatal(err)
		}
		cfg.AcceptBearer, cfg.Verifier, cfg.Policy = true, v, p
	} else {
		cfg.AcceptSession = true
		cfg.CookieHashKey, cfg.CookieBlockKey = []byte(strings.Repeat("h", 64)), []byte(strings.Repeat("b", 32))
		cfg.Login = &Login{Issuer: "http://127.0.0.1:9000"} // never used: the session is valid
		cfg.Sessions = activeSessions{}
		p, err := policy.Compile(policy.Config{})
		if err != nil {
			b.Fatal(err)
		}
		cfg.Policy = p
	}
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// benchRequest is a request as a load generator sends it.
func benchRequest(h http.Header) *Request {
	h.Set("Accept", "*/*")
	h.Set("User-Agent", "wrk")
	return &Request{Method: http.MethodGet, Scheme: "http", Host: "127.0.0.1:9001", LocalPort: "9001", Path: "/api/items", Header: h, RemoteIP: "127.0.0.1"}
}

func decideAllowed(ctx context.Context, b *testing.B, g *Gateway, r *Request) *Identity {
	d := g.Decide(ctx, r)
	if !d.Allowed {
		b.Fatalf("refused: %d %s %v", d.Status, d.Body, d.Header)
	}
	return d.Identity
}

// BenchmarkDecideBearerCached: a bearer token the cache answers for (the
// verifier is called once, for the first request).
func BenchmarkDecideBearerCached(b *testing.B) {
	v := new(countingVerifier)
	g := newBenchGateway(b, true, v)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r := benchRequest(http.Header{"Authorization": {"Bearer " + signES256(b, key, benchTokenClaims())}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		decideAllowed(ctx, b, g, r)
	}
	if n := v.calls.Load(); n != 1 {
		b.Fatalf("verifier called %d times; want 1 (the cache answers after the first)", n)
	}
}

// BenchmarkDecideBearerCachedParallel: the same from GOMAXPROCS
// goroutines, for contention on the cache's lock.
func BenchmarkDecideBearerCachedParallel(b *testing.B) {
	v := new(countingVerifier)
	g := newBenchGateway(b, true, v)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok := signES256(b, key, benchTokenClaims())
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := benchRequest(http.Header{"Authorization": {"Bearer " + tok}})
		for pb.Next() {
			if d := g.Decide(ctx, r); !d.Allowed {
				panic("refused")
			}
		}
	})
}

// BenchmarkDecideBearerUncached: every request verifies an ES256 JWT
// (go-jose), the cost the cache saves. The bundled server's verifier
// also looks the token up in its store, which this leaves out.
func BenchmarkDecideBearerUncached(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g := newBenchGateway(b, true, es256Verifier{&key.PublicKey})
	r := benchRequest(http.Header{"Authorization": {"Bearer " + signES256(b, key, benchTokenClaims())}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		decideAllowed(ctx, b, g, r)
	}
	if n := g.tokens.len(); n != 0 {
		b.Fatalf("%d tokens cached; want none", n)
	}
}

// benchSession is a session as the callback stores it after signing in
// at the bundled server: identity, refresh token and ID token (kept for
// logout), which make the cookie about 1.5 KB, like bench/run.sh's.
func benchSession(b *testing.B) *session {
	now := time.Now()
	return &session{Issuer: "http://127.0.0.1:9000", Host: "127.0.0.1", Subject: "bench", Username: "bench", Email: "bench@example.com", Name: "Bench User", Groups: []string{"users"},
		Expiry: now.Add(time.Hour).Unix(), Until: now.Add(time.Hour).Unix(), Refresh: random(32), ID: random(16)}
}

// sessionHeader encodes s the way sessionCookie does and returns the
// request header a browser would send back.
func sessionHeader(b *testing.B, g *Gateway, s *session) (http.Header, string) {
	b.Helper()
	r := &Request{Scheme: "http"}
	name := g.cookieName(r)
	v, err := g.cookies.Encode(name, s)
	if err != nil {
		b.Fatal(err)
	}
	// Also check it is what the gateway's own Set-Cookie carries.
	set, err := g.sessionCookie(r, s)
	if err != nil || !strings.HasPrefix(set, name+"=") {
		b.Fatalf("sessionCookie: %q, %v", set, err)
	}
	return http.Header{"Cookie": {name + "=" + v + "; other=1"}}, v
}

// BenchmarkDecideSessionCached: a valid session cookie the session cache
// answers for (decoded once).
func BenchmarkDecideSessionCached(b *testing.B) {
	g := newBenchGateway(b, false, nil)
	h, raw := sessionHeader(b, g, benchSession(b))
	r := benchRequest(h)
	ctx := context.Background()
	b.ReportAllocs()
	b.ReportMetric(float64(len(raw)), "cookie-bytes")
	for b.Loop() {
		decideAllowed(ctx, b, g, r)
	}
}

// BenchmarkDecideSessionUncached: the session cookie is decoded
// (securecookie: HMAC-SHA256, AES-CTR, JSON) on every request; the cache
// entry is dropped after each (a map delete under the lock).
func BenchmarkDecideSessionUncached(b *testing.B) {
	g := newBenchGateway(b, false, nil)
	h, raw := sessionHeader(b, g, benchSession(b))
	key := sha256.Sum256([]byte(raw))
	r := benchRequest(h)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		decideAllowed(ctx, b, g, r)
		g.sessions.forget(key)
	}
}

// BenchmarkMiddleware* are the handler's gateway work per request:
// StripHeaders, Decide, ApplyHeaders.
func BenchmarkMiddlewareBearerCached(b *testing.B) {
	g := newBenchGateway(b, true, new(countingVerifier))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r := benchRequest(http.Header{"Authorization": {"Bearer " + signES256(b, key, benchTokenClaims())}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		g.StripHeaders(r.Header)
		g.ApplyHeaders(r.Header, decideAllowed(ctx, b, g, r))
	}
}

func BenchmarkMiddlewareSessionCached(b *testing.B) {
	g := newBenchGateway(b, false, nil)
	h, _ := sessionHeader(b, g, benchSession(b))
	r := benchRequest(h)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		g.StripHeaders(r.Header)
		g.ApplyHeaders(r.Header, decideAllowed(ctx, b, g, r))
	}
}

// BenchmarkSessionParts splits the session path into its steps.
func BenchmarkSessionParts(b *testing.B) {
	g := newBenchGateway(b, false, nil)
	h, raw := sessionHeader(b, g, benchSession(b))
	name := g.cookieName(&Request{Scheme: "http"})
	b.Run("readCookie", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := readCookie(h, name); !ok {
				b.Fatal("no cookie")
			}
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sha256.Sum256([]byte(raw))
		}
	})
	b.Run("securecookie.Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s session
			if err := g.cookies.Decode(name, raw, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// activeSessions is a session store in which every session is active.
type activeSessions struct{}

func (activeSessions) StartSession(context.Context, string, string, time.Time) (string, error) {
	return random(16), nil
}
func (activeSessions) SessionActive(context.Context, string) (bool, error) { return true, nil }
func (activeSessions) EndSession(context.Context, string) error            { return nil }
