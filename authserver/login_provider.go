package authserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
	"go.uber.org/zap"
)

// Signing in through an upstream identity provider: /login/{name} sends
// the browser there, /login/{name}/callback finishes; a directory
// (a password connector) checks the sign-in form's password instead. The
// first sign-in of a person creates a user in the store, keyed by the
// provider and the provider's subject.

// IdentityProvider is an upstream identity provider people may sign in
// with besides the server's own users.
type IdentityProvider struct {
	// Name identifies the provider in URLs (/login/<name>) and in its
	// users' records: lowercase letters, digits, '-' and '_'.
	Name string
	// DisplayName is shown on the sign-in page: "Continue with
	// <DisplayName>". Default: Name.
	DisplayName string
	// Redirect or Password is the provider's connector: exactly one is
	// set.
	Redirect connector.Redirect
	Password connector.Password
	// TrustMFA counts a sign-in at the provider as one with a second
	// factor when the provider says so (its amr includes "mfa"), so that
	// the person is not asked for a second factor here. Otherwise the
	// provider's sign-in is a first factor only.
	TrustMFA bool
}

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// checkProviders validates the providers and fills in display names.
func checkProviders(providers []IdentityProvider) ([]IdentityProvider, error) {
	out := make([]IdentityProvider, 0, len(providers))
	seen := map[string]bool{}
	for _, p := range providers {
		switch {
		case !providerName.MatchString(p.Name):
			return nil, fmt.Errorf("identity provider %q: a name is lowercase letters, digits, '-' and '_'", p.Name)
		case p.Name == pathLoginFactor[len(pathLogin)+1:]:
			return nil, fmt.Errorf("identity provider %q: the name is reserved for the second-factor page", p.Name)
		case p.Name == pathLoginPasskey[len(pathLogin)+1:]:
			return nil, fmt.Errorf("identity provider %q: the name is reserved for signing in with a passkey", p.Name)
		case seen[p.Name]:
			return nil, fmt.Errorf("identity provider %q is defined twice", p.Name)
		case (p.Redirect == nil) == (p.Password == nil):
			return nil, fmt.Errorf("identity provider %q needs exactly one connector", p.Name)
		}
		seen[p.Name] = true
		if p.DisplayName == "" {
			p.DisplayName = p.Name
		}
		out = append(out, p)
	}
	return out, nil
}

// provider returns the configured provider with the name.
func (s *Server) provider(name string) (IdentityProvider, bool) {
	for _, p := range s.cfg.IdentityProviders {
		if p.Name == name {
			return p, true
		}
	}
	return IdentityProvider{}, false
}

// providerLogin is a sign-in at a provider in progress, kept in a
// short-lived cookie of its own until the callback.
type providerLogin struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	// Request is the pending authorization request's handle, or
	// ReturnTo a local page to go back to.
	Request  string `json:"r,omitempty"`
	ReturnTo string `json:"t,omitempty"`
	// Expires is when the sign-in ends (Unix seconds, on the server's
	// clock): the cookie's Max-Age binds only the browser, not a copy of
	// the cookie.
	Expires int64 `json:"e"`
}

// providerLoginLifetime bounds the time a person may take at the provider.
const providerLoginLifetime = 10 * time.Minute

// maxProviderLogins bounds the sign-ins at providers a browser has going
// at once (a cookie each): more are abandoned, or forced on the browser
// by another site's links to pile up cookies until its requests are too
// large to serve; starting one more then clears them.
const maxProviderLogins = 5

// providerCookiePrefix starts the names of sign-in cookies (after
// __Host- on https).
const providerCookiePrefix = "authgate_idp_"

// providerCookie names the cookie of the sign-in with the given state:
// one per sign-in, so two tabs do not overwrite each other's.
func (s *Server) providerCookie(state string) string {
	return s.providerCookiePrefix() + state[:8]
}

// providerCookiePrefix starts the names of the sign-in cookies.
func (s *Server) providerCookiePrefix() string {
	if s.cookies.secure {
		return "__Host-" + providerCookiePrefix
	}
	return providerCookiePrefix
}

// callbackURL is a provider's redirect URI at this server.
func (s *Server) callbackURL(name string) string {
	return s.endpointURL(pathLogin + "/" + name + "/callback")
}

