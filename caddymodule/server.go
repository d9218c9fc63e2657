package caddymodule

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authgate/authgate/authserver"
)

func init() {
	caddy.RegisterModule(new(ServerHandler))
}

// ServerHandler serves the authorization server's endpoints (token,
// introspection, revocation, JWKS, discovery) on the site where it is
// placed. Requests for other paths go on to the next handler, so the
// handler can share a site with anything else. It needs the authgate app,
// configured with the authgate global option.
type ServerHandler struct {
	server  *authserver.Server
	metrics *metrics
}

// CaddyModule returns the Caddy module information.
func (*ServerHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.authgate_server", New: func() caddy.Module { return new(ServerHandler) }}
}

// Provision fetches the authgate app.
func (h *ServerHandler) Provision(ctx caddy.Context) error {
	app, err := ctx.App("authgate")
	if err != nil {
		return fmt.Errorf("authgate_server needs the authgate app (the authgate global option): %w", err)
	}
	h.server = app.(*App).AuthServer()
	h.metrics = app.(*App).metrics
	return nil
}

// ServeHTTP serves the endpoint the path names, or passes the request on.
func (h *ServerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if ep, ok := h.server.Lookup(r.URL.Path); ok {
		start := time.Now()
		ep.ServeHTTP(w, r)
		h.metrics.endpoint(h.server.EndpointName(r.URL.Path)).Observe(time.Since(start).Seconds())
		return nil
	}
	return next.ServeHTTP(w, r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ServerHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*ServerHandler)(nil)
)
