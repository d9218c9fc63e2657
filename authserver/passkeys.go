package authserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// Passkeys (WebAuthn credentials). A signed-in user adds them at
// <issuer>/account/passkeys; one then signs the user in without a
// password (the "Sign in with a passkey" button of the sign-in page,
// <issuer>/login/passkey) or serves as the second factor after a
// password (<issuer>/login/factor). Each is a confirmed store.Factor of
// kind FactorWebAuthn whose ID is the credential ID (base64url) and whose
// Data is the go-webauthn Credential as JSON (public key, sign count,
// flags).
//
// The relying party is the issuer: its RP ID is the issuer's host name
// (so passkeys work on that host only; an issuer on an IP address, which
// cannot be an RP ID, has no passkeys), the allowed origin the issuer's
// origin, and its name the product name. No attestation is asked for.
//
// The pages stay without inline script: the one script, served at
// <issuer>/assets/webauthn.js, runs the browser's side of each ceremony
// and posts the authenticator's answer as a form field. Between the
// page and the post, the ceremony's state (its challenge) waits in a
// short-lived, encrypted and signed cookie, one per kind of ceremony,
// which the post clears.
//
// A sign-in with a passkey has amr "hwk" (a key bound to one device) or
// "swk" (a synced passkey: its authenticator says it is backup eligible,
// so the private key may be copied to other devices), with "mfa": a
// passkey is something the user has, and either the authenticator
// verified the user (a PIN or biometric: a second factor of its own, as
// a passwordless sign-in requires) or it follows a password.

// Paths of the passkey pages and their script.
const (
	// pathPasskeys lists, adds, renames and removes the user's
	// passkeys.
	pathPasskeys = "/account/passkeys"
	// pathLoginPasskey takes a passwordless sign-in with a passkey.
	pathLoginPasskey = "/login/passkey"
	// pathWebAuthnScript serves the passkey script.
	pathWebAuthnScript = "/assets/webauthn.js"
)

// Limits of passkeys.
const (
	// passkeyReauthAge is how recent a sign-in must be to add, rename or
	// remove passkeys.
	passkeyReauthAge = 10 * time.Minute
	// ceremonyLifetime is how long a page's passkey ceremony can be
	// completed.
	ceremonyLifetime = 5 * time.Minute
	// maxPasskeyName bounds a passkey's name, in characters.
	maxPasskeyName = 64
	// maxPasskeys bounds how many passkeys a user may have.
	maxPasskeys = 20
	// maxUserHandle is the longest WebAuthn user handle (WebAuthn
	// §5.4.3).
	maxUserHandle = 64
)

// Kinds of passkey ceremonies, each with a cookie of its own (so a
// sign-in page in one tab does not spoil the passkeys page in another).
const (
	ceremonyRegister = "authgate_passkey_add"
	ceremonyLogin    = "authgate_passkey_login"
	ceremonyFactor   = "authgate_passkey_factor"
)

// amrHWK and amrSWK (RFC 8176) say whether a passkey is bound to its
// hardware or may be copied.
const (
	amrHWK = "hwk"
	amrSWK = "swk"
)

// errCloned refuses a passkey whose signature counter went backwards:
// the authenticator may have been cloned.
var errCloned = errors.New("the passkey's signature counter went backwards: it may have been cloned")

