// Package authgate is the Caddy plugin's import path: importing it, as
// xcaddy's `--with github.com/authgate/authgate` does, registers the
// authgate app, the authgate_server handler, the storage modules and the
// admin API with Caddy. The code lives in package caddymodule.
package authgate

import (
	_ "github.com/authgate/authgate/caddymodule" // registers the Caddy modules
)
