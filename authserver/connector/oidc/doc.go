// Package oidc is the upstream OpenID Connect connector: people sign in to
// the authorization server with the identity provider of their company
// (Google Workspace, Microsoft Entra ID, Okta, Keycloak, or any provider
// that implements OpenID Connect Discovery). A [Connector] sends the
// browser to the provider with the authorization code flow, PKCE (S256),
// state and nonce, then at the callback redeems the code, verifies the
// ID token (issuer, audience, expiry, signature against the provider's
// JWKS, nonce), checks the issuer of the authorization response (RFC 9207)
// and answers with the [connector.Identity] the provider vouches for, or
// with a [*connector.RefusedError] when the allow-lists keep the person
// out.
//
// It implements [connector.Redirect] from package
// github.com/authgate/authgate/authserver/connector; package caddymodule
// builds it from configuration with [New], and package authserver uses it
// and turns its identities into users. It depends on neither: the OpenID
// and OAuth protocol work is done by github.com/coreos/go-oidc/v3 and
// golang.org/x/oauth2.
//
// [New] checks the configuration without touching the network, so that
// Caddy can provision offline. The provider's discovery document is
// fetched on first use, once; a failed discovery is tried again on the
// next sign-in.
//
// # Google
//
// Register an OAuth client ("Web application") in the Google Cloud
// console with the server's callback URL as an authorized redirect URI,
// and configure:
//
//	Issuer:       "https://accounts.google.com"
//	ClientID:     "1234-abc.apps.googleusercontent.com"
//	ClientSecret: "..."
//	AllowDomains: []string{"example.com"}
//
// Without AllowDomains every Google account can sign in, gmail.com ones
// included. With it, Google Workspace accounts are admitted by the hd
// (hosted domain) claim Google puts in their ID tokens, and other
// accounts by a verified email address in one of the domains. With
// exactly one domain the connector also sends Google's hd parameter, so
// that Google's account chooser offers only accounts of that domain (a
// hint: the claim is what is checked). Google sends no groups claim.
//
// # Microsoft Entra ID
//
// Register an application in the tenant with a "Web" redirect URI to the
// server's callback URL and a client secret, and configure:
//
//	Issuer:       "https://login.microsoftonline.com/<tenant ID>/v2.0"
//	ClientID:     "<application (client) ID>"
//	ClientSecret: "..."
//
// The tenant in the issuer already limits sign-in to the tenant's
// accounts. Entra sends no email_verified claim, so AllowDomains admits
// nobody by email; leave it empty and rely on the tenant. Entra's groups
// claim (once enabled in the application's token configuration) lists
// group object IDs, which is what AllowGroups must name. The multi-tenant
// "common" and "organizations" issuers do not work: their ID tokens carry
// each tenant's own issuer.
//
// # Other providers
//
// Okta ("https://<org>.okta.com" or an authorization server's issuer),
// Keycloak ("https://<host>/realms/<realm>") and others work the same
// way. Their groups claim usually has to be enabled on the provider (an
// Okta groups claim, a Keycloak group membership mapper) and sometimes
// requested with a "groups" scope; [ClaimNames] maps differently named
// claims.
package oidc
