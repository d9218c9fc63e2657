package gateway

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/policy"
)

// revokingVerifier approves a token but, while doing so, has its
// revocation announced, as happens when a revocation lands mid-check.
type revokingVerifier struct {
	g     *Gateway
	calls atomic.Int32
}

func (v *revokingVerifier) Verify(context.Context, string) (*Identity, time.Time, error) {
	v.calls.Add(1)
	v.g.Revoked([]string{"jti-1"}, nil)
	return &Identity{Identity: policy.Identity{Subject: "svc", Audience: []string{"https://a.example"}}, TokenID: "jti-1"}, time.Now().Add(time.Hour), nil
}

func TestRevokedDuringVerification(t *testing.T) {
	v := &revokingVerifier{}
	g, err := New(Config{AcceptBearer: true, Verifier: v, Hosts: []string{"a.example"}, Audiences: []string{"https://api.example"}})
	if err != nil {
		t.Fatal(err)
	}
	v.g = g
	r := &Request{Method: "GET", Scheme: "https", Host: "a.example", Path: "/", Header: http.Header{"Authorization": {"Bearer tok"}}}
	for range 3 {
		if d := g.Decide(context.Background(), r); d.Allowed || d.Status != http.StatusUnauthorized {
			t.Fatalf("a token revoked during its check passed: %+v", d)
		}
	}
	if n := v.calls.Load(); n != 1 {
		t.Errorf("the refused token was verified %d times; want once, then remembered", n)
	}
}

type fixedVerifier struct{ calls atomic.Int32 }

func (v *fixedVerifier) Verify(_ context.Context, tok string) (*Identity, time.Time, error) {
	v.calls.Add(1)
	if tok != "good" {
		return nil, time.Time{}, ErrInvalidToken
	}
	return &Identity{Identity: policy.Identity{Subject: "svc", Audience: []string{"https://api.example"}}, TokenID: "j"}, time.Now().Add(time.Hour), nil
}

func TestCacheAndRevocation(t *testing.T) {
	v := &fixedVerifier{}
	g, err := New(Config{AcceptBearer: true, Verifier: v, Hosts: []string{"a.example"}, Audiences: []string{"https://api.example"}})
	if err != nil {
		t.Fatal(err)
	}
	req := func(tok string) Decision {
		return g.Decide(context.Background(), &Request{Method: "GET", Scheme: "https", Host: "a.example", Path: "/",
			Header: http.Header{"Authorization": {"Bearer " + tok}}})
	}
	for range 5 {
		if d := req("good"); !d.Allowed {
			t.Fatal("a good token was refused")
		}
	}
	if v.calls.Load() != 1 {
		t.Errorf("verified %d times; want once, then cached", v.calls.Load())
	}
	g.Revoked([]string{"j"}, nil)
	if d := req("good"); d.Allowed {
		t.Error("a revoked token passed from the cache")
	}
	if d := g.Decide(context.Background(), &Request{Method: "GET", Scheme: "https", Host: "a.example", Path: "/",
		Header: http.Header{"Authorization": {"Bearer a", "Bearer b"}}}); d.Status != http.StatusBadRequest {
		t.Errorf("two Authorization headers: %d", d.Status)
	}
}

func TestLocalPath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/": true, "/a?b=c": true, "//evil.example": false, "/\\evil": false, "https://evil": false, "": false, "a": false, "/x\r\nSet-Cookie: a": false,
	} {
		if localPath(p) != ok {
			t.Errorf("localPath(%q) = %v", p, !ok)
		}
	}
}

// TestPolicyHost: rules about the host see it without port and case, so
// Host: ADMIN.example.com:443 cannot slip past a rule for admin.example.com.
func TestPolicyHost(t *testing.T) {
	p, err := policy.Compile(policy.Config{Rules: []policy.Rule{{Effect: policy.Deny, Kind: policy.KindExpression, Expression: `request.host == "admin.example.com"`}}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{AcceptBearer: true, Verifier: &fixedVerifier{}, Policy: p, Audiences: []string{"https://api.example"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"admin.example.com", "ADMIN.example.com:443", "admin.example.com:8443"} {
		d := g.Decide(context.Background(), &Request{Method: "GET", Scheme: "https", Host: host, Path: "/",
			Header: http.Header{"Authorization": {"Bearer good"}}})
		if d.Allowed {
			t.Errorf("Host %q passed a rule that denies admin.example.com", host)
		}
	}
}
