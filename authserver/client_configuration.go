package authserver

// The client configuration endpoint, /register/{client_id} (RFC 7592).

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/authgate/authgate/authserver/bearer"
	"github.com/authgate/authgate/authserver/store"
)

// handleClientConfiguration is the client configuration endpoint (RFC
// 7592): read, replace or delete a registered client, authenticated with
// its registration access token.
func (s *Server) handleClientConfiguration(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	token, err := bearer.FromHeader(r.Header, false)
	rc, gerr := s.cfg.Store.GetClient(ctx, id)
	if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
		s.writeError(w, r, serverError(gerr))
		return
	}
	// One answer for a missing token, a wrong one, an unknown client or
	// a client from configuration, so none can be told apart (RFC 7592 §3).
	if err != nil || token == "" || gerr != nil || subtle.ConstantTimeCompare([]byte(hashID(token)), []byte(rc.RegistrationTokenHash)) != 1 {
		known := ""
		if gerr == nil {
			known = id
		}
		s.emitFrom(r, Event{Name: EventClientAuthFailure, Method: "registration_access_token", Client: known, Error: "invalid_token"})
		s.bearerError(w, http.StatusUnauthorized, "invalid_token", "the registration access token is not valid for this client", "")
		return
	}
	now := s.now()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		var m ClientMetadata
		if err := json.Unmarshal(rc.Metadata, &m); err != nil {
			s.writeError(w, r, serverError(err))
			return
		}
		s.writeClientConfiguration(w, rc, m)
	case http.MethodPut:
		m, raw, e := s.readMetadata(w, r)
		if e != nil {
			s.writeError(w, r, e)
			return
		}
		var old ClientMetadata
		json.Unmarshal(rc.Metadata, &old) //nolint:errcheck // replaced wholesale
		var sentID, sentSecret string
		json.Unmarshal(raw["client_id"], &sentID)         //nolint:errcheck // checked below
		json.Unmarshal(raw["client_secret"], &sentSecret) //nolint:errcheck
		switch {
		case sentID != id:
			e = metadataError("client_id must be sent and match the client")
		case raw["registration_access_token"] != nil || raw["registration_client_uri"] != nil ||
			raw["client_secret_expires_at"] != nil || raw["client_id_issued_at"] != nil:
			e = invalidRequest("registration_access_token, registration_client_uri, client_secret_expires_at and client_id_issued_at cannot be sent (RFC 7592 2.2)")
		case sentSecret != "" && subtle.ConstantTimeCompare([]byte(hashID(sentSecret)), []byte(rc.SecretHash)) != 1:
			e = metadataError("client_secret does not match; secrets cannot be chosen by the client")
		}
		if e == nil {
			if m.TokenEndpointAuthMethod == "" {
				m.TokenEndpointAuthMethod = old.TokenEndpointAuthMethod
			}
			if (m.TokenEndpointAuthMethod == AuthMethodNone) != (old.TokenEndpointAuthMethod == AuthMethodNone) {
				e = metadataError("a client cannot change between public and confidential; register a new one")
			}
		}
		if e == nil {
			e = s.validateMetadata(m)
		}
		if e != nil {
			s.writeError(w, r, e)
			return
		}
		updated, err := s.cfg.Store.UpdateClient(ctx, id, func(c store.RegisteredClient) (store.RegisteredClient, error) {
			c.Metadata, _ = json.Marshal(m)
			c.UpdatedAt = now
			return c, nil
		})
		if err != nil {
			s.writeError(w, r, serverError(err))
			return
		}
		s.emitFrom(r, Event{Name: EventClientUpdated, Client: id})
		s.writeClientConfiguration(w, updated, *m)
	case http.MethodDelete:
		if err := s.cfg.Store.DeleteClient(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.writeError(w, r, serverError(err))
			return
		}
		if _, err := s.cfg.Store.RevokeClientTokens(ctx, id, now); err != nil {
			s.writeError(w, r, serverError(err))
			return
		}
		s.revoked(ctx)
		s.emitFrom(r, Event{Name: EventClientDeleted, Client: id})
		noStore(w)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", strings.Join(clientConfigurationMethods, ", "))
		s.writeError(w, r, &Error{Code: codeInvalidRequest, Description: "method " + r.Method + " is not allowed here", Status: http.StatusMethodNotAllowed})
	}
}

// clientConfigurationMethods are the methods of the client configuration
// endpoint (RFC 7592).
var clientConfigurationMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete}

// writeClientConfiguration answers with the registered metadata (RFC 7592
// §3). The client secret is kept only as a hash, so it is not repeated.
func (s *Server) writeClientConfiguration(w http.ResponseWriter, rc store.RegisteredClient, m ClientMetadata) {
	resp := registrationResponse{
		ClientID: rc.ID, ClientIDIssuedAt: rc.CreatedAt.Unix(),
		RegistrationClientURI: s.endpointURL(pathRegister + "/" + rc.ID), ClientMetadata: m,
	}
	if rc.SecretHash != "" {
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}
