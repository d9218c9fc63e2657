package caddymodule

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/store"
)

func init() {
	caddy.RegisterModule(new(HealthHandler))
	httpcaddyfile.RegisterHandlerDirective("authgate_health", parseHealthDirective)
}

// healthTimeout bounds the store's answer to a health check.
const healthTimeout = 2 * time.Second

// healthReport is the body of a health answer.
type healthReport struct {
	// Status is "ok" or "unavailable".
	Status string `json:"status"`
	// Store is "ok", or the kind of the store's failure: "timeout",
	// "closed", "connection refused", "unavailable" (the connection was
	// lost, the server is shutting down or starting up) or "error". Never
	// the DSN nor the error's text.
	Store string `json:"store"`
	// SigningKey is "ok" when a signing key is loaded.
	SigningKey string `json:"signing_key"`
}

// health checks the store with a short query, and reports the HTTP
// status to answer with: 200 when the store answered, 503 otherwise.
func (a *App) health(ctx context.Context) (int, healthReport) {
	rep := healthReport{Status: "ok", Store: "ok", SigningKey: "missing"}
	if a.keys != nil && len(a.keys.Info()) > 0 {
		rep.SigningKey = "ok"
	}
	if a.store == nil {
		rep.Status, rep.Store = "unavailable", "not open"
		return http.StatusServiceUnavailable, rep
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		rep.Status, rep.Store = "unavailable", storeErrorKind(ctx, err)
		if a.logger != nil {
			a.logger.Warn("health check: the store does not answer", zap.String("store", rep.Store), zap.Error(redactedErr(err)))
		}
		return http.StatusServiceUnavailable, rep
	}
	if rep.SigningKey != "ok" {
		rep.Status = "unavailable"
		return http.StatusServiceUnavailable, rep
	}
	return http.StatusOK, rep
}

// storeErrorKind names the kind of a store failure, without its text
// (which could name the database's host or user).
func storeErrorKind(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return "timeout"
	case errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "database is closed"):
		return "closed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, store.ErrUnavailable):
		return "unavailable"
	default:
		return "error"
	}
}

// redactedErr is err for the log, with anything that looks like a
// password parameter cut out.
func redactedErr(err error) error {
	msg := err.Error()
	for _, key := range []string{"password=", "password:"} {
		if i := strings.Index(strings.ToLower(msg), key); i >= 0 {
			j := strings.IndexAny(msg[i:], " \t`'\"")
			if j < 0 {
				j = len(msg) - i
			}
			msg = msg[:i] + key + "xxxxx" + msg[i+j:]
		}
	}
	return errors.New(msg)
}

// writeHealth answers a health check: the report as JSON, never cached.
func writeHealth(w http.ResponseWriter, r *http.Request, status int, rep healthReport) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	return json.NewEncoder(w).Encode(rep)
}

// HealthHandler answers health checks, for load balancers: 200 and
// {"status":"ok","store":"ok",...} when the authgate app's store answers
// a query within two seconds, 503 and {"status":"unavailable",...}
// otherwise; never cached. It answers every request it gets, so give it
// a matcher: `authgate_health /healthz`. It needs the authgate app.
type HealthHandler struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (*HealthHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.authgate_health", New: func() caddy.Module { return new(HealthHandler) }}
}

// Provision fetches the authgate app.
func (h *HealthHandler) Provision(ctx caddy.Context) error {
	app, err := ctx.App("authgate")
	if err != nil {
		return fmt.Errorf("authgate_health needs the authgate app (the authgate global option): %w", err)
	}
	h.app = app.(*App)
	return nil
}

// ServeHTTP answers the health check.
func (h *HealthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return nil
	}
	status, rep := h.app.health(r.Context())
	return writeHealth(w, r, status, rep)
}

// parseHealthDirective sets up the authgate_health handler. Syntax:
//
//	authgate_health [<matcher>]
func parseHealthDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // the directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	if h.NextBlock(0) {
		return nil, h.Errf("authgate_health takes no options")
	}
	return new(HealthHandler), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*HealthHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*HealthHandler)(nil)
)
