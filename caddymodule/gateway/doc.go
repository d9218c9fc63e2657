// Package gateway is the logic of authgate's forward-auth middleware,
// with no Caddy import: it pulls credentials from a request (a bearer
// token, RFC 6750 §2.1, or a session cookie), verifies them through a
// [Verifier] (the bundled authorization server in-process, an external
// issuer's JWKS through go-oidc, or RFC 7662 introspection), caches
// verified tokens until they expire or are revoked, signs browsers in as
// an OpenID Connect client (golang.org/x/oauth2 and go-oidc, with PKCE,
// state and nonce), applies a [policy.Policy], and returns a [Decision]:
// allow with an [Identity], or a 401 challenge (RFC 6750, RFC 9728), a 403,
// or a redirect to sign in. It also serves the protected resource
// metadata document (RFC 9728).
//
// From this module it imports package policy, and the two leaf packages it
// shares with the authorization server: authserver/bearer (the
// Authorization header and the WWW-Authenticate challenge) and
// authserver/loopback. Package caddymodule
// builds a [Gateway] for each authgate and authgate_verify handler,
// writes its Decisions as responses, and supplies what involves the
// bundled authorization server: an in-process [Verifier], the [Login] of
// its built-in client and the [SessionStore]. It parses no configuration
// and knows neither Caddy nor package authserver itself.
package gateway