// newRelyingParty is the WebAuthn relying party of issuer, named
// product; nil when the issuer's host is an IP address, which cannot be
// an RP ID.
func newRelyingParty(issuer *url.URL, product string) (*webauthn.WebAuthn, error) {
	host := issuer.Hostname()
	if net.ParseIP(host) != nil {
		return nil, nil
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyLifetime, TimeoutUVD: ceremonyLifetime}
	rp, err := webauthn.New(&webauthn.Config{
		RPID:                  host,
		RPDisplayName:         product,
		RPOrigins:             []string{issuer.Scheme + "://" + issuer.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts:              webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("setting up passkeys for %s: %w", host, err)
	}
	return rp, nil
}

// userHandle is the WebAuthn user handle of the user with ID id: the ID
// itself (random for a federated user, the username for a local one),
// or its SHA-256 if it is longer than a handle may be.
func userHandle(id string) []byte {
	if len(id) <= maxUserHandle {
		return []byte(id)
	}
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// credentialID is the ID of a credential's factor.
func credentialID(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// passkeyUser is a user as go-webauthn sees it.
type passkeyUser struct {
	u     *User
	creds []webauthn.Credential
}

func (p *passkeyUser) WebAuthnID() []byte { return userHandle(p.u.ID) }
func (p *passkeyUser) WebAuthnName() string {
	return p.u.Username
}
func (p *passkeyUser) WebAuthnDisplayName() string {
	if p.u.Name != "" {
		return p.u.Name
	}
	return p.u.Username
}
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// passkey is one of a user's passkeys.
type passkey struct {
	factor store.Factor
	cred   webauthn.Credential
}

// userPasskeys returns the user's confirmed passkeys.
func (s *Server) userPasskeys(ctx context.Context, userID string) ([]passkey, error) {
	list, err := s.cfg.Store.ListFactors(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("listing the user's passkeys: %w", err)
	}
	var out []passkey
	for _, f := range list {
		if f.Kind != store.FactorWebAuthn || !f.Confirmed {
			continue
		}
		var c webauthn.Credential
		if err := json.Unmarshal(f.Data, &c); err != nil {
			s.logger.Error("a stored passkey cannot be read", zap.String("user_id", userID), zap.String("credential_id", f.ID), zapErr(err))
			continue
		}
		out = append(out, passkey{factor: f, cred: c})
	}
	return out, nil
}

// passkeyUserOf is u with its passkeys, for go-webauthn.
func passkeyUserOf(u *User, keys []passkey) *passkeyUser {
	pu := &passkeyUser{u: u}
	for _, k := range keys {
		pu.creds = append(pu.creds, k.cred)
	}
	return pu
}

// ceremony is a passkey ceremony waiting for the authenticator's answer.
type ceremony struct {
	// UserID is whose ceremony it is; empty for a passwordless sign-in.
	UserID  string               `json:"u,omitempty"`
	Session webauthn.SessionData `json:"s"`
}

// ceremonyCookie names the cookie of a kind of ceremony.
func (s *Server) ceremonyCookie(kind string) string {
	if s.cookies.secure {
		return "__Host-" + kind
	}
	return kind
}

// saveCeremony keeps a ceremony in its cookie and returns the page's
// part of it: where to post and the options as JSON.
func (s *Server) saveCeremony(w http.ResponseWriter, kind, action string, c ceremony, options any) (*ui.WebAuthn, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, fmt.Errorf("encoding the passkey options: %w", err)
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding the passkey ceremony: %w", err)
	}
	if err := s.cookies.set(w, s.ceremonyCookie(kind), string(data), ceremonyLifetime); err != nil {
		return nil, fmt.Errorf("setting the passkey ceremony cookie: %w", err)
	}
	return &ui.WebAuthn{Action: action, Options: string(opts)}, nil
}

// takeCeremony returns the browser's ceremony of a kind and clears its
// cookie: an answer is checked once.
func (s *Server) takeCeremony(w http.ResponseWriter, r *http.Request, kind string) (ceremony, bool) {
	raw, ok := s.cookies.get(r, s.ceremonyCookie(kind))
	if !ok {
		return ceremony{}, false
	}
	s.cookies.clear(w, s.ceremonyCookie(kind))
	var c ceremony
	if json.Unmarshal([]byte(raw), &c) != nil || c.Session.Challenge == "" {
		return ceremony{}, false
	}
	return c, true
}

// passkeyAMR is the amr of a sign-in with the passkey cred: "swk" for a
// synced passkey (backup eligible), "hwk" for one bound to its
// authenticator, and "mfa".
func passkeyAMR(cred *webauthn.Credential) []string {
	if cred.Flags.BackupEligible {
		return []string{amrSWK, amrMFA}
	}
	return []string{amrHWK, amrMFA}
}

// scriptURL is the path of the passkey script.
func (s *Server) scriptURL() string { return s.prefix + pathWebAuthnScript }

// handleWebAuthnScript serves the passkey script.
func (s *Server) handleWebAuthnScript(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(ui.WebAuthnScript()) //nolint:errcheck // the client went away
}

// recordPasskeyUse stores what a sign-in with the passkey used (the
// credential as go-webauthn updated it) of userID: its sign count and
// flags, and when. A sign count that did not go up, when either count is
// not zero, refuses the sign-in (WebAuthn §7.2 step 21): the
// authenticator may have been cloned.
func (s *Server) recordPasskeyUse(ctx context.Context, userID string, used *webauthn.Credential) error {
	id := credentialID(used.ID)
	_, err := s.cfg.Store.UpdateFactor(ctx, userID, store.FactorWebAuthn, id, func(f store.Factor) (store.Factor, error) {
		var stored webauthn.Credential
		if err := json.Unmarshal(f.Data, &stored); err != nil {
			return f, fmt.Errorf("reading the stored passkey: %w", err)
		}
		next, prev := used.Authenticator.SignCount, stored.Authenticator.SignCount
		if (next != 0 || prev != 0) && next <= prev {
			return f, errCloned
		}
		stored.Authenticator.SignCount = next
		stored.Flags = used.Flags
		data, err := json.Marshal(stored)
		if err != nil {
			return f, fmt.Errorf("encoding the passkey: %w", err)
		}
		f.Data, f.LastUsed = data, s.now()
		return f, nil
	})
	if err != nil {
		return fmt.Errorf("recording the use of passkey %s: %w", id, err)
	}
	return nil
}

// beginPasskeyFactor starts the second-factor ceremony with u's
// passkeys: the page's part of it, or nil if u has none.
func (s *Server) beginPasskeyFactor(w http.ResponseWriter, r *http.Request, u *User) (*ui.WebAuthn, error) {
	if s.webauthn == nil {
		return nil, nil
	}
	keys, err := s.userPasskeys(r.Context(), u.ID)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	opts, session, err := s.webauthn.BeginLogin(passkeyUserOf(u, keys), webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("starting a passkey second factor: %w", err)
	}
	return s.saveCeremony(w, ceremonyFactor, s.prefix+pathLoginFactor, ceremony{UserID: u.ID, Session: *session}, opts)
}

// checkPasskeyFactor checks the passkey answer credential of u for the
// second factor, records its use and returns the amr it adds.
func (s *Server) checkPasskeyFactor(w http.ResponseWriter, r *http.Request, u *User, credential string) ([]string, error) {
	if s.webauthn == nil {
		return nil, ErrNoFactor
	}
	c, ok := s.takeCeremony(w, r, ceremonyFactor)
	if !ok || c.UserID != u.ID {
		return nil, fmt.Errorf("%w: no passkey ceremony of this user in this browser", ErrWrongCode)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(credential))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the passkey's answer: %w", ErrWrongCode, err)
	}
	ctx := r.Context()
	keys, err := s.userPasskeys(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, ErrNoFactor
	}
	cred, err := s.webauthn.ValidateLogin(passkeyUserOf(u, keys), c.Session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongCode, describeWebAuthn(err))
	}
	if err := s.recordPasskeyUse(ctx, u.ID, cred); err != nil {
		return nil, err
	}
	return passkeyAMR(cred), nil
}

// describeWebAuthn adds go-webauthn's details to its error, which its
// Error() leaves out.
func describeWebAuthn(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return fmt.Errorf("%w: %s", err, pe.Details)
	}
	return err
}

