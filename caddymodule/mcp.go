package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/authgate/authgate/mcpserver"
)

func init() {
	caddy.RegisterModule(new(MCPHandler))
	httpcaddyfile.RegisterHandlerDirective("authgate_mcp", parseMCPDirective)
	// A handler that answers, like respond: after the authgate gateway
	// (ordered before basic_auth), which protects it, and before respond,
	// reverse_proxy and file_server, which can then serve the rest of the
	// site.
	httpcaddyfile.RegisterDirectiveOrder("authgate_mcp", httpcaddyfile.Before, "respond")
}

// MCPHandler serves authgate's MCP server: the five OAuth tools
// (oauth2_authorize, oauth2_exchange_token, oauth2_validate_token,
// oauth2_revoke_token, oauth2_register_client) over the Model Context
// Protocol's Streamable HTTP transport, stateless, so that any instance
// answers any request. It answers every request that reaches it; put it
// on a path (`authgate_mcp /mcp`) and behind an `authgate` gateway that
// accepts bearer tokens for that resource.
//
// By default the tools act on the bundled authorization server of the
// authgate app, in-process, as the clients whose credentials callers
// pass them and from the caller's address (as Caddy determines it,
// trusted_proxies included). With issuer set they act on that external
// authorization server, found by discovery (RFC 8414 or OpenID Connect),
// over HTTP.
type MCPHandler struct {
	// Issuer, if set, is an external authorization server's issuer
	// identifier: the tools act on it, over HTTP, instead of on the
	// bundled server. Placeholders such as {env.ISSUER} are replaced when
	// the config loads. Default: the bundled server (the authgate app's
	// issuer), in-process.
	Issuer string `json:"issuer,omitempty"`
	// SkipLocalhostProtection turns off the MCP SDK's DNS rebinding
	// protection, which refuses (403) a request that arrived on a
	// loopback address with a Host header that is not a loopback name.
	// Needed behind a proxy on the same machine that forwards a public
	// host name (nginx, cloudflared); safe when the site's address names
	// its hosts, as Caddy then serves no other Host. Default: off.
	SkipLocalhostProtection bool `json:"skip_localhost_protection,omitempty"`

	server *mcpserver.Server
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (*MCPHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.authgate_mcp", New: func() caddy.Module { return new(MCPHandler) }}
}

// Provision sets up the MCP server on the bundled authorization server,
// or on the configured issuer. It does no network I/O: an external
// issuer's metadata is read at the first tool call.
func (h *MCPHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	cfg := mcpserver.Config{Logger: h.logger, SkipLocalhostProtection: h.SkipLocalhostProtection}
	if h.Issuer != "" {
		cfg.Issuer = caddy.NewReplacer().ReplaceAll(h.Issuer, "")
	} else {
		app, err := ctx.App("authgate")
		if err != nil {
			return fmt.Errorf("authgate_mcp needs the authgate app (the authgate global option), or an issuer: %w", err)
		}
		cfg.Bundled = app.(*App).AuthServer()
	}
	s, err := mcpserver.New(cfg)
	if err != nil {
		return fmt.Errorf("setting up the MCP server: %w", err)
	}
	h.server = s
	return nil
}

// ServeHTTP answers an MCP request, with the client's address as Caddy
// determined it.
func (h *MCPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h.server.ServeHTTP(w, r.WithContext(mcpserver.WithClientAddress(r.Context(), clientIP(r))))
	return nil
}

// mcpOptions are the options the switch in parseMCPDirective knows, for the
// "did you mean" of an unrecognized one: keep the two in step.
var mcpOptions = []string{"issuer", "skip_localhost_protection"}

// parseMCPDirective sets up the authgate_mcp handler. Syntax:
//
//	authgate_mcp [<matcher>] {
//	    issuer <url>
//	    skip_localhost_protection
//	}
func parseMCPDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(MCPHandler)
	h.Next() // the directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "issuer":
			if err := oneArg(h.Dispenser, &m.Issuer); err != nil {
				return nil, err
			}
		case "skip_localhost_protection":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			m.SkipLocalhostProtection = true
		default:
			return nil, unrecognizedOption(h.Dispenser, "authgate_mcp", h.Val(), mcpOptions)
		}
	}
	return m, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*MCPHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*MCPHandler)(nil)
)
