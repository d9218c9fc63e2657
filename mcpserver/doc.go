// Package mcpserver is authgate's MCP server: five tools that give an AI
// assistant OAuth 2.0, served over the Model Context Protocol's Streamable
// HTTP transport with the official Go SDK
// (github.com/modelcontextprotocol/go-sdk), stateless, so that any
// instance answers any request.
//
// The tools are oauth2_authorize (an authorization URL with PKCE, state
// and nonce, pushed to the PAR endpoint when the client must, RFC 7636 and
// RFC 9126), oauth2_exchange_token (the authorization_code and
// refresh_token grants, RFC 6749 §4.1.3 and §6), oauth2_validate_token
// (introspection, RFC 7662, and local verification of a JWT against the
// issuer's keys), oauth2_revoke_token (RFC 7009) and
// oauth2_register_client (RFC 7591).
//
// The tools are an OAuth client acting with what the caller gives them:
// a client's id and, for a confidential client, its secret. They never act
// as any other client. They act on the bundled authorization server in
// process (no network hop, and the caller's address reaches its per-address
// limits), or on any RFC 8414 / OpenID Connect provider found by
// discovery. An OAuth error is a tool result with isError set and the
// error and error_description in its structured content; malformed
// JSON-RPC is the SDK's JSON-RPC error.
//
// It imports package authserver only to reach the bundled server
// in-process: [authserver.ServeInProcess] is its HTTP transport, and it
// asks questions such as [authserver.Server.CheckAuthorizationRequest]
// directly. Package caddymodule serves it as the authgate_mcp handler.
// It knows nothing of Caddy, and leaves protecting the MCP endpoint to
// the gateway in front of it.
package mcpserver
