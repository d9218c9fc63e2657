package authserver

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/bearer"
	"github.com/authgate/authgate/authserver/loopback"
	"github.com/authgate/authgate/authserver/store"
)

// Registration errors (RFC 7591 §3.2.2).
const (
	codeInvalidRedirectURI    = "invalid_redirect_uri"
	codeInvalidClientMetadata = "invalid_client_metadata"
)

// Registration modes.
const (
	RegistrationDisabled = "disabled"
	RegistrationOpen     = "open"
	RegistrationToken    = "token"
)

// RegistrationPolicy says who may register clients (RFC 7591) and what a
// self-registered client may ask for.
type RegistrationPolicy struct {
	// Mode is disabled (the default), open, or token (an initial access
	// token is required).
	Mode string
	// InitialAccessTokens are the configured initial access tokens (used
	// as bearer tokens); the admin API can issue single-use ones too.
	InitialAccessTokens []string
	// GrantTypes self-registered clients may use. Default:
	// authorization_code, refresh_token, client_credentials and the device
	// grant.
	GrantTypes []string
	// Scopes self-registered clients may request. Default: openid,
	// profile, email, offline_access. A scope a gateway requires (read,
	// mcp:tools) must be listed for registered clients (such as MCP
	// clients) to get tokens it accepts, together with the gateway's
	// resource in Audiences. With client_credentials in GrantTypes any
	// client that can register gets these scopes without a user.
	Scopes []string
	// Audiences are the resources (RFC 8707) self-registered clients may
	// ask tokens for, such as the URLs of protected APIs.
	Audiences []string
	// NoCustomSchemes refuses private-use URI scheme redirects
	// (com.example.app:/cb) even for public native clients.
	NoCustomSchemes bool
	// PerAddressPerHour bounds registration requests per client address.
	// Default 20.
	PerAddressPerHour int
}

// DefaultRegistrationScopes are the scopes self-registered clients may
// request when the policy lists none.
var DefaultRegistrationScopes = []string{"openid", "profile", "email", "offline_access"}

func (p *RegistrationPolicy) setDefaults() error {
	switch p.Mode {
	case "":
		p.Mode = RegistrationDisabled
	case RegistrationDisabled, RegistrationOpen:
	case RegistrationToken:
		// Admin-issued tokens suffice even when none is configured.
	default:
		return fmt.Errorf("registration mode %q: want open, token or disabled", p.Mode)
	}
	if p.GrantTypes == nil {
		p.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode}
	}
	if p.Scopes == nil {
		p.Scopes = slices.Clone(DefaultRegistrationScopes)
	}
	if p.PerAddressPerHour == 0 {
		p.PerAddressPerHour = 20
	}
	return nil
}

// ClientMetadata is the client metadata this server registers (RFC 7591
// §2, and post_logout_redirect_uris from OIDC RP-Initiated Logout). Other
// fields a client sends are ignored, as §2 requires.
type ClientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	LogoURI                 string   `json:"logo_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Contacts                []string `json:"contacts,omitempty"`
	TOSURI                  string   `json:"tos_uri,omitempty"`
	PolicyURI               string   `json:"policy_uri,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
	// ApplicationType is web or native (OpenID Connect Dynamic Client
	// Registration §2), as the MCP authorization specification asks
	// clients to declare: only a native client may use a private-use
	// scheme. Kept as sent; unset means the client did not say.
	ApplicationType string `json:"application_type,omitempty"`
}

func metadataError(description string) *Error {
	return oauthError(codeInvalidClientMetadata, description)
}

// readMetadata reads a JSON client metadata body.
func (s *Server) readMetadata(w http.ResponseWriter, r *http.Request) (*ClientMetadata, map[string]json.RawMessage, *Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, nil, metadataError("the request body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, nil, &Error{Code: codeInvalidClientMetadata, Description: fmt.Sprintf("the request body is larger than %d bytes", s.cfg.MaxBodyBytes), Status: http.StatusRequestEntityTooLarge}
		}
		return nil, nil, metadataError("the request body could not be read")
	}
	var raw map[string]json.RawMessage
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) || json.Unmarshal(body, &raw) != nil {
		return nil, nil, metadataError("the request body must be a JSON object")
	}
	var m ClientMetadata
	if err := json.Unmarshal(body, &m); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, nil, metadataError(typeErr.Field + " has the wrong type")
		}
		return nil, nil, metadataError("the client metadata could not be read")
	}
	return &m, raw, nil
}