// beginPasskeySignIn starts a passwordless sign-in ceremony for the
// sign-in page: any discoverable passkey of this site, with user
// verification required. Nil when passkeys are off.
func (s *Server) beginPasskeySignIn(w http.ResponseWriter) *ui.WebAuthn {
	if s.webauthn == nil {
		return nil
	}
	opts, session, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err == nil {
		var page *ui.WebAuthn
		if page, err = s.saveCeremony(w, ceremonyLogin, s.prefix+pathLoginPasskey, ceremony{Session: *session}, opts); err == nil {
			return page
		}
	}
	s.logger.Error("starting a passkey sign-in", zapErr(err))
	return nil
}

// handleLoginPasskey signs a user in with a passkey alone: the
// authenticator found one of this site's passkeys and verified the user.
// The sign-in continues like one with a password and a second factor.
func (s *Server) handleLoginPasskey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	f, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	lf := loginForm{handle: f.get("request"), returnTo: f.get("return_to")}
	if lf.handle != "" {
		var err error
		if lf.req, lf.c, ok, err = s.loadPending(r.Context(), lf.handle); !ok {
			s.pendingGone(w, r, err, "This sign-in request has expired or was already completed.")
			return
		}
	} else if lf.returnTo != "" && !s.localPath(lf.returnTo) {
		lf.returnTo = ""
	}
	if s.webauthn == nil {
		s.renderLogin(w, r, http.StatusBadRequest, lf, "Passkeys cannot be used here.")
		return
	}
	now := s.now()
	ip := s.cfg.ClientIP(r)
	if wait, ok := s.loginLimits.attempt("", ip, now); !ok {
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: SignInPasskey, Client: clientOf(lf.c), Error: "rate_limited"})
		s.renderLogin(w, r, http.StatusTooManyRequests, lf, fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", roundUp(wait)))
		return
	}
	u, cred, err := s.checkPasskeySignIn(w, r, f.get("credential"))
	if err != nil {
		s.logger.Info("passkey sign-in failed", zapIP(ip), zapErr(err))
		msg, reason := "Your passkey could not be checked. Try again, or sign in another way.", "wrong_credentials"
		if errors.Is(err, errCloned) {
			s.logger.Warn("passkey refused: possibly cloned", zapIP(ip), zapErr(err))
			msg, reason = "This passkey cannot be used: it may have been copied. Sign in another way.", "passkey_cloned"
		}
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: SignInPasskey, Client: clientOf(lf.c), Error: reason})
		s.renderLogin(w, r, http.StatusUnauthorized, lf, msg)
		return
	}
	s.loginLimits.byAddr.forgive(addressKey(ip), now)
	s.completeLogin(w, r, lf, u, passkeyAMR(cred), "")
}

