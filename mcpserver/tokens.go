package mcpserver

import (
	"context"
	"net/url"

	"github.com/google/jsonschema-go/jsonschema"
)

const exchangeDescription = `Get tokens from the authorization server's token endpoint (RFC 6749): exchange an authorization code for tokens, or a refresh token for new ones.

For grant_type authorization_code (after oauth2_authorize and the user's sign-in): give code (from the redirect's query), redirect_uri (the same as in oauth2_authorize) and code_verifier (from oauth2_authorize). A code works once and for about a minute.
For grant_type refresh_token: give refresh_token; scope may narrow the new access token. Refresh tokens rotate: keep the new refresh_token returned and forget the old one, which stops working.

Always give client_id; give client_secret too for a confidential client (one registered with a secret). Returns access_token, token_type, expires_in (seconds), scope, and when issued refresh_token and id_token. These are credentials: keep them from anyone who should not hold them.

Fails with the server's error: invalid_grant for a wrong, used or expired code, a PKCE code_verifier that does not match, or a revoked refresh token; invalid_client for an unknown client or a wrong secret.`

// ExchangeInput is the input of oauth2_exchange_token.
type ExchangeInput struct {
	GrantType    string `json:"grant_type" jsonschema:"authorization_code or refresh_token."`
	ClientID     string `json:"client_id" jsonschema:"The client's identifier."`
	ClientSecret string `json:"client_secret,omitempty" jsonschema:"A confidential client's secret; omit it for a public client."`
	AuthMethod   string `json:"auth_method,omitempty" jsonschema:"How to send client_secret: client_secret_basic or client_secret_post. By default the method the client is registered with, else client_secret_basic."`
	Code         string `json:"code,omitempty" jsonschema:"For authorization_code: the code from the redirect."`
	RedirectURI  string `json:"redirect_uri,omitempty" jsonschema:"For authorization_code: the redirect_uri given to oauth2_authorize."`
	CodeVerifier string `json:"code_verifier,omitempty" jsonschema:"For authorization_code: the code_verifier oauth2_authorize returned."`
	RefreshToken string `json:"refresh_token,omitempty" jsonschema:"For refresh_token: the refresh token."`
	Scope        string `json:"scope,omitempty" jsonschema:"For refresh_token: space-separated scopes to narrow the new access token to."`
	Resource     string `json:"resource,omitempty" jsonschema:"The absolute URI of the API the access token is for (RFC 8707)."`
}

// TokenOutput is the output of oauth2_exchange_token: the token response
// (RFC 6749 §5.1, OIDC Core §3.1.3.3).
type TokenOutput struct {
	AccessToken  string `json:"access_token,omitempty" jsonschema:"The access token: send it as 'Authorization: Bearer <token>' to the API."`
	TokenType    string `json:"token_type,omitempty" jsonschema:"The token type, normally Bearer."`
	ExpiresIn    int64  `json:"expires_in,omitempty" jsonschema:"Seconds until the access token expires."`
	RefreshToken string `json:"refresh_token,omitempty" jsonschema:"A refresh token, when issued: use it with grant_type refresh_token for new tokens."`
	IDToken      string `json:"id_token,omitempty" jsonschema:"An OpenID Connect ID token (a JWT about the user), when openid was granted."`
	Scope        string `json:"scope,omitempty" jsonschema:"The scopes granted, space-separated."`
	Failure
}

func exchangeSchema(s *jsonschema.Schema) {
	setString(s, "grant_type", 32, "authorization_code", "refresh_token")
	setString(s, "client_id", 2048)
	setString(s, "client_secret", 1024)
	setString(s, "auth_method", 32, authBasic, authPost)
	setString(s, "code", 1024)
	setString(s, "redirect_uri", 2048)
	setString(s, "code_verifier", 128)
	setString(s, "refresh_token", maxTokenLength)
	setString(s, "scope", 2048)
	setString(s, "resource", 2048)
}

// exchange calls the token endpoint (RFC 6749 §4.1.3, §6).
func (s *Server) exchange(ctx context.Context, in ExchangeInput) (TokenOutput, *toolError) {
	var out TokenOutput
	form := url.Values{"grant_type": {in.GrantType}}
	switch in.GrantType {
	case "authorization_code":
		if in.Code == "" || in.RedirectURI == "" || in.CodeVerifier == "" {
			return out, &toolError{Code: errInvalidRequest, Description: "grant_type authorization_code needs code, redirect_uri and code_verifier"}
		}
		form.Set("code", in.Code)
		form.Set("redirect_uri", in.RedirectURI)
		form.Set("code_verifier", in.CodeVerifier)
	case "refresh_token":
		if in.RefreshToken == "" {
			return out, &toolError{Code: errInvalidRequest, Description: "grant_type refresh_token needs refresh_token"}
		}
		form.Set("refresh_token", in.RefreshToken)
		if in.Scope != "" {
			form.Set("scope", in.Scope)
		}
	default:
		return out, &toolError{Code: "unsupported_grant_type", Description: "grant_type must be authorization_code or refresh_token"}
	}
	if in.Resource != "" {
		form.Set("resource", in.Resource)
	}
	meta, auth, fail := s.client(ctx, in.ClientID, in.ClientSecret, in.AuthMethod, func(m *metadata) []string { return m.TokenEndpointAuthMethods })
	if fail != nil {
		return out, fail
	}
	doc, fail := s.provider.postForm(ctx, meta.TokenEndpoint, form, auth)
	if fail != nil {
		return out, fail
	}
	out.AccessToken, _ = doc["access_token"].(string)
	out.TokenType, _ = doc["token_type"].(string)
	out.RefreshToken, _ = doc["refresh_token"].(string)
	out.IDToken, _ = doc["id_token"].(string)
	out.Scope, _ = doc["scope"].(string)
	if n, ok := doc["expires_in"].(float64); ok {
		out.ExpiresIn = int64(n)
	}
	if out.AccessToken == "" {
		return TokenOutput{}, &toolError{Code: errUnavailable, Description: "the token endpoint answered without an access_token"}
	}
	return out, nil
}

