package authserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"

	"github.com/authgate/authgate/authserver/store"
)

// TestTOTPEnrolmentAPI: BeginTOTP stores an unconfirmed factor with the
// secret sealed, and returns the secret and its otpauth URL, which
// TOTPQRCode draws as a scannable PNG; the factor does not count until
// ConfirmTOTP saw a right code; a confirmed app is not replaced;
// RemoveTOTP removes it with the recovery codes it backed up.
func TestTOTPEnrolmentAPI(t *testing.T) {
	e := newMfaEnv(t, nil)
	ctx := context.Background()
	secret, uri, err := e.srv.BeginTOTP(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		t.Fatalf("the otpauth URL %q: %v", uri, err)
	}
	if key.Type() != "totp" || key.Issuer() != "authgate" || key.AccountName() != "alice" || key.Secret() != secret ||
		key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 {
		t.Errorf("otpauth URL %q: type %s issuer %q account %q period %d digits %d", uri, key.Type(), key.Issuer(), key.AccountName(), key.Period(), key.Digits())
	}
	if raw, err := base32NoPad.DecodeString(secret); err != nil || len(raw) != 20 {
		t.Errorf("secret %q: %d bytes, %v; want 20", secret, len(raw), err)
	}
	f, err := e.store.GetFactor(ctx, "alice", store.FactorTOTP, "totp")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base32NoPad.DecodeString(secret)
	if f.Confirmed || bytes.Contains(f.Data, []byte(secret)) || bytes.Contains(f.Data, raw) ||
		bytes.Contains(f.Data, []byte(base64.StdEncoding.EncodeToString(raw))) {
		t.Errorf("the stored factor is confirmed or holds the secret in clear: %+v %s", f, f.Data)
	}

	// The QR code holds the URL: its modules are the image's pixels.
	img, err := TOTPQRCode(uri)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := png.Decode(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("the QR code is not a PNG: %v", err)
	}
	want, _ := qr.Encode(uri, qr.M, qr.Auto)
	n := want.Bounds().Dx()
	if got := decoded.Bounds().Dx(); got != (n+2*qrQuietModules)*qrModulePixels || decoded.Bounds().Dy() != got {
		t.Errorf("image is %v; want %d modules of %d px with a quiet zone", decoded.Bounds(), n, qrModulePixels)
	}
	for y := -qrQuietModules; y < n+qrQuietModules; y++ {
		for x := -qrQuietModules; x < n+qrQuietModules; x++ {
			px := decoded.At((x+qrQuietModules)*qrModulePixels+qrModulePixels/2, (y+qrQuietModules)*qrModulePixels+qrModulePixels/2)
			r, _, _, _ := px.RGBA()
			dark := r < 0x8000
			wantDark := x >= 0 && y >= 0 && x < n && y < n && func() bool { r, _, _, _ := want.At(x, y).RGBA(); return r < 0x8000 }()
			if dark != wantDark {
				t.Fatalf("module (%d,%d) is dark=%v; want %v", x, y, dark, wantDark)
			}
		}
	}
	if _, err := TOTPQRCode("https://example.com/"); err == nil {
		t.Error("TOTPQRCode drew a URL that is not otpauth://")
	}

	// Unconfirmed, the app is not asked for.
	b, verifier, r := e.mfaPassword("alice")
	e.mfaTokens(b, r, "app", verifier)

	if err := e.srv.ConfirmTOTP(ctx, "alice", mfaWrong(e.mfaCode(secret, 0))); !errors.Is(err, ErrWrongCode) {
		t.Errorf("ConfirmTOTP with a wrong code = %v; want ErrWrongCode", err)
	}
	if err := e.srv.ConfirmTOTP(ctx, "alice", e.mfaCode(secret, 0)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if err := e.srv.ConfirmTOTP(ctx, "alice", e.mfaCode(secret, 0)); !errors.Is(err, ErrFactorExists) {
		t.Errorf("ConfirmTOTP again = %v; want ErrFactorExists", err)
	}
	if _, _, err := e.srv.BeginTOTP(ctx, "alice"); !errors.Is(err, ErrFactorExists) {
		t.Errorf("BeginTOTP with a confirmed app = %v; want ErrFactorExists", err)
	}
	if _, _, err := e.srv.BeginTOTP(ctx, "nobody"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("BeginTOTP of no user = %v; want ErrUserNotFound", err)
	}
	if err := e.srv.ConfirmTOTP(ctx, "carol", "123456"); !errors.Is(err, ErrNoFactor) {
		t.Errorf("ConfirmTOTP without BeginTOTP = %v; want ErrNoFactor", err)
	}

	// Confirmed, it is asked for.
	e.clock.Advance(30 * time.Second)
	_, _, r = e.mfaPassword("alice")
	if r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "/login/factor") {
		t.Fatalf("a confirmed app is not asked for: %d %s", r.status, r.header.Get("Location"))
	}

	if _, err := e.srv.NewRecoveryCodes(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.RemoveTOTP(ctx, "alice"); err != nil {
		t.Fatalf("RemoveTOTP: %v", err)
	}
	if list, err := e.store.ListFactors(ctx, "alice"); err != nil || len(list) != 0 {
		t.Errorf("after RemoveTOTP the factors are %v, %v; want none (the recovery codes go too)", list, err)
	}
	if err := e.srv.RemoveTOTP(ctx, "alice"); !errors.Is(err, ErrNoFactor) {
		t.Errorf("RemoveTOTP again = %v; want ErrNoFactor", err)
	}
	b, verifier, r = e.mfaPassword("alice")
	e.mfaTokens(b, r, "app", verifier)
}

// TestTOTPSignIn: a user with a TOTP app signs in with the password and
// then a code; the tokens say so: amr pwd, otp, mfa and acr mfa in the
// ID token, the access token and introspection. Until the code, there is
// no session.
func TestTOTPSignIn(t *testing.T) {
	e := newMfaEnv(t, nil)
	secret := e.mfaEnrol("alice")
	b, verifier, r := e.mfaPassword("alice", "scope", "openid offline_access")
	page := b.mfaFollow(r)
	if !isFactorPage(page) || !strings.Contains(string(page.body), `autocomplete="one-time-code"`) ||
		strings.Contains(string(page.body), "recovery_code") || strings.Contains(string(page.body), "<script") {
		t.Fatalf("not the code page (TOTP only, no script): %s", idpMain(page))
	}
	if got := e.signinSilent(b); got.Get("error") != codeLoginRequired {
		t.Errorf("before the code, prompt=none answered %v; want login_required (no session yet)", got)
	}
	if r := b.mfaSubmit(page, "code", ""); r.status != http.StatusBadRequest {
		t.Errorf("an empty code: %d", r.status)
	}
	before := e.clock.Now().Unix()
	// A code with a space, as some apps show it.
	code := e.mfaCode(secret, 0)
	tokens := e.mfaTokens(b, b.mfaSubmit(page, "code", code[:3]+" "+code[3:]), "app", verifier)

	want := []string{"pwd", "otp", "mfa"}
	c := e.mfaClaims(tokens["id_token"].(string), "app")
	if !slices.Equal(c.AMR, want) || c.ACR != "mfa" || c.AuthTime < before {
		t.Errorf("ID token amr %v acr %q auth_time %d; want %v, mfa, at least %d", c.AMR, c.ACR, c.AuthTime, want, before)
	}
	at := tokens["access_token"].(string)
	info, err := e.srv.VerifyAccessToken(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Claims.AMR, want) || info.Claims.ACR != "mfa" || info.Claims.AuthTime != c.AuthTime {
		t.Errorf("access token amr %v acr %q auth_time %d", info.Claims.AMR, info.Claims.ACR, info.Claims.AuthTime)
	}
	for _, tok := range []string{at, tokens["refresh_token"].(string)} {
		in := e.signinIntrospect(tok)
		if in["acr"] != "mfa" || !slices.Equal(mfaStrings(in["amr"]), want) || int64(in["auth_time"].(float64)) != c.AuthTime {
			t.Errorf("introspection = %v; want acr mfa, amr %v, auth_time %d", in, want, c.AuthTime)
		}
	}
	// The refreshed tokens keep them.
	rr := e.signinRefresh("app", tokens["refresh_token"].(string), "")
	if rr.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", rr.status, rr.body)
	}
	if c := e.mfaClaims(rr.json(t)["id_token"].(string), "app"); c.ACR != "mfa" || !slices.Equal(c.AMR, want) {
		t.Errorf("refreshed ID token amr %v acr %q", c.AMR, c.ACR)
	}
	if len(e.events.matching(EventSignIn, SignInPassword, OutcomeSuccess)) != 1 || len(e.mfaLogged("first factor passed; asking for the second")) != 1 ||
		len(e.events.matching(EventSecondFactor, SignInTOTP, OutcomeSuccess)) != 1 {
		t.Errorf("log: %v", e.logs.All())
	}
	for _, entry := range e.logs.All() {
		for _, f := range entry.Context {
			if strings.Contains(f.String, code) || strings.Contains(f.String, secret) {
				t.Errorf("the log holds the code or the secret: %v", entry)
			}
		}
	}
	// A session with a second factor is not asked again.
	if q := e.signinSilent(b); q.Get("code") == "" {
		t.Errorf("the signed-in session: prompt=none answered %v", q)
	}
}

