package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authgate/authgate/authserver/store"
)

// softKey is a software WebAuthn authenticator holding one credential:
// it answers the options a page carries as the passkey script would post
// them, with "none" attestation and ES256 signatures.
type softKey struct {
	t      *testing.T
	rpID   string
	origin string
	key    *ecdsa.PrivateKey
	id     []byte
	handle []byte
	count  uint32
	// uv says the authenticator verifies the user; be that the
	// credential is backup eligible (a synced passkey).
	uv, be bool
}

func newSoftKey(t *testing.T, issuer string) *softKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(issuer)
	id := make([]byte, 16)
	rand.Read(id) //nolint:errcheck
	return &softKey{t: t, rpID: u.Hostname(), origin: u.Scheme + "://" + u.Host, key: key, id: id, uv: true}
}

var b64 = base64.RawURLEncoding

func (k *softKey) authData(attested bool) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	flags := byte(0x01) // user present
	if k.uv {
		flags |= 0x04
	}
	if k.be {
		flags |= 0x08
	}
	if attested {
		flags |= 0x40
	}
	b := append(rp[:], flags)
	b = binary.BigEndian.AppendUint32(b, k.count)
	if attested {
		b = append(b, make([]byte, 16)...) // AAGUID
		b = binary.BigEndian.AppendUint16(b, uint16(len(k.id)))
		b = append(b, k.id...)
		x, y := k.key.X.FillBytes(make([]byte, 32)), k.key.Y.FillBytes(make([]byte, 32)) //nolint:staticcheck // the raw coordinates
		cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
		if err != nil {
			k.t.Fatal(err)
		}
		b = append(b, cose...)
	}
	return b
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// options reads the ceremony options of a page's passkey form.
func pageOptions(t *testing.T, r response) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`data-options="([^"]*)"`).FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("no passkey form on the page (%d): %s", r.status, r.body)
	}
	var o struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &o); err != nil {
		t.Fatal(err)
	}
	return o.PublicKey
}

// create answers a registration page r.
func (k *softKey) create(r response) string {
	o := pageOptions(k.t, r)
	user, _ := o["user"].(map[string]any)
	uid, _ := user["id"].(string)
	k.handle, _ = b64.DecodeString(uid)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(true)})
	if err != nil {
		k.t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", o["challenge"].(string))),
			"attestationObject": b64.EncodeToString(att), "transports": []string{"internal"},
		},
	})
	return string(out)
}

// get answers a sign-in or second-factor page r, counting one use.
func (k *softKey) get(r response) string {
	o := pageOptions(k.t, r)
	k.count++
	auth := k.authData(false)
	cd := k.clientData("webauthn.get", o["challenge"].(string))
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(auth),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.handle),
		},
	})
	return string(out)
}

// passkeyEnv is an mfaEnv whose issuer is http://localhost:<port>, which
// can have passkeys (an IP address cannot be an RP ID).
func passkeyEnv(t *testing.T) *mfaEnv {
	return newMfaEnv(t, func(c *Config) { c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1) })
}

// signedIn is a browser signed in as alice with her password.
func (e *mfaEnv) passkeySignedIn() *browser {
	e.t.Helper()
	b := e.browser()
	if r := b.signIn(b.get("/login"), "alice", alicePassword); !strings.Contains(string(r.body), "You are signed in as alice") {
		e.t.Fatalf("password sign-in: %d %s", r.status, r.body)
	}
	return b
}

// addPasskey adds k as alice's passkey in b.
func (e *mfaEnv) addPasskey(b *browser, k *softKey, name string) response {
	e.t.Helper()
	page := b.get("/account/passkeys")
	if page.status != http.StatusOK || !strings.Contains(page.header.Get("Content-Security-Policy"), "script-src 'self'") {
		e.t.Fatalf("passkeys page: %d %v", page.status, page.header)
	}
	f := fields(page)
	f.Set("action", "add")
	f.Set("name", name)
	f.Set("credential", k.create(page))
	return b.post("/account/passkeys", f)
}

// passkeySignIn signs in a new browser with k alone.
func (e *mfaEnv) passkeySignIn(k *softKey) response {
	e.t.Helper()
	b := e.browser()
	page := b.get("/login")
	f := fields(page)
	f.Set("credential", k.get(page))
	return b.post("/login/passkey", f)
}

func (e *mfaEnv) storedPasskey(k *softKey) (store.Factor, webauthn.Credential) {
	e.t.Helper()
	f, err := e.store.GetFactor(context.Background(), "alice", store.FactorWebAuthn, b64.EncodeToString(k.id))
	if err != nil {
		e.t.Fatal(err)
	}
	var c webauthn.Credential
	if err := json.Unmarshal(f.Data, &c); err != nil {
		e.t.Fatal(err)
	}
	return f, c
}

