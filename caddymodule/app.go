package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/caddymodule/gateway"
)

func init() {
	caddy.RegisterModule(new(App))
}

// App is the authgate app: one OAuth 2.0 / OpenID Connect authorization
// server, its store, its signing keys and its clients. Sites serve its
// endpoints with the authgate_server handler.
type App struct {
	// Issuer is the issuer identifier: the URL the server is reached at,
	// such as https://auth.example.com. Its path, if any, prefixes every
	// endpoint. Required. http is allowed only for loopback hosts.
	Issuer string `json:"issuer,omitempty"`

	// Storage is the store backend, a module in the authgate.storage
	// namespace. Default: SQLite at authgate/authgate.db in Caddy's data
	// directory.
	StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=authgate.storage inline_key=backend"`

	// SigningAlgorithm is the JWS algorithm of new signing keys: ES256,
	// EdDSA or RS256. Default ES256. Changing it rotates the key.
	SigningAlgorithm string `json:"signing_algorithm,omitempty"`

	// KeyRotation is how long a signing key signs before the next one
	// takes over. Default 30 days. The previous key keeps verifying for
	// the longest token lifetime after that.
	KeyRotation caddy.Duration `json:"key_rotation,omitempty"`

	// AccessTokenLifetime is how long access tokens live. Default 1 hour.
	AccessTokenLifetime caddy.Duration `json:"access_token_lifetime,omitempty"`

	// MaxBodyBytes bounds the size of request bodies. Default 64 KiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	// SweepInterval is how often expired tokens are deleted from the
	// store. Default 10 minutes.
	SweepInterval caddy.Duration `json:"sweep_interval,omitempty"`

	// RefreshTokenLifetime is the absolute lifetime of a refresh token
	// family; rotation does not extend it. Default 30 days.
	RefreshTokenLifetime caddy.Duration `json:"refresh_token_lifetime,omitempty"`

	// IDTokenLifetime is how long ID tokens are valid. Default 1 hour.
	IDTokenLifetime caddy.Duration `json:"id_token_lifetime,omitempty"`

	// SessionLifetime is the absolute lifetime of a sign-in session.
	// Default 24 hours.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`

	// SessionIdleTimeout ends a session unused for this long. Default 2
	// hours.
	SessionIdleTimeout caddy.Duration `json:"session_idle_timeout,omitempty"`

	// ConsentLifetime is how long a remembered consent lasts. Default 90
	// days.
	ConsentLifetime caddy.Duration `json:"consent_lifetime,omitempty"`

	// UserinfoBareToken lets /userinfo take an access token sent as
	// "Authorization: <token>", without the Bearer scheme. Default off.
	UserinfoBareToken bool `json:"userinfo_bare_token,omitempty"`

	// RequirePAR makes every client push its authorization requests
	// first (RFC 9126).
	RequirePAR bool `json:"require_par,omitempty"`

	// Templates is a directory of page templates (layout.html,
	// login.html, consent.html, logout.html, message.html, device.html,
	// landing.html, factor.html, factor_setup.html, recovery_codes.html)
	// that replace the embedded ones of the same name.
	Templates string `json:"templates,omitempty"`

	// ProductName names the server on its pages: their titles and
	// header, and the landing page at the issuer. Plain text, at most 60
	// characters. Default "authgate".
	ProductName string `json:"product_name,omitempty"`

	// LogoURL is an image the pages show beside ProductName: an https
	// URL, or a URL or path under the issuer (served by another handler
	// of its site). The pages' Content-Security-Policy lets images load
	// from its origin.
	LogoURL string `json:"logo_url,omitempty"`

	// AccentColor colors the pages' buttons and focus outlines, as
	// #rrggbb. Default #1f5fbf.
	AccentColor string `json:"accent_color,omitempty"`

	// LoginAttempts is how many failed sign-ins one username may make
	// within LoginWindow before it must wait for the window to end; one
	// client address may make four times as many. Default 5; -1
	// disables the limit.
	LoginAttempts int `json:"login_attempts,omitempty"`

	// LoginWindow is the window of LoginAttempts. Default 15 minutes.
	LoginWindow caddy.Duration `json:"login_window,omitempty"`

	// RequireMFA makes every user sign in with a second factor: a code
	// from a TOTP app, a recovery code, or an identity provider trusted
	// with second factors (trust_mfa) that checked one. A user without
	// one sets up a TOTP app right after the password.
	RequireMFA bool `json:"require_mfa,omitempty"`

	// RequireMFAGroups makes the users in any of these groups sign in
	// with a second factor. A federated user's groups carry the
	// provider's name: "corp:admins".
	RequireMFAGroups []string `json:"require_mfa_groups,omitempty"`

	// DeviceCodeLifetime is how long a device code (RFC 8628) can be
	// approved and redeemed. Default 10 minutes.
	DeviceCodeLifetime caddy.Duration `json:"device_code_lifetime,omitempty"`

	// DevicePollInterval is the minimum time between a device's polls;
	// faster polls get slow_down. Default 5 seconds; at least 1 second.
	DevicePollInterval caddy.Duration `json:"device_poll_interval,omitempty"`

	// Registration configures dynamic client registration (RFC 7591 and
	// 7592). Default: disabled.
	Registration *RegistrationConfig `json:"registration,omitempty"`

	// ClientIDMetadataDocuments, if set, lets a client_id be an https URL
	// naming the client's metadata document, which is fetched.
	ClientIDMetadataDocuments *MetadataDocumentsConfig `json:"client_id_metadata_documents,omitempty"`

	// Clients are the OAuth clients known from configuration.
	Clients []*ClientConfig `json:"clients,omitempty"`

	// Users are the local users who can sign in.
	Users []*UserConfig `json:"users,omitempty"`

	// IdentityProviders are the upstream identity providers people may
	// sign in with besides the local users, offered on the sign-in page
	// in this order: modules in the authgate.identity_providers
	// namespace, each object naming its module in "provider" (oidc,
	// github, ldap, or another plugin's) and itself in "name". A
	// provider that redirects (oidc, github) sends the browser back to
	// <issuer>/login/<name>/callback.
	IdentityProvidersRaw []json.RawMessage `json:"identity_providers,omitempty" caddy:"namespace=authgate.identity_providers inline_key=provider"`

	storage StorageBackend
	// providers counts the identity providers, for the start-up log
	// (Caddy drops IdentityProvidersRaw once it loaded them).
	providers int
	store     store.Store
	keys      *keys.Manager
	server    *authserver.Server
	registry  *gateway.Registry
	gateways  gatewayList
	logger    *zap.Logger
	// audit writes the audit log (see events.go).
	audit *zap.Logger
	// metrics are on the config's metrics registry (see metrics.go).
	metrics *metrics
	ctx     caddy.Context
	cancel  context.CancelFunc
}

