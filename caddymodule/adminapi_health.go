package caddymodule

import "net/http"

// healthPath is the admin API's health check: the same answer as the
// authgate_health handler.
const healthPath = "/authgate/health"

// serveHealth answers GET /authgate/health: 200 and
// {"status":"ok","store":"ok",...} when the store answers a query within
// two seconds, 503 and {"status":"unavailable","store":"<kind>",...}
// otherwise.
func (a *AdminAPI) serveHealth(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, r, "GET, HEAD")
	}
	status, rep := a.app.health(r.Context())
	return writeHealth(w, r, status, rep)
}
