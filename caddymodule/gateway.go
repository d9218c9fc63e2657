package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/authgate/authgate/caddymodule/gateway"
)

func init() {
	caddy.RegisterModule(new(Gateway))
}

// Gateway is the authgate HTTP handler: it protects the routes it is
// placed in. A request with valid credentials that the policy allows goes
// on with the identity in request headers and placeholders
// ({http.auth.user.id}, {authgate.subject}, {authgate.email},
// {authgate.name}, {authgate.username}, {authgate.groups},
// {authgate.scopes}, {authgate.client_id}, {authgate.auth},
// {authgate.claims.NAME}); a browser without a session is sent to sign
// in; anything else gets 401 with an RFC 6750/9728 challenge, or 403.
type Gateway struct {
	GatewayConfig
}

// CaddyModule returns the Caddy module information.
func (*Gateway) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.authgate", New: func() caddy.Module { return new(Gateway) }}
}

// Provision builds the gateway.
func (h *Gateway) Provision(ctx caddy.Context) error {
	if err := h.provision(ctx, true); err != nil {
		return fmt.Errorf("authgate: %w", err)
	}
	return nil
}

// Cleanup releases the gateway.
func (h *Gateway) Cleanup() error {
	h.cleanup()
	return nil
}

// ServeHTTP decides, then passes the request on or answers it.
func (h *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	gr := &gateway.Request{
		Method: r.Method, Scheme: requestScheme(r), Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		EscapedPath: r.URL.EscapedPath(), Header: r.Header, RemoteIP: clientIP(r), LocalPort: localPort(r),
	}
	if h.MCP {
		gr.Body, gr.ContentLength = r.Body, r.ContentLength
	}
	h.gw.StripHeaders(r.Header)
	d := h.gw.Decide(r.Context(), gr)
	h.countDecision(d)
	if !d.Allowed {
		writeDecision(w, r, d)
		return nil
	}
	for _, c := range d.Header.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", c)
	}
	h.gw.ApplyHeaders(r.Header, d.Identity)
	if h.StripAuthorization {
		r.Header.Del("Authorization")
	}
	// The gateway's own cookies (the session carries a refresh token) are
	// not the upstream's business.
	h.gw.StripCookies(r.Header)
	setPlaceholders(r, d.Identity)
	if !h.MCP {
		return next.ServeHTTP(w, r)
	}
	if msg := gr.MCP; msg != nil {
		// The upstream gets the message the gateway read and decided on.
		body := msg.Body
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength, r.TransferEncoding = int64(len(body)), nil
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	mw, done := h.gw.PassMCP(w, gr, d.Identity)
	err := next.ServeHTTP(mw, r)
	done(err)
	return err
}

// localPort is the port of the listener the request came in on.
func localPort(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return port
		}
	}
	return ""
}

// requestScheme is the scheme the client used: https over TLS, or what a
// trusted proxy (the server's trusted_proxies) that terminated TLS says
// in X-Forwarded-Proto.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool); trusted {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "https" {
			return "https"
		}
	}
	return "http"
}

func writeDecision(w http.ResponseWriter, r *http.Request, d gateway.Decision) {
	for k, vs := range d.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(d.Status)
	if r.Method != http.MethodHead && len(d.Body) > 0 {
		w.Write(d.Body) //nolint:errcheck // the client went away
	}
}

// setPlaceholders publishes the identity for other handlers and logs. The
// values are computed only when a placeholder is actually used.
func setPlaceholders(r *http.Request, id *gateway.Identity) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Map(func(key string) (any, bool) {
		if key == "http.auth.user.id" {
			return id.Subject, true
		}
		name, ok := strings.CutPrefix(key, "authgate.")
		if !ok {
			return nil, false
		}
		if claim, ok := strings.CutPrefix(name, "claims."); ok {
			v, found := id.Claims[claim]
			if !found {
				return "", true
			}
			return gateway.ClaimString(v)
		}
		if validField(name) {
			return id.Value(name), true
		}
		return nil, false
	})
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddy.CleanerUpper          = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
)
