package authserver

import (
	"net/http"
	"strings"
)

// CORS (the Fetch standard's cross-origin resource sharing) lets
// browser-based clients, such as single-page applications and browser
// MCP clients, call the endpoints that are not cookie-authenticated: a
// client authenticates with its own credentials or a bearer token, never
// with the browser's cookies, so any origin may read the answers. The
// sign-in, consent, logout and device pages rely on cookies and get no
// CORS headers, nor does introspection, which is for resource servers.

// corsRoutes are the endpoint paths (relative to the issuer) that answer
// cross-origin requests; the client configuration endpoints
// (/register/{id}) do too.
var corsRoutes = map[string]bool{
	pathToken:               true,
	pathRevoke:              true,
	pathRegister:            true,
	pathPAR:                 true,
	pathDeviceCode:          true,
	pathDeviceAuthorization: true,
	pathUserInfo:            true,
	pathJWKS:                true,
	pathOIDCConfig:          true,
	pathASMetadata:          true,
}

// corsAllowHeaders are the request headers a browser client may send:
// client and bearer authentication, form and JSON bodies, DPoP proofs.
const corsAllowHeaders = "Authorization, Content-Type, DPoP"

// corsExposeHeaders are the response headers a browser client may read
// besides the safelisted ones: the authentication challenge and how long
// to wait after too many attempts.
const corsExposeHeaders = "WWW-Authenticate, Retry-After"

// corsMaxAge is how long (seconds) a browser may cache a preflight
// answer; browsers cap it lower themselves.
const corsMaxAge = "86400"

// withCORS serves next with CORS headers on every answer and answers
// preflight (OPTIONS) requests itself, allowing methods. It never allows
// credentials: the endpoints do not read cookies.
func withCORS(methods []string, next http.HandlerFunc) http.HandlerFunc {
	allow := strings.Join(methods, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method != http.MethodOptions {
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			next(w, r)
			return
		}
		h.Set("Allow", allow+", OPTIONS")
		h.Set("Access-Control-Allow-Methods", allow)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	}
}