// mfaStrings turns a JSON array into strings.
func mfaStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

// TestPasswordOnlyTokens: a sign-in without a second factor has amr pwd
// and no acr anywhere, and discovery says acr_values_supported mfa.
func TestPasswordOnlyTokens(t *testing.T) {
	e := newMfaEnv(t, nil)
	b, verifier, r := e.mfaPassword("carol", "scope", "openid offline_access")
	tokens := e.mfaTokens(b, r, "app", verifier)
	c := e.mfaClaims(tokens["id_token"].(string), "app")
	if !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != "" {
		t.Errorf("ID token amr %v acr %q; want [pwd] and none", c.AMR, c.ACR)
	}
	in := e.signinIntrospect(tokens["access_token"].(string))
	if _, ok := in["acr"]; ok || !slices.Equal(mfaStrings(in["amr"]), []string{"pwd"}) {
		t.Errorf("introspection = %v; want amr [pwd], no acr", in)
	}
	if strings.Contains(string(e.get("/.well-known/openid-configuration", nil).body), `"acr"`) == false {
		t.Error("claims_supported lacks acr")
	}
	md := e.get("/.well-known/openid-configuration", nil).json(t)
	if !slices.Equal(mfaStrings(md["acr_values_supported"]), []string{"mfa"}) {
		t.Errorf("acr_values_supported = %v", md["acr_values_supported"])
	}
	// A client's own token has none of them.
	if in := e.signinIntrospect(e.svcToken("svc", "svc-secret", nil)); in["amr"] != nil || in["acr"] != nil || in["auth_time"] != nil {
		t.Errorf("a client credentials token introspects %v", in)
	}
}

