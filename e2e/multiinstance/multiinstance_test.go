// Package multiinstance tests several Caddy processes acting as one
// authorization server on one PostgreSQL database, as they would behind a
// load balancer. Caddy is a process-wide singleton, so every instance is a
// process of its own, built once from cmd/caddy.
package multiinstance

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/authgate/authgate/authserver/store/postgres/pgtest"
)

// TestTwoInstances starts instances A and B on one fresh database at the
// same moment (so they also migrate it and make the first signing key
// together), behind one issuer, and checks that they act as one server.
func TestTwoInstances(t *testing.T) {
	dsn, password := pgtest.WithPassword(pgtest.FreshDB(t))
	caddyBinary(t) // build first, so the start below is timed alone
	// Cleanups run last first: this one runs once both instances have
	// stopped, before the database is dropped.
	t.Cleanup(func() { checkNothingLeft(t, dsn) })
	lb := newBalancer(t)
	start := time.Now()
	// A reads the DSN from the environment, B has it in its Caddyfile.
	a := startInstance(t, "A", lb.url, "postgres {env.AUTHGATE_DSN}", "AUTHGATE_DSN="+dsn)
	b := startInstance(t, "B", lb.url, "postgres "+dsn)
	a.waitReady()
	b.waitReady()
	t.Logf("both instances answer %v after start", time.Since(start).Round(time.Millisecond))

	t.Run("tokens", func(t *testing.T) { testTokens(t, a, b) })
	t.Run("browser session", func(t *testing.T) { testBrowserSession(t, lb, a, b) })
	t.Run("double redemption", func(t *testing.T) { testDoubleRedemption(t, lb, a, b) })
	t.Run("double refresh", func(t *testing.T) { testDoubleRefresh(t, lb, a, b) })
	t.Run("key rotation", func(t *testing.T) { testKeyRotation(t, a, b) })
	t.Run("gateway revocation", func(t *testing.T) { testGatewayRevocation(t, a, b, dsn) })
	t.Run("gateway sign-out", func(t *testing.T) { testGatewaySignOut(t, lb, a, b) })

	// The DSN's password shows neither in the logs nor in Caddy's files.
	if password != "" {
		for _, in := range []*instance{a, b} {
			dir := filepath.Dir(in.log)
			filepath.Walk(dir, func(path string, info os.FileInfo, err error) error { //nolint:errcheck
				if err != nil || info.IsDir() || filepath.Base(path) == "Caddyfile" {
					return nil
				}
				if b, _ := os.ReadFile(path); strings.Contains(string(b), password) {
					t.Errorf("instance %s: %s shows the database password", in.name, path)
				}
				return nil
			})
		}
	}
}

// testTokens: a client credentials token issued on A is introspected on B,
// revoked on B, and inactive on A; both instances publish the same keys,
// and B's JWKS verifies A's token.
func testTokens(t *testing.T, a, b *instance) {
	tok := a.token(t)
	got := b.introspect(t, tok)
	if got["active"] != true || got["client_id"] != "svc" {
		t.Fatalf("B's introspection of A's token = %v; want active, client svc", got)
	}

	// Both instances made the first key at the same moment, on an empty
	// database: one key must result, and both must publish it.
	ja, jb := a.jwks(t), b.jwks(t)
	if !slices.Equal(kids(ja), kids(jb)) {
		t.Errorf("A publishes keys %v, B %v; want the same", kids(ja), kids(jb))
	}
	if len(ja.Keys) != 1 || len(jb.Keys) != 1 {
		t.Errorf("two instances starting together published keys %v (A) and %v (B); want one", kids(ja), kids(jb))
	}
	if err := verifyWith(jb, tok); err != nil {
		t.Errorf("A's token does not verify against B's JWKS: %v", err)
	}
	// B signs with the same key.
	if ka, kb := keyID(t, tok), keyID(t, b.token(t)); ka != kb {
		t.Errorf("A signs with key %s, B with %s", ka, kb)
	}

	if r := b.postForm(t, "/revoke", url.Values{"token": {tok}}, "svc", "svc-secret"); r.status != http.StatusOK {
		t.Fatalf("revocation on B: %d %s", r.status, r.body)
	}
	if a.active(t, tok) {
		t.Fatal("A still sees the token B revoked as active")
	}
}

