// Command caddy is Caddy with its standard modules and the authgate
// plugin, built with plain `go build` for the benchmark (bench/run.sh).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/authgate/authgate"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
