package authserver

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/loopback"
	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// Endpoint paths, relative to the issuer's path.
const (
	pathToken      = "/token"
	pathIntrospect = "/introspect"
	pathRevoke     = "/revoke"
	pathJWKS       = "/jwks"
	pathOIDCConfig = "/.well-known/openid-configuration"
	pathASMetadata = "/.well-known/oauth-authorization-server"
	pathAuthorize  = "/authorize"
	pathPAR        = "/par"
	pathUserInfo   = "/userinfo"
	pathLogin      = "/login"
	// pathLoginFactor asks for the second factor after the password.
	pathLoginFactor = "/login/factor"
	pathConsent     = "/consent"
	pathLogout      = "/logout"
	pathDeviceCode  = "/device/code"
	// pathDeviceAuthorization is another name of pathDeviceCode, the one
	// the product's first specification used; discovery names only the
	// standard one.
	pathDeviceAuthorization = "/device-authorization"
	pathDevice              = "/device"
	pathRegister            = "/register"
	// pathLanding is the issuer's own path: the landing page.
	pathLanding = "/"
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
	// Users are the local users who can sign in.
	Users []*User
	// IdentityProviders are the upstream identity providers people may
	// sign in with, in the order the sign-in page offers them.
	IdentityProviders []IdentityProvider
	// AccessTokenLifetime is how long access tokens live unless a client
	// says otherwise. Default 1 hour.
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime is the absolute lifetime of a refresh token
	// family: rotation never extends it. Default 30 days.
	RefreshTokenLifetime time.Duration
	// IDTokenLifetime is how long ID tokens are valid. Default 1 hour.
	IDTokenLifetime time.Duration
	// SessionLifetime is the absolute lifetime of a sign-in session.
	// Default 24 hours.
	SessionLifetime time.Duration
	// SessionIdleTimeout ends a session unused for that long. Default 2
	// hours.
	SessionIdleTimeout time.Duration
	// ConsentLifetime is how long a remembered consent lasts. Default 90
	// days.
	ConsentLifetime time.Duration
	// UserinfoBareToken lets /userinfo take an access token sent as
	// "Authorization: <token>" without the Bearer scheme, as some clients
	// do. Off by default: RFC 6750 names only Bearer.
	UserinfoBareToken bool

	// RequirePAR makes every client push its authorization requests
	// (RFC 9126 §5).
	RequirePAR bool
	// TemplatesDir, if set, holds page templates that replace the
	// embedded ones of the same name.
	TemplatesDir string
	// ProductName names this server on its pages (their titles and
	// header, the landing page): plain text of at most 60 characters.
	// Default "authgate".
	ProductName string
	// LogoURL, if set, is an image the pages show beside ProductName:
	// an https URL, or a URL or absolute path under the issuer. The
	// pages' Content-Security-Policy lets images load from its origin.
	LogoURL string
	// AccentColor colors the pages' buttons and focus outlines: #rrggbb.
	// Default #1f5fbf.
	AccentColor string
	// LoginAttempts is how many failed sign-ins a username, or a client
	// address, may make within LoginWindow before it must wait for the
	// window's end. Default 5 per username and 4 times that per address;
	// negative disables the limit.
	LoginAttempts int
	// LoginWindow is the window of LoginAttempts. Default 15 minutes.
	LoginWindow time.Duration
	// RequireMFA makes every user sign in with a second factor (a TOTP
	// app, a recovery code, or an identity provider trusted to have
	// checked one): a user who has none sets one up right after the
	// password. See also RequireMFAGroups, Client.RequireMFA and the
	// acr_values=mfa request parameter.
	RequireMFA bool
	// RequireMFAGroups makes the users in any of these groups sign in
	// with a second factor. A federated user's groups are named with the
	// provider's prefix ("corp:admins").
	RequireMFAGroups []string
	// DeviceCodeLifetime is how long a device code can be approved and
	// redeemed. Default 10 minutes.
	DeviceCodeLifetime time.Duration
	// DevicePollInterval is the minimum time between a device's polls.
	// Default 5 seconds.
	DevicePollInterval time.Duration
	// Registration says who may register clients and what they may ask
	// for (RFC 7591).
	Registration RegistrationPolicy
	// MetadataDocuments, if set, enables client ID metadata documents:
	// an https client_id is resolved by fetching it.
	MetadataDocuments *MetadataDocumentPolicy
	// ClientIP returns the address a request comes from, for rate limits.
	// Default: the connection's remote address.
	ClientIP func(*http.Request) string
	// MaxBodyBytes bounds request bodies. Default 64 KiB.
	MaxBodyBytes int64
	// Logger receives what clients are not shown. Default: none.
	Logger *zap.Logger
	// Events, if set, receives each security-relevant act as it happens
	// (see Event). It is called on the request's goroutine and must be
	// quick.
	Events func(Event)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Server is the authorization server.
type Server struct {
	cfg         Config
	issuer      string
	prefix      string
	clients     map[string]*Client
	users       *userDirectory
	grants      map[string]grantHandler
	routes      map[string]endpoint
	logger      *zap.Logger
	now         func() time.Time
	secretCache secretCache
	// slowChecks runs concurrent identical slow secret checks once.
	slowChecks slowCheckFlights
	// signatures remembers verified access token signatures.
	signatures  signatureCache
	cookies     *cookies
	templates   *ui.Templates
	loginLimits pairLimiter
	// localAccounts remembers whether local accounts exist, for the
	// sign-in page.
	localAccounts localAccountCheck
	clientAuth    pairLimiter
	// factorLimits counts wrong second-factor codes per user.
	factorLimits *failureLimiter
	// totpKey seals TOTP secrets at rest (AES-256-GCM).
	totpKey cipher.AEAD
	// webauthn is the passkeys' relying party; nil when the issuer's
	// host is an IP address, which cannot have passkeys.
	webauthn *webauthn.WebAuthn
	// deviceLimits counts wrong user codes per session and address.
	deviceLimits pairLimiter
	// registrationLimit counts registration requests per address.
	registrationLimit *failureLimiter
	metadataDocs      *metadataFetcher
	revocations       *revocationFeed
	gatewaySecret     string
	// gatewayRedirect decides which redirect URIs the gateway client may
	// push (see SetGatewayRedirects); none until it is set.
	gatewayRedirect atomic.Pointer[func(*url.URL) bool]
}

// endpoint is one route: its handler and the methods it takes.
type endpoint struct {
	methods []string
	handler http.HandlerFunc
}

// checked is the endpoint's handler behind its method check: another
// method gets 405 with Allow.
func (ep endpoint) checked(s *Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, m := range ep.methods {
			if r.Method == m {
				ep.handler(w, r.WithContext(withRequestStart(r.Context(), s.now())))
				return
			}
		}
		w.Header().Set("Allow", strings.Join(ep.methods, ", "))
		s.writeError(w, r, &Error{Code: codeInvalidRequest, Description: "method " + r.Method + " is not allowed here", Status: http.StatusMethodNotAllowed})
	}
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
	case u.Scheme == "http" && !loopback.IsHost(u.Hostname()):
		return fmt.Errorf("issuer %q must use https (http is only for loopback hosts)", issuer)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(issuer, "?") || strings.Contains(issuer, "#"):
		return fmt.Errorf("issuer %q must not have a query or fragment", issuer)
	case u.User != nil:
		return fmt.Errorf("issuer %q must not contain user information", issuer)
	case strings.HasSuffix(issuer, "/"):
		return fmt.Errorf("issuer %q must not end with a slash: clients compare it exactly", issuer)
	}
	return nil
}

