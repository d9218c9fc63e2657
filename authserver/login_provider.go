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
	"strings"
	"time"

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
}

// providerLoginLifetime bounds the time a person may take at the provider.
const providerLoginLifetime = 10 * time.Minute

// providerCookie names the cookie of the sign-in with the given state:
// one per sign-in, so two tabs do not overwrite each other's.
func (s *Server) providerCookie(state string) string {
	name := "authgate_idp_" + state[:8]
	if s.cookies.secure {
		name = "__Host-" + name
	}
	return name
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
		Request: q.Get("request"), ReturnTo: q.Get("return_to")}
	if flow.Request != "" {
		if _, _, ok := s.loadPending(r.Context(), flow.Request); !ok {
			s.errorPage(w, r, http.StatusBadRequest, "This sign-in request has expired or was already completed. Start again from the application.")
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
	data, _ := json.Marshal(flow)
	if err := s.cookies.set(w, s.providerCookie(flow.State), string(data), providerLoginLifetime); err != nil {
		s.logger.Error("setting the sign-in cookie", zapErr(err))
		s.errorPage(w, r, http.StatusInternalServerError, "The sign-in could not be started.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
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
	if flow.State == "" || subtle.ConstantTimeCompare([]byte(flow.State), []byte(state)) != 1 || flow.Provider != name {
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
		if lf.req, lf.c, ok = s.loadPending(r.Context(), lf.handle); !ok {
			s.errorPage(w, r, http.StatusBadRequest, "This sign-in request has expired or was already completed. Start again from the application.")
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
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{Title: "You cannot sign in here", Error: refused.Reason,
			Message: "Ask the people who run this site for access, or sign in with another account."})
	case errors.As(err, &pe) && pe.Code == "access_denied":
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{Title: "Sign-in cancelled",
			Message: "You did not let " + p.DisplayName + " sign you in. Go back to the application to try again."})
	case errors.As(err, &pe):
		s.logger.Warn("the identity provider answered an error", zap.String("provider", p.Name), zap.String("error", pe.Code))
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
		s.logger.Error("recording a federated user", zap.String("provider", p.Name), zapErr(err))
		s.errorPage(w, r, http.StatusInternalServerError, "You could not be signed in.")
		return
	}
	if u.Disabled {
		s.logger.Info("sign-in of a disabled user", zapUser(u.Username), zap.String("provider", p.Name))
		s.templates.Render(w, "message", http.StatusForbidden, ui.Page{Title: "You cannot sign in here",
			Error: "This account is disabled.", Message: "Ask the people who run this site for access."})
		return
	}
	s.completeLogin(w, r, lf, u, amr, zap.String("provider", p.Name), zapIP(s.cfg.ClientIP(r)))
}

// federatedUser returns the user of a person a provider vouched for,
// creating it on the first sign-in and refreshing what the provider says
// of them (email, name, groups) on every sign-in. The user is found by the
// provider's subject alone: never by email, so no account is taken over
// through an address someone else controls or the provider did not
// verify, and never merged with a local user.
func (s *Server) federatedUser(ctx context.Context, provider string, id connector.Identity) (*User, error) {
	if id.Subject == "" {
		return nil, errors.New("the identity provider named no subject")
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
			ID: "fed:" + randomID(16), Username: federatedUsername(provider, id), Provider: provider,
			ProviderSubject: id.Subject, CreatedAt: now,
		})
		err = s.cfg.Store.CreateUser(ctx, rec)
		if errors.Is(err, store.ErrAlreadyExists) {
			// Another account has the provider's username (a renamed
			// GitHub login, say), or this person's first sign-in is
			// happening twice at once: fall back to the subject, which
			// is the provider's own unique name.
			rec.Username = provider + ":" + id.Subject
			err = s.cfg.Store.CreateUser(ctx, rec)
		}
		if err == nil {
			s.logger.Info("federated user created", zapUser(rec.Username), zap.String("provider", provider))
			return userFromRecord(rec)
		}
		if !errors.Is(err, store.ErrAlreadyExists) {
			return nil, fmt.Errorf("creating user: %w", err)
		}
	}
	return nil, errors.New("creating user: the username stays taken")
}

// federatedUsername is a federated user's username: the provider's name,
// a colon, and the provider's username of the person (or their subject).
func federatedUsername(provider string, id connector.Identity) string {
	name := id.Username
	if name == "" || len(name) > 128 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }) {
		name = id.Subject
	}
	return provider + ":" + name
}
