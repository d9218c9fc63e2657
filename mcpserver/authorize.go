package mcpserver

import (
	"context"
	"crypto/rand"
	"net/url"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"golang.org/x/oauth2"
)

const authorizeDescription = `Start an OAuth 2.0 authorization code flow with PKCE (RFC 7636) for a client: returns the URL the user must open in a web browser to sign in and consent, and the values to keep for oauth2_exchange_token.

It generates the PKCE code_verifier and its S256 code_challenge, a random state (unless you give one) and, when scope contains openid, a nonce. When the client or the server requires pushed authorization requests (RFC 9126), or when you give client_secret, the request is pushed to the server first and the URL carries only a request_uri, valid for about a minute: have the user open it promptly.

After the user signs in, the browser is sent to redirect_uri with code, state and iss in its query (or error and error_description). Check that state equals the state returned here and iss equals issuer, then call oauth2_exchange_token with grant_type authorization_code, the code, the same redirect_uri and the code_verifier returned here. Keep code_verifier secret: whoever has it and the code gets the tokens.

Fails with the server's error when the client is unknown, the redirect_uri is not registered for it, or a scope or resource is not allowed.`

// AuthorizeInput is the input of oauth2_authorize.
type AuthorizeInput struct {
	ClientID     string `json:"client_id" jsonschema:"The client's identifier (from oauth2_register_client or the server's configuration)."`
	RedirectURI  string `json:"redirect_uri" jsonschema:"One of the client's registered redirect URIs, exactly as registered; the code is sent there."`
	Scope        string `json:"scope" jsonschema:"Space-separated scopes to ask for, such as 'openid profile email offline_access'. offline_access asks for a refresh token."`
	Resource     string `json:"resource,omitempty" jsonschema:"The absolute URI of the API (resource server, e.g. an MCP server's URL) the access token is for (RFC 8707); the token's audience is then that resource."`
	State        string `json:"state,omitempty" jsonschema:"An opaque value to get back unchanged with the code; a random one is generated when omitted."`
	Prompt       string `json:"prompt,omitempty" jsonschema:"OpenID Connect prompt: none (no page may be shown), login (sign in again), consent (ask again) or select_account."`
	ClientSecret string `json:"client_secret,omitempty" jsonschema:"A confidential client's secret. When given, the request is pushed (RFC 9126) with the client's authentication; needed when a confidential client must use pushed requests."`
	AuthMethod   string `json:"auth_method,omitempty" jsonschema:"How to send client_secret: client_secret_basic or client_secret_post. By default the method the client is registered with, else client_secret_basic."`
}

// AuthorizeOutput is the output of oauth2_authorize.
type AuthorizeOutput struct {
	AuthorizationURL    string `json:"authorization_url,omitempty" jsonschema:"The URL the user opens in a web browser to sign in and consent."`
	CodeVerifier        string `json:"code_verifier,omitempty" jsonschema:"The PKCE code_verifier: keep it secret, and give it to oauth2_exchange_token with the code."`
	CodeChallenge       string `json:"code_challenge,omitempty" jsonschema:"The S256 code_challenge sent in the request (derived from code_verifier)."`
	CodeChallengeMethod string `json:"code_challenge_method,omitempty" jsonschema:"Always S256."`
	State               string `json:"state,omitempty" jsonschema:"The state the redirect must carry back; refuse a redirect with another."`
	Nonce               string `json:"nonce,omitempty" jsonschema:"For openid: the nonce the ID token must carry."`
	Issuer              string `json:"issuer,omitempty" jsonschema:"The authorization server's issuer: the iss the redirect must carry (RFC 9207)."`
	ClientID            string `json:"client_id,omitempty" jsonschema:"The client the flow is for."`
	RedirectURI         string `json:"redirect_uri,omitempty" jsonschema:"The redirect URI to give oauth2_exchange_token."`
	Pushed              bool   `json:"pushed,omitempty" jsonschema:"True when the request was pushed (RFC 9126) and the URL carries only its request_uri."`
	RequestURI          string `json:"request_uri,omitempty" jsonschema:"The pushed request's reference, when pushed."`
	ExpiresIn           int64  `json:"expires_in,omitempty" jsonschema:"When pushed: seconds until the URL stops working."`
	Failure
}

func authorizeSchema(s *jsonschema.Schema) {
	setString(s, "client_id", 2048)
	setString(s, "redirect_uri", 2048)
	setString(s, "scope", 2048)
	setString(s, "resource", 2048)
	setString(s, "state", 1024)
	setString(s, "prompt", 64)
	setString(s, "client_secret", 1024)
	setString(s, "auth_method", 32, authBasic, authPost)
}