// TestPasskeyCeremonies: a passkey is added on the passkeys page, signs
// in without a password (and is refused when replayed, when its counter
// goes backwards, when the authenticator did not verify the user, and
// under another user handle), and serves as the second factor.
func TestPasskeyCeremonies(t *testing.T) {
	e := passkeyEnv(t)
	b := e.passkeySignedIn()
	k := newSoftKey(t, e.issuer)
	if r := e.addPasskey(b, k, "Laptop"); r.status != http.StatusOK || !strings.Contains(string(r.body), "Your passkey Laptop was added") {
		t.Fatalf("adding: %d %s", r.status, r.body)
	}
	f, c := e.storedPasskey(k)
	if !f.Confirmed || f.Name != "Laptop" || c.Authenticator.SignCount != 0 || string(k.handle) != "alice" {
		t.Fatalf("stored %+v, handle %q", f, k.handle)
	}
	// Now that alice has a second factor, her password-only session
	// cannot change passkeys.
	if r := b.get("/account/passkeys"); !strings.Contains(string(r.body), "sign in again") || strings.Contains(string(r.body), "data-webauthn") {
		t.Fatalf("password-only session after adding: %s", r.body)
	}

	// Passwordless.
	b2 := e.browser()
	page := b2.get("/login")
	if !strings.Contains(string(page.body), `data-webauthn="get"`) || !strings.Contains(page.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("the sign-in page offers no passkey: %v %s", page.header, page.body)
	}
	form := fields(page)
	form.Set("credential", k.get(page))
	if r := b2.post("/login/passkey", form); !strings.Contains(string(r.body), "You are signed in as alice") {
		t.Fatalf("passkey sign-in: %d %s", r.status, r.body)
	}
	if f, c = e.storedPasskey(k); c.Authenticator.SignCount != 1 || f.LastUsed.IsZero() {
		t.Errorf("after use: count %d, last used %v", c.Authenticator.SignCount, f.LastUsed)
	}
	// The same answer again: the ceremony is gone.
	if r := b2.post("/login/passkey", form); r.status != http.StatusUnauthorized {
		t.Errorf("replayed answer: %d", r.status)
	}
	// Signed in with it (recent, multi-factor): the same authenticator
	// cannot be added twice.
	b2 = e.browser()
	page = b2.get("/login")
	form = fields(page)
	form.Set("credential", k.get(page))
	b2.post("/login/passkey", form)
	if r := e.addPasskey(b2, k, "Again"); r.status != http.StatusBadRequest && r.status != http.StatusConflict {
		t.Fatalf("added twice: %d %s", r.status, r.body)
	}
	// A counter that goes backwards: refused, the record kept.
	k.count = 0
	if r := e.passkeySignIn(k); r.status != http.StatusUnauthorized {
		t.Errorf("counter backwards: %d %s", r.status, r.body)
	}
	if e.mfaLogged("passkey refused: possibly cloned") == nil {
		t.Error("a possible clone was not logged")
	}
	k.count = 5
	// Without user verification a passkey is not enough alone.
	k.uv = false
	if r := e.passkeySignIn(k); r.status != http.StatusUnauthorized {
		t.Errorf("without user verification: %d", r.status)
	}
	k.uv = true
	// Another user handle.
	handle := k.handle
	k.handle = []byte("bob")
	if r := e.passkeySignIn(k); r.status != http.StatusUnauthorized {
		t.Errorf("another user handle: %d", r.status)
	}
	k.handle = handle
	if r := e.passkeySignIn(k); !strings.Contains(string(r.body), "You are signed in as alice") {
		t.Fatalf("passkey sign-in after the refusals: %d %s", r.status, r.body)
	}

	// Second factor: the password, then the passkey.
	b3 := e.browser()
	r := b3.signIn(b3.get("/login"), "alice", alicePassword)
	r = b3.mfaFollow(r)
	if !isFactorPage(r) || !strings.Contains(string(r.body), "Use your passkey") {
		t.Fatalf("no passkey on the factor page: %d %s", r.status, r.body)
	}
	form = fields(r)
	form.Set("credential", k.get(r))
	if r = b3.post("/login/factor", form); !strings.Contains(string(r.body), "You are signed in as alice") {
		t.Fatalf("passkey as second factor: %d %s", r.status, r.body)
	}
}

