package authserver

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/authgate/authgate/authserver/store"
)

// lookupClient finds a client by ID: one from configuration, a client ID
// metadata document (an https URL, when enabled), or a registered client
// in the store. It returns nil, nil for an unknown client.
func (s *Server) lookupClient(ctx context.Context, id string) (*Client, error) {
	if id == "" || len(id) > 2048 {
		return nil, nil
	}
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	if strings.HasPrefix(id, "https://") {
		if s.metadataDocs == nil {
			return nil, nil
		}
		c, err := s.metadataDocs.client(ctx, id)
		if err != nil {
			s.logger.Info("client ID metadata document refused", zapClient(id), zapErr(err))
			return nil, nil
		}
		return c, nil
	}
	rc, err := s.cfg.Store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading client: %w", err)
	}
	return s.registeredClient(rc)
}

// registeredClient turns a stored registration into a Client.
func (s *Server) registeredClient(rc store.RegisteredClient) (*Client, error) {
	var m ClientMetadata
	if err := json.Unmarshal(rc.Metadata, &m); err != nil {
		return nil, fmt.Errorf("client %s: damaged metadata: %w", rc.ID, err)
	}
	c := &Client{
		ID:                     rc.ID,
		Name:                   m.ClientName,
		Public:                 m.TokenEndpointAuthMethod == AuthMethodNone,
		RedirectURIs:           m.RedirectURIs,
		GrantTypes:             m.GrantTypes,
		Scopes:                 strings.Fields(m.Scope),
		Audiences:              s.cfg.Registration.Audiences,
		PostLogoutRedirectURIs: m.PostLogoutRedirectURIs,
		RequirePKCE:            true,
		Registered:             true,
	}
	if c.Name == "" {
		c.Name = "Unnamed application"
	}
	if !c.Public {
		c.AuthMethod = m.TokenEndpointAuthMethod
		digest, err := hex.DecodeString(rc.SecretHash)
		if err != nil || len(digest) != 32 {
			return nil, fmt.Errorf("client %s: damaged secret hash", rc.ID)
		}
		c.Secret = Secret{digest: digest}
	}
	return c, nil
}
