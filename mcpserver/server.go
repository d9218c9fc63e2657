package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver"
)

// DefaultMaxBodyBytes is the default bound on an MCP request's body. Tool
// arguments are small; the largest, a client's registration metadata,
// fits the authorization server's own 64 KiB limit.
const DefaultMaxBodyBytes = 64 << 10

// ProtocolVersions returns the MCP protocol versions the server speaks,
// newest first: the newest the SDK supports, 2025-11-25 and 2025-06-18
// (the first with structured tool output). A client asking for an older
// one is answered with 2025-11-25 at initialization.
func ProtocolVersions() []string { return []string{"2026-07-28", "2025-11-25", "2025-06-18"} }

// Config configures a [Server].
type Config struct {
	// Bundled, if set, is the authorization server the tools act on, in
	// this process: its endpoints are reached through its http.Handler,
	// with no network hop, and the caller's address as the request's
	// remote address (see [WithClientAddress]), so that per-address
	// limits count per caller. Such requests never carry the in-process
	// mark of the gateway's own transport: the tools can never act as the
	// gateway's client. Issuer is then the bundled server's.
	Bundled *authserver.Server
	// Issuer is the issuer identifier of an external authorization
	// server (RFC 8414 §2), whose metadata is discovered at first use
	// (RFC 8414, then OpenID Connect Discovery) and must name this issuer
	// exactly. Ignored when Bundled is set.
	Issuer string
	// HTTPClient reaches an external Issuer. Default: a client with a 30
	// second timeout that follows no redirects.
	HTTPClient *http.Client
	// MaxBodyBytes bounds an MCP request's body; larger requests get 413.
	// Default [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// SkipLocalhostProtection turns off the SDK's DNS rebinding
	// protection, which refuses (403) a request that arrived on a
	// loopback address with a Host that is not a loopback name. Safe, and
	// needed, when a proxy on the same machine (nginx, cloudflared, a
	// load balancer's agent) forwards requests for a public host name to
	// a server that routes by host name, as a Caddy site with a host
	// address does.
	SkipLocalhostProtection bool
	// Logger receives one debug line per tool call (tool, outcome,
	// duration; never an argument) and the SDK's warnings. Default: none.
	Logger *zap.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Server is the MCP server: an http.Handler for the Streamable HTTP
// transport, stateless.
type Server struct {
	issuer   string
	bundled  *authserver.Server
	provider *provider
	logger   *zap.Logger
	now      func() time.Time
	handler  http.Handler
}

// New returns the MCP server for cfg. It does no network I/O: the
// authorization server's metadata is read at the first tool call.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Server{bundled: cfg.Bundled, logger: cfg.Logger, now: cfg.Now}
	client := cfg.HTTPClient
	if cfg.Bundled != nil {
		s.issuer = cfg.Bundled.Issuer()
		origin, err := originOf(s.issuer)
		if err != nil {
			return nil, err
		}
		client = &http.Client{Transport: inProcess{h: cfg.Bundled, origin: origin}, Timeout: 30 * time.Second, CheckRedirect: noRedirects}
	} else {
		s.issuer = cfg.Issuer
		if _, err := originOf(s.issuer); err != nil {
			return nil, err
		}
		if client == nil {
			client = &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirects}
		}
	}
	s.provider = &provider{issuer: s.issuer, client: client, now: cfg.Now}

	server := mcp.NewServer(&mcp.Implementation{Name: "authgate", Title: "authgate OAuth 2.0 tools", Version: version()}, &mcp.ServerOptions{
		Instructions:              instructions(s.issuer),
		Logger:                    slog.New(zapHandler{cfg.Logger}),
		Capabilities:              &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
		SupportedProtocolVersions: ProtocolVersions(),
	})
	if err := s.addTools(server); err != nil {
		return nil, err
	}
	s.handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{
		Stateless:                  true,
		JSONResponse:               true,
		DisableLocalhostProtection: cfg.SkipLocalhostProtection,
		Logger:                     slog.New(zapHandler{cfg.Logger}),
		MaxRequestBodyBytes:        cfg.MaxBodyBytes,
	})
	return s, nil
}

// Issuer returns the issuer identifier of the authorization server the
// tools act on.
func (s *Server) Issuer() string { return s.issuer }

// ServeHTTP serves the Streamable HTTP transport: POST with JSON-RPC;
// other methods get 405, as a stateless server has no streams to open or
// sessions to end. The caller's address is the one [WithClientAddress]
// put in the request's context, or else the connection's.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // a sentinel value, never wrapped
				panic(v)
			}
			s.logger.Error("MCP request failed", zap.String("panic", fmt.Sprint(v)), zap.ByteString("stack", debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if clientAddress(r.Context()) == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		r = r.WithContext(WithClientAddress(r.Context(), host))
	}
	ew := &errorWriter{ResponseWriter: w}
	s.handler.ServeHTTP(ew, r)
	ew.finish()
}

