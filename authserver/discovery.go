package authserver

import (
	"net/http"
	"slices"
)

// metadata is the authorization server metadata (RFC 8414 §2), extended
// with the OpenID Provider fields (OIDC Discovery §3). It lists only what
// is implemented.
type metadata struct {
	Issuer                                 string   `json:"issuer"`
	AuthorizationEndpoint                  string   `json:"authorization_endpoint"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	UserInfoEndpoint                       string   `json:"userinfo_endpoint"`
	JWKSURI                                string   `json:"jwks_uri"`
	IntrospectionEndpoint                  string   `json:"introspection_endpoint"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	PushedAuthorizationRequestEndpoint     string   `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests     bool     `json:"require_pushed_authorization_requests"`
	EndSessionEndpoint                     string   `json:"end_session_endpoint"`
	DeviceAuthorizationEndpoint            string   `json:"device_authorization_endpoint"`
	RegistrationEndpoint                   string   `json:"registration_endpoint,omitempty"`
	ClientIDMetadataDocumentSupported      bool     `json:"client_id_metadata_document_supported,omitempty"`
	ScopesSupported                        []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                 []string `json:"response_types_supported"`
	ResponseModesSupported                 []string `json:"response_modes_supported"`
	GrantTypesSupported                    []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods       []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported          []string `json:"code_challenge_methods_supported"`
	SubjectTypesSupported                  []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported       []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                        []string `json:"claims_supported"`
	PromptValuesSupported                  []string `json:"prompt_values_supported"`
	ACRValuesSupported                     []string `json:"acr_values_supported"`
	AuthorizationResponseISSSupported      bool     `json:"authorization_response_iss_parameter_supported"`
}

func (s *Server) metadata() metadata {
	scopes := []string{"openid", "profile", "email", "groups", "offline_access"}
	pkce := []string{"S256"}
	for _, c := range s.clients {
		for _, sc := range c.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
		if c.AllowPlainPKCE && !slices.Contains(pkce, "plain") {
			pkce = append(pkce, "plain")
		}
	}
	slices.Sort(scopes)
	var grants []string
	for gt := range s.grants {
		grants = append(grants, gt)
	}
	slices.Sort(grants)
	methods := []string{AuthMethodBasic, AuthMethodPost, AuthMethodNone}
	confidential := []string{AuthMethodBasic, AuthMethodPost}
	registration := ""
	if s.cfg.Registration.Mode != RegistrationDisabled {
		registration = s.endpointURL(pathRegister)
	}
	return metadata{
		RegistrationEndpoint:                   registration,
		ClientIDMetadataDocumentSupported:      s.metadataDocs != nil,
		Issuer:                                 s.issuer,
		AuthorizationEndpoint:                  s.endpointURL(pathAuthorize),
		TokenEndpoint:                          s.endpointURL(pathToken),
		UserInfoEndpoint:                       s.endpointURL(pathUserInfo),
		JWKSURI:                                s.endpointURL(pathJWKS),
		IntrospectionEndpoint:                  s.endpointURL(pathIntrospect),
		RevocationEndpoint:                     s.endpointURL(pathRevoke),
		PushedAuthorizationRequestEndpoint:     s.endpointURL(pathPAR),
		RequirePushedAuthorizationRequests:     s.cfg.RequirePAR,
		EndSessionEndpoint:                     s.endpointURL(pathLogout),
		DeviceAuthorizationEndpoint:            s.endpointURL(pathDeviceCode),
		ScopesSupported:                        scopes,
		ResponseTypesSupported:                 []string{"code"},
		ResponseModesSupported:                 []string{"query"},
		GrantTypesSupported:                    grants,
		TokenEndpointAuthMethodsSupported:      methods,
		IntrospectionEndpointAuthMethods:       confidential,
		RevocationEndpointAuthMethodsSupported: methods,
		CodeChallengeMethodsSupported:          pkce,
		SubjectTypesSupported:                  []string{"public"},
		IDTokenSigningAlgValuesSupported:       []string{s.cfg.Keys.Algorithm()},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "acr", "amr",
			"name", "preferred_username", "email", "email_verified", "groups"},
		PromptValuesSupported: []string{"none", "login", "consent"},
		// "mfa": a sign-in with a second factor. A request with
		// acr_values=mfa gets one, and its tokens say acr "mfa"; tokens of
		// a sign-in without one have no acr.
		ACRValuesSupported:                []string{acrMFA},
		AuthorizationResponseISSSupported: true,
	}
}

// handleMetadata serves the metadata, at both the RFC 8414 and the
// OpenID Connect Discovery locations.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, s.metadata())
}
