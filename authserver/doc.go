// Package authserver is the OAuth 2.0 / OpenID Connect authorization
// server: its endpoints are plain [net/http] handlers behind one
// [Server.Lookup], with client authentication, request parsing and error
// responses as shared steps and one function per grant. It follows
// RFC 6749 (the framework), RFC 7662 (introspection), RFC 7009
// (revocation), RFC 8414 (metadata), RFC 8707 (resource indicators) and
// RFC 9068 (JWT access tokens), and the practices of RFC 9700.
//
// It takes a store, a key manager, a clock and a logger, and knows
// nothing of Caddy.
package authserver
