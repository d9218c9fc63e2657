// Command caddy is Caddy with its standard modules and authgate, as
// xcaddy would build it, for the multi-instance tests, which run two of
// them as separate processes.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/authgate/authgate"
)

func main() {
	caddycmd.Main()
}
