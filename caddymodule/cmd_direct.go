package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// The `caddy authgate` commands' --config mode: without a running Caddy,
// the command provisions the authgate app of the configuration in its
// own process (which opens the store, and loads the signing keys, as a
// start would, but serves nothing and runs nothing in the background),
// runs the admin API's handler for its request there, and closes the
// store. One code path per action: the same handler answers the admin
// endpoint.

// directRequest answers the admin API request method uri (with body, if
// not nil) in this process, on the store of the authgate app that
// configFile (adapted by adapter) configures.
func directRequest(ctx context.Context, configFile, adapter, method, uri string, body []byte) ([]byte, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	app, done, err := provisionDirect(ctx, configFile, adapter)
	if err != nil {
		return nil, err
	}
	defer done()
	req, err := http.NewRequestWithContext(ctx, method, uri, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	if err := (&AdminAPI{app: app, direct: true}).serve(w, req); err != nil {
		var apiErr caddy.APIError
		if errors.As(err, &apiErr) && apiErr.Err != nil {
			status := apiErr.HTTPStatus
			return nil, fmt.Errorf("%s (HTTP %d %s)", apiErr.Err.Error(), status, http.StatusText(status))
		}
		return nil, err
	}
	if w.status >= http.StatusBadRequest {
		return nil, fmt.Errorf("%s (HTTP %d %s)", bytes.TrimSpace(w.body.Bytes()), w.status, http.StatusText(w.status))
	}
	return w.body.Bytes(), nil
}

// provisionDirect provisions the authgate app of configFile. done
// releases it: it closes the store, and with it a SQLite store's lock.
// A SQLite store that a running Caddy holds is refused with a message
// that names the admin endpoint instead.
func provisionDirect(parent context.Context, configFile, adapter string) (app *App, done func(), err error) {
	cfgJSON, _, _, err := caddycmd.LoadConfig(configFile, adapter)
	if err != nil {
		return nil, nil, fmt.Errorf("loading %s: %w", configFile, err)
	}
	var cfg struct {
		Admin *caddy.AdminConfig         `json:"admin"`
		Apps  map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", configFile, err)
	}
	raw, ok := cfg.Apps["authgate"]
	if !ok {
		return nil, nil, fmt.Errorf("%s configures no authgate app (the authgate global option)", configFile)
	}
	app = new(App)
	if err := caddy.StrictUnmarshalJSON(raw, app); err != nil {
		return nil, nil, fmt.Errorf("reading the authgate app of %s: %w", configFile, err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: parent})
	if err := app.Provision(ctx); err != nil {
		cancel()
		var inUse *storeInUseError
		if errors.As(err, &inUse) {
			hint := "(with --address if its admin endpoint is not " + caddy.DefaultAdminListen + ")"
			if cfg.Admin != nil && cfg.Admin.Listen != "" {
				hint = "with --address " + cfg.Admin.Listen
			}
			return nil, nil, fmt.Errorf("the authgate store %s is in use by a running Caddy%s: "+
				"use its admin endpoint instead: run the command without --config, %s", inUse.path, inUse.holder, hint)
		}
		return nil, nil, err
	}
	return app, cancel, nil
}

// bufferedResponse is an http.ResponseWriter that keeps the answer.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
