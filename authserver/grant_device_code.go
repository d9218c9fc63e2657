package authserver

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/authgate/authgate/authserver/store"
)

// deviceGrant is the device code grant's polling (RFC 8628 §3.4, §3.5).
func (s *Server) deviceGrant(ctx context.Context, f form, c *Client) (*tokenResponse, *Error) {
	deviceCode := f.get("device_code")
	if deviceCode == "" {
		return nil, invalidRequest("device_code is missing")
	}
	id := hashID(deviceCode)
	now := s.now()
	var verdict *Error
	var d deviceData
	rec, err := s.cfg.Store.UpdateToken(ctx, store.DeviceCode, id, func(t store.Token) (store.Token, error) {
		verdict = nil
		if json.Unmarshal(t.Data, &d) != nil {
			return t, errors.New("damaged device code record")
		}
		switch {
		case t.ClientID != c.ID:
			verdict = oauthError(codeInvalidGrant, "the device code was issued to another client")
			return t, nil
		case !t.ConsumedAt.IsZero() || !t.RevokedAt.IsZero():
			verdict = oauthError(codeInvalidGrant, "the device code was already used")
			return t, nil
		case !now.Before(t.ExpiresAt):
			verdict = oauthError(codeExpiredToken, "the device code has expired; start again")
			return t, nil
		}
		if d.LastPoll != 0 && now.Unix()-d.LastPoll < d.Interval {
			d.Interval += 5
			verdict = oauthError(codeSlowDown, "polling too fast; wait longer between requests")
		}
		d.LastPoll = now.Unix()
		t.Data, _ = json.Marshal(d)
		return t, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, oauthError(codeInvalidGrant, "the device code is invalid")
	case err != nil:
		return nil, serverError(err)
	case verdict != nil:
		return nil, verdict
	}
	switch d.Status {
	case devicePending:
		return nil, oauthError(codeAuthorizationPending, "the user has not yet approved the request")
	case deviceDenied:
		return nil, oauthError(codeAccessDenied, "the user denied the request")
	}
	// Approved: the code is single use.
	if rec, err = s.cfg.Store.ConsumeToken(ctx, store.DeviceCode, id, now); errors.Is(err, store.ErrConsumed) {
		return nil, oauthError(codeInvalidGrant, "the device code was already used")
	} else if err != nil {
		return nil, serverError(err)
	}
	u, ok, err := s.users.lookup(ctx, rec.Subject)
	if err != nil {
		return nil, serverError(err)
	}
	if !ok {
		return nil, oauthError(codeInvalidGrant, "the user can no longer sign in")
	}
	return s.respond(ctx, userGrant{
		client: c, user: u, familyID: rec.FamilyID, scope: d.Scope, audience: d.Audience, authTime: d.AuthTime, amr: d.AMR,
	})
}