// StorageBackend is a module that opens the store. Backends share one
// handle across config reloads and release it in their Cleanup.
type StorageBackend interface {
	OpenStore(ctx caddy.Context) (store.Store, error)
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "authgate", New: func() caddy.Module { return new(App) }}
}

// Provision opens the store, loads (or on first start generates) the
// signing keys and builds the authorization server.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	a.audit = a.logger.Named(auditLoggerName)
	a.registry = gateway.NewRegistry()
	if a.Issuer == "" {
		return fmt.Errorf("authgate: issuer is required (set it in the authgate global option)")
	}
	a.Issuer = caddy.NewReplacer().ReplaceAll(a.Issuer, "")
	if err := authserver.ValidateIssuer(a.Issuer); err != nil {
		return fmt.Errorf("authgate: %w", err)
	}
	if a.AccessTokenLifetime == 0 {
		a.AccessTokenLifetime = caddy.Duration(time.Hour)
	}
	if a.SweepInterval == 0 {
		a.SweepInterval = caddy.Duration(10 * time.Minute)
	}
	clients, err := buildClients(a.Clients)
	if err != nil {
		return fmt.Errorf("authgate: %w", err)
	}
	providers, err := a.loadIdentityProviders(ctx)
	if err != nil {
		return fmt.Errorf("authgate: %w", err)
	}
	a.providers = len(providers)

	if a.StorageRaw == nil {
		a.StorageRaw = json.RawMessage(`{"backend":"sqlite"}`)
	}
	mod, err := ctx.LoadModule(a, "StorageRaw")
	if err != nil {
		return fmt.Errorf("authgate: loading storage: %w", err)
	}
	a.storage = mod.(StorageBackend)
	a.store, err = a.storage.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("authgate: opening storage: %w", err)
	}

	users, err := buildUsers(a.Users)
	if err != nil {
		return fmt.Errorf("authgate: %w", err)
	}
	longest := max(time.Duration(a.AccessTokenLifetime), time.Duration(a.IDTokenLifetime), time.Hour)
	for _, c := range clients {
		longest = max(longest, c.AccessTokenLifetime)
	}
	a.keys, err = keys.New(a.store, keys.Config{
		Algorithm:   a.SigningAlgorithm,
		RotateEvery: time.Duration(a.KeyRotation),
		Overlap:     longest + 5*time.Minute,
		OnRotate:    a.onKeyRotated,
	})
	if err != nil {
		return fmt.Errorf("authgate: signing keys: %w", err)
	}
	if err := a.keys.Refresh(ctx); err != nil {
		return fmt.Errorf("authgate: %w", err)
	}

	registration, err := a.Registration.policy()
	if err != nil {
		return fmt.Errorf("authgate: registration: %w", err)
	}
	docs, err := a.ClientIDMetadataDocuments.policy()
	if err != nil {
		return fmt.Errorf("authgate: client_id_metadata_documents: %w", err)
	}
	a.metrics, err = newMetrics(ctx.GetMetricsRegistry(), clients, metricsSources{keyAge: a.signingKeyAge, cacheEntries: a.cacheEntries})
	if err != nil {
		return fmt.Errorf("authgate: %w", err)
	}
	a.server, err = authserver.New(ctx, authserver.Config{
		Issuer:               a.Issuer,
		Registration:         registration,
		MetadataDocuments:    docs,
		Store:                a.store,
		Keys:                 a.keys,
		Clients:              clients,
		Users:                users,
		IdentityProviders:    providers,
		AccessTokenLifetime:  time.Duration(a.AccessTokenLifetime),
		RefreshTokenLifetime: time.Duration(a.RefreshTokenLifetime),
		IDTokenLifetime:      time.Duration(a.IDTokenLifetime),
		SessionLifetime:      time.Duration(a.SessionLifetime),
		SessionIdleTimeout:   time.Duration(a.SessionIdleTimeout),
		ConsentLifetime:      time.Duration(a.ConsentLifetime),
		RequirePAR:           a.RequirePAR,
		UserinfoBareToken:    a.UserinfoBareToken,
		TemplatesDir:         a.Templates,
		ProductName:          a.ProductName,
		LogoURL:              a.LogoURL,
		AccentColor:          a.AccentColor,
		LoginAttempts:        a.LoginAttempts,
		LoginWindow:          time.Duration(a.LoginWindow),
		RequireMFA:           a.RequireMFA,
		RequireMFAGroups:     a.RequireMFAGroups,
		DeviceCodeLifetime:   time.Duration(a.DeviceCodeLifetime),
		DevicePollInterval:   time.Duration(a.DevicePollInterval),
		MaxBodyBytes:         a.MaxBodyBytes,
		Logger:               a.logger,
		Events:               a.onEvent,
		ClientIP:             clientIP,
	})
	if err != nil {
		return fmt.Errorf("authgate: %w", err)
	}
	a.server.ObserveRevocationLag(a.metrics.revocationLag)
	return nil
}