// signIn signs alice in through the balancer on A: it starts an
// authorization request, answers the sign-in page on A and returns A's
// answer: the consent page, or for a client that skips consent the
// redirect back to it.
func signIn(t *testing.T, br *browser, lb *balancer, a *instance, req authRequest) response {
	t.Helper()
	lb.to(a)
	r := br.get(req.path(nil))
	if !isLoginPage(r) {
		t.Fatalf("A did not show the sign-in page: %d %s", r.status, r.body)
	}
	f := fields(r)
	if f.Get("csrf_token") == "" || f.Get("request") == "" {
		t.Fatalf("the sign-in page lacks its hidden fields: %v", f)
	}
	f.Set("username", "alice")
	f.Set("password", alicePassword)
	r = br.post("/login", f)
	if r.status != http.StatusOK && r.status != http.StatusSeeOther {
		t.Fatalf("signing in on A: %d %s", r.status, r.body)
	}
	return r
}

func appRequest() authRequest { return newAuthRequest("app", "openid profile offline_access") }
func cliRequest() authRequest { return newAuthRequest("cli", "openid offline_access") }

// testBrowserSession: a browser session started on A is honoured on B.
// The consent page A shows is answered on B; a prompt=none request to B
// gets a code without a page; A redeems it; B refreshes A's refresh token
// and answers userinfo; A then sees the rotated one as reused.
func testBrowserSession(t *testing.T, lb *balancer, a, b *instance) {
	br := newBrowser(t, lb)

	// Without a session, B cannot answer prompt=none.
	lb.to(b)
	probe := appRequest()
	if q := callback(t, br.get(probe.path(url.Values{"prompt": {"none"}})), lb.url); q.Get("error") != "login_required" {
		t.Fatalf("prompt=none without a session: callback %v; want login_required", q)
	}

	first := appRequest()
	consent := signIn(t, br, lb, a, first)
	if !isConsentPage(consent) {
		t.Fatalf("signing in on A did not lead to the consent page: %d %s", consent.status, consent.body)
	}
	// The pending request, the CSRF token and the session all come from
	// A; B accepts the consent.
	lb.to(b)
	f := fields(consent)
	f.Set("decision", "approve")
	f.Set("remember", "yes")
	q := callback(t, br.post("/consent", f), lb.url)
	if q.Get("code") == "" || q.Get("state") != first.state {
		t.Fatalf("consent answered on B: callback %v; want a code and state %s", q, first.state)
	}
	decodeTokens(t, do(t, client, first.redeemRequest(t, b, q.Get("code"))))

	// The session started on A is honoured on B.
	second := appRequest()
	q = callback(t, br.get(second.path(url.Values{"prompt": {"none"}})), lb.url)
	if q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("prompt=none on B with A's session: callback %v; want a code", q)
	}
	tk := decodeTokens(t, do(t, client, second.redeemRequest(t, a, q.Get("code"))))
	if tk.RefreshToken == "" || tk.IDToken == "" {
		t.Fatalf("A's token response lacks a refresh or ID token: %+v", tk)
	}

	// B verifies A's ID token through the issuer's discovery (served by
	// B) and answers userinfo for A's access token.
	ctx := testContext(t)
	provider, err := oidc.NewProvider(ctx, lb.url)
	if err != nil {
		t.Fatalf("discovery through B: %v", err)
	}
	if id, err := provider.Verifier(&oidc.Config{ClientID: "app"}).Verify(ctx, tk.IDToken); err != nil || id.Subject != "alice" {
		t.Fatalf("verifying A's ID token with B's keys: %v (subject %v)", err, id)
	}
	req, _ := http.NewRequest(http.MethodGet, b.url+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
	if r := do(t, client, req); r.status != http.StatusOK || r.json(t)["sub"] != "alice" {
		t.Fatalf("userinfo on B with A's token: %d %s", r.status, r.body)
	}

	// A's refresh token is refreshed on B.
	refresh := func(in *instance, rt string) response {
		return in.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "refresh_token": {rt}}, "", "")
	}
	rotated := decodeTokens(t, refresh(b, tk.RefreshToken))
	if rotated.RefreshToken == "" || rotated.RefreshToken == tk.RefreshToken {
		t.Fatalf("B's refresh did not rotate the refresh token: %+v", rotated)
	}
	if !a.active(t, rotated.AccessToken) || !a.active(t, rotated.RefreshToken) {
		t.Fatal("A does not see the tokens B issued on refresh as active")
	}
	// The spent refresh token used again on A is a reuse: the family ends.
	if r := refresh(a, tk.RefreshToken); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("reusing the spent refresh token on A: %d %s; want invalid_grant", r.status, r.body)
	}
	if b.active(t, rotated.AccessToken) || b.active(t, rotated.RefreshToken) {
		t.Fatal("after a reuse on A, B still sees the family's tokens as active")
	}
}

