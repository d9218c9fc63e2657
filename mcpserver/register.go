package mcpserver

import (
	"context"

	"github.com/google/jsonschema-go/jsonschema"
)

const registerDescription = `Register a new OAuth client with the authorization server (RFC 7591 dynamic client registration), under the server's registration policy: it may be closed, may need an initial access token, and limits the grant types, scopes and audiences a registered client may have, and how many clients one address may register.

For an app or agent that signs users in: give redirect_uris (https, or http on 127.0.0.1/localhost; a native app may use a private-use scheme like com.example.app:/cb with application_type native) and scope (the scopes it will ask for, e.g. 'openid profile offline_access'). token_endpoint_auth_method none registers a public client (no secret; PKCE protects its codes); the default client_secret_basic registers a confidential client that gets a client_secret.

Returns client_id, client_secret (confidential clients only), registration_access_token and registration_client_uri (to read, update or delete the registration later, RFC 7592), and the registered metadata. Keep client_secret and registration_access_token secret, and store them: they are shown only once.

Fails with invalid_redirect_uri or invalid_client_metadata when the metadata is refused, with the reason in error_description.`

// RegisterInput is the input of oauth2_register_client.
type RegisterInput struct {
	ClientMetadata
	InitialAccessToken string `json:"initial_access_token,omitempty" jsonschema:"An initial access token, when the server's registration needs one (RFC 7591 §3); sent as a bearer token, not as metadata."`
}

// ClientMetadata is the metadata a client registers with (RFC 7591 §2,
// OpenID Connect Dynamic Client Registration §2).
type ClientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris,omitempty" jsonschema:"Where the authorization server may send codes: exact URIs."`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty" jsonschema:"none (a public client, no secret), client_secret_basic (the default) or client_secret_post."`
	GrantTypes              []string `json:"grant_types,omitempty" jsonschema:"Grant types the client will use, such as authorization_code and refresh_token (the default is authorization_code)."`
	ResponseTypes           []string `json:"response_types,omitempty" jsonschema:"Response types; code (the default) is the only one."`
	ClientName              string   `json:"client_name,omitempty" jsonschema:"The client's name, shown to users on the consent page (marked unverified)."`
	ClientURI               string   `json:"client_uri,omitempty" jsonschema:"The client's home page."`
	LogoURI                 string   `json:"logo_uri,omitempty" jsonschema:"The client's logo."`
	Scope                   string   `json:"scope,omitempty" jsonschema:"Space-separated scopes the client may ask for."`
	Contacts                []string `json:"contacts,omitempty" jsonschema:"Email addresses of the people responsible for the client."`
	TOSURI                  string   `json:"tos_uri,omitempty" jsonschema:"The client's terms of service."`
	PolicyURI               string   `json:"policy_uri,omitempty" jsonschema:"The client's privacy policy."`
	SoftwareID              string   `json:"software_id,omitempty" jsonschema:"An identifier of the client software, the same for every instance."`
	SoftwareVersion         string   `json:"software_version,omitempty" jsonschema:"The client software's version."`
	ApplicationType         string   `json:"application_type,omitempty" jsonschema:"web (the default) or native (a desktop, mobile or CLI app; may use private-use scheme redirect URIs)."`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty" jsonschema:"Where the server may send the browser after sign-out (OpenID Connect RP-initiated logout)."`
}

// RegisterOutput is the output of oauth2_register_client: the client
// information response (RFC 7591 §3.2.1, RFC 7592 §3).
type RegisterOutput struct {
	ClientID                string   `json:"client_id,omitempty" jsonschema:"The new client's identifier."`
	ClientSecret            string   `json:"client_secret,omitempty" jsonschema:"The client's secret (confidential clients): keep it secret; it is shown only now."`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at,omitempty" jsonschema:"When the client was registered, in seconds since 1970."`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty" jsonschema:"When client_secret expires; 0 for never."`
	RegistrationAccessToken string   `json:"registration_access_token,omitempty" jsonschema:"The token that reads, updates and deletes this registration at registration_client_uri (RFC 7592): keep it secret."`
	RegistrationClientURI   string   `json:"registration_client_uri,omitempty" jsonschema:"Where this registration is managed (RFC 7592)."`
	RedirectURIs            []string `json:"redirect_uris,omitempty" jsonschema:"The registered redirect URIs."`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty" jsonschema:"How the client authenticates: none, client_secret_basic or client_secret_post."`
	GrantTypes              []string `json:"grant_types,omitempty" jsonschema:"The registered grant types."`
	ResponseTypes           []string `json:"response_types,omitempty" jsonschema:"The registered response types."`
	ClientName              string   `json:"client_name,omitempty" jsonschema:"The registered name."`
	Scope                   string   `json:"scope,omitempty" jsonschema:"The scopes the client may ask for."`
	ApplicationType         string   `json:"application_type,omitempty" jsonschema:"web or native."`
	Failure
}

func registerSchema(s *jsonschema.Schema) {
	setArray(s, "redirect_uris", 20, 2048)
	setString(s, "token_endpoint_auth_method", 32, authNone, authBasic, authPost)
	setArray(s, "grant_types", 8, 128)
	setArray(s, "response_types", 4, 32)
	setString(s, "client_name", 256)
	setString(s, "client_uri", 2048)
	setString(s, "logo_uri", 2048)
	setString(s, "scope", 2048)
	setArray(s, "contacts", 10, 256)
	setString(s, "tos_uri", 2048)
	setString(s, "policy_uri", 2048)
	setString(s, "software_id", 256)
	setString(s, "software_version", 64)
	setString(s, "application_type", 16, "web", "native")
	setArray(s, "post_logout_redirect_uris", 20, 2048)
	setString(s, "initial_access_token", 1024)
}

// register posts client metadata to the registration endpoint (RFC 7591
// §3.1). The authorization server applies its registration policy as it
// does to anyone: the bundled one sees the caller's address.
func (s *Server) register(ctx context.Context, in RegisterInput) (RegisterOutput, *toolError) {
	var out RegisterOutput
	meta, fail := s.provider.metadata(ctx)
	if fail != nil {
		return out, fail
	}
	if meta.RegistrationEndpoint == "" {
		return out, &toolError{Code: errInvalidRequest, Description: "the authorization server does not accept dynamic client registration (it names no registration_endpoint)"}
	}
	doc, fail := s.provider.postJSON(ctx, meta.RegistrationEndpoint, in.ClientMetadata, in.InitialAccessToken)
	if fail != nil {
		return out, fail
	}
	str := func(name string) string { v, _ := doc[name].(string); return v }
	strs := func(name string) []string {
		list, _ := doc[name].([]any)
		var out []string
		for _, v := range list {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	out = RegisterOutput{
		ClientID: str("client_id"), ClientSecret: str("client_secret"),
		RegistrationAccessToken: str("registration_access_token"), RegistrationClientURI: str("registration_client_uri"),
		RedirectURIs: strs("redirect_uris"), TokenEndpointAuthMethod: str("token_endpoint_auth_method"),
		GrantTypes: strs("grant_types"), ResponseTypes: strs("response_types"), ClientName: str("client_name"),
		Scope: str("scope"), ApplicationType: str("application_type"),
	}
	if n, ok := doc["client_id_issued_at"].(float64); ok {
		out.ClientIDIssuedAt = int64(n)
	}
	if n, ok := doc["client_secret_expires_at"].(float64); ok {
		v := int64(n)
		out.ClientSecretExpiresAt = &v
	}
	if out.ClientID == "" {
		return RegisterOutput{}, &toolError{Code: errUnavailable, Description: "the registration endpoint answered without a client_id"}
	}
	return out, nil
}
