#!/usr/bin/env bash
# Builds ./caddy with the authgate plugin from this working tree, then runs
# it with the arguments given, if any:
#   ./xcaddy.sh run --config Caddyfile.example
# xcaddy is pinned as a Go tool of this module, so nothing needs installing.
set -euo pipefail
cd "$(dirname "$0")"
CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
go tool xcaddy build "$CADDY_VERSION" \
	--with github.com/authgate/authgate@v0.0.0=. \
	--output ./caddy
if [ "$#" -gt 0 ]; then
	exec ./caddy "$@"
fi
