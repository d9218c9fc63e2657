package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// The account page's sign-in sessions and the apps the user allowed.

// accountHandle names a session in the account page's forms: derived
// from its record ID, which it does not reveal.
func accountHandle(sessionID string) string { return hashID("account\x00" + sessionID)[:32] }

// userSession is one of a user's sign-in sessions that still works.
type userSession struct {
	rec  store.Token
	data sessionData
}

// sid is the session's sid, the family of its gateway sessions.
func (us userSession) sid() string {
	if us.data.SID != "" {
		return us.data.SID
	}
	return loginSID(us.rec.ID)
}

// liveSessions lists the user's sign-in sessions that still work: not
// revoked, within their absolute and idle lifetimes.
func (s *Server) liveSessions(ctx context.Context, userID string) ([]userSession, error) {
	recs, err := s.cfg.Store.ListSubjectTokens(ctx, userID, store.Session)
	if err != nil {
		return nil, fmt.Errorf("listing sessions: %w", err)
	}
	now := s.now()
	var out []userSession
	for _, rec := range recs {
		var d sessionData
		if !rec.Active(now) || json.Unmarshal(rec.Data, &d) != nil || d.UserID != userID ||
			now.Sub(time.Unix(d.LastSeen, 0)) > s.cfg.SessionIdleTimeout {
			continue
		}
		out = append(out, userSession{rec: rec, data: d})
	}
	return out, nil
}

// accountSessions are the user's sessions as the account page lists
// them, this browser's (sess) marked.
func (s *Server) accountSessions(r *http.Request, sess *session, u *User) ([]ui.AccountSession, error) {
	live, err := s.liveSessions(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]ui.AccountSession, 0, len(live))
	for _, us := range live {
		out = append(out, ui.AccountSession{
			Handle: accountHandle(us.rec.ID), Created: accountTime(time.Unix(us.data.AuthTime, 0)),
			LastSeen: accountTime(time.Unix(us.data.LastSeen, 0)), How: s.describeSignIn(u, us.data.AMR),
			Current: us.rec.ID == sess.id,
		})
	}
	return out, nil
}

// endUserSession ends a sign-in session with the gateway sessions signed
// in through it. It reports whether anything was revoked; the caller
// announces the revocations.
func (s *Server) endUserSession(ctx context.Context, us userSession) (bool, error) {
	now := s.now()
	err := s.cfg.Store.RevokeToken(ctx, store.Session, us.rec.ID, now)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("ending a session: %w", err)
	}
	if _, err := s.cfg.Store.RevokeFamily(ctx, gatewaySessionFamily(us.sid()), now); err != nil {
		return true, fmt.Errorf("ending the gateway sessions of a session: %w", err)
	}
	return true, nil
}

// handleAccountEndSession ends one of the user's sessions, named by its
// handle. Ending this browser's own session signs it out.
func (s *Server) handleAccountEndSession(w http.ResponseWriter, r *http.Request) {
	f, sess, u := s.accountForm(w, r, false)
	if f == nil {
		return
	}
	ctx := r.Context()
	handle := f.get("session")
	if handle == accountHandle(sess.id) {
		if err := s.endSession(w, r); err != nil {
			s.failurePage(w, r, "signing out on the account page", err, msgStillSignedIn)
			return
		}
		s.emitFrom(r, Event{Name: EventSignOut, Method: "account_page", Username: u.Username, Subject: u.ID})
		s.templates.Render(w, "message", http.StatusOK, ui.Page{Title: "Signed out", Message: "You are signed out in this browser.",
			Back: &ui.Link{URL: s.prefix + pathLogin + "?return_to=" + s.prefix + pathAccount, Text: "Sign in again"}})
		return
	}
	live, err := s.liveSessions(ctx, u.ID)
	if err != nil {
		s.logFailure("account page: listing sessions", err, zapUser(u.Username))
		s.renderAccount(w, r, http.StatusServiceUnavailable, sess, u, "", "The session could not be ended. Try again later.")
		return
	}
	i := slices.IndexFunc(live, func(us userSession) bool { return handle != "" && accountHandle(us.rec.ID) == handle })
	if i < 0 {
		s.accountDone(w, r, "session-absent")
		return
	}
	_, err = s.endUserSession(ctx, live[i])
	s.revoked(ctx)
	if err != nil {
		s.logFailure("account page: ending a session", err, zapUser(u.Username))
		s.renderAccount(w, r, http.StatusServiceUnavailable, sess, u, "", "The session could not be ended. Try again later.")
		return
	}
	s.emitFrom(r, Event{Name: EventSessionEnded, Method: "account_page", Username: u.Username, Subject: u.ID})
	s.accountDone(w, r, "session-ended")
}

// handleAccountEndOthers ends every session of the user but this
// browser's.
func (s *Server) handleAccountEndOthers(w http.ResponseWriter, r *http.Request) {
	f, sess, u := s.accountForm(w, r, false)
	if f == nil {
		return
	}
	ctx := r.Context()
	live, err := s.liveSessions(ctx, u.ID)
	if err != nil {
		s.logFailure("account page: listing sessions", err, zapUser(u.Username))
		s.renderAccount(w, r, http.StatusServiceUnavailable, sess, u, "", "Your other sessions could not be ended. Try again later.")
		return
	}
	ended := 0
	for _, us := range live {
		if us.rec.ID == sess.id || us.sid() == sess.sid() {
			continue
		}
		if _, err = s.endUserSession(ctx, us); err != nil {
			break
		}
		ended++
	}
	if ended > 0 {
		s.revoked(ctx)
	}
	if err != nil {
		s.logFailure("account page: ending sessions", err, zapUser(u.Username))
		s.renderAccount(w, r, http.StatusServiceUnavailable, sess, u, "", "Your other sessions could not all be ended. Try again later.")
		return
	}
	s.emitFrom(r, Event{Name: EventSessionEnded, Method: "account_page", Username: u.Username, Subject: u.ID, Count: ended})
	if ended == 0 {
		s.accountDone(w, r, "no-others")
		return
	}
	s.accountDone(w, r, "others-ended")
}

