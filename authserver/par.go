package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// parLifetime is how long a pushed request can be used (RFC 9126 §2.2
// suggests 5 to 600 seconds).
const parLifetime = 60 * time.Second

// handlePAR is the pushed authorization request endpoint (RFC 9126). The
// client authenticates as at the token endpoint; the request is checked
// as /authorize would check it; the answer is a one-time request_uri.
func (s *Server) handlePAR(w http.ResponseWriter, r *http.Request) {
	f, c, ok := s.clientRequest(w, r)
	if !ok {
		return
	}
	if _, has := f["request_uri"]; has {
		s.writeError(w, r, invalidRequest("request_uri cannot be pushed"))
		return
	}
	params := url.Values{}
	for k, vs := range f {
		if k != "client_secret" {
			params[k] = vs
		}
	}
	params.Set("client_id", c.ID)
	if _, _, e := s.validateAuthorize(r.Context(), form(params), true); e != nil {
		s.writeError(w, r, e.Error)
		return
	}
	uri, err := s.storePushedRequest(r.Context(), c.ID, params)
	if err != nil {
		s.writeError(w, r, serverError(err))
		return
	}
	noStore(w)
	writeJSON(w, http.StatusCreated, map[string]any{
		"request_uri": uri,
		"expires_in":  int(parLifetime.Seconds()),
	})
}

// storePushedRequest keeps validated request parameters for one use and
// returns their request_uri.
func (s *Server) storePushedRequest(ctx context.Context, clientID string, params url.Values) (string, error) {
	ref := randomID(32)
	data, _ := json.Marshal(params)
	now := s.now()
	err := s.cfg.Store.CreateToken(ctx, store.Token{
		Kind: store.PushedRequest, ID: hashID(ref), ClientID: clientID, Data: data,
		IssuedAt: now, ExpiresAt: now.Add(parLifetime),
	})
	return parRequestURIPrefix + ref, err
}

// loadPushedRequest resolves a request_uri from PAR (RFC 9126 §4): it is
// single use, short-lived and bound to the client that pushed it.
func (s *Server) loadPushedRequest(ctx context.Context, clientID, uri string) (form, *authzError) {
	if clientID == "" {
		return nil, pageError(msgDamagedLink, "client_id is missing")
	}
	ref, ok := strings.CutPrefix(uri, parRequestURIPrefix)
	if !ok || ref == "" {
		return nil, &authzError{Error: oauthError(codeInvalidRequestURI, "request_uri was not issued by this server")}
	}
	rec, err := s.cfg.Store.ConsumeToken(ctx, store.PushedRequest, hashID(ref), s.now())
	switch {
	case errors.Is(err, store.ErrConsumed):
		return nil, &authzError{Error: oauthError(codeInvalidRequestURI, "request_uri was already used")}
	case err != nil || !rec.RevokedAt.IsZero() || !s.now().Before(rec.ExpiresAt):
		return nil, &authzError{Error: oauthError(codeInvalidRequestURI, "request_uri is unknown or expired")}
	case rec.ClientID != clientID:
		return nil, &authzError{Error: oauthError(codeInvalidRequestURI, "request_uri belongs to another client")}
	}
	var values url.Values
	if json.Unmarshal(rec.Data, &values) != nil {
		return nil, &authzError{Error: oauthError(codeInvalidRequestURI, "request_uri is damaged")}
	}
	values.Set("client_id", clientID)
	return form(values), nil
}
