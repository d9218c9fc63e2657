package authserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/store"
)

// Endpoint paths, relative to the issuer's path.
const (
	pathToken      = "/token"
	pathIntrospect = "/introspect"
	pathRevoke     = "/revoke"
	pathJWKS       = "/jwks"
	pathOIDCConfig = "/.well-known/openid-configuration"
	pathASMetadata = "/.well-known/oauth-authorization-server"
)

// Config is what a Server is made from.
type Config struct {
	// Issuer is the issuer identifier: an https URL (http only for
	// loopback hosts) without query or fragment. Its path is the prefix
	// under which the endpoints are served.
	Issuer string
	// Store keeps tokens and keys.
	Store store.Store
	// Keys signs and verifies tokens.
	Keys *keys.Manager
	// Clients are the clients from configuration.
	Clients []*Client
	// AccessTokenLifetime is how long access tokens live unless a client
	// says otherwise. Default 1 hour.
	AccessTokenLifetime time.Duration
	// MaxBodyBytes bounds request bodies. Default 64 KiB.
	MaxBodyBytes int64
	// Logger receives what clients are not shown. Default: none.
	Logger *zap.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Server is the authorization server.
type Server struct {
	cfg         Config
	issuer      string
	prefix      string
	clients     map[string]*Client
	grants      map[string]grantHandler
	routes      map[string]endpoint
	logger      *zap.Logger
	now         func() time.Time
	secretCache secretCache
}

// endpoint is one route: its handler and the methods it takes.
type endpoint struct {
	methods []string
	handler http.HandlerFunc
}

// ValidateIssuer checks an issuer identifier (RFC 8414 §2): an absolute
// https URL with no query or fragment; http is allowed for loopback hosts
// so that a server can be tried on one machine.
func ValidateIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("issuer %q: %w", issuer, err)
	}
	switch {
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("issuer %q must be an absolute https URL", issuer)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return fmt.Errorf("issuer %q must use https (http is only for loopback hosts)", issuer)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(issuer, "?") || strings.Contains(issuer, "#"):
		return fmt.Errorf("issuer %q must not have a query or fragment", issuer)
	case u.User != nil:
		return fmt.Errorf("issuer %q must not contain user information", issuer)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := ValidateIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("a store and a key manager are required")
	}
	if cfg.AccessTokenLifetime == 0 {
		cfg.AccessTokenLifetime = time.Hour
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	issuer := strings.TrimSuffix(cfg.Issuer, "/")
	u, _ := url.Parse(issuer)
	s := &Server{
		cfg:     cfg,
		issuer:  issuer,
		prefix:  u.Path,
		clients: make(map[string]*Client, len(cfg.Clients)),
		logger:  cfg.Logger,
		now:     cfg.Now,
	}
	for _, c := range cfg.Clients {
		if err := validateClient(c); err != nil {
			return nil, err
		}
		if _, dup := s.clients[c.ID]; dup {
			return nil, fmt.Errorf("client %q is defined twice", c.ID)
		}
		s.clients[c.ID] = c
	}
	s.grants = map[string]grantHandler{
		GrantClientCredentials: s.clientCredentialsGrant,
	}
	post, get := []string{http.MethodPost}, []string{http.MethodGet, http.MethodHead}
	s.routes = map[string]endpoint{
		pathToken:      {post, s.handleToken},
		pathIntrospect: {post, s.handleIntrospect},
		pathRevoke:     {post, s.handleRevoke},
		pathJWKS:       {get, s.handleJWKS},
		pathOIDCConfig: {get, s.handleMetadata},
		pathASMetadata: {get, s.handleMetadata},
	}
	return s, nil
}

func validateClient(c *Client) error {
	switch {
	case c.ID == "":
		return errors.New("a client has no id")
	case c.Public && !c.Secret.IsZero():
		return fmt.Errorf("client %q: a public client cannot have a secret", c.ID)
	case !c.Public && c.Secret.IsZero():
		return fmt.Errorf("client %q: a confidential client needs a secret", c.ID)
	case c.Public && c.AuthMethod != "" && c.AuthMethod != AuthMethodNone:
		return fmt.Errorf("client %q: a public client authenticates with none", c.ID)
	case !c.Public && c.AuthMethod != "" && c.AuthMethod != AuthMethodBasic && c.AuthMethod != AuthMethodPost:
		return fmt.Errorf("client %q: unsupported authentication method %q", c.ID, c.AuthMethod)
	}
	return nil
}

// Issuer returns the issuer identifier, without a trailing slash.
func (s *Server) Issuer() string { return s.issuer }

// endpointURL is the absolute URL of an endpoint path.
func (s *Server) endpointURL(path string) string { return s.issuer + path }

// Lookup returns the handler for a request path, if the path is one of
// the server's endpoints. Every endpoint also answers with a trailing
// slash. The RFC 8414 metadata is also found where §3.1 puts it for an
// issuer with a path: /.well-known/oauth-authorization-server{path}.
func (s *Server) Lookup(path string) (http.Handler, bool) {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	var rel string
	switch {
	case s.prefix != "" && path == pathASMetadata+s.prefix:
		rel = pathASMetadata
	case strings.HasPrefix(path, s.prefix+"/"):
		rel = path[len(s.prefix):]
	default:
		return nil, false
	}
	ep, ok := s.routes[rel]
	if !ok {
		return nil, false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range ep.methods {
			if r.Method == m {
				ep.handler(w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(ep.methods, ", "))
		s.writeError(w, r, &Error{Code: ErrInvalidRequest, Description: "method " + r.Method + " is not allowed here", Status: http.StatusMethodNotAllowed})
	}), true
}

// ServeHTTP serves the server's endpoints and answers 404 for any other
// path, for use outside a middleware chain.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := s.Lookup(r.URL.Path); ok {
		h.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

func (s *Server) logError(r *http.Request, e *Error) {
	s.logger.Error("request failed", zap.String("path", r.URL.Path), zap.String("error", e.Code), zap.Error(e.cause))
}

func zapKind(k store.TokenKind) zap.Field { return zap.String("kind", string(k)) }
func zapClient(id string) zap.Field       { return zap.String("client_id", id) }
