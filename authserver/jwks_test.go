package authserver

import (
	"context"
	"net/http"
	"testing"
)

// TestJWKS: /jwks publishes the public signing keys (RFC 7517 §5), never
// private material, each with its kid, the server's algorithm and use
// sig, cacheable for five minutes and readable from any origin; only GET
// and HEAD are allowed. After a rotation it holds the new and the old key,
// so tokens signed before keep verifying.
func TestJWKS(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/jwks", "/jwks/"} {
		r := e.get(path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s: %s = %q; want %q", path, k, got, want)
			}
		}
	}
	set := e.svcJWKS()
	if len(set.Keys) == 0 {
		t.Fatal("no keys")
	}
	for _, k := range set.Keys {
		if k.KeyID == "" || k.Use != "sig" || k.Algorithm != e.srv.cfg.Keys.Algorithm() {
			t.Errorf("key %q: use %q alg %q", k.KeyID, k.Use, k.Algorithm)
		}
	}
	if r := e.svcRequest(http.MethodHead, "/jwks", "", "", nil); r.status != http.StatusOK || len(r.body) != 0 {
		t.Errorf("HEAD /jwks: %d %q", r.status, r.body)
	}
	e.svcRun(t, []svcCase{
		{name: "POST", path: "/jwks", status: 405, code: codeInvalidRequest, allow: "GET, HEAD"},
		{name: "DELETE", method: http.MethodDelete, path: "/jwks", status: 405, code: codeInvalidRequest, allow: "GET, HEAD"},
	})

	before := e.svcToken("svc", "svc-secret", nil)
	oldKid, _ := e.svcVerifyJWT(before)
	if err := e.srv.cfg.Keys.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	newKid, _ := e.svcVerifyJWT(e.svcToken("svc", "svc-secret", nil))
	if newKid == oldKid {
		t.Fatal("the signing key did not change")
	}
	if n := len(e.svcJWKS().Keys); n < 2 {
		t.Errorf("JWKS has %d keys after a rotation; want the current and the previous", n)
	}
	e.svcVerifyJWT(before)
	if !e.svcActive(before) {
		t.Error("a token signed before the rotation is inactive")
	}
}