// validateMetadata fills defaults and checks client metadata against
// RFC 7591 §2 and the registration policy.
func (s *Server) validateMetadata(m *ClientMetadata) *Error {
	p := &s.cfg.Registration
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = AuthMethodBasic
	}
	if !slices.Contains([]string{AuthMethodBasic, AuthMethodPost, AuthMethodNone}, m.TokenEndpointAuthMethod) {
		return metadataError("token_endpoint_auth_method must be client_secret_basic, client_secret_post or none")
	}
	public := m.TokenEndpointAuthMethod == AuthMethodNone
	switch m.ApplicationType {
	case "", "web", "native":
	default:
		return metadataError("application_type must be web or native")
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{GrantAuthorizationCode}
	}
	if m.ResponseTypes == nil {
		m.ResponseTypes = []string{}
		if slices.Contains(m.GrantTypes, GrantAuthorizationCode) {
			m.ResponseTypes = []string{"code"}
		}
	}
	m.GrantTypes = dedupe(m.GrantTypes)
	m.ResponseTypes = dedupe(m.ResponseTypes)
	for _, gt := range m.GrantTypes {
		if !slices.Contains(p.GrantTypes, gt) {
			return metadataError("grant type " + safeText(gt) + " is not available to registered clients")
		}
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return metadataError("only the response type code is supported")
		}
	}
	code := slices.Contains(m.GrantTypes, GrantAuthorizationCode)
	switch {
	case code != slices.Contains(m.ResponseTypes, "code"):
		return metadataError("grant_types and response_types disagree: authorization_code goes with code")
	case public && slices.Contains(m.GrantTypes, GrantClientCredentials):
		return metadataError("a public client (token_endpoint_auth_method none) cannot use client_credentials")
	case slices.Contains(m.GrantTypes, GrantRefreshToken) && !code && !slices.Contains(m.GrantTypes, GrantDeviceCode):
		return metadataError("refresh_token needs authorization_code or the device grant")
	}
	if code && len(m.RedirectURIs) == 0 {
		return oauthError(codeInvalidRedirectURI, "redirect_uris is required for the authorization code grant")
	}
	m.RedirectURIs = dedupe(m.RedirectURIs)
	m.PostLogoutRedirectURIs = dedupe(m.PostLogoutRedirectURIs)
	for _, u := range append(slices.Clone(m.RedirectURIs), m.PostLogoutRedirectURIs...) {
		// A private-use scheme is a native app's (RFC 8252 §7.1): a
		// client that says it is a web app may not register one.
		if e := p.checkRedirectURI(u, public && m.ApplicationType != "web"); e != nil {
			return e
		}
	}
	if m.Scope == "" {
		m.Scope = strings.Join(p.Scopes, " ")
	}
	scopes, ok := parseScope(m.Scope)
	if !ok || len(scopes) == 0 {
		return metadataError("scope must be a space-separated list of scopes")
	}
	for _, sc := range scopes {
		if !slices.Contains(p.Scopes, sc) {
			return metadataError("scope " + safeText(sc) + " is not available to registered clients; they may ask for " + strings.Join(p.Scopes, " "))
		}
	}
	m.Scope = strings.Join(scopes, " ")
	for name, u := range map[string]string{"client_uri": m.ClientURI, "logo_uri": m.LogoURI, "tos_uri": m.TOSURI, "policy_uri": m.PolicyURI} {
		if u != "" && !webURL(u) {
			return metadataError(name + " must be an https URL")
		}
	}
	if s.takesConfiguredName(m.ClientName) {
		return metadataError("client_name is the name of a client this server's operator configured; choose another")
	}
	if len(m.ClientName) > 200 || len(m.SoftwareID) > 200 || len(m.SoftwareVersion) > 100 || len(m.Contacts) > 20 ||
		len(m.RedirectURIs) > 20 || len(m.PostLogoutRedirectURIs) > 20 {
		return metadataError("a field is too long or has too many values")
	}
	for _, c := range m.Contacts {
		if c == "" || len(c) > 320 {
			return metadataError("contacts must be non-empty e-mail addresses")
		}
	}
	return nil
}

// checkRedirectURI applies RFC 8252 and RFC 9700 to a registered redirect
// URI: absolute, no fragment; https, or http on a loopback host, or (for
// a public native client) a private-use scheme with a dot in it.
func (p *RegistrationPolicy) checkRedirectURI(raw string, public bool) *Error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || strings.Contains(raw, "#"):
		return oauthError(codeInvalidRedirectURI, "a redirect URI must be absolute and have no fragment")
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && loopback.IsHost(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return oauthError(codeInvalidRedirectURI, "http redirect URIs are allowed only for loopback hosts (127.0.0.1, [::1], localhost)")
	case public && !p.NoCustomSchemes && strings.Contains(u.Scheme, ".") && !slices.Contains([]string{"javascript", "data", "file", "vbscript"}, u.Scheme):
		return nil
	default:
		return oauthError(codeInvalidRedirectURI, "a redirect URI must use https, http on a loopback host, or (public native clients) a private-use scheme such as com.example.app")
	}
}