// testDoubleRedemption: one code redeemed on A and B at the same moment
// gives at most one success (none when the first redemption notices the
// replay before it answers), and the failed redemption revokes what the
// winner got (the replay rule). Several rounds, since a race shows only
// sometimes.
func testDoubleRedemption(t *testing.T, lb *balancer, a, b *instance) {
	br := newBrowser(t, lb)
	first := cliRequest()
	if q := callback(t, signIn(t, br, lb, a, first), lb.url); q.Get("code") == "" {
		t.Fatalf("signing in for cli (no consent): callback %v; want a code", q)
	}

	// In turn first: a code redeemed on A and replayed on B.
	lb.to(b)
	seq := cliRequest()
	q := callback(t, br.get(seq.path(url.Values{"prompt": {"none"}})), lb.url)
	won := decodeTokens(t, do(t, client, seq.redeemRequest(t, a, q.Get("code"))))
	if r := do(t, client, seq.redeemRequest(t, b, q.Get("code"))); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
		t.Fatalf("a code redeemed on A, replayed on B: %d %s; want invalid_grant", r.status, r.body)
	}
	for _, in := range []*instance{a, b} {
		if in.active(t, won.AccessToken) || in.active(t, won.RefreshToken) {
			t.Fatalf("a code redeemed on A was replayed on B, but %s still sees A's tokens as active", in.name)
		}
	}

	rc := newRacer(t, a, b)
	for round := range raceRounds {
		lb.to([]*instance{a, b}[round%2])
		req := cliRequest()
		q := callback(t, br.get(req.path(url.Values{"prompt": {"none"}})), lb.url)
		if q.Get("code") == "" {
			t.Fatalf("round %d: prompt=none gave %v; want a code", round, q)
		}
		rc.round(round, func(in *instance) *http.Request { return req.redeemRequest(t, in, q.Get("code")) })
	}
	rc.report("a concurrent double redemption of a code")
}

// testDoubleRefresh: one refresh token used on A and B at the same moment
// gives at most one new pair, and the reuse revokes the family, the
// winner's new tokens included.
func testDoubleRefresh(t *testing.T, lb *balancer, a, b *instance) {
	br := newBrowser(t, lb)
	first := cliRequest()
	if q := callback(t, signIn(t, br, lb, a, first), lb.url); q.Get("code") == "" {
		t.Fatalf("signing in for cli (no consent): callback %v; want a code", q)
	}
	rc := newRacer(t, a, b)
	for round := range raceRounds {
		req := cliRequest()
		q := callback(t, br.get(req.path(url.Values{"prompt": {"none"}})), lb.url)
		tk := decodeTokens(t, do(t, client, req.redeemRequest(t, []*instance{a, b}[round%2], q.Get("code"))))
		if tk.RefreshToken == "" {
			t.Fatalf("round %d: no refresh token: %+v", round, tk)
		}
		rc.round(round, func(in *instance) *http.Request {
			return formRequest(t, in.url+"/token", url.Values{
				"grant_type": {"refresh_token"}, "client_id": {"cli"}, "refresh_token": {tk.RefreshToken},
			}, "", "")
		})
		for _, in := range []*instance{a, b} {
			if in.active(t, tk.AccessToken) {
				t.Errorf("round %d: after the reuse, %s still sees the family's first access token as active", round, in.name)
			}
		}
	}
	rc.report("a concurrent double use of a refresh token")
}

// raceRounds is how many races each test runs.
const raceRounds = 5

// racer sends one request to A and one to B at the same moment and checks
// that at most one succeeds and that the winner's tokens end up revoked.
// Both may fail: the first redemption may see the replay's revocation
// before it answers and refuse too, which leaves nobody with a token.
type racer struct {
	t         *testing.T
	a, b      *instance
	clients   map[*instance]*http.Client
	survived  []string
	badRounds int
	// bothRefused counts rounds in which the winner noticed the replay
	// before answering and refused as well.
	bothRefused int
}