// startURL is the path that starts signing in with a provider.
func (s *Server) startURL(name, handle, returnTo string) string {
	q := url.Values{}
	if handle != "" {
		q.Set("request", handle)
	}
	if returnTo != "" {
		q.Set("return_to", returnTo)
	}
	u := s.prefix + pathLogin + "/" + name
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// handleProviderLogin sends the browser to a provider to sign in, for a
// pending authorization request or a local page.
func (s *Server) handleProviderLogin(w http.ResponseWriter, r *http.Request, name string) {
	p, ok := s.provider(name)
	if !ok || p.Redirect == nil {
		s.errorPage(w, r, http.StatusNotFound, "There is no such way to sign in here.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, msgDamagedLink)
		return
	}
	flow := providerLogin{Provider: name, State: randomID(24), Nonce: randomID(24), Verifier: randomID(32),
		Request: q.Get("request"), ReturnTo: q.Get("return_to"), Expires: s.now().Add(providerLoginLifetime).Unix()}
	if flow.Request != "" {
		if _, _, ok, err := s.loadPending(r.Context(), flow.Request); !ok {
			s.pendingGone(w, r, err, "This sign-in request has expired or was already completed. Start again from the application.")
			return
		}
	}
	if !s.localPath(flow.ReturnTo) {
		flow.ReturnTo = ""
	}
	target, err := p.Redirect.AuthURL(r.Context(), s.callbackURL(name), flow.State, flow.Nonce, flow.Verifier)
	if err != nil {
		s.logger.Error("starting a sign-in at an identity provider", zap.String("provider", name), zapErr(err))
		s.errorPage(w, r, http.StatusBadGateway, p.DisplayName+" cannot be reached right now. Try again later.")
		return
	}
	s.clearProviderLogins(w, r)
	data, _ := json.Marshal(flow)
	if err := s.cookies.set(w, s.providerCookie(flow.State), string(data), providerLoginLifetime); err != nil {
		s.failurePage(w, r, "setting the sign-in cookie", err, "The sign-in could not be started.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// clearProviderLogins clears the browser's sign-in cookies when it has
// as many as maxProviderLogins.
func (s *Server) clearProviderLogins(w http.ResponseWriter, r *http.Request) {
	prefix := s.providerCookiePrefix()
	var names []string
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, prefix) && !slices.Contains(names, c.Name) {
			names = append(names, c.Name)
		}
	}
	if len(names) < maxProviderLogins {
		return
	}
	for _, name := range names {
		s.cookies.clear(w, name)
	}
}

// handleProviderCallback finishes a sign-in at a provider: it checks that
// the answer belongs to a sign-in this browser started, lets the
// connector redeem it, makes or updates the person's user, and signs
// them in.
func (s *Server) handleProviderCallback(w http.ResponseWriter, r *http.Request, name string) {
	w.Header().Set("Cache-Control", "no-store")
	p, ok := s.provider(name)
	if !ok || p.Redirect == nil {
		s.errorPage(w, r, http.StatusNotFound, "There is no such way to sign in here.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, p.DisplayName+" sent back an answer that could not be read.")
		return
	}
	for _, vs := range q {
		if len(vs) > 1 {
			s.errorPage(w, r, http.StatusBadRequest, p.DisplayName+" sent back an answer that could not be read.")
			return
		}
	}
	state := q.Get("state")
	var flow providerLogin
	if len(state) >= 8 {
		cookie := s.providerCookie(state)
		if raw, ok := s.cookies.get(r, cookie); ok && json.Unmarshal([]byte(raw), &flow) == nil {
			s.cookies.clear(w, cookie) // single use
		}
	}
	if flow.State == "" || subtle.ConstantTimeCompare([]byte(flow.State), []byte(state)) != 1 || flow.Provider != name ||
		s.now().Unix() >= flow.Expires {
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in was not started in this browser, or took too long. Start again.")
		return
	}
	id, err := p.Redirect.Callback(r.Context(), s.callbackURL(name), q, flow.Nonce, flow.Verifier)
	if err != nil {
		s.providerFailed(w, r, p, err)
		return
	}
	lf := loginForm{handle: flow.Request, returnTo: flow.ReturnTo}
	if lf.handle != "" {
		var ok bool
		var err error
		if lf.req, lf.c, ok, err = s.loadPending(r.Context(), lf.handle); !ok {
			s.pendingGone(w, r, err, "This sign-in request has expired or was already completed. Start again from the application.")
			return
		}
	}
	s.finishProviderLogin(w, r, p, id, nil, lf)
}

// providerFailed shows why signing in with a provider did not work, in
// plain words; what the person is not shown goes to the log.
func (s *Server) providerFailed(w http.ResponseWriter, r *http.Request, p IdentityProvider, err error) {
	var pe *connector.ProviderError
	switch refused, isRefused := connector.IsRefused(err); {
	case isRefused:
		s.logger.Info("sign-in refused by the provider's allow-list", zap.String("provider", p.Name), zap.String("reason", refused.Reason))
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: signInMethod(p.Name, nil), Error: "not_allowed"})
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{Title: "You cannot sign in here", Error: refused.Reason,
			Message: "Ask the people who run this site for access, or sign in with another account."})
	case errors.As(err, &pe) && pe.Code == "access_denied":
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: signInMethod(p.Name, nil), Error: "access_denied"})
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{Title: "Sign-in cancelled",
			Message: "You did not let " + p.DisplayName + " sign you in. Go back to the application to try again."})
	case errors.As(err, &pe):
		s.logger.Warn("the identity provider answered an error", zap.String("provider", p.Name), zap.String("error", pe.Code))
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: signInMethod(p.Name, nil), Error: "provider_error"})
		s.templates.Render(w, "message", http.StatusBadGateway, ui.Page{Title: "Something went wrong",
			Error: p.DisplayName + " could not sign you in.", Message: "Go back to the application and try again."})
	default:
		s.logger.Error("signing in with an identity provider", zap.String("provider", p.Name), zapErr(err))
		s.templates.Render(w, "message", http.StatusBadGateway, ui.Page{Title: "Something went wrong",
			Error: "The sign-in with " + p.DisplayName + " could not be completed.", Message: "Go back to the application and try again."})
	}
}

