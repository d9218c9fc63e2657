// Command caddy is Caddy with its standard modules and authgate: the
// program `xcaddy build --with github.com/authgate/authgate` generates,
// kept in this module so that a plain go build makes it and Go's build
// cache makes a rebuild take seconds. ./xcaddy.sh, the benchmark
// (bench/run.sh) and the multi-instance tests (e2e/multiinstance) build
// it.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/authgate/authgate"
)

func main() {
	caddycmd.Main()
}
