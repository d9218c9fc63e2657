package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(new(AdminAPI))
}

// AdminAPI serves authgate's operator endpoints on Caddy's admin API:
//
//	GET  /authgate/keys         lists the signing keys (no key material)
//	POST /authgate/keys/rotate  starts the next signing key now
type AdminAPI struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (*AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.authgate", New: func() caddy.Module { return new(AdminAPI) }}
}

// Provision finds the authgate app, if one is configured.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	if app, err := ctx.AppIfConfigured("authgate"); err == nil {
		a.app = app.(*App)
	}
	return nil
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/authgate/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	if a.app == nil || a.app.keys == nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("the authgate app is not configured")}
	}
	switch r.URL.Path {
	case "/authgate/keys":
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, r, http.MethodGet)
		}
	case "/authgate/keys/rotate":
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, r, http.MethodPost)
		}
		if err := a.app.keys.Rotate(r.Context()); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		a.app.logger.Info("signing key rotated through the admin API")
	default:
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no such resource: %s", r.URL.Path)}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(a.app.keys.Info())
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) error {
	w.Header().Set("Allow", allow)
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
}

// Interface guards
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
)
