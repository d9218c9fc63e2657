package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/authgate/authgate"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
