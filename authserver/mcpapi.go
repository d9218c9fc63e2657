package authserver

import (
	"context"
	"net/url"
)

// This file is what the MCP server (package mcpserver) asks the bundled
// server in-process before it builds an authorization URL: whether the
// request is one /authorize would accept, and how the client must send
// it. Nothing here authenticates anyone or stores anything; the tools
// still send every request to the endpoints, as any client would.

// AuthorizationRequestCheck is what [Server.CheckAuthorizationRequest]
// learned about a valid authorization request's client.
type AuthorizationRequestCheck struct {
	// MustPush is set when the request must reach /authorize through a
	// pushed authorization request (RFC 9126 §5): the server or the
	// client requires PAR.
	MustPush bool
	// Public is set for a client that authenticates with "none", and so
	// pushes with its client_id alone.
	Public bool
	// AuthMethod is the only authentication method the client may use
	// (client_secret_basic or client_secret_post), or empty when it may
	// use either.
	AuthMethod string
}

// CheckAuthorizationRequest checks an authorization request's parameters
// as /authorize would (RFC 6749 §4.1.1, RFC 7636, RFC 8707, OIDC Core
// §3.1.2.1), without storing anything or signing anyone in, so that a
// tool building the URL can report a request the user's browser would
// only be shown an error for. The gateway's built-in client is unknown
// here, as it is to any client outside the gateway.
func (s *Server) CheckAuthorizationRequest(ctx context.Context, params url.Values) (AuthorizationRequestCheck, *Error) {
	f := form(params)
	c, err := s.lookupClient(ctx, f.get("client_id"))
	if err != nil {
		return AuthorizationRequestCheck{}, serverError(err)
	}
	if c == nil || c.ID == GatewayClientID || c.TrustPushedRedirects {
		return AuthorizationRequestCheck{}, invalidRequest("the application is not registered here (unknown client_id)")
	}
	for name, v := range params {
		if len(v) > 1 && name != "resource" {
			return AuthorizationRequestCheck{}, invalidRequest("parameter " + name + " is repeated")
		}
	}
	// Checked as if pushed, so that a client that must push is told so
	// rather than refused; MustPush says what it must do.
	_, c, e := s.validateAuthorize(ctx, f, true)
	if e != nil {
		return AuthorizationRequestCheck{}, e.Error
	}
	return AuthorizationRequestCheck{MustPush: s.cfg.RequirePAR || c.RequirePAR, Public: c.Public, AuthMethod: c.AuthMethod}, nil
}

// ClientAuthMethod returns how client id authenticates at the token,
// introspection, revocation and PAR endpoints: "none" for a public
// client, the one method a confidential client is restricted to, or
// empty when it may use either, or is not known here.
func (s *Server) ClientAuthMethod(ctx context.Context, id string) string {
	c, err := s.lookupClient(ctx, id)
	switch {
	case err != nil || c == nil || c.ID == GatewayClientID:
		return ""
	case c.Public:
		return AuthMethodNone
	}
	return c.AuthMethod
}