func newRacer(t *testing.T, a, b *instance) *racer {
	rc := &racer{t: t, a: a, b: b, clients: map[*instance]*http.Client{}}
	// Each instance gets its own connection, opened beforehand, so that
	// the two requests leave at the same moment.
	for _, in := range []*instance{a, b} {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Timeout: 30 * time.Second, Transport: tr}
		req, _ := http.NewRequest(http.MethodGet, in.url+"/jwks", nil)
		do(t, c, req)
		rc.clients[in] = c
	}
	return rc
}

// round sends the request makeReq builds for A and for B at once.
func (rc *racer) round(round int, makeReq func(*instance) *http.Request) {
	t := rc.t
	t.Helper()
	both := []*instance{rc.a, rc.b}
	var results [2]response
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i, in := range both {
		req := makeReq(in)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			resp, err := rc.clients[in].Do(req)
			if err != nil {
				results[i] = response{status: -1, body: []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			results[i] = response{resp.StatusCode, resp.Header, body}
		}()
	}
	close(ready)
	wg.Wait()

	var winner *instance
	var won tokens
	for i, in := range both {
		r := results[i]
		switch r.status {
		case http.StatusOK:
			if winner != nil {
				t.Fatalf("round %d: both A and B succeeded", round)
			}
			winner, won = in, decodeTokens(t, r)
		case http.StatusBadRequest:
			if e := r.json(t)["error"]; e != "invalid_grant" {
				t.Fatalf("round %d: %s refused with %v; want invalid_grant", round, in.name, e)
			}
		default:
			t.Fatalf("round %d: %s answered %d %s", round, in.name, r.status, r.body)
		}
	}
	if winner == nil {
		// The first redemption saw the replay's revocation before
		// answering and refused too: nobody holds a token.
		rc.bothRefused++
		return
	}
	// The loser's replay revoked the winner's tokens, as seen from both.
	n := len(rc.survived)
	for _, in := range both {
		for _, kt := range [][2]string{{"access", won.AccessToken}, {"refresh", won.RefreshToken}} {
			if kt[1] != "" && in.active(t, kt[1]) {
				rc.survived = append(rc.survived, fmt.Sprintf("round %d: the %s token %s issued is active on %s", round, kt[0], winner.name, in.name))
			}
		}
	}
	if len(rc.survived) > n {
		rc.badRounds++
	}
}

func (rc *racer) report(what string) {
	rc.t.Logf("%s: %d of %d rounds had one success, %d had none", what, raceRounds-rc.bothRefused, raceRounds, rc.bothRefused)
	if len(rc.survived) > 0 {
		rc.t.Errorf("the replay rule missed tokens the winner of %s got, in %d of %d rounds:\n%s",
			what, rc.badRounds, raceRounds, strings.Join(rc.survived, "\n"))
	}
}

// testKeyRotation: a rotation through A's admin API is decided once: A
// signs with the new key at once, B finds it on the first token that
// names it (an unknown kid reloads the keys), then publishes it, and both
// publish the same set.
func testKeyRotation(t *testing.T, a, b *instance) {
	before := keyID(t, a.token(t))
	req, _ := http.NewRequest(http.MethodPost, a.admin+"/authgate/keys/rotate", nil)
	if r := do(t, client, req); r.status != http.StatusOK {
		t.Fatalf("rotating on A: %d %s", r.status, r.body)
	}
	tok := a.token(t)
	after := keyID(t, tok)
	if after == before {
		t.Fatalf("A still signs with key %s after the rotation", before)
	}
	// B has not reloaded its keys yet; the unknown kid makes it reload
	// (at most once a second, hence the retries).
	deadline := time.Now().Add(3 * time.Second)
	for !b.active(t, tok) {
		if time.Now().After(deadline) {
			t.Fatalf("B does not accept A's token signed with the new key %s", after)
		}
		time.Sleep(200 * time.Millisecond)
	}
	jb := b.jwks(t)
	if err := verifyWith(jb, tok); err != nil {
		t.Fatalf("after the rotation, A's token does not verify against B's JWKS: %v", err)
	}
	if ja := a.jwks(t); !slices.Equal(kids(ja), kids(jb)) {
		t.Fatalf("after the rotation A publishes %v, B %v; want the same", kids(ja), kids(jb))
	}
	if !slices.Contains(kids(jb), before) {
		t.Errorf("B no longer publishes the previous key %s; its tokens must keep verifying", before)
	}
}
