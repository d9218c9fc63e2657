package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// This file describes clients to operators (the admin API and the CLI):
// those from the configuration and those that registered themselves.
// Nothing here carries a client secret, its hash or a registration
// access token.

// Where a client comes from, in [ClientInfo.Kind].
const (
	// ClientKindConfigured: the configuration.
	ClientKindConfigured = "configured"
	// ClientKindRegistered: dynamic client registration (RFC 7591), kept
	// in the store.
	ClientKindRegistered = "registered"
)

// ErrClientNotFound means no configured or registered client has the ID.
var ErrClientNotFound = errors.New("no such client")

// ClientInfo describes a client to operators: its metadata, never its
// secret, the secret's hash or its registration access token.
type ClientInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Kind is ClientKindConfigured or ClientKindRegistered.
	Kind string `json:"kind"`
	// Public clients have no secret.
	Public bool `json:"public"`
	// AuthMethods are the token endpoint authentication methods the
	// client may use.
	AuthMethods            []string `json:"token_endpoint_auth_methods"`
	GrantTypes             []string `json:"grant_types"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	Scopes                 []string `json:"scopes,omitempty"`
	Audiences              []string `json:"audiences,omitempty"`
	// AccessTokenLifetimeSeconds is the client's own access token
	// lifetime; 0 for the server's.
	AccessTokenLifetimeSeconds int64 `json:"access_token_lifetime_seconds,omitempty"`
	RequirePKCE                bool  `json:"require_pkce"`
	RequirePAR                 bool  `json:"require_par,omitempty"`
	RequireMFA                 bool  `json:"require_mfa,omitempty"`
	SkipConsent                bool  `json:"skip_consent,omitempty"`
	IntrospectAny              bool  `json:"introspect_any,omitempty"`
	// The registration's self-asserted metadata, for registered clients.
	ClientURI       string   `json:"client_uri,omitempty"`
	LogoURI         string   `json:"logo_uri,omitempty"`
	Contacts        []string `json:"contacts,omitempty"`
	SoftwareID      string   `json:"software_id,omitempty"`
	SoftwareVersion string   `json:"software_version,omitempty"`
	ApplicationType string   `json:"application_type,omitempty"`
	// Damaged is set for a stored registration whose metadata cannot be
	// read: the client cannot be used.
	Damaged bool `json:"damaged,omitempty"`
	// CreatedAt and UpdatedAt are zero for configured clients.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// ListClients returns the configured clients, ordered by ID, then the
// registered ones, oldest first. The built-in gateway client and
// clients known by a metadata document URL are not listed.
func (s *Server) ListClients(ctx context.Context) ([]ClientInfo, error) {
	out := make([]ClientInfo, 0, len(s.clients))
	for id, c := range s.clients {
		if id != GatewayClientID {
			out = append(out, operatorClientInfo(c, ClientKindConfigured))
		}
	}
	slices.SortFunc(out, func(a, b ClientInfo) int { return strings.Compare(a.ID, b.ID) })
	recs, err := s.cfg.Store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing registered clients: %w", err)
	}
	for _, rc := range recs {
		out = append(out, s.registeredClientInfo(rc))
	}
	return out, nil
}

// GetClient returns the configured or registered client with the ID;
// ErrClientNotFound if there is none (the built-in gateway client is
// not shown either).
func (s *Server) GetClient(ctx context.Context, id string) (ClientInfo, error) {
	if c, ok := s.clients[id]; ok && id != GatewayClientID {
		return operatorClientInfo(c, ClientKindConfigured), nil
	}
	if id == "" || id == GatewayClientID || len(id) > 2048 {
		return ClientInfo{}, fmt.Errorf("client %q: %w", id, ErrClientNotFound)
	}
	rc, err := s.cfg.Store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ClientInfo{}, fmt.Errorf("client %q: %w", id, ErrClientNotFound)
	}
	if err != nil {
		return ClientInfo{}, fmt.Errorf("loading client %q: %w", id, err)
	}
	return s.registeredClientInfo(rc), nil
}

// registeredClientInfo describes a stored registration.
func (s *Server) registeredClientInfo(rc store.RegisteredClient) ClientInfo {
	c, err := s.registeredClient(rc)
	if err != nil {
		return ClientInfo{ID: rc.ID, Kind: ClientKindRegistered, Damaged: true, CreatedAt: rc.CreatedAt, UpdatedAt: rc.UpdatedAt,
			GrantTypes: []string{}, RedirectURIs: []string{}, AuthMethods: []string{}}
	}
	info := operatorClientInfo(c, ClientKindRegistered)
	var m ClientMetadata
	if json.Unmarshal(rc.Metadata, &m) == nil {
		info.ClientURI, info.LogoURI, info.Contacts = m.ClientURI, m.LogoURI, m.Contacts
		info.SoftwareID, info.SoftwareVersion, info.ApplicationType = m.SoftwareID, m.SoftwareVersion, m.ApplicationType
	}
	info.CreatedAt, info.UpdatedAt = rc.CreatedAt, rc.UpdatedAt
	return info
}

// operatorClientInfo describes c without its secret.
func operatorClientInfo(c *Client, kind string) ClientInfo {
	methods := []string{AuthMethodNone}
	switch {
	case c.Public:
	case c.AuthMethod != "":
		methods = []string{c.AuthMethod}
	default:
		methods = []string{AuthMethodBasic, AuthMethodPost}
	}
	nonEmpty := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return slices.Clone(v)
	}
	return ClientInfo{
		ID: c.ID, Name: c.Name, Kind: kind, Public: c.Public, AuthMethods: methods,
		GrantTypes: nonEmpty(c.GrantTypes), RedirectURIs: nonEmpty(c.RedirectURIs),
		PostLogoutRedirectURIs: slices.Clone(c.PostLogoutRedirectURIs),
		Scopes:                 slices.Clone(c.Scopes), Audiences: slices.Clone(c.Audiences),
		AccessTokenLifetimeSeconds: int64(c.AccessTokenLifetime / time.Second),
		RequirePKCE:                c.RequirePKCE || c.Public, RequirePAR: c.RequirePAR, RequireMFA: c.RequireMFA,
		SkipConsent: c.SkipConsent, IntrospectAny: c.IntrospectAny,
	}
}