// checkPasskeySignIn checks a passwordless sign-in's answer: the
// credential is a confirmed passkey of a user who can sign in, the user
// handle is that user's, the signature is right and the user was
// verified. It records the use.
func (s *Server) checkPasskeySignIn(w http.ResponseWriter, r *http.Request, credential string) (*User, *webauthn.Credential, error) {
	c, ok := s.takeCeremony(w, r, ceremonyLogin)
	if !ok || c.UserID != "" {
		return nil, nil, errors.New("no passkey sign-in was started in this browser, or it expired")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(credential))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the passkey's answer: %w", describeWebAuthn(err))
	}
	ctx := r.Context()
	var found *User
	find := func(rawID, handle []byte) (webauthn.User, error) {
		factors, err := s.cfg.Store.FindFactors(ctx, store.FactorWebAuthn, credentialID(rawID))
		if err != nil {
			return nil, fmt.Errorf("finding the passkey: %w", err)
		}
		for _, fa := range factors {
			if !fa.Confirmed || !bytes.Equal(userHandle(fa.UserID), handle) {
				continue
			}
			u, ok, err := s.users.lookup(ctx, fa.UserID)
			if err != nil {
				return nil, fmt.Errorf("looking up the passkey's user: %w", err)
			}
			if !ok {
				return nil, errors.New("the passkey's user cannot sign in")
			}
			keys, err := s.userPasskeys(ctx, u.ID)
			if err != nil {
				return nil, err
			}
			found = u
			return passkeyUserOf(u, keys), nil
		}
		return nil, errors.New("no user has this passkey")
	}
	_, cred, err := s.webauthn.ValidatePasskeyLogin(find, c.Session, parsed)
	if err != nil {
		return nil, nil, fmt.Errorf("checking the passkey: %w", describeWebAuthn(err))
	}
	if !parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		return nil, nil, errors.New("the authenticator did not verify the user")
	}
	if err := s.recordPasskeyUse(ctx, found.ID, cred); err != nil {
		return nil, nil, fmt.Errorf("user %s: %w", found.Username, err)
	}
	return found, cred, nil
}