// Start runs the background work: refreshing and rotating keys, and
// sweeping expired tokens.
func (a *App) Start() error {
	if err := a.setGatewayHosts(); err != nil {
		return fmt.Errorf("authgate: %w", err)
	}
	ctx, cancel := context.WithCancel(a.ctx)
	a.cancel = cancel
	a.logStart(ctx)
	a.logRoutes()
	go a.keys.Run(ctx, func(err error) { a.logStoreFailure("refreshing signing keys", err) })
	go every(ctx, time.Duration(a.SweepInterval), a.sweep)
	go every(ctx, revocationPollInterval, a.pollRevocations)
	return nil
}

// storeDescriber is a storage backend that can name its store for the
// start-up log without its secrets.
type storeDescriber interface {
	describeStore() []zap.Field
}

// logStart logs one line that says what this instance serves: the
// issuer, the store (never its password nor whole DSN), the current
// signing key, and how many clients, users and identity providers it
// knows.
func (a *App) logStart(ctx context.Context) {
	fields := []zap.Field{zap.String("issuer", a.Issuer)}
	if d, ok := a.storage.(storeDescriber); ok {
		fields = append(fields, d.describeStore()...)
	}
	current := currentKey(a.keys.Info(), time.Now())
	fields = append(fields,
		zap.String("signing_key", current.ID),
		zap.String("signing_algorithm", current.Algorithm),
		zap.Int("clients", len(a.Clients)),
		zap.Int("users", len(a.Users)))
	lctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if stored, err := a.store.ListUsers(lctx); err == nil {
		fields = append(fields, zap.Int("stored_users", len(stored)))
	}
	fields = append(fields, zap.Int("identity_providers", a.providers))
	a.logger.Info("authgate started", fields...)
}