// TestPasskeysPage: signed out, the page sends the browser to sign in;
// an old sign-in lists passkeys but asks to sign in again to change
// them; a recent one renames and removes.
func TestPasskeysPage(t *testing.T) {
	e := passkeyEnv(t)
	if r := e.browser().get("/account/passkeys"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?return_to=%2Faccount%2Fpasskeys" {
		t.Fatalf("signed out: %d %v", r.status, r.header)
	}
	b := e.passkeySignedIn()
	k := newSoftKey(t, e.issuer)
	k.be = true
	if r := e.addPasskey(b, k, "Phone"); r.status != http.StatusOK {
		t.Fatalf("adding: %d %s", r.status, r.body)
	}
	if _, c := e.storedPasskey(k); !c.Flags.BackupEligible {
		t.Errorf("flags %+v", c.Flags)
	}
	// Alice now has a second factor: changing passkeys needs a sign-in
	// with it.
	b = e.browser()
	login := b.get("/login")
	lf := fields(login)
	lf.Set("credential", k.get(login))
	if r := b.post("/login/passkey", lf); !strings.Contains(string(r.body), "signed in as alice") {
		t.Fatalf("passkey sign-in: %d %s", r.status, r.body)
	}
	page := b.get("/account/passkeys")
	f := fields(page)
	f.Set("id", b64.EncodeToString(k.id))
	f.Set("action", "rename")
	f.Set("name", "Work phone")
	if r := b.post("/account/passkeys", f); !strings.Contains(string(r.body), "The passkey is now called Work phone.") {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	f.Set("csrf_token", fields(page).Get("csrf_token"))
	f.Set("name", "")
	if r := b.post("/account/passkeys", f); r.status != http.StatusBadRequest {
		t.Errorf("empty name: %d", r.status)
	}

	// An old sign-in cannot change anything.
	e.clock.Advance(passkeyReauthAge + time.Minute)
	page = b.get("/account/passkeys")
	if !strings.Contains(string(page.body), "Work phone") || !strings.Contains(string(page.body), "sign in again") || strings.Contains(string(page.body), "data-webauthn") {
		t.Fatalf("old sign-in: %s", page.body)
	}
	f.Set("action", "remove")
	if r := b.post("/account/passkeys", f); r.status != http.StatusForbidden {
		t.Errorf("remove after an old sign-in: %d", r.status)
	}
	// Signed in with the passkey: recent, and multi-factor.
	b2 := e.browser()
	login = b2.get("/login")
	lf = fields(login)
	lf.Set("credential", k.get(login))
	if r := b2.post("/login/passkey", lf); !strings.Contains(string(r.body), "signed in as alice") {
		t.Fatalf("passkey sign-in: %d %s", r.status, r.body)
	}
	page = b2.get("/account/passkeys")
	f = fields(page)
	f.Set("id", b64.EncodeToString(k.id))
	f.Set("action", "remove")
	if r := b2.post("/account/passkeys", f); !strings.Contains(string(r.body), "The passkey was removed") || !strings.Contains(string(r.body), "You have no passkeys yet") {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
}

// TestPasskeysOffOnIPIssuer: an issuer on an IP address has no passkeys:
// no button, no script allowed, and the page says why.
func TestPasskeysOffOnIPIssuer(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	page := b.get("/login")
	if strings.Contains(string(page.body), "data-webauthn") || strings.Contains(page.header.Get("Content-Security-Policy"), "script-src") {
		t.Fatalf("passkeys offered on an IP issuer: %v %s", page.header, page.body)
	}
	b.signIn(page, "alice", alicePassword)
	if r := b.get("/account/passkeys"); r.status != http.StatusNotFound {
		t.Errorf("passkeys page: %d %s", r.status, r.body)
	}
}

// TestWebAuthnScript: the script is served as JavaScript, not sniffed.
func TestWebAuthnScript(t *testing.T) {
	e := newEnv(t, nil)
	r := e.get("/assets/webauthn.js", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/javascript; charset=utf-8" || r.header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(string(r.body), "navigator.credentials") {
		t.Fatalf("script: %d %v", r.status, r.header)
	}
}

// TestPasskeyHandleAndAMR: the user handle is the user's ID, hashed when
// too long; a backup-eligible passkey is "swk", any other "hwk".
func TestPasskeyHandleAndAMR(t *testing.T) {
	if got := userHandle("alice"); string(got) != "alice" {
		t.Errorf("handle %q", got)
	}
	long := strings.Repeat("x", 65)
	if got := userHandle(long); len(got) != 32 || string(got) == long {
		t.Errorf("long handle %q", got)
	}
	var c webauthn.Credential
	if got := passkeyAMR(&c); strings.Join(got, " ") != "hwk mfa" {
		t.Errorf("device-bound amr %v", got)
	}
	c.Flags.BackupEligible = true
	if got := passkeyAMR(&c); strings.Join(got, " ") != "swk mfa" {
		t.Errorf("synced amr %v", got)
	}
}