// finishProviderLogin signs in the person a provider vouched for, as the
// user it makes or refreshes for them, and continues where the sign-in
// began.
func (s *Server) finishProviderLogin(w http.ResponseWriter, r *http.Request, p IdentityProvider, id connector.Identity, amr []string, lf loginForm) {
	u, err := s.federatedUser(r.Context(), p.Name, id)
	if err != nil {
		s.failurePage(w, r, "recording a federated user of provider "+p.Name, err, "You could not be signed in.")
		return
	}
	if u.Disabled {
		s.emitFrom(r, Event{Name: EventSignIn, Outcome: OutcomeFailure, Method: signInMethod(p.Name, nil), Username: u.Username,
			Subject: u.ID, Client: clientOf(lf.c), Error: "user_disabled"})
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{Title: "You cannot sign in here",
			Error: "This account is disabled.", Message: "Ask the people who run this site for access."})
		return
	}
	s.completeLogin(w, r, lf, u, providerAMR(p, id, amr), p.Name)
}

// federatedUser returns the user of a person a provider vouched for,
// creating it on the first sign-in and refreshing what the provider says
// of them (email, name, groups) on every sign-in. The user is found by the
// provider's subject alone: never by email, so no account is taken over
// through an address someone else controls or the provider did not
// verify, and never merged with a local user. The username is given once
// and stays, so that a name the provider hands on to someone else later
// does not move with it.
func (s *Server) federatedUser(ctx context.Context, provider string, id connector.Identity) (*User, error) {
	id, err := cleanIdentity(id)
	if err != nil {
		return nil, err
	}
	// A provider's groups are its own: "github:admins" is the
	// organisation a GitHub user may have made, never the operator's
	// "admins", so a policy names them with the provider's prefix.
	for i, g := range id.Groups {
		id.Groups[i] = provider + ":" + g
	}
	email := ""
	if id.EmailVerified {
		email = id.Email
	}
	now := s.now()
	refresh := func(u store.UserRecord) (store.UserRecord, error) {
		u.Email, u.EmailVerified, u.Name, u.Groups = email, email != "", id.Name, id.Groups
		u.UpdatedAt, u.LastLogin = now, now
		return u, nil
	}
	for range 3 {
		rec, err := s.cfg.Store.GetUserByProvider(ctx, provider, id.Subject)
		if err == nil {
			if rec, err = s.cfg.Store.UpdateUser(ctx, rec.ID, refresh); err != nil {
				return nil, fmt.Errorf("updating user: %w", err)
			}
			return userFromRecord(rec)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("looking up user: %w", err)
		}
		rec, _ = refresh(store.UserRecord{
			ID: "fed:" + randomID(16), Provider: provider, ProviderSubject: id.Subject, CreatedAt: now,
		})
		// The provider's username; if another account has it (a renamed
		// GitHub login, say) the subject, which is the provider's own
		// unique name; if someone took that too as their username, the
		// user's random ID, which no one can take before. All are taken
		// when this person's first sign-in is happening twice at once:
		// then the other one's user is found next time round.
		for _, name := range []string{federatedUsername(provider, id), provider + ":" + strings.ToLower(id.Subject), provider + ":" + rec.ID} {
			rec.Username = name
			if err = s.cfg.Store.CreateUser(ctx, rec); !errors.Is(err, store.ErrAlreadyExists) {
				break
			}
		}
		if err == nil {
			s.emit(Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeFederatedCreate, Username: rec.Username, Subject: rec.ID})
			return userFromRecord(rec)
		}
		if !errors.Is(err, store.ErrAlreadyExists) {
			return nil, fmt.Errorf("creating user: %w", err)
		}
	}
	return nil, errors.New("creating user: the username stays taken")
}

