package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/keys"
)

// The admin API's status and operator revocations: GET /authgate/status
// and POST /authgate/tokens/revoke (see AdminAPI).

// statusReport is the answer of GET /authgate/status. It never holds a
// secret: the store is named by its path, or its database's host and
// name, never by its DSN.
type statusReport struct {
	Issuer            string       `json:"issuer"`
	Store             storeStatus  `json:"store"`
	SigningAlgorithm  string       `json:"signing_algorithm"`
	Keys              []keyStatus  `json:"keys"`
	Clients           clientCounts `json:"clients"`
	Users             userCounts   `json:"users"`
	IdentityProviders int          `json:"identity_providers"`
	Gateways          int          `json:"gateways"`
	Now               time.Time    `json:"now"`
}

// storeStatus names the store without its credentials.
type storeStatus struct {
	Backend  string `json:"backend"`
	Path     string `json:"path,omitempty"`
	Host     string `json:"host,omitempty"`
	Database string `json:"database,omitempty"`
}

// keyStatus is one signing key, without key material.
type keyStatus struct {
	keys.KeyInfo
	// AgeSeconds is how long ago the key started signing (negative for a
	// key that has yet to).
	AgeSeconds int64 `json:"age_seconds"`
	// Signing is true for the key that signs now.
	Signing bool `json:"signing"`
}

type clientCounts struct {
	Configured int `json:"configured"`
	// Registered counts the clients that registered themselves.
	Registered int `json:"registered"`
}

type userCounts struct {
	Configured int `json:"configured"`
	// Stored counts the users in the store, local and federated.
	Stored int `json:"stored"`
}

// status answers GET /authgate/status.
func (a *AdminAPI) status(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, http.MethodGet)
	}
	app := a.app
	now := time.Now()
	rep := statusReport{
		Issuer:            app.server.Issuer(),
		Store:             describeStorage(app.storage),
		SigningAlgorithm:  app.keys.Algorithm(),
		Keys:              keyStatuses(app.keys.Info(), now),
		Clients:           clientCounts{Configured: len(app.Clients)},
		IdentityProviders: len(app.IdentityProvidersRaw),
		Now:               now.UTC(),
	}
	app.gateways.mu.Lock()
	rep.Gateways = len(app.gateways.list)
	app.gateways.mu.Unlock()
	registered, err := app.store.ListClients(r.Context())
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	rep.Clients.Registered = len(registered)
	users, err := app.server.ListUsers(r.Context())
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	for _, u := range users {
		if u.Source == "config" {
			rep.Users.Configured++
		} else {
			rep.Users.Stored++
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(rep)
}

// keyStatuses adds to each key its age and whether it signs at now: the
// key that signs is the newest whose signing window holds now, as the
// key manager picks it.
func keyStatuses(infos []keys.KeyInfo, now time.Time) []keyStatus {
	out := make([]keyStatus, len(infos))
	best := -1
	for i, k := range infos {
		out[i] = keyStatus{KeyInfo: k, AgeSeconds: int64(now.Sub(k.SignFrom) / time.Second)}
		if !now.Before(k.SignFrom) && now.Before(k.SignUntil) && (best < 0 || !k.SignFrom.Before(infos[best].SignFrom)) {
			best = i
		}
	}
	if best >= 0 {
		out[best].Signing = true
	}
	return out
}

// describeStorage names the store backend and where its data is, never
// with a password: SQLite by its file, PostgreSQL by its host and
// database name.
func describeStorage(b StorageBackend) storeStatus {
	switch s := b.(type) {
	case *SQLiteStorage:
		// key is "sqlite:" and the absolute path the store was opened at.
		path, _ := strings.CutPrefix(s.key, "sqlite:")
		return storeStatus{Backend: "sqlite", Path: path}
	case *PostgresStorage:
		st := storeStatus{Backend: "postgres"}
		dsn := caddy.NewReplacer().ReplaceAll(s.DSN, "")
		if cfg, err := pgconn.ParseConfig(dsn); err == nil {
			st.Host, st.Database = cfg.Host, cfg.Database
			if cfg.Port != 0 && cfg.Port != 5432 && !strings.HasPrefix(cfg.Host, "/") {
				st.Host = fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
			}
		} else if u, err := url.Parse(dsn); err == nil && u.Host != "" {
			st.Host, st.Database = u.Host, strings.TrimPrefix(u.Path, "/")
		}
		return st
	case nil:
		return storeStatus{Backend: "none"}
	default:
		if m, ok := b.(caddy.Module); ok {
			return storeStatus{Backend: string(m.CaddyModule().ID.Name())}
		}
		return storeStatus{Backend: fmt.Sprintf("%T", b)}
	}
}

// revokeRequest is the body of POST /authgate/tokens/revoke: exactly one
// member.
type revokeRequest struct {
	Client  string `json:"client"`
	Subject string `json:"subject"`
	JTI     string `json:"jti"`
}

// revokeTokens answers POST /authgate/tokens/revoke with {"revoked": n}.
func (a *AdminAPI) revokeTokens(w http.ResponseWriter, r *http.Request, e *authserver.Event) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, r, http.MethodPost)
	}
	var req revokeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxUserBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("reading the request: %w", err)}
	}
	var by authserver.RevokeBy
	var value string
	given := 0
	for _, c := range []struct {
		by    authserver.RevokeBy
		value string
	}{{authserver.RevokeByClient, req.Client}, {authserver.RevokeBySubject, req.Subject}, {authserver.RevokeByJTI, req.JTI}} {
		if c.value != "" {
			by, value = c.by, c.value
			given++
		}
	}
	if given != 1 {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New(`give exactly one of "client", "subject" and "jti"`)}
	}
	e.Client, e.Subject, e.JTI = req.Client, req.Subject, req.JTI
	n, err := a.app.server.RevokeTokens(r.Context(), by, value)
	if errors.Is(err, authserver.ErrTokenNotFound) {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
	}
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	e.Count = int(n)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(map[string]any{"revoked": n})
}
