// Package authgate is the Caddy plugin's import path: importing it, as
// xcaddy's `--with github.com/authgate/authgate` does, registers with
// Caddy everything package caddymodule defines: the authgate app and
// global option, the authgate_server, authgate, authgate_verify and
// authgate_mcp HTTP handlers, the storage modules and the admin API.
//
// It has no code of its own and imports only caddymodule; cmd/caddy, the
// Caddy that ./xcaddy.sh, the benchmark and the multi-instance tests
// build, imports it as xcaddy would.
package authgate