// webURL reports whether u is an https URL (or http on a loopback host).
func webURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Host != "" && (p.Scheme == "https" || p.Scheme == "http" && loopback.IsHost(p.Hostname()))
}

func dedupe(in []string) []string {
	var out []string
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// safeText returns s if it may appear in an error_description, else a
// placeholder.
func safeText(s string) string {
	if tokens, ok := parseScope(s); ok && len(tokens) == 1 && len(s) <= 100 {
		return s
	}
	return "(unprintable)"
}

// registrationResponse is RFC 7591 §3.2.1's answer.
type registrationResponse struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
	ClientMetadata
}

// allowRegistration checks who is registering: the mode, the per-address
// limit, and in token mode the initial access token. A used admin-issued
// token is returned so it can be spent once registration succeeds.
func (s *Server) allowRegistration(r *http.Request) (spend string, e *Error) {
	p := &s.cfg.Registration
	if p.Mode == RegistrationDisabled {
		return "", &Error{Code: "access_denied", Description: "client registration is disabled on this server", Status: http.StatusForbidden}
	}
	ip, now := s.cfg.ClientIP(r), s.now()
	if _, ok := s.registrationLimit.attempt(addressKey(ip), now); !ok { // every request counts
		return "", &Error{Code: codeInvalidRequest, Description: "too many registrations from this address; try again later", Status: http.StatusTooManyRequests}
	}
	if p.Mode == RegistrationOpen {
		return "", nil
	}
	token, err := bearer.FromHeader(r.Header, false)
	if err != nil || token == "" {
		return "", s.invalidBearerToken("an initial access token is required")
	}
	for _, t := range p.InitialAccessTokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return "", nil
		}
	}
	rec, err := s.cfg.Store.GetToken(r.Context(), store.InitialAccessToken, hashID(token))
	if err == nil && rec.Active(now) {
		return token, nil
	}
	return "", s.invalidBearerToken("the initial access token is not valid")
}

// invalidBearerToken is the 401 for a missing or bad initial access
// token, with its Bearer challenge (RFC 6750 §3.1).
func (s *Server) invalidBearerToken(description string) *Error {
	return &Error{Code: "invalid_token", Description: description, Status: http.StatusUnauthorized,
		Header: http.Header{"Www-Authenticate": {s.challenge("invalid_token", "", "")}}}
}

// IssueInitialAccessToken makes a single-use initial access token for
// registration, valid for ttl, as an operator hands out.
func (s *Server) IssueInitialAccessToken(ctx context.Context, ttl time.Duration) (string, error) {
	token := "ag_iat_" + randomID(32)
	now := s.now()
	err := s.cfg.Store.CreateToken(ctx, store.Token{Kind: store.InitialAccessToken, ID: hashID(token), IssuedAt: now, ExpiresAt: now.Add(ttl)})
	return token, err
}

// handleRegister is the client registration endpoint (RFC 7591 §3).
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	spend, e := s.allowRegistration(r)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	m, _, e := s.readMetadata(w, r)
	if e == nil {
		e = s.validateMetadata(m)
	}
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	ctx := r.Context()
	if spend != "" {
		_, err := s.cfg.Store.ConsumeToken(ctx, store.InitialAccessToken, hashID(spend), s.now())
		switch {
		case errors.Is(err, store.ErrConsumed) || errors.Is(err, store.ErrNotFound):
			// Another registration spent it first.
			s.writeError(w, r, s.invalidBearerToken("the initial access token was already used"))
			return
		case err != nil:
			s.writeError(w, r, serverError(err))
			return
		}
	}
	now := s.now()
	resp := registrationResponse{ClientMetadata: *m, ClientIDIssuedAt: now.Unix()}
	resp.RegistrationAccessToken = "ag_rat_" + randomID(32)
	rc := store.RegisteredClient{RegistrationTokenHash: hashID(resp.RegistrationAccessToken), CreatedAt: now, UpdatedAt: now}
	if m.TokenEndpointAuthMethod != AuthMethodNone {
		resp.ClientSecret = "ag_cs_" + randomID(32)
		rc.SecretHash = hashID(resp.ClientSecret)
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	rc.Metadata, _ = json.Marshal(m)
	for attempt := 0; ; attempt++ {
		rc.ID = "ag_c_" + randomID(16)
		err := s.cfg.Store.CreateClient(ctx, rc)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrAlreadyExists) || attempt == 3 {
			s.writeError(w, r, serverError(err))
			return
		}
	}
	resp.ClientID = rc.ID
	resp.RegistrationClientURI = s.endpointURL(pathRegister + "/" + rc.ID)
	s.emitFrom(r, Event{Name: EventClientRegistered, Client: rc.ID})
	noStore(w)
	writeJSON(w, http.StatusCreated, resp)
}