// handlePasskeys is the passkeys page, <issuer>/account/passkeys: the
// signed-in user's passkeys, with forms to add, rename and remove them.
// Changing them needs a sign-in within passkeyReauthAge, with the second
// factor if the user has one; otherwise the page asks to sign in again.
func (s *Server) handlePasskeys(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	sess, u := s.currentSession(r)
	if sess == nil {
		http.Redirect(w, r, s.prefix+pathLogin+"?"+url.Values{"return_to": {s.prefix + pathPasskeys}}.Encode(), http.StatusSeeOther)
		return
	}
	if s.webauthn == nil {
		s.templates.Render(w, "message", http.StatusNotFound, ui.Page{Title: "Passkeys",
			Message: "Passkeys cannot be used on this site: its address is an IP address, not a domain name."})
		return
	}
	ctx := r.Context()
	m, err := s.userFactors(ctx, u.ID)
	if err != nil {
		s.logFailure("looking up second factors", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your passkeys cannot be shown right now. Try again later.")
		return
	}
	recent := s.now().Sub(time.Unix(sess.data.AuthTime, 0)) <= passkeyReauthAge && (hasMFA(sess.data.AMR) || !m.has())
	if r.Method != http.MethodPost {
		s.renderPasskeys(w, r, http.StatusOK, u, recent, "", "")
		return
	}
	f, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	if !recent {
		s.renderPasskeys(w, r, http.StatusForbidden, u, false, "You signed in too long ago to change your passkeys. Sign in again first.", "")
		return
	}
	name := strings.TrimSpace(f.get("name"))
	if f.get("action") != "remove" && (name == "" || utf8.RuneCountInString(name) > maxPasskeyName || !plainText(name, maxPasskeyName)) {
		s.renderPasskeys(w, r, http.StatusBadRequest, u, true, fmt.Sprintf("Give the passkey a name of 1 to %d characters.", maxPasskeyName), "")
		return
	}
	switch f.get("action") {
	case "add":
		s.addPasskey(w, r, u, name, f.get("credential"))
	case "rename":
		id := f.get("id")
		_, err := s.cfg.Store.UpdateFactor(ctx, u.ID, store.FactorWebAuthn, id, func(fa store.Factor) (store.Factor, error) {
			fa.Name = name
			return fa, nil
		})
		if errors.Is(err, store.ErrNotFound) {
			s.renderPasskeys(w, r, http.StatusNotFound, u, true, "That passkey is gone.", "")
			return
		}
		if err != nil {
			s.logFailure("renaming a passkey", err, zapUser(u.Username))
			s.errorPage(w, r, http.StatusServiceUnavailable, "The passkey could not be renamed. Try again later.")
			return
		}
		s.renderPasskeys(w, r, http.StatusOK, u, true, "", "The passkey is now called "+name+".")
	case "remove":
		id := f.get("id")
		keys, err := s.userPasskeys(ctx, u.ID)
		if err != nil {
			s.logFailure("listing passkeys", err, zapUser(u.Username))
			s.errorPage(w, r, http.StatusServiceUnavailable, "The passkey could not be removed. Try again later.")
			return
		}
		if why := s.mfaRequiredWhy(u); why != "" && !m.totp && len(keys) == 1 && keys[0].factor.ID == id {
			s.logger.Info("refused to remove the last second factor of a user who must have one", zapUser(u.Username))
			s.renderPasskeys(w, r, http.StatusConflict, u, true, why+" This passkey is your only second factor, so it cannot be removed. Set up an authenticator app or add another passkey first.", "")
			return
		}
		err = s.cfg.Store.DeleteFactor(ctx, u.ID, store.FactorWebAuthn, id)
		if errors.Is(err, store.ErrNotFound) {
			s.renderPasskeys(w, r, http.StatusNotFound, u, true, "That passkey is gone.", "")
			return
		}
		if err != nil {
			s.logFailure("removing a passkey", err, zapUser(u.Username))
			s.errorPage(w, r, http.StatusServiceUnavailable, "The passkey could not be removed. Try again later.")
			return
		}
		// The recovery codes back up a second factor: with the last one
		// gone they go too, as when the authenticator app is removed.
		if left, err := s.userFactors(ctx, u.ID); err != nil {
			s.logger.Error("checking the second factors left", zapUser(u.Username), zapErr(err))
		} else if !left.totp && !left.passkey {
			if err := s.cfg.Store.DeleteFactor(ctx, u.ID, store.FactorRecoveryCodes, recoveryFactorID); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.logger.Error("removing the recovery codes after the last second factor", zapUser(u.Username), zapErr(err))
			}
		}
		s.logger.Info("passkey removed", zapUser(u.Username), zap.String("credential_id", id), zapIP(s.cfg.ClientIP(r)))
		s.emitFrom(r, Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangePasskeyRemoved, Username: u.Username, Subject: u.ID})
		s.renderPasskeys(w, r, http.StatusOK, u, true, "", "The passkey was removed. Remove it from your device too, in its passkey or password settings.")
	default:
		s.renderPasskeys(w, r, http.StatusBadRequest, u, true, "Choose what to do.", "")
	}
}