// userApp is an application the user allowed: a remembered consent, or
// refresh tokens (a first-party app that asks no consent).
type userApp struct {
	clientID string
	scope    []string
	when     time.Time
}

// userApps lists the applications with a remembered consent or an active
// refresh token of the user, most recently allowed first. The gateway's
// own client is not one: the sites it signs in to are the sessions'.
func (s *Server) userApps(ctx context.Context, userID string) ([]userApp, error) {
	now := s.now()
	byClient := map[string]*userApp{}
	add := func(kind store.TokenKind) error {
		recs, err := s.cfg.Store.ListSubjectTokens(ctx, userID, kind)
		if err != nil {
			return fmt.Errorf("listing %s records: %w", kind, err)
		}
		for _, rec := range recs {
			if !rec.Active(now) || rec.ClientID == "" || rec.ClientID == GatewayClientID {
				continue
			}
			app := byClient[rec.ClientID]
			if app == nil {
				app = &userApp{clientID: rec.ClientID}
				byClient[rec.ClientID] = app
			}
			if kind == store.Consent {
				var d consentData
				if json.Unmarshal(rec.Data, &d) == nil {
					app.scope = d.Scope
				}
			}
			if rec.IssuedAt.After(app.when) {
				app.when = rec.IssuedAt
			}
		}
		return nil
	}
	if err := add(store.Consent); err != nil {
		return nil, err
	}
	if err := add(store.RefreshToken); err != nil {
		return nil, err
	}
	out := make([]userApp, 0, len(byClient))
	for _, app := range byClient {
		out = append(out, *app)
	}
	slices.SortFunc(out, func(a, b userApp) int {
		if c := b.when.Compare(a.when); c != 0 {
			return c
		}
		return strings.Compare(a.clientID, b.clientID)
	})
	return out, nil
}

// accountApps are the user's apps as the account page lists them.
func (s *Server) accountApps(r *http.Request, u *User) ([]ui.AccountApp, error) {
	apps, err := s.userApps(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]ui.AccountApp, 0, len(apps))
	for _, app := range apps {
		info := &ui.Client{ID: app.clientID, Name: app.clientID}
		if c, err := s.lookupClient(r.Context(), app.clientID); err == nil && c != nil {
			info = clientInfo(c, "")
			if info.Name == "" {
				info.Name = c.ID
			}
		}
		out = append(out, ui.AccountApp{Client: info, Scopes: scopeInfo(app.scope), When: accountTime(app.when)})
	}
	return out, nil
}

// handleAccountRevokeApp revokes what the user allowed an application:
// the remembered consent, and the refresh tokens, access tokens and
// pending codes the client holds for the user (with the families they
// belong to).
func (s *Server) handleAccountRevokeApp(w http.ResponseWriter, r *http.Request) {
	f, sess, u := s.accountForm(w, r, false)
	if f == nil {
		return
	}
	ctx := r.Context()
	clientID := f.get("client")
	apps, err := s.userApps(ctx, u.ID)
	if err != nil {
		s.logFailure("account page: listing apps", err, zapUser(u.Username))
		s.renderAccount(w, r, http.StatusServiceUnavailable, sess, u, "", "The app's access could not be revoked. Try again later.")
		return
	}
	if clientID == "" || !slices.ContainsFunc(apps, func(a userApp) bool { return a.clientID == clientID }) {
		s.renderAccount(w, r, http.StatusNotFound, sess, u, "", "That app has no access to your account to revoke.")
		return
	}
	err = s.revokeUserApp(ctx, u.ID, clientID)
	s.revoked(ctx)
	if err != nil {
		s.logFailure("account page: revoking an app", err, zapUser(u.Username), zapClient(clientID))
		s.renderAccount(w, r, http.StatusServiceUnavailable, sess, u, "", "The app's access could not be revoked. Try again later.")
		return
	}
	s.emitFrom(r, Event{Name: EventConsentRevoked, Username: u.Username, Subject: u.ID, Client: clientID})
	s.accountDone(w, r, "app-revoked")
}

// revokeUserApp revokes the user's consent for the client and the
// client's tokens and codes of the user, with their families.
func (s *Server) revokeUserApp(ctx context.Context, userID, clientID string) error {
	now := s.now()
	st := s.cfg.Store
	if err := st.RevokeToken(ctx, store.Consent, consentID(clientID, userID), now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("revoking the consent: %w", err)
	}
	families := map[string]bool{}
	for _, kind := range []store.TokenKind{store.RefreshToken, store.AccessToken, store.AuthorizationCode} {
		recs, err := st.ListSubjectTokens(ctx, userID, kind)
		if err != nil {
			return fmt.Errorf("listing %s records: %w", kind, err)
		}
		for _, rec := range recs {
			if rec.ClientID != clientID || !rec.RevokedAt.IsZero() || !now.Before(rec.ExpiresAt) {
				continue
			}
			switch {
			case rec.FamilyID == "":
				if err := st.RevokeToken(ctx, kind, rec.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("revoking a %s: %w", kind, err)
				}
			case !families[rec.FamilyID]:
				families[rec.FamilyID] = true
				if _, err := st.RevokeFamily(ctx, rec.FamilyID, now); err != nil {
					return fmt.Errorf("revoking a %s family: %w", kind, err)
				}
			}
		}
	}
	return nil
}