// New checks cfg and returns a Server. It loads (or on first use creates)
// the cookie keys every instance shares from the store.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := ValidateIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("a store and a key manager are required")
	}
	setDefault(&cfg.AccessTokenLifetime, time.Hour)
	setDefault(&cfg.RefreshTokenLifetime, 30*24*time.Hour)
	setDefault(&cfg.IDTokenLifetime, time.Hour)
	setDefault(&cfg.SessionLifetime, 24*time.Hour)
	setDefault(&cfg.SessionIdleTimeout, 2*time.Hour)
	setDefault(&cfg.ConsentLifetime, 90*24*time.Hour)
	setDefault(&cfg.LoginWindow, 15*time.Minute)
	setDefault(&cfg.DeviceCodeLifetime, 10*time.Minute)
	setDefault(&cfg.DevicePollInterval, 5*time.Second)
	if cfg.DevicePollInterval < time.Second {
		return nil, errors.New("the device poll interval must be at least a second")
	}
	if cfg.LoginAttempts == 0 {
		cfg.LoginAttempts = 5
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteIP
	}
	if err := cfg.Registration.setDefaults(); err != nil {
		return nil, err
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
	var err error
	if cfg.IdentityProviders, err = checkProviders(cfg.IdentityProviders); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Issuer)
	s := &Server{
		cfg:     cfg,
		issuer:  cfg.Issuer,
		prefix:  u.Path,
		clients: make(map[string]*Client, len(cfg.Clients)),
		logger:  cfg.Logger,
		now:     cfg.Now,
		loginLimits: pairLimiter{
			byName: newFailureLimiter(cfg.LoginAttempts, cfg.LoginWindow),
			byAddr: newFailureLimiter(4*cfg.LoginAttempts, cfg.LoginWindow),
		},
		deviceLimits: pairLimiter{
			byName: newFailureLimiter(10, 15*time.Minute),
			byAddr: newFailureLimiter(30, 15*time.Minute),
		},
		clientAuth: pairLimiter{
			byName: newFailureLimiter(20, 5*time.Minute),
			byAddr: newFailureLimiter(50, 5*time.Minute),
		},
	}
	s.registrationLimit = newFailureLimiter(cfg.Registration.PerAddressPerHour, time.Hour)
	s.factorLimits = newFailureLimiter(factorAttempts, factorWindow)
	if cfg.MetadataDocuments != nil {
		s.metadataDocs = newMetadataFetcher(*cfg.MetadataDocuments, s)
	}
	brand, err := checkBrand(&s.cfg, u)
	if err != nil {
		return nil, err
	}
	if s.templates, err = ui.Load(cfg.TemplatesDir); err != nil {
		return nil, err
	}
	s.templates.SetBrand(brand)
	if s.cookies, err = newCookies(ctx, cfg.Store, u.Scheme == "https", cfg.SessionLifetime); err != nil {
		return nil, err
	}
	if s.totpKey, err = loadTOTPKey(ctx, cfg.Store); err != nil {
		return nil, err
	}
	if s.webauthn, err = newRelyingParty(u, s.cfg.ProductName); err != nil {
		return nil, err
	}
	s.revocations = &revocationFeed{store: cfg.Store, seen: map[string]time.Time{}}
	secret, err := cfg.Store.GetOrCreateSecret(ctx, secretGatewayClient, func() ([]byte, error) { return []byte(randomID(32)), nil })
	if err != nil {
		return nil, fmt.Errorf("loading the gateway client secret: %w", err)
	}
	s.gatewaySecret = string(secret)
	s.clients[GatewayClientID] = newGatewayClient(s.gatewaySecret)
	if s.users, err = newUserDirectory(cfg.Users, cfg.Store); err != nil {
		return nil, err
	}
	if err := s.users.checkNoDuplicates(ctx); err != nil {
		return nil, err
	}
	if s.users.decoy.IsZero() {
		// No configured user lends its hash: make one, so an unknown
		// username costs what a stored user's does.
		if s.users.decoy, err = password.Decoy(); err != nil {
			return nil, err
		}
	}
	for _, configured := range cfg.Clients {
		c, err := checkClient(configured)
		if err != nil {
			return nil, err
		}
		if c.ID == GatewayClientID {
			return nil, fmt.Errorf("client id %q is reserved for the gateway", c.ID)
		}
		if _, dup := s.clients[c.ID]; dup {
			return nil, fmt.Errorf("client %q is defined twice", c.ID)
		}
		s.clients[c.ID] = c
	}
	// A client's client-credentials tokens have its ID as their subject,
	// a user's tokens the user's ID: the two must never meet, or a policy
	// naming the user would admit the client, and ending the user's
	// sign-ins would end the client's tokens (AddUser refuses the same).
	for id := range s.clients {
		if _, ok := s.users.config[id]; ok {
			return nil, fmt.Errorf("client %q has the name of a configured user: a client's ID and a user's are both subjects of tokens; rename one of them", id)
		}
		switch _, err := cfg.Store.GetUser(ctx, id); {
		case err == nil:
			return nil, fmt.Errorf("client %q has the ID of a user in the store: a client's ID and a user's are both subjects of tokens; rename the client or delete the user", id)
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("checking client %q against the stored users: %w", id, err)
		}
	}
	s.grants = map[string]grantHandler{
		GrantClientCredentials: s.clientCredentialsGrant,
		GrantAuthorizationCode: s.authorizationCodeGrant,
		GrantRefreshToken:      s.refreshTokenGrant,
		GrantDeviceCode:        s.deviceGrant,
	}
	post, get := []string{http.MethodPost}, []string{http.MethodGet, http.MethodHead}
	both := []string{http.MethodGet, http.MethodHead, http.MethodPost}
	s.routes = map[string]endpoint{
		pathToken:               {post, s.handleToken},
		pathIntrospect:          {post, s.handleIntrospect},
		pathRevoke:              {post, s.handleRevoke},
		pathJWKS:                {get, s.handleJWKS},
		pathOIDCConfig:          {get, s.handleMetadata},
		pathASMetadata:          {get, s.handleMetadata},
		pathAuthorize:           {both, s.handleAuthorize},
		pathPAR:                 {post, s.handlePAR},
		pathUserInfo:            {both, s.handleUserInfo},
		pathLogin:               {both, s.handleLogin},
		pathLoginFactor:         {both, s.handleFactor},
		pathConsent:             {post, s.handleConsent},
		pathLogout:              {both, s.handleLogout},
		pathDeviceCode:          {post, s.handleDeviceCode},
		pathDeviceAuthorization: {post, s.handleDeviceCode},
		pathDevice:              {both, s.handleDevice},
		pathRegister:            {post, s.handleRegister},
		pathLanding:             {get, s.handleLanding},
		pathPasskeys:            {both, s.handlePasskeys},
		pathLoginPasskey:        {post, s.handleLoginPasskey},
		pathWebAuthnScript:      {get, s.handleWebAuthnScript},
	}
	for path, ep := range s.accountRoutes(get, post) {
		s.routes[path] = ep
	}
	return s, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// remoteIP is the default ClientIP: the connection's remote address.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Issuer returns the issuer identifier, without a trailing slash.
