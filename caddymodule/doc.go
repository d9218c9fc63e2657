// Package caddymodule is authgate's Caddy glue: it registers the
// `authgate` app, four HTTP handlers, two storage backends and an admin
// API with Caddy, and turns their JSON or Caddyfile configuration into the
// values of the packages that do the work.
//
// # The app
//
// The authgate app ([App], set up by the `authgate` global option) is one
// OAuth 2.0 / OpenID Connect authorization server shared by every site of
// the configuration. When it provisions, it opens the store (a module in
// the authgate.storage namespace; SQLite at authgate/authgate.db in
// Caddy's data directory unless `storage` says otherwise), loads the
// signing keys from it (generating the first on first start), and builds
// the bundled authorization server with the clients, users and identity
// providers of the configuration. While it runs, it refreshes and rotates the signing
// keys, sweeps expired records from the store, and polls the store every
// second for the revocation feed: access tokens revoked and gateway
// sessions ended by any instance, which every gateway of this instance
// then stops accepting. Once the whole configuration is known, it gives
// each gateway its host list (its `hosts`, plus, for an authgate handler,
// the host matchers of its site), and the bundled server lets the
// gateways' built-in sign-in client redirect only to the callback paths
// of those hosts. The keys of the gateways' session cookies are kept in
// the store too, so every instance reads the others' cookies.
//
// Every handler needs the app, except authgate_mcp with an issuer of its
// own.
//
// # HTTP handlers
//
// authgate_server ([ServerHandler], http.handlers.authgate_server) serves
// the bundled server's endpoints and pages under the issuer's path on the
// site where it is placed, and passes every other request on, so it can
// share a site with anything else. It takes no options.
//
// authgate ([Gateway], http.handlers.authgate) is the gateway: it
// protects the routes it is placed in. It accepts a bearer token or a
// sign-in session cookie. Tokens are verified by the bundled server
// in-process or, with `issuer`, against an external OpenID provider's
// keys; with `introspection`, opaque tokens by RFC 7662. It then applies
// the policy of its `require`, `allow` and `deny` options. An allowed request goes on with
// the identity in request headers (X-Auth-*) and placeholders
// ({authgate.*}); a browser without a session is sent to sign in;
// anything else gets 401 or 403. With `mcp`, in front of an MCP server, it
// also reads each JSON-RPC message, so that rules and scopes can name
// tools.
//
// authgate_verify ([Verify], http.handlers.authgate_verify) makes the
// same decision for services behind another proxy: Caddy's forward_auth,
// nginx's auth_request or Traefik's ForwardAuth. It takes the options of
// authgate (except `mcp`: it never sees request bodies) plus
// `trusted_proxies`, reads the request being decided from the forwarded
// headers of those proxies, and answers every request itself: 200 with
// the identity in response headers, or 400, 401, 403 or a redirect to
// sign in.
//
// authgate_mcp ([MCPHandler], http.handlers.authgate_mcp) is the MCP
// server: five OAuth tools for AI assistants over the Model Context
// Protocol's Streamable HTTP transport, acting on the bundled server
// in-process or, with `issuer`, on an external authorization server. It
// answers every request that reaches it: put it on a path, behind an
// authgate gateway that accepts bearer tokens.
//
// authgate_health ([HealthHandler], http.handlers.authgate_health)
// answers health checks for load balancers: 200 when the app's store
// answers, 503 (never 2xx) when it does not; the admin API's
// /authgate/health answers the same. Give it a path matcher.
//
// # Handler order
//
// In a Caddyfile, authgate_health, authgate_server, authgate and
// authgate_verify go just before basic_auth, in that order: the health
// check and the server's own endpoints are never behind a gateway of the
// same site, and the gateway runs before
// forward_auth, handle, route, respond and reverse_proxy. authgate_mcp
// goes just before respond: after a gateway of the same route or site,
// and before reverse_proxy and file_server, which can serve the rest of
// the site. Inside a route block, handlers run in the order written.
//
// # Storage and admin API
//
// The store backends are authgate.storage.sqlite ([SQLiteStorage], the
// default, for one instance) and authgate.storage.postgres
// ([PostgresStorage], for several instances acting as one server),
// chosen by `storage sqlite [<path>]` or `storage postgres <dsn>` in the
// global option. An open store is kept across config reloads.
//
// # Identity providers
//
// The upstream identity providers people may sign in with are modules in
// the authgate.identity_providers namespace ([IdentityProviderModule]):
// authgate.identity_providers.oidc ([OIDCProvider]), .github
// ([GitHubProvider]) and .ldap ([LDAPProvider]), set up by
// `identity_provider <name> <type> { … }` in the global option, or other
// plugins' modules. Each replaces the placeholders of its secrets and
// builds its connector when provisioned, without contacting the
// provider; the app hands them to the bundled server, whose sign-in page
// offers them and whose <issuer>/login/<name>/callback finishes a
// provider's sign-in.
//
// admin.api.authgate ([AdminAPI]) adds /authgate/ to Caddy's admin API:
// list the signing keys, rotate them now, issue an initial access token
// for client registration, end a gateway session on every instance, and
// manage the users kept in the store (/authgate/users). The command
// `caddy authgate user add|passwd|disable|enable|delete|list` calls the
// latter on a running Caddy.
//
// # Neighbours
//
// It imports package authserver (and its keys, password, store, sqlite
// and postgres packages, and the oidc, github and ldap connectors), [gateway], policy and mcpserver, and connects
// them: it gives the gateway the bundled server as an in-process token
// verifier, sign-in client and session store. It is imported by the
// module's root package, the import path xcaddy builds. It holds no
// protocol, verification or policy logic of its own, only configuration
// syntax, defaults and wiring.
package caddymodule