// revocationPollInterval bounds how long a revocation made by another
// instance takes to reach this one's gateways.
const revocationPollInterval = time.Second

// pollRevocations tells this instance's gateways about revocations made
// by other instances sharing the store (one query a second, none per
// request).
func (a *App) pollRevocations(ctx context.Context) {
	if err := a.server.PollRevocations(ctx); err != nil && ctx.Err() == nil {
		a.logger.Warn("polling revocations", zap.Error(err))
	}
}

// every runs job every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, job func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			job(ctx)
		}
	}
}

// gatewayCookieKeys returns the keys of the gateways' session cookies,
// shared by every instance through the store.
func (a *App) gatewayCookieKeys(ctx context.Context) (hashKey, blockKey []byte, err error) {
	gen := func(n int) func() ([]byte, error) {
		return func() ([]byte, error) {
			b := make([]byte, n)
			_, err := rand.Read(b)
			return b, err
		}
	}
	if hashKey, err = a.store.GetOrCreateSecret(ctx, "gateway-cookie-hash", gen(64)); err != nil {
		return nil, nil, fmt.Errorf("loading gateway cookie keys: %w", err)
	}
	if blockKey, err = a.store.GetOrCreateSecret(ctx, "gateway-cookie-block", gen(32)); err != nil {
		return nil, nil, fmt.Errorf("loading gateway cookie keys: %w", err)
	}
	return hashKey, blockKey, nil
}

// Stop ends the background work.
func (a *App) Stop() error {
	if a.cancel != nil {
		a.cancel()
	}
	return nil
}

// logStoreFailure logs a background job's failure: at Warn when the
// store is unavailable (an outage the job waits out: it runs again on its
// next tick), at Error otherwise.
func (a *App) logStoreFailure(msg string, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		a.logger.Warn(msg+": the store is unavailable", zap.Error(err))
		return
	}
	a.logger.Error(msg, zap.Error(err))
}

// sweep deletes expired records.
func (a *App) sweep(ctx context.Context) {
	res, err := a.store.Sweep(ctx, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			a.logStoreFailure("sweeping expired records", err)
		}
		return
	}
	if res.Tokens > 0 || res.Keys > 0 {
		a.logger.Debug("swept expired records", zap.Int64("tokens", res.Tokens), zap.Int64("keys", res.Keys))
	}
}

// clientIP is the request's client address as Caddy determined it,
// honouring the server's trusted_proxies.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// AuthServer returns the provisioned authorization server.
func (a *App) AuthServer() *authserver.Server { return a.server }

// Interface guards
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)
