package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/authgate/authgate/authserver"
)

// The admin API's users: /authgate/users and /authgate/users/{username}
// (see AdminAPI). Every answer is Cache-Control: no-store, and none
// carries a password or its hash.

const usersPath = "/authgate/users"

// maxUserBody bounds the JSON bodies of the users endpoints.
const maxUserBody = 64 << 10

// newUserRequest is the body of POST /authgate/users.
type newUserRequest struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Groups   []string `json:"groups"`
}

// userPatch is the body of PATCH /authgate/users/{username}: absent
// members stay as they are.
type userPatch struct {
	Password *string   `json:"password"`
	Disabled *bool     `json:"disabled"`
	Email    *string   `json:"email"`
	Name     *string   `json:"name"`
	Groups   *[]string `json:"groups"`
}

// isUsersPath reports whether the request is for the users endpoints.
func isUsersPath(p string) bool { return p == usersPath || strings.HasPrefix(p, usersPath+"/") }

// serveUsers serves /authgate/users and /authgate/users/{username}. The
// username is the rest of the path, percent-decoded once: it may hold
// any character a username may, a slash as %2F.
func (a *AdminAPI) serveUsers(w http.ResponseWriter, r *http.Request, e *authserver.Event) error {
	w.Header().Set("Cache-Control", "no-store")
	escaped := r.URL.EscapedPath()
	if escaped == usersPath {
		switch r.Method {
		case http.MethodGet:
			users, err := a.app.server.ListUsers(r.Context())
			if err != nil {
				return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
			}
			return writeJSON(w, http.StatusOK, users)
		case http.MethodPost:
			return a.addUser(w, r, e)
		default:
			return methodNotAllowed(w, r, "GET, POST")
		}
	}
	rest, _ := strings.CutPrefix(escaped, usersPath+"/")
	username, err := url.PathUnescape(rest)
	if err != nil || rest == "" || strings.Contains(rest, "/") {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no such resource: %s (escape a slash in a username as %%2F)", r.URL.Path)}
	}
	ctx := r.Context()
	e.Username = username
	switch r.Method {
	case http.MethodGet:
		u, err := a.app.server.GetUser(ctx, username)
		if err != nil {
			return userError(err)
		}
		return writeJSON(w, http.StatusOK, u)
	case http.MethodPatch:
		var p userPatch
		if err := decodeUserBody(w, r, &p); err != nil {
			return err
		}
		if p == (userPatch{}) {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("nothing to change: give password, disabled, email, name or groups")}
		}
		e.Method = p.action()
		u, err := a.app.server.UpdateUser(ctx, username, authserver.UserChanges{
			Password: p.Password, Disabled: p.Disabled, Email: p.Email, Name: p.Name, Groups: p.Groups,
		})
		if err != nil {
			return userError(err)
		}
		return writeJSON(w, http.StatusOK, u)
	case http.MethodDelete:
		if err := a.app.server.DeleteUser(ctx, username); err != nil {
			return userError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		return methodNotAllowed(w, r, "GET, PATCH, DELETE")
	}
}

// addUser serves POST /authgate/users: 201 with the user and its
// Location.
func (a *AdminAPI) addUser(w http.ResponseWriter, r *http.Request, e *authserver.Event) error {
	var req newUserRequest
	if err := decodeUserBody(w, r, &req); err != nil {
		return err
	}
	u, err := a.app.server.AddUser(r.Context(), authserver.NewUser{
		Username: req.Username, Password: req.Password, Email: req.Email, Name: req.Name, Groups: req.Groups,
	})
	if err != nil {
		return userError(err)
	}
	e.Username, e.Subject = u.Username, u.ID
	w.Header().Set("Location", userPath(u.Username))
	return writeJSON(w, http.StatusCreated, u)
}

// userPath is the admin API path of a user. "." and ".." are escaped
// too, or HTTP clients and muxes would read them as path steps.
func userPath(username string) string {
	seg := url.PathEscape(username)
	if seg == "." || seg == ".." {
		seg = strings.ReplaceAll(seg, ".", "%2E")
	}
	return usersPath + "/" + seg
}

// decodeUserBody reads one JSON object with only known members into v.
func decodeUserBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxUserBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("reading the JSON body: %w", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("reading the JSON body: more than one JSON value")}
	}
	return nil
}

// userError maps the errors of the users methods to status codes; the
// messages name the user and the reason, never a password.
func userError(err error) error {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, authserver.ErrUserNotFound):
		status = http.StatusNotFound
	case errors.Is(err, authserver.ErrUserExists):
		status = http.StatusConflict
	case errors.Is(err, authserver.ErrUserReadOnly):
		status = http.StatusForbidden
	case errors.Is(err, authserver.ErrWeakPassword), errors.Is(err, authserver.ErrInvalidUser), errors.Is(err, authserver.ErrUserFederated):
		status = http.StatusBadRequest
	}
	return caddy.APIError{HTTPStatus: status, Err: err}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