// client reads the metadata and decides how the caller's client
// authenticates at an endpoint whose methods methods names.
func (s *Server) client(ctx context.Context, id, secret, asked string, methods func(*metadata) []string) (*metadata, *clientAuth, *toolError) {
	if id == "" {
		return nil, nil, &toolError{Code: errInvalidRequest, Description: "client_id is required"}
	}
	if asked != "" && secret == "" {
		return nil, nil, &toolError{Code: errInvalidRequest, Description: "auth_method " + asked + " needs client_secret"}
	}
	meta, fail := s.provider.metadata(ctx)
	if fail != nil {
		return nil, nil, fail
	}
	restricted := ""
	if s.bundled != nil && secret != "" && asked == "" {
		restricted = s.bundled.ClientAuthMethod(ctx, id)
	}
	return meta, &clientAuth{id: id, secret: secret, method: chooseAuthMethod(asked, restricted, methods(meta))}, nil
}

const revokeDescription = `Revoke an access token or a refresh token at the authorization server (RFC 7009), so that it stops working. Revoking a refresh token also ends the access tokens issued with it.

Give the token, and the client it was issued to: client_id, and client_secret for a confidential client. A client can revoke only its own tokens. An unknown, expired or already revoked token is not an error (RFC 7009 §2.2): the result is the same, and revoked is true. Fails with invalid_client for an unknown client or a wrong secret.`

// RevokeInput is the input of oauth2_revoke_token.
type RevokeInput struct {
	Token         string `json:"token" jsonschema:"The access token or refresh token to revoke."`
	TokenTypeHint string `json:"token_type_hint,omitempty" jsonschema:"access_token or refresh_token, if known; it only speeds up the lookup."`
	ClientID      string `json:"client_id" jsonschema:"The client the token was issued to."`
	ClientSecret  string `json:"client_secret,omitempty" jsonschema:"A confidential client's secret; omit it for a public client."`
	AuthMethod    string `json:"auth_method,omitempty" jsonschema:"How to send client_secret: client_secret_basic or client_secret_post. By default the method the client is registered with, else client_secret_basic."`
}

// RevokeOutput is the output of oauth2_revoke_token.
type RevokeOutput struct {
	Revoked bool   `json:"revoked" jsonschema:"True when the server accepted the request: the token no longer works, if it was one of this client's tokens (unknown tokens are not an error)."`
	Message string `json:"message,omitempty" jsonschema:"What the server's answer means."`
	Failure
}

func revokeSchema(s *jsonschema.Schema) {
	setString(s, "token", maxTokenLength)
	setString(s, "token_type_hint", 32, "access_token", "refresh_token")
	setString(s, "client_id", 2048)
	setString(s, "client_secret", 1024)
	setString(s, "auth_method", 32, authBasic, authPost)
}

// revoke calls the revocation endpoint (RFC 7009 §2.1).
func (s *Server) revoke(ctx context.Context, in RevokeInput) (RevokeOutput, *toolError) {
	var out RevokeOutput
	if in.Token == "" {
		return out, &toolError{Code: errInvalidRequest, Description: "token is required"}
	}
	meta, auth, fail := s.client(ctx, in.ClientID, in.ClientSecret, in.AuthMethod, func(m *metadata) []string { return m.RevocationAuthMethods })
	if fail != nil {
		return out, fail
	}
	if meta.RevocationEndpoint == "" {
		return out, &toolError{Code: errInvalidRequest, Description: "the authorization server has no revocation endpoint"}
	}
	form := url.Values{"token": {in.Token}}
	if in.TokenTypeHint != "" {
		form.Set("token_type_hint", in.TokenTypeHint)
	}
	if _, fail := s.provider.postForm(ctx, meta.RevocationEndpoint, form, auth); fail != nil {
		return out, fail
	}
	out.Revoked = true
	out.Message = "The authorization server accepted the revocation: the token no longer works if it was one of this client's. It answers the same for unknown, expired and already revoked tokens (RFC 7009 §2.2)."
	return out, nil
}
