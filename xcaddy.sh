#!/usr/bin/env bash
# Builds ./caddy with the authgate plugin from this working tree, then runs
# it with the arguments given, if any:
#   ./xcaddy.sh run --config Caddyfile.example
# It builds cmd/caddy, the program xcaddy would generate (Caddy, its
# standard modules and authgate), with go build: the Caddy version is the
# one in go.mod, and Go's build cache makes a rebuild take seconds. With
# CADDY_VERSION set it builds that Caddy version with xcaddy instead
# (pinned as a Go tool of this module, so nothing needs installing), which
# starts from a fresh module every time and takes minutes.
set -euo pipefail
cd "$(dirname "$0")"
if [ -n "${CADDY_VERSION:-}" ]; then
	go tool xcaddy build "$CADDY_VERSION" \
		--with github.com/authgate/authgate@v0.0.0=. \
		--output ./caddy
else
	go build -ldflags '-w -s' -o ./caddy ./cmd/caddy
fi
if [ "$#" -gt 0 ]; then
	exec ./caddy "$@"
fi
