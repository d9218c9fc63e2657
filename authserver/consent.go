package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// consentData is what a remembered consent holds.
type consentData struct {
	Scope []string `json:"scope"`
}

func consentID(clientID, subject string) string { return hashID(clientID + "\x00" + subject) }

// needsConsent reports whether the user must approve the request:
// first-party clients never ask, prompt=consent always asks, otherwise a
// remembered consent must cover every requested scope.
func (s *Server) needsConsent(ctx context.Context, req *authzRequest, c *Client, u *User) bool {
	if req.prompts("consent") {
		return true
	}
	if c.SkipConsent {
		return false
	}
	rec, err := s.cfg.Store.GetToken(ctx, store.Consent, consentID(c.ID, u.ID))
	if err != nil || !rec.Active(s.now()) {
		return true
	}
	var d consentData
	if json.Unmarshal(rec.Data, &d) != nil {
		return true
	}
	for _, sc := range req.Scope {
		if !slices.Contains(d.Scope, sc) {
			return true
		}
	}
	return false
}

// rememberConsent stores (or widens) a user's consent for a client.
func (s *Server) rememberConsent(ctx context.Context, c *Client, u *User, scope []string) error {
	now := s.now()
	id := consentID(c.ID, u.ID)
	merge := func(t store.Token) (store.Token, error) {
		var d consentData
		json.Unmarshal(t.Data, &d) //nolint:errcheck // a damaged record is replaced
		if !t.Active(now) {
			d.Scope = nil
		}
		for _, sc := range scope {
			if !slices.Contains(d.Scope, sc) {
				d.Scope = append(d.Scope, sc)
			}
		}
		t.Data, _ = json.Marshal(d)
		t.IssuedAt, t.ExpiresAt, t.RevokedAt = now, now.Add(s.cfg.ConsentLifetime), time.Time{}
		return t, nil
	}
	_, err := s.cfg.Store.UpdateToken(ctx, store.Consent, id, merge)
	if errors.Is(err, store.ErrNotFound) {
		t, _ := merge(store.Token{Kind: store.Consent, ID: id, ClientID: c.ID, Subject: u.ID})
		err = s.cfg.Store.CreateToken(ctx, t)
		if errors.Is(err, store.ErrAlreadyExists) {
			_, err = s.cfg.Store.UpdateToken(ctx, store.Consent, id, merge)
		}
	}
	return err
}

// handleConsent records the user's decision on the consent page.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	f, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	handle := f.get("request")
	req, c, ok, err := s.loadPending(r.Context(), handle)
	if !ok {
		s.pendingGone(w, r, err, "This request has expired or was already completed.")
		return
	}
	sess, user := s.currentSession(r)
	if sess == nil || s.needsLogin(req, sess) || s.needsStepUp(sess, user, req, c) {
		s.continueAuthorization(w, r, handle, req, c, sess, user)
		return
	}
	switch f.get("decision") {
	case "approve":
		how := "once"
		if f.get("remember") == "yes" {
			how = "remembered"
			if err := s.rememberConsent(r.Context(), c, user, req.Scope); err != nil {
				s.logger.Error("remembering consent", zapErr(err))
			}
		}
		s.emitFrom(r, Event{Name: EventConsentGiven, Method: how, Username: user.Username, Subject: user.ID, Client: c.ID})
		s.issueCode(w, r, handle, req, c, sess)
	case "deny":
		s.emitFrom(r, Event{Name: EventConsentDenied, Username: user.Username, Subject: user.ID, Client: c.ID})
		s.failPending(w, r, handle, req, codeAccessDenied, "the user denied the request")
	default:
		s.errorPage(w, r, http.StatusBadRequest, "The form did not say whether to allow or deny.")
	}
}

func roundUp(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Seconds())+1)
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes())+1)
}

// clientInfo describes a client to the user. A client that registered
// itself chose its own name, so the page marks it unverified and shows
// the host it lives on: that of its metadata document (the client_id,
// fetched over https), or else of the redirect URI in use, where the
// answer goes.
func clientInfo(c *Client, redirectURI string) *ui.Client {
	info := &ui.Client{ID: c.ID, Name: c.Name, Host: c.Host}
	if c.Registered {
		info.Unverified = true
		if info.Host == "" {
			info.Host = redirectHost(redirectURI)
		}
	}
	return info
}

// appInfo describes to the user the application a pending request is
// for. For the gateway's built-in client that is the site the gateway
// protects: the host of the redirect URI it pushed, named as the
// gateway's configuration names the site, if it does.
func appInfo(c *Client, req *authzRequest) *ui.Client {
	if c.ID == GatewayClientID {
		return siteInfo(req.AppName, redirectHost(req.RedirectURI))
	}
	return clientInfo(c, req.RedirectURI)
}

// siteInfo describes a site the gateway protects: by its name, with its
// host beside it, or by its host alone.
func siteInfo(name, host string) *ui.Client {
	if name == "" {
		return &ui.Client{ID: GatewayClientID, Name: host}
	}
	return &ui.Client{ID: GatewayClientID, Name: name, Host: host}
}

// redirectHost is what a page shows of a redirect URI: its host, or for a
// private-use scheme (a native app, RFC 8252 §7.1) the scheme.
func redirectHost(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || raw == "":
		return ""
	case u.Host != "":
		return u.Host
	default:
		return u.Scheme + ":"
	}
}

// scopeDescriptions explain the standard scopes on the consent page.
var scopeDescriptions = map[string]string{
	"openid":         "Confirm who you are",
	"profile":        "See your name and username",
	"email":          "See your email address",
	"groups":         "See the groups you belong to",
	"offline_access": "Stay connected when you are not using it",
}

func scopeInfo(scopes []string) []ui.Scope {
	out := make([]ui.Scope, 0, len(scopes))
	for _, sc := range scopes {
		out = append(out, ui.Scope{Name: sc, Description: scopeDescriptions[sc]})
	}
	return out
}
