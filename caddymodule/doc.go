// Package caddymodule is authgate's Caddy glue: the `authgate` app
// (configured by the global option of the same name), the
// `authgate_server` HTTP handler that serves the authorization server's
// endpoints on a site, the storage backends as modules in the
// authgate.storage namespace, and the admin API under /authgate/.
//
// It turns the JSON configuration into authserver values; the protocol
// itself lives in package authserver.
package caddymodule