func (s *Server) Issuer() string { return s.issuer }

// endpointURL is the absolute URL of an endpoint path.
func (s *Server) endpointURL(path string) string { return s.issuer + path }

// Lookup returns the handler for a request path, if the path is one of
// the server's endpoints. Every endpoint also answers with a trailing
// slash. The RFC 8414 metadata is also found where §3.1 puts it for an
// issuer with a path: /.well-known/oauth-authorization-server{path}. The
// issuer's own path is the landing page.
func (s *Server) Lookup(path string) (http.Handler, bool) {
	rel, ok := s.relPath(path)
	if !ok {
		return nil, false
	}
	ep, ok := s.routes[rel]
	if !ok {
		return s.lookupNamed(rel)
	}
	h := ep.checked(s)
	if corsRoutes[rel] {
		return withCORS(ep.methods, h), true
	}
	return h, true
}

// lookupNamed finds the endpoints with a name in their path: a
// registered client's configuration (/register/{client_id}) and an
// identity provider's sign-in and callback (/login/{name},
// /login/{name}/callback).
func (s *Server) lookupNamed(rel string) (http.Handler, bool) {
	if id, ok := strings.CutPrefix(rel, pathRegister+"/"); ok && id != "" && !strings.Contains(id, "/") {
		return withCORS(clientConfigurationMethods, func(w http.ResponseWriter, r *http.Request) {
			s.handleClientConfiguration(w, r, id)
		}), true
	}
	rest, ok := strings.CutPrefix(rel, pathLogin+"/")
	if !ok {
		return nil, false
	}
	name, callback := strings.CutSuffix(rest, "/callback")
	if p, known := s.provider(name); !known || p.Redirect == nil {
		return nil, false
	}
	get := []string{http.MethodGet, http.MethodHead}
	return endpoint{get, func(w http.ResponseWriter, r *http.Request) {
		if callback {
			s.handleProviderCallback(w, r, name)
		} else {
			s.handleProviderLogin(w, r, name)
		}
	}}.checked(s), true
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

func zapUser(name string) zap.Field { return zap.String("user", name) }
func zapIP(ip string) zap.Field     { return zap.String("remote_ip", ip) }

// logFailure logs msg and err for a request that could not be served: at
// Warn when the store is unavailable (an outage the answer tells the
// client to wait out), at Error otherwise.
func (s *Server) logFailure(msg string, err error, fields ...zap.Field) {
	fields = append(fields, zapErr(err))
	if storeUnavailable(err) {
		s.logger.Warn(msg+": the store is unavailable", fields...)
		return
	}
	s.logger.Error(msg, fields...)
}

func (s *Server) logError(r *http.Request, e *Error) {
	fields := []zap.Field{zap.String("path", r.URL.Path), zap.String("code", e.Code), zap.Error(e.cause)}
	switch {
	case r.Context().Err() != nil && errors.Is(e.cause, r.Context().Err()):
		// The client went away mid-request: nothing failed that an
		// operator should look at.
		s.logger.Debug("request abandoned by the client", fields...)
	case storeUnavailable(e.cause):
		s.logger.Warn("request failed: the store is unavailable", fields...)
	default:
		s.logger.Error("request failed", fields...)
	}
}

func zapClient(id string) zap.Field { return zap.String("client_id", id) }

func zapErr(err error) zap.Field { return zap.Error(err) }
