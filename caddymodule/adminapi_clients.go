package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/authgate/authgate/authserver"
)

// The admin API's clients: GET /authgate/clients and GET
// /authgate/clients/{id} (see AdminAPI). No answer carries a client
// secret, its hash or a registration access token.

const clientsPath = "/authgate/clients"

// isClientsPath reports whether the request is for the clients endpoints.
func isClientsPath(p string) bool { return p == clientsPath || strings.HasPrefix(p, clientsPath+"/") }

// serveClients serves /authgate/clients and /authgate/clients/{id}; the
// ID is the rest of the path, percent-decoded once.
func (a *AdminAPI) serveClients(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		return methodNotAllowed(w, r, http.MethodGet)
	}
	escaped := r.URL.EscapedPath()
	if escaped == clientsPath {
		clients, err := a.app.server.ListClients(r.Context())
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		return writeJSON(w, http.StatusOK, clients)
	}
	rest, _ := strings.CutPrefix(escaped, clientsPath+"/")
	id, err := url.PathUnescape(rest)
	if err != nil || rest == "" || strings.Contains(rest, "/") {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no such resource: %s (escape a slash in a client ID as %%2F)", r.URL.Path)}
	}
	c, err := a.app.server.GetClient(r.Context(), id)
	if errors.Is(err, authserver.ErrClientNotFound) {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
	}
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	return writeJSON(w, http.StatusOK, c)
}

// clientPath is the admin API path of a client.
func clientPath(id string) string {
	seg := url.PathEscape(id)
	if seg == "." || seg == ".." {
		seg = strings.ReplaceAll(seg, ".", "%2E")
	}
	return clientsPath + "/" + seg
}
