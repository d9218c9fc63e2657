package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/authgate/authgate/authserver/password"
)

// TestAdminCommands: status, keys, tokens revoke and hash-secret run
// against the test Caddy's admin API: status shows the issuer, the store
// and the signing key (and no DSN nor secret); keys rotate changes the
// key that signs; tokens revoke --client makes the client's tokens
// inactive and reports how many; hash-secret prints an argon2id hash of
// the secret that verifies.
func TestAdminCommands(t *testing.T) {
	tc := startCaddy(t, defaultClients)
	addr := "--address=" + tc.admin
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, stderr, err := authgateCmd(t, stdin, append(args, addr)...)
		if err != nil {
			t.Fatalf("caddy authgate %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}

	// status
	var st statusReport
	if err := json.Unmarshal([]byte(run("", "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Issuer != tc.issuer || st.Store.Backend != "sqlite" || !strings.HasSuffix(st.Store.Path, ".db") ||
		len(st.Keys) == 0 || st.Clients.Configured != 5 {
		t.Fatalf("status --json: %+v", st)
	}
	var signing string
	for _, k := range st.Keys {
		if k.Signing {
			signing = k.ID
		}
	}
	if signing == "" {
		t.Fatalf("status: no key signs: %+v", st.Keys)
	}
	table := run("", "status")
	for _, want := range []string{tc.issuer, "sqlite (" + st.Store.Path + ")", signing, "5 configured", "KID", "yes"} {
		if !strings.Contains(table, want) {
			t.Errorf("status has no %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "svc-secret") {
		t.Errorf("status shows a secret:\n%s", table)
	}

	// keys list and rotate
	if out := run("", "keys", "list"); !strings.Contains(out, signing) || !strings.Contains(out, "SIGNS") {
		t.Errorf("keys list:\n%s", out)
	}
	before := tc.token("svc", "svc-secret", nil)
	out := run("", "keys", "rotate")
	if !strings.Contains(out, "rotated") {
		t.Errorf("keys rotate printed %q", out)
	}
	if err := json.Unmarshal([]byte(run("", "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	var now string
	for _, k := range st.Keys {
		if k.Signing {
			now = k.ID
		}
	}
	if now == "" || now == signing {
		t.Errorf("after keys rotate the signing key is %q, was %q", now, signing)
	}
	if !tc.active(before) {
		t.Error("a token signed by the previous key became inactive on rotation")
	}

	// tokens revoke
	other := tc.token("other", "other-secret", nil)
	after := tc.token("svc", "svc-secret", nil)
	if !tc.active(after) {
		t.Fatal("a fresh token is inactive")
	}
	if out := run("", "tokens", "revoke", "--client", "svc"); strings.TrimSpace(out) != "2 revoked" {
		t.Errorf("tokens revoke --client svc printed %q; want 2 revoked", out)
	}
	if tc.active(before) || tc.active(after) || !tc.active(other) {
		t.Error("tokens revoke --client svc: want svc's tokens inactive, other's active")
	}
	if out := run("", "tokens", "revoke", "--client", "svc"); strings.TrimSpace(out) != "0 revoked" {
		t.Errorf("revoking again printed %q", out)
	}
	for _, args := range [][]string{
		{"tokens", "revoke"},
		{"tokens", "revoke", "--client", "svc", "--jti", "x"},
	} {
		if _, _, err := authgateCmd(t, "", append(args, addr)...); err == nil || !strings.Contains(err.Error(), "exactly one") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, _, err := authgateCmd(t, "", "tokens", "revoke", "--jti", "nope", addr); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("an unknown jti: %v", err)
	}

	// hash-secret
	out, stderr, err := authgateCmd(t, "s3cret value\n", "hash-secret", "--stdin")
	if err != nil {
		t.Fatalf("hash-secret: %v %s", err, stderr)
	}
	hash := strings.TrimSpace(out)
	h, err := password.Parse(hash)
	if err != nil || !strings.HasPrefix(hash, "$argon2id$") || !h.Verify("s3cret value") || h.Verify("s3cret") {
		t.Errorf("hash-secret printed %q (%v)", hash, err)
	}
	if _, _, err := authgateCmd(t, "x\n", "hash-secret"); err == nil || !strings.Contains(err.Error(), "--stdin") {
		t.Errorf("hash-secret without a terminal: %v", err)
	}
	if _, err := buildClients([]*ClientConfig{{ID: "hashed", SecretHash: hash}}); err != nil {
		t.Errorf("secret_hash refuses the hash: %v", err)
	}
}

// TestDescribeStorage: the status names a PostgreSQL store by its host
// and database, never with its user or password, in both DSN forms.
func TestDescribeStorage(t *testing.T) {
	for _, dsn := range []string{
		"postgres://authgate:hunter2@db.example.com:5433/authgate?sslmode=disable",
		"host=db.example.com port=5433 user=authgate password=hunter2 dbname=authgate sslmode=disable",
	} {
		st := describeStorage(&PostgresStorage{DSN: dsn})
		b, _ := json.Marshal(st)
		if st.Backend != "postgres" || st.Host != "db.example.com:5433" || st.Database != "authgate" ||
			strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "authgate:") {
			t.Errorf("%s: %s", dsn, b)
		}
	}
}
