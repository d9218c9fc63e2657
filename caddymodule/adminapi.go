package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver"
)

func init() {
	caddy.RegisterModule(new(AdminAPI))
}

// AdminAPI serves authgate's operator endpoints on Caddy's admin API:
//
//	GET  /authgate/status               the issuer, the store (its backend
//	                                    and file, or database host and
//	                                    name; never a DSN or password),
//	                                    the signing keys (age, which
//	                                    signs) and counts of clients,
//	                                    users, identity providers and
//	                                    gateways
//	POST /authgate/tokens/revoke        revokes by exactly one of
//	                                    {"client"}, {"subject"} or
//	                                    {"jti"} (an access token's),
//	                                    announcing it on the revocation
//	                                    feed; {"revoked": n}, 404 for an
//	                                    unknown jti
//	GET  /authgate/clients              lists the configured and registered
//	                                    clients (never a secret, its hash or
//	                                    a registration access token)
//	GET  /authgate/clients/{id}         shows one client; 404 if unknown
//	GET  /authgate/sessions             lists the live sign-in sessions
//	                                    (?subject=S for one user's): their
//	                                    IDs (handles, not cookies), subject,
//	                                    username, times and amr
//	POST /authgate/sessions/revoke      ends {"session": id} or every
//	                                    session of {"subject": sub}, with
//	                                    the gateway sessions signed in
//	                                    through them; {"ended": n}, 404 for
//	                                    an unknown session
//	GET  /authgate/health               200 {"status":"ok","store":"ok",...}
//	                                    when the store answers, else 503
//	                                    {"status":"unavailable",...}
//	GET  /authgate/keys                 lists the signing keys (no key material)
//	POST /authgate/keys/rotate          starts the next signing key now
//	POST /authgate/registration-tokens  issues a single-use initial access
//	                                    token for client registration
//	                                    (?ttl=1h; default 24h)
//	DELETE /authgate/gateway-sessions/{id}
//	                                    ends a gateway sign-in session on
//	                                    every instance (its ID is in the
//	                                    "gateway session started" log)
//	GET    /authgate/users              lists the users: those from the
//	                                    configuration (read_only) and those
//	                                    in the store, local or federated
//	POST   /authgate/users              adds a local user to the store:
//	                                    {"username", "password", "email",
//	                                    "name", "groups"}; 201 and the user
//	GET    /authgate/users/{username}   shows one user
//	PATCH  /authgate/users/{username}   changes a stored user: any of
//	                                    {"password", "disabled", "email",
//	                                    "name", "groups"}; 200 and the user
//	DELETE /authgate/users/{username}   deletes a stored user; 204
//
// The username in a path is percent-encoded (a space as %20, a slash as
// %2F). A new password, disabling and deleting end everything the user
// is signed in with (sessions, gateway sessions, refresh and access
// tokens) on every instance, at once on this one and within the
// revocation feed's poll on the others. Users from the configuration are
// read-only (403); a federated user has no password here and its
// profile comes from its provider, but it can be disabled, enabled and
// deleted. Errors: 400 for a refused body, password or change (a
// federated user's password or profile), 403 for a configured user, 404
// for an unknown user, 405 for another method, 409 for a taken username. The users'
// answers are Cache-Control: no-store and never hold a password or its
// hash.
type AdminAPI struct {
	app *App
	// direct marks the handler a `caddy authgate --config` command runs
	// in its own process (see directRequest), for the log.
	direct bool
}

// via is the log field that says how an operator's change came.
func (a *AdminAPI) via() zap.Field {
	if a.direct {
		return zap.String("via", "caddy authgate --config")
	}
	return zap.String("via", "admin API")
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

// serve answers an admin request; each action (a request that changes
// something) is an admin event in the audit log, done or refused.
func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	if a.app == nil || a.app.keys == nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("the authgate app is not configured")}
	}
	action := adminAction(r)
	if action == "" {
		return a.route(w, r, new(authserver.Event))
	}
	e := authserver.Event{Name: authserver.EventAdmin, Method: action, RemoteIP: adminRemoteIP(r)}
	aw := &auditedWriter{ResponseWriter: w, audit: func(err error) {
		e.Outcome = authserver.OutcomeSuccess
		if err != nil {
			e.Outcome, e.Error = authserver.OutcomeFailure, adminErrorCode(err)
		}
		a.app.onEvent(e)
	}}
	err := a.route(aw, r, &e)
	aw.done(err)
	return err
}

// route answers an admin request, filling in e what the action touched.
func (a *AdminAPI) route(w http.ResponseWriter, r *http.Request, e *authserver.Event) error {
	if r.URL.Path == healthPath {
		return a.serveHealth(w, r)
	}
	if isUsersPath(r.URL.Path) {
		return a.serveUsers(w, r, e)
	}
	if isClientsPath(r.URL.Path) {
		return a.serveClients(w, r)
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/authgate/gateway-sessions/"); ok {
		return a.endGatewaySession(w, r, id)
	}
	switch r.URL.Path {
	case "/authgate/status":
		return a.status(w, r)
	case "/authgate/tokens/revoke":
		return a.revokeTokens(w, r, e)
	case sessionsPath:
		return a.listSessions(w, r)
	case sessionsRevokePath:
		return a.revokeSessions(w, r)
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
	case "/authgate/registration-tokens":
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, r, http.MethodPost)
		}
		ttl := 24 * time.Hour
		if v := r.URL.Query().Get("ttl"); v != "" {
			d, err := caddy.ParseDuration(v)
			if err != nil || d <= 0 || d > 365*24*time.Hour {
				return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("ttl %q: want a duration such as 1h", v)}
			}
			ttl = d
		}
		token, err := a.app.server.IssueInitialAccessToken(r.Context(), ttl)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		a.app.logger.Info("initial access token issued by the operator", a.via(), zap.Duration("ttl", ttl))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		return json.NewEncoder(w).Encode(map[string]any{"initial_access_token": token, "expires_in": int64(ttl.Seconds())})
	default:
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no such resource: %s", r.URL.Path)}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(a.app.keys.Info())
}

// endGatewaySession ends one gateway session: the browser holding it
// must sign in again, on every instance within the revocation feed's
// delay.
func (a *AdminAPI) endGatewaySession(w http.ResponseWriter, r *http.Request, id string) error {
	if r.Method != http.MethodDelete {
		return methodNotAllowed(w, r, http.MethodDelete)
	}
	active, err := a.app.server.GatewaySessionActive(r.Context(), id)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	if id == "" || !active {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no active gateway session has that ID")}
	}
	if err := a.app.server.EndGatewaySession(r.Context(), id); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	a.app.logger.Info("gateway session ended by the operator", a.via(), zap.String("session", id))
	w.WriteHeader(http.StatusNoContent)
	return nil
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
