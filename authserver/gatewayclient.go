package authserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/keys"
)

// GatewayClientID is the built-in first-party client the gateway signs
// users in with. Its secret is generated once and kept in the store; it
// may use redirect URIs it pushed itself (RFC 9126 §2.4), since only the
// gateway, in the same process, can push them.
const GatewayClientID = "authgate-gateway"

const secretGatewayClient = "gateway-client-secret"

// GatewayAppNameParam is the pushed authorization request parameter in
// which the gateway names the site it signs people in to (its name
// option), for the sign-in pages to show beside the site's host. It
// counts only in the gateway client's pushed requests, which only the
// gateway in this process can make, and must pass CheckAppName.
const GatewayAppNameParam = "authgate_app_name"

// GatewaySiteParam is the end session endpoint parameter in which the
// gateway passes its redirect URI on the site being signed out of, so
// that the sign-out pages can name the site and link back to it. It
// counts only with the gateway's client_id, and only for a redirect URI
// the gateway could push (on a host it protects); the browser is never
// sent there.
const GatewaySiteParam = "authgate_site"

// GatewayClient is this server as the gateway's OpenID provider: all the
// gateway needs to sign browsers in with the built-in client, in-process,
// so that it hard-codes none of this server's paths or algorithms and
// never holds the client's secret.
type GatewayClient struct {
	// Issuer is the issuer identifier, and ClientID the built-in
	// client's ([GatewayClientID]).
	Issuer, ClientID string
	// AuthorizationURL, TokenURL, EndSessionURL and RevocationURL are
	// the endpoints the client uses.
	AuthorizationURL, TokenURL, EndSessionURL, RevocationURL string
	// SigningAlgorithms are the JWS algorithms ID tokens may be signed
	// with.
	SigningAlgorithms []string
	// HTTPClient reaches the server in-process and authenticates every
	// request as the built-in client (client_secret_basic), whatever
	// credentials the caller set.
	HTTPClient *http.Client
	// KeySet verifies ID token signatures without fetching the JWKS.
	KeySet interface {
		VerifySignature(ctx context.Context, jwt string) ([]byte, error)
	}
	// Push stores an authorization request of the client, as its
	// pushed authorization request would (RFC 9126), and returns the URL
	// to send the browser to.
	Push func(ctx context.Context, params url.Values) (string, error)
}

// GatewayClient returns the seam the gateway signs browsers in through.
func (s *Server) GatewayClient() GatewayClient {
	return GatewayClient{
		Issuer: s.issuer, ClientID: GatewayClientID,
		AuthorizationURL: s.endpointURL(pathAuthorize), TokenURL: s.endpointURL(pathToken),
		EndSessionURL: s.endpointURL(pathLogout), RevocationURL: s.endpointURL(pathRevoke),
		SigningAlgorithms: slices.Clone(keys.Algorithms),
		HTTPClient:        &http.Client{Transport: gatewayTransport{s}, Timeout: 30 * time.Second},
		KeySet:            s,
		Push:              s.PushGatewayRequest,
	}
}

// gatewayTransport hands the gateway client's requests to the server in
// the same process, marked as made there (the only way the built-in
// client authenticates) and with its credentials, so the gateway never
// reaches the server over the network nor knows the secret.
type gatewayTransport struct{ s *Server }

func (t gatewayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(InProcessContext(req.Context()))
	in.RemoteAddr = "127.0.0.1:0"
	in.SetBasicAuth(url.QueryEscape(GatewayClientID), url.QueryEscape(t.s.gatewaySecret))
	return ServeInProcess(t.s, in, req), nil
}

// PushGatewayRequest stores an authorization request of the built-in
// gateway client, as its authenticated PAR request would (RFC 9126), and
// returns the URL to send the browser to.
func (s *Server) PushGatewayRequest(ctx context.Context, params url.Values) (string, error) {
	params = cloneValues(params)
	params.Set("client_id", GatewayClientID)
	if _, _, e := s.validateAuthorize(ctx, form(params), true); e != nil {
		return "", fmt.Errorf("gateway authorization request: %s", e.Description)
	}
	uri, err := s.storePushedRequest(ctx, GatewayClientID, params)
	if err != nil {
		return "", err
	}
	return s.endpointURL(pathAuthorize) + "?" + url.Values{"client_id": {GatewayClientID}, "request_uri": {uri}}.Encode(), nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// GatewayClientScopes are the scopes of the built-in gateway client,
// which signs browsers in for the gateways.
var GatewayClientScopes = []string{"openid", "profile", "email", "groups", "offline_access"}

// newGatewayClient makes the built-in gateway client. It has no name of
// its own: the pages name the site it signs people in to (see
// [Server.appInfo]).
func newGatewayClient(secret string) *Client {
	return &Client{
		ID: GatewayClientID, Secret: PlainSecret(secret),
		GrantTypes:  []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes:      slices.Clone(GatewayClientScopes),
		SkipConsent: true, IssueRefreshTokens: true, RequirePKCE: true, RequirePAR: true,
		TrustPushedRedirects: true,
	}
}

// SetGatewayRedirects sets what decides which redirect URIs the gateway
// client may push: those on the hosts the configuration's gateways
// protect. Until it is set, none.
func (s *Server) SetGatewayRedirects(allowed func(*url.URL) bool) {
	s.gatewayRedirect.Store(&allowed)
}

// trustedPushedRedirect reports whether a redirect URI the gateway client
// pushed itself is acceptable: absolute http(s), no fragment, query or
// credentials, and on a host of the configuration (never one a request
// named: RFC 9700 §4.1).
func (s *Server) trustedPushedRedirect(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.Fragment != "" || u.RawQuery != "" || strings.ContainsAny(raw, "#?") {
		return false
	}
	allowed := s.gatewayRedirect.Load()
	return allowed != nil && (*allowed)(u)
}
