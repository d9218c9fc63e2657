// Package authserver is the OAuth 2.0 / OpenID Connect authorization
// server: its endpoints are plain [net/http] handlers behind one
// [Server.Lookup], with client authentication, request parsing and error
// responses as shared steps and one function per grant. It follows
// RFC 6749 (the framework), RFC 7662 (introspection), RFC 7009
// (revocation), RFC 8414 (metadata), RFC 8707 (resource indicators) and
// RFC 9068 (JWT access tokens), and the practices of RFC 9700.
//
// It keeps its state through the interfaces of package store, signs
// tokens and publishes its keys through package keys, checks hashed
// secrets with package password, renders its pages with package ui, reads
// and answers bearer tokens with package bearer and decides which hosts
// are loopback with package loopback (the last two shared with the
// gateway).
// Package caddymodule builds a [Server] from Caddy configuration and
// serves it, and the gateways it wires up verify tokens, sign browsers
// in and keep sessions through the server in-process
// ([Server.VerifyAccessToken], [Server.GatewayClient],
// [Server.SubscribeRevocations]). Package mcpserver's tools reach it
// in-process too ([ServeInProcess], [Server.CheckAuthorizationRequest]).
//
// It takes a store, a key manager, a clock and a logger in a [Config],
// and knows nothing of Caddy, of configuration syntax, of any storage
// backend, or of the gateway's policy.
package authserver