// Bounds on what a provider says of a person. A provider is trusted to
// say who someone is, not to be well-behaved: at most providers people
// choose their own names and usernames, and what is kept of them reaches
// pages, tokens, logs and, through the gateway, request headers.
const (
	maxSubjectBytes = 512
	maxUsernameLen  = 128
	maxNameBytes    = 256
	maxEmailBytes   = 254 // RFC 5321's longest path
	maxGroupBytes   = 256
	maxGroups       = 1000
)

// cleanIdentity checks and cleans what a provider said of a person. A
// subject that is empty, too long, or not printable text refuses the
// sign-in, and so do more than maxGroups groups (an incomplete list could
// let someone past a rule that excludes a group). Control characters and
// bidirectional overrides leave the name, which is cut to maxNameBytes;
// an email that is not plausibly one is dropped; a group that is empty,
// too long, not printable or with a comma (the separator of the groups
// headers) is dropped, and repeats are dropped.
func cleanIdentity(id connector.Identity) (connector.Identity, error) {
	switch {
	case id.Subject == "":
		return id, errors.New("the identity provider named no subject")
	case len(id.Subject) > maxSubjectBytes || !printable(id.Subject):
		return id, fmt.Errorf("the identity provider named a subject that is not printable text of at most %d bytes", maxSubjectBytes)
	case len(id.Groups) > maxGroups:
		return id, fmt.Errorf("the identity provider named %d groups, more than %d", len(id.Groups), maxGroups)
	}
	id.Name = cutUTF8(strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(id.Name, ""))), maxNameBytes)
	if len(id.Email) > maxEmailBytes || !strings.Contains(id.Email, "@") || !printable(id.Email) ||
		strings.ContainsFunc(id.Email, unicode.IsSpace) {
		id.Email, id.EmailVerified = "", false
	}
	groups := make([]string, 0, len(id.Groups))
	for _, g := range id.Groups {
		// A comma would split the group in two where the gateway joins
		// groups with commas (X-Auth-Groups, Remote-Groups): "eng,admins"
		// would reach the upstream as "corp:eng" and "admins".
		if g != "" && len(g) <= maxGroupBytes && printable(g) && !strings.Contains(g, ",") && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	id.Groups = groups
	return id, nil
}

// printable reports whether s is valid UTF-8 without control characters
// or bidirectional overrides.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
	})
}

// cutUTF8 shortens s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// federatedUsername is a federated user's username: the provider's name,
// a colon, and the provider's username of the person, or their subject
// when the username is missing, long, or has anything but visible
// characters (spaces, controls, zero-width or direction-changing
// characters that make one name look like another), in lower case.
// Providers' usernames are unique whatever their case (GitHub logins,
// LDAP uids, most OpenID providers' usernames), and so are an upstream's
// lookups behind the gateway, often: in lower case, the name someone
// takes after its owner renamed is taken here (and they get another),
// rather than given again in other letters ("Octocat" and "octocat").
func federatedUsername(provider string, id connector.Identity) string {
	name := id.Username
	if name == "" || utf8.RuneCountInString(name) > maxUsernameLen || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) {
		name = id.Subject
	}
	return provider + ":" + strings.ToLower(name)
}
