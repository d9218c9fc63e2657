package authgate

import (
	_ "github.com/authgate/authgate/caddymodule" // registers the Caddy modules
)