// authorize builds an authorization request (RFC 6749 §4.1.1 with RFC
// 7636's S256, OIDC Core's nonce, RFC 8707's resource) and pushes it when
// it must or can (RFC 9126).
func (s *Server) authorize(ctx context.Context, in AuthorizeInput) (AuthorizeOutput, *toolError) {
	var out AuthorizeOutput
	switch {
	case in.ClientID == "":
		return out, &toolError{Code: errInvalidRequest, Description: "client_id is required"}
	case in.RedirectURI == "":
		return out, &toolError{Code: errInvalidRequest, Description: "redirect_uri is required"}
	}
	meta, fail := s.provider.metadata(ctx)
	if fail != nil {
		return out, fail
	}
	if len(meta.CodeChallengeMethods) > 0 && !slices.Contains(meta.CodeChallengeMethods, "S256") {
		return out, &toolError{Code: errInvalidRequest, Description: "the authorization server does not support PKCE with S256"}
	}
	out.CodeVerifier = oauth2.GenerateVerifier()
	out.CodeChallenge, out.CodeChallengeMethod = oauth2.S256ChallengeFromVerifier(out.CodeVerifier), "S256"
	out.State = in.State
	if out.State == "" {
		out.State = rand.Text()
	}
	if slices.Contains(strings.Fields(in.Scope), "openid") {
		out.Nonce = rand.Text()
	}
	params := url.Values{
		"response_type":         {"code"},
		"client_id":             {in.ClientID},
		"redirect_uri":          {in.RedirectURI},
		"state":                 {out.State},
		"code_challenge":        {out.CodeChallenge},
		"code_challenge_method": {"S256"},
	}
	for name, v := range map[string]string{"scope": in.Scope, "resource": in.Resource, "prompt": in.Prompt, "nonce": out.Nonce} {
		if v != "" {
			params.Set(name, v)
		}
	}

	mustPush, public, restricted := meta.RequirePushedAuthorizationRequests, false, ""
	if s.bundled != nil {
		// The bundled server says now what the browser would otherwise
		// be shown as an error page, and whether this client must push.
		check, e := s.bundled.CheckAuthorizationRequest(ctx, params)
		if e != nil {
			return AuthorizeOutput{}, &toolError{Code: e.Code, Description: e.Description}
		}
		mustPush, public, restricted = check.MustPush, check.Public, check.AuthMethod
	}
	push := mustPush || in.ClientSecret != ""
	if push && meta.PushedAuthorizationRequestEndpoint == "" {
		if mustPush {
			return AuthorizeOutput{}, &toolError{Code: errInvalidRequest, Description: "the server requires pushed authorization requests but names no pushed_authorization_request_endpoint"}
		}
		push = false // nothing to push to: the secret is for the token endpoint
	}
	if push && s.bundled != nil && !public && in.ClientSecret == "" {
		return AuthorizeOutput{}, &toolError{Code: errInvalidRequest, Description: "this client must push its authorization requests (PAR), which needs its authentication: give client_secret"}
	}

	out.Issuer, out.ClientID, out.RedirectURI = s.issuer, in.ClientID, in.RedirectURI
	target, err := url.Parse(meta.AuthorizationEndpoint)
	if err != nil {
		return AuthorizeOutput{}, &toolError{Code: errUnavailable, Description: "the authorization endpoint is not a valid URL"}
	}
	query := target.Query()
	if push {
		auth := &clientAuth{id: in.ClientID, secret: in.ClientSecret, method: chooseAuthMethod(in.AuthMethod, restricted, meta.TokenEndpointAuthMethods)}
		doc, fail := s.provider.postForm(ctx, meta.PushedAuthorizationRequestEndpoint, params, auth)
		if fail != nil {
			return AuthorizeOutput{}, fail
		}
		requestURI, _ := doc["request_uri"].(string)
		if requestURI == "" {
			return AuthorizeOutput{}, &toolError{Code: errUnavailable, Description: "the pushed authorization request was answered without a request_uri"}
		}
		out.Pushed, out.RequestURI = true, requestURI
		if n, ok := doc["expires_in"].(float64); ok {
			out.ExpiresIn = int64(n)
		}
		// RFC 9126 §4: client_id and request_uri, nothing else.
		query.Set("client_id", in.ClientID)
		query.Set("request_uri", requestURI)
	} else {
		for name, v := range params {
			query[name] = v
		}
	}
	target.RawQuery = query.Encode()
	out.AuthorizationURL = target.String()
	return out, nil
}