// addPasskey checks a new passkey's answer and stores it, named name.
func (s *Server) addPasskey(w http.ResponseWriter, r *http.Request, u *User, name, credential string) {
	ctx := r.Context()
	fail := func(status int, msg string, err error) {
		s.logger.Info("adding a passkey failed", zapUser(u.Username), zapErr(err))
		s.renderPasskeys(w, r, status, u, true, msg, "")
	}
	c, ok := s.takeCeremony(w, r, ceremonyRegister)
	if !ok || c.UserID != u.ID {
		fail(http.StatusBadRequest, "Adding the passkey took too long, or was started in another tab. Try again.", errors.New("no ceremony of this user"))
		return
	}
	keys, err := s.userPasskeys(ctx, u.ID)
	if err != nil {
		s.logFailure("listing passkeys", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "The passkey could not be added. Try again later.")
		return
	}
	if len(keys) >= maxPasskeys {
		fail(http.StatusConflict, fmt.Sprintf("You have %d passkeys, as many as you can. Remove one first.", len(keys)), errors.New("too many passkeys"))
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(credential))
	if err != nil {
		fail(http.StatusBadRequest, "Your browser's answer could not be read. Try again.", describeWebAuthn(err))
		return
	}
	cred, err := s.webauthn.CreateCredential(passkeyUserOf(u, keys), c.Session, parsed)
	if err != nil {
		fail(http.StatusBadRequest, "The passkey could not be checked. Try again.", describeWebAuthn(err))
		return
	}
	id := credentialID(cred.ID)
	if others, err := s.cfg.Store.FindFactors(ctx, store.FactorWebAuthn, id); err != nil || len(others) > 0 {
		if err == nil {
			err = errors.New("the credential ID is registered already")
		}
		fail(http.StatusConflict, "This passkey is registered already.", err)
		return
	}
	data, err := json.Marshal(cred)
	if err == nil {
		err = s.cfg.Store.CreateFactor(ctx, store.Factor{UserID: u.ID, Kind: store.FactorWebAuthn, ID: id, Name: name, Data: data,
			Confirmed: true, CreatedAt: s.now()})
	}
	if errors.Is(err, store.ErrAlreadyExists) {
		fail(http.StatusConflict, "This passkey is registered already.", err)
		return
	}
	if err != nil {
		s.logFailure("storing a passkey", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "The passkey could not be added. Try again later.")
		return
	}
	s.logger.Info("passkey added", zapUser(u.Username), zap.String("credential_id", id), zap.Strings("amr", passkeyAMR(cred)), zapIP(s.cfg.ClientIP(r)))
	s.emitFrom(r, Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangePasskeyAdded, Username: u.Username, Subject: u.ID})
	s.renderPasskeys(w, r, http.StatusOK, u, true, "", "Your passkey "+name+" was added.")
}

// renderPasskeys shows the passkeys page of u: with the form to add one
// (a new registration ceremony) if changing is allowed, otherwise a link
// to sign in again; errMsg or msg say what happened.
func (s *Server) renderPasskeys(w http.ResponseWriter, r *http.Request, status int, u *User, canChange bool, errMsg, msg string) {
	ctx := r.Context()
	keys, err := s.userPasskeys(ctx, u.ID)
	if err != nil {
		s.logFailure("listing passkeys", err, zapUser(u.Username))
		s.errorPage(w, r, http.StatusServiceUnavailable, "Your passkeys cannot be shown right now. Try again later.")
		return
	}
	p := ui.Page{Title: "Passkeys", Action: s.prefix + pathPasskeys, CSRFToken: s.csrfToken(w, r), Error: errMsg, Message: msg,
		SignedInAs: u.Username}
	day := func(t time.Time) string { return t.UTC().Format("2 January 2006") }
	for _, k := range keys {
		pk := ui.Passkey{ID: k.factor.ID, Name: k.factor.Name, Created: day(k.factor.CreatedAt), Synced: k.cred.Flags.BackupEligible}
		if !k.factor.LastUsed.IsZero() {
			pk.LastUsed = day(k.factor.LastUsed)
		}
		p.Passkeys = append(p.Passkeys, pk)
	}
	if !canChange {
		p.Reauth = &ui.Link{URL: s.prefix + pathLogin + "?" + url.Values{"return_to": {s.prefix + pathPasskeys}}.Encode(), Text: "sign in again"}
		s.templates.Render(w, "passkeys", status, p)
		return
	}
	if len(keys) < maxPasskeys {
		pu := passkeyUserOf(u, keys)
		var exclude []protocol.CredentialDescriptor
		for _, c := range pu.creds {
			exclude = append(exclude, c.Descriptor())
		}
		opts, session, err := s.webauthn.BeginRegistration(pu,
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
				ResidentKey:      protocol.ResidentKeyRequirementPreferred,
				UserVerification: protocol.VerificationPreferred,
			}),
			webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
			webauthn.WithExclusions(exclude))
		if err == nil {
			p.WebAuthn, err = s.saveCeremony(w, ceremonyRegister, s.prefix+pathPasskeys, ceremony{UserID: u.ID, Session: *session}, opts)
		}
		if err != nil {
			s.logger.Error("starting to add a passkey", zapUser(u.Username), zapErr(err))
			p.Error = "A passkey cannot be added right now. Try again later."
		}
		p.Script = s.scriptURL()
	}
	s.templates.Render(w, "passkeys", status, p)
}