// errorWriter turns the SDK's plain-text refusals (a body that is not
// JSON-RPC, an unknown method, a batch where batches are not allowed, a
// wrong method or media type) into JSON-RPC error responses with no id,
// as the Streamable HTTP transport allows, keeping their HTTP status:
// a client reads the same kind of error whatever it did wrong.
type errorWriter struct {
	http.ResponseWriter
	status int    // set once a plain-text error is held back
	text   []byte // its message
}

func (w *errorWriter) WriteHeader(status int) {
	if status >= 400 && w.status == 0 && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.status = status
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *errorWriter) Write(b []byte) (int, error) {
	if w.status != 0 {
		if len(w.text) < 1024 {
			w.text = append(w.text, b...)
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (to flush an
// event stream).
func (w *errorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes on, for event streams.
func (w *errorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && w.status == 0 {
		f.Flush()
	}
}

// finish writes the held-back error as JSON-RPC.
func (w *errorWriter) finish() {
	if w.status == 0 {
		return
	}
	msg := strings.TrimSpace(string(w.text))
	code := -32600 // Invalid Request
	switch {
	case strings.HasPrefix(msg, "malformed payload: unmarshaling"), strings.HasPrefix(msg, "POST requires a non-empty body"):
		code = -32700 // Parse error
	case strings.Contains(msg, "not handled"):
		code = -32601 // Method not found
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": code, "message": msg}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.ResponseWriter.WriteHeader(w.status)
	w.ResponseWriter.Write(body) //nolint:errcheck // the client went away
}

// clientAddressKey carries the caller's address in a request's context.
type clientAddressKey struct{}

// WithClientAddress returns a copy of ctx that names ip as the MCP
// caller's address: the address the bundled authorization server sees
// for the tools' requests, and so counts in its per-address limits
// (failed client authentication, registrations). A host that knows the
// client's address better than the connection does (trusted proxies)
// sets it before calling [Server.ServeHTTP].
func WithClientAddress(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientAddressKey{}, ip)
}

func clientAddress(ctx context.Context) string {
	ip, _ := ctx.Value(clientAddressKey{}).(string)
	return ip
}

// originOf checks an issuer identifier and returns its origin.
func originOf(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	switch {
	case issuer == "":
		return "", errors.New("mcpserver: no issuer")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "", fmt.Errorf("mcpserver: the issuer %q must be an absolute http(s) URL without query, fragment or user", issuer)
	}
	return u.Scheme + "://" + u.Host, nil
}

// noRedirects keeps client credentials and tokens from following a
// redirect to another place.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// version is this build's authgate module version.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == "github.com/authgate/authgate" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/authgate/authgate" {
				return d.Version
			}
		}
	}
	return "devel"
}

func instructions(issuer string) string {
	return strings.TrimSpace(`
OAuth 2.0 and OpenID Connect tools for the authorization server ` + issuer + `.
To get tokens for a user: oauth2_register_client once if you have no client yet
(keep its client_id, client_secret and registration_access_token); oauth2_authorize,
then have the user open authorization_url in a browser and sign in; the browser is
sent to redirect_uri with code, state and iss: check that state and iss match, then
oauth2_exchange_token with the code and the code_verifier that oauth2_authorize
returned. oauth2_validate_token says whether a token is active (RFC 7662
introspection needs the client's credentials) and what its JWT says;
oauth2_revoke_token ends a token. Tokens and secrets are credentials: never show
them to anyone who should not hold them.`)
}

// zapHandler passes the SDK's warnings and errors to a zap logger. The
// SDK's messages carry no arguments of tool calls; its info lines (one per
// stateless request) are dropped.
type zapHandler struct{ l *zap.Logger }

func (h zapHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h zapHandler) Handle(_ context.Context, r slog.Record) error {
	fields := make([]zap.Field, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, zap.String(a.Key, a.Value.String()))
		return true
	})
	// Its warnings are about what clients sent (an unknown tool, bad
	// parameters): not the operator's concern but when debugging.
	if r.Level >= slog.LevelError {
		h.l.Error("MCP SDK: "+r.Message, fields...)
	} else {
		h.l.Debug("MCP SDK: "+r.Message, fields...)
	}
	return nil
}

func (h zapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := make([]zap.Field, 0, len(attrs))
	for _, a := range attrs {
		fields = append(fields, zap.String(a.Key, a.Value.String()))
	}
	return zapHandler{h.l.With(fields...)}
}

func (h zapHandler) WithGroup(name string) slog.Handler { return zapHandler{h.l.Named(name)} }