// TestTOTPReplay: a code signs in once; the same code, or one of an
// earlier step, is refused afterwards, even from another browser.
func TestTOTPReplay(t *testing.T) {
	e := newMfaEnv(t, nil)
	secret := e.mfaEnrol("alice")
	code := e.mfaCode(secret, 0)
	b, verifier, r := e.mfaPassword("alice")
	e.mfaTokens(b, b.mfaSubmit(b.mfaFollow(r), "code", code), "app", verifier)

	other, _, r := e.mfaPassword("alice")
	page := other.mfaFollow(r)
	for _, replay := range []string{code, e.mfaCode(secret, -30*time.Second)} {
		r = other.mfaSubmit(page, "code", replay)
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "used already") {
			t.Errorf("a spent code: %d %s", r.status, idpMain(r))
		}
	}
	if n := len(e.events.matching(EventSecondFactor, SignInTOTP, OutcomeFailure)); n != 2 {
		t.Errorf("%d replays logged; want 2", n)
	}
	// The next step's code works.
	e.clock.Advance(30 * time.Second)
	r = other.mfaSubmit(page, "code", e.mfaCode(secret, 0))
	if r.status != http.StatusSeeOther {
		t.Errorf("the next step's code: %d %s", r.status, idpMain(r))
	}
}

// TestTOTPClockSkew: a code of the step before or after the current one
// is accepted (a phone's clock a little off); two steps off is refused.
func TestTOTPClockSkew(t *testing.T) {
	e := newMfaEnv(t, nil)
	secret := e.mfaEnrol("alice")
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{
		{-30 * time.Second, true},
		{30 * time.Second, true},
		{-60 * time.Second, false},
		{60 * time.Second, false},
	} {
		// Each case starts two steps later, past the steps used before.
		e.clock.Advance(2 * time.Minute)
		b, _, r := e.mfaPassword("alice")
		r = b.mfaSubmit(b.mfaFollow(r), "code", e.mfaCode(secret, tc.offset))
		if got := r.status == http.StatusSeeOther || isPage(r, "Allow access?"); got != tc.ok {
			t.Errorf("a code %v off: %d; accepted %v, want %v: %s", tc.offset, r.status, got, tc.ok, idpMain(r))
		}
	}
}
