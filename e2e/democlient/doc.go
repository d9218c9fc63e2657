// Command democlient is a small OpenID Connect client for trying the
// authorization server of Caddyfile.example with a real browser. It is
// built on the standard client libraries, golang.org/x/oauth2 and
// github.com/coreos/go-oidc: it signs the user in with the authorization
// code flow and PKCE, verifies the ID token, calls userinfo, refreshes the
// tokens, and signs out through the end session endpoint.
//
//	go run ./e2e/democlient      # then open http://127.0.0.1:9999/
//
// Flags set the issuer, client and address; the defaults match
// Caddyfile.example's demo-app.
//
// It imports nothing from this module and talks to the authorization
// server only over HTTP. Its test (TestReadmeWalkthrough) imports the
// plugin, runs Caddyfile.example in-process and walks through the README
// with it in a headless browser.
// It is a demonstration, not a library: nothing imports it.
package main
