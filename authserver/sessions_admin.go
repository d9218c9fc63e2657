package authserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// This file shows and ends sign-in sessions for operators (the admin API
// and the CLI). A session is named by a handle derived from its record's
// ID: neither is the secret in the browser's cookie (the record's ID is
// a SHA-256 of it), and the handle does not reveal the record's ID
// either. Ending a session is what the account page's "end session"
// does (endUserSession): the session and the gateway sessions signed in
// through it end; the user's refresh tokens stay.

// ErrSessionNotFound means no live sign-in session has the handle.
var ErrSessionNotFound = errors.New("no live sign-in session has that ID")

// SessionInfo describes a live sign-in session to operators.
type SessionInfo struct {
	// ID is the session's handle for operators, which EndSessions takes;
	// not usable as a cookie.
	ID       string `json:"id"`
	Subject  string `json:"subject"`
	Username string `json:"username,omitempty"`
	// CreatedAt is when the user signed in.
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is when the browser last used the session (to the
	// minute).
	LastUsedAt time.Time `json:"last_used_at"`
	// ExpiresAt is when the session ends unless used again: its absolute
	// end, or its idle timeout after LastUsedAt if that comes first.
	ExpiresAt time.Time `json:"expires_at"`
	// AMR is how the user signed in (pwd, otp, mfa, ...).
	AMR []string `json:"amr"`
}

// operatorSessionHandle is the ID operators see for the session whose
// record ID is id.
func operatorSessionHandle(id string) string { return hashID("operator-session\x00" + id)[:32] }

// liveSession is a live session with its user's name.
type liveSession struct {
	userSession
	username string
}

// ListSessions returns the live sign-in sessions, of the subject if it is
// not empty, else of every user (from the configuration and the store),
// ordered by username, then by sign-in time.
func (s *Server) ListSessions(ctx context.Context, subject string) ([]SessionInfo, error) {
	live, err := s.operatorSessions(ctx, subject)
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(live))
	for _, ls := range live {
		last := time.Unix(ls.data.LastSeen, 0).UTC()
		expires := ls.rec.ExpiresAt.UTC()
		if idle := last.Add(s.cfg.SessionIdleTimeout); idle.Before(expires) {
			expires = idle
		}
		amr := ls.data.AMR
		if amr == nil {
			amr = []string{}
		}
		out = append(out, SessionInfo{
			ID: operatorSessionHandle(ls.rec.ID), Subject: ls.data.UserID, Username: ls.username,
			CreatedAt: time.Unix(ls.data.AuthTime, 0).UTC(), LastUsedAt: last, ExpiresAt: expires, AMR: amr,
		})
	}
	return out, nil
}

// EndSessions ends the live sign-in session with the handle id (as
// ListSessions shows it), or if id is empty every live session of
// subject, each as the account page ends one: with the gateway sessions
// signed in through it, on this instance at once and on the others at
// their next poll of the revocation feed. It returns how many it ended;
// ErrSessionNotFound for an unknown handle. Exactly one of id and
// subject must be given.
func (s *Server) EndSessions(ctx context.Context, id, subject string) (int, error) {
	if (id == "") == (subject == "") {
		return 0, errors.New("ending sessions: give a session ID or a subject")
	}
	live, err := s.operatorSessions(ctx, subject)
	if err != nil {
		return 0, err
	}
	if id != "" {
		live = slices.DeleteFunc(live, func(ls liveSession) bool { return operatorSessionHandle(ls.rec.ID) != id })
		if len(live) == 0 {
			return 0, ErrSessionNotFound
		}
	}
	ended := 0
	for _, ls := range live {
		var revoked bool
		revoked, err = s.endUserSession(ctx, ls.userSession)
		if revoked {
			ended++
			s.emit(Event{Name: EventSessionEnded, Subject: ls.data.UserID, Method: "admin"})
		}
		if err != nil {
			break
		}
	}
	if ended > 0 {
		s.revoked(ctx)
	}
	return ended, err
}

// operatorSessions lists the live sessions of subject, or of every user
// if it is empty.
func (s *Server) operatorSessions(ctx context.Context, subject string) ([]liveSession, error) {
	type who struct{ id, username string }
	var users []who
	if subject != "" {
		name := ""
		if u, err := s.users.get(ctx, subject); err == nil && u != nil {
			name = u.Username
		}
		users = []who{{subject, name}}
	} else {
		all, err := s.ListUsers(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range all {
			users = append(users, who{u.ID, u.Username})
		}
	}
	var out []liveSession
	for _, u := range users {
		live, err := s.liveSessions(ctx, u.id)
		if err != nil {
			return nil, fmt.Errorf("listing the sessions of %q: %w", u.id, err)
		}
		slices.SortFunc(live, func(a, b userSession) int {
			return cmp.Compare(a.data.AuthTime, b.data.AuthTime)
		})
		for _, us := range live {
			out = append(out, liveSession{us, u.username})
		}
	}
	return out, nil
}
