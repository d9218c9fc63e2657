// Package authgate is the Caddy plugin's import path: importing it, as
// xcaddy's `--with github.com/authgate/authgate` does, registers with
// Caddy everything package caddymodule defines: the authgate app and
// global option, the authgate_server, authgate, authgate_verify and
// authgate_mcp HTTP handlers, the storage modules and the admin API.
//
// It has no code of its own and imports only caddymodule; the custom
// Caddy builds of the benchmark (bench/caddy) and of the multi-instance
// tests (e2e/multiinstance/caddy) import it as xcaddy would.
package authgate
