package authserver

import (
	"net/http"
	"slices"
)

// metadata is the authorization server metadata (RFC 8414 §2), which also
// serves as the OpenID Provider metadata. It lists only what is
// implemented.
type metadata struct {
	Issuer                                 string   `json:"issuer"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	JWKSURI                                string   `json:"jwks_uri"`
	IntrospectionEndpoint                  string   `json:"introspection_endpoint"`
	RevocationEndpoint                     string   `json:"revocation_endpoint"`
	ScopesSupported                        []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                 []string `json:"response_types_supported"`
	GrantTypesSupported                    []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods       []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported"`
	SubjectTypesSupported                  []string `json:"subject_types_supported"`
	AccessTokenSigningAlgValuesSupported   []string `json:"access_token_signing_alg_values_supported,omitempty"`
}

func (s *Server) metadata() metadata {
	var scopes, grants []string
	for _, c := range s.clients {
		for _, sc := range c.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	slices.Sort(scopes)
	for gt := range s.grants {
		grants = append(grants, gt)
	}
	slices.Sort(grants)
	confidential := []string{AuthMethodBasic, AuthMethodPost}
	return metadata{
		Issuer:                                 s.issuer,
		TokenEndpoint:                          s.endpointURL(pathToken),
		JWKSURI:                                s.endpointURL(pathJWKS),
		IntrospectionEndpoint:                  s.endpointURL(pathIntrospect),
		RevocationEndpoint:                     s.endpointURL(pathRevoke),
		ScopesSupported:                        scopes,
		ResponseTypesSupported:                 []string{},
		GrantTypesSupported:                    grants,
		TokenEndpointAuthMethodsSupported:      confidential,
		IntrospectionEndpointAuthMethods:       confidential,
		RevocationEndpointAuthMethodsSupported: confidential,
		SubjectTypesSupported:                  []string{"public"},
		AccessTokenSigningAlgValuesSupported:   []string{s.cfg.Keys.Algorithm()},
	}
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, s.metadata())
}

// handleJWKS publishes the public signing keys (RFC 7517 §5).
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, s.cfg.Keys.PublicKeys())
}
