package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authgate/authgate/authserver"
)

// maxResponseBytes bounds what is read of an authorization server's
// answer.
const maxResponseBytes = 1 << 20

// metadataTTL is how long discovered metadata is used before it is read
// again.
const metadataTTL = 10 * time.Minute

// discoveryRetry is how long a failed discovery is answered before the
// server is asked again.
const discoveryRetry = 5 * time.Second

// metadata is what the tools use of an authorization server's metadata
// (RFC 8414 §2, RFC 9126 §5, OpenID Connect Discovery §3).
type metadata struct {
	Issuer                             string   `json:"issuer"`
	AuthorizationEndpoint              string   `json:"authorization_endpoint"`
	TokenEndpoint                      string   `json:"token_endpoint"`
	JWKSURI                            string   `json:"jwks_uri"`
	IntrospectionEndpoint              string   `json:"introspection_endpoint"`
	RevocationEndpoint                 string   `json:"revocation_endpoint"`
	RegistrationEndpoint               string   `json:"registration_endpoint"`
	PushedAuthorizationRequestEndpoint string   `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests bool     `json:"require_pushed_authorization_requests"`
	TokenEndpointAuthMethods           []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionAuthMethods           []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethods              []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethods               []string `json:"code_challenge_methods_supported"`
}

// provider reaches one authorization server: its metadata, found by
// discovery and cached, and its endpoints.
type provider struct {
	issuer string
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	meta    *metadata
	fetched time.Time
	// failed and failure are the last failed discovery, answered again
	// for a few seconds rather than asking a server that is down again
	// for every call.
	failed  time.Time
	failure string

	keys keyCache
}

// metadata returns the server's metadata, discovering it when it is not
// known or is older than metadataTTL.
func (p *provider) metadata(ctx context.Context) (*metadata, *toolError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.meta != nil && now.Sub(p.fetched) < metadataTTL {
		return p.meta, nil
	}
	if p.meta == nil && now.Sub(p.failed) < discoveryRetry {
		return nil, &toolError{Code: errUnavailable, Description: p.failure}
	}
	m, err := p.discover(ctx)
	if err != nil {
		if p.meta != nil {
			// The last metadata is better than none; ask again soon.
			p.fetched = now.Add(discoveryRetry - metadataTTL)
			return p.meta, nil
		}
		p.failed, p.failure = now, "the authorization server's metadata could not be read: "+err.Error()
		return nil, &toolError{Code: errUnavailable, Description: p.failure}
	}
	p.meta, p.fetched = m, now
	return m, nil
}

// discover reads the metadata at the RFC 8414 location, then at the
// OpenID Connect one, and checks that it names the configured issuer
// (RFC 8414 §3.3) and that its endpoints are absolute http(s) URLs.
func (p *provider) discover(ctx context.Context) (*metadata, error) {
	u, err := url.Parse(p.issuer)
	if err != nil {
		return nil, fmt.Errorf("parsing the issuer: %w", err)
	}
	path := strings.TrimSuffix(u.Path, "/")
	locations := []string{
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path,
		u.Scheme + "://" + u.Host + path + "/.well-known/openid-configuration",
	}
	var errs []error
	for _, loc := range locations {
		m, err := p.fetchMetadata(ctx, loc)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// getJSON fetches a JSON document of the provider into v; what names it
// in errors ("JSON metadata", "a JWK set").
func (p *provider) getJSON(ctx context.Context, loc, what string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return fmt.Errorf("building the request for %s: %w", what, err)
	}
	req.Header.Set("Accept", "application/json")
	status, _, body, err := p.do(req)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s answered HTTP %d", loc, status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s is not %s", loc, what)
	}
	return nil
}

func (p *provider) fetchMetadata(ctx context.Context, loc string) (*metadata, error) {
	var m metadata
	if err := p.getJSON(ctx, loc, "JSON metadata", &m); err != nil {
		return nil, err
	}
	if m.Issuer != p.issuer {
		return nil, fmt.Errorf("%s names the issuer %q, not %q", loc, m.Issuer, p.issuer)
	}
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
		return nil, fmt.Errorf("%s has no authorization or token endpoint", loc)
	}
	for _, e := range []string{m.AuthorizationEndpoint, m.TokenEndpoint, m.JWKSURI, m.IntrospectionEndpoint, m.RevocationEndpoint, m.RegistrationEndpoint, m.PushedAuthorizationRequestEndpoint} {
		if e == "" {
			continue
		}
		if eu, err := url.Parse(e); err != nil || (eu.Scheme != "https" && eu.Scheme != "http") || eu.Host == "" || eu.Fragment != "" {
			return nil, fmt.Errorf("%s has an endpoint that is not an absolute http(s) URL", loc)
		}
	}
	return &m, nil
}

// do sends req and reads at most maxResponseBytes of the answer.
func (p *provider) do(req *http.Request) (int, http.Header, []byte, error) {
	resp, err := p.client.Do(req)
	if err != nil {
		// The URL is the server's, never a token's, but the error of a
		// client with a timeout says only that.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the answer of %s: %w", req.URL.Redacted(), err)
	}
	if len(body) > maxResponseBytes {
		return 0, nil, nil, fmt.Errorf("the answer of %s is larger than %d bytes", req.URL.Redacted(), maxResponseBytes)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// clientAuth is how a tool authenticates as the caller's client (RFC 6749
// §2.3.1): with its secret, in Basic or in the form, or as a public
// client with its client_id alone.
type clientAuth struct {
	id, secret, method string
}

// apply puts the client's credentials on a form post.
func (a clientAuth) apply(req *http.Request, form url.Values) {
	switch {
	case a.secret == "":
		form.Set("client_id", a.id)
	case a.method == authPost:
		form.Set("client_id", a.id)
		form.Set("client_secret", a.secret)
	default:
		// RFC 6749 §2.3.1: each form-encoded, then Basic.
		req.SetBasicAuth(url.QueryEscape(a.id), url.QueryEscape(a.secret))
	}
}

const (
	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
	authNone  = "none"
)

// chooseAuthMethod picks how a confidential client sends its secret: the
// method the caller named, else the one the bundled server restricts the
// client to, else client_secret_basic if the endpoint takes it (RFC 8414's
// default when the list is absent), else client_secret_post.
func chooseAuthMethod(asked, restricted string, supported []string) string {
	switch {
	case asked != "":
		return asked
	case restricted == authBasic || restricted == authPost:
		return restricted
	case len(supported) == 0 || slices.Contains(supported, authBasic):
		return authBasic
	case slices.Contains(supported, authPost):
		return authPost
	}
	return authBasic
}

// postForm posts form to an endpoint with the client's credentials and
// returns the JSON answer, or the OAuth error it carries (RFC 6749 §5.2).
// A 2xx answer with an empty body is an empty object.
func (p *provider) postForm(ctx context.Context, endpoint string, form url.Values, auth *clientAuth) (map[string]any, *toolError) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, &toolError{Code: errUnavailable, Description: "the endpoint's URL is not valid"}
	}
	if auth != nil {
		auth.apply(req, form)
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return p.send(req)
}

// postJSON posts a JSON document, with a bearer token if one is given.
func (p *provider) postJSON(ctx context.Context, endpoint string, doc any, bearer string) (map[string]any, *toolError) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, &toolError{Code: errInvalidRequest, Description: "the request could not be encoded"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return nil, &toolError{Code: errUnavailable, Description: "the endpoint's URL is not valid"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return p.send(req)
}

// send sends a request to an endpoint and reads its JSON answer.
func (p *provider) send(req *http.Request) (map[string]any, *toolError) {
	status, header, body, err := p.do(req)
	if err != nil {
		return nil, &toolError{Code: errUnavailable, Description: "the authorization server could not be reached: " + err.Error()}
	}
	// Read as JSON whatever the Content-Type says: some servers label
	// their error objects text/plain.
	var doc map[string]any
	if len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &doc) != nil {
		doc = nil
	}
	if status >= 200 && status < 300 {
		if doc == nil {
			if len(bytes.TrimSpace(body)) > 0 {
				return nil, &toolError{Code: errUnavailable, Description: fmt.Sprintf("the authorization server answered HTTP %d with something that is not JSON", status)}
			}
			doc = map[string]any{}
		}
		return doc, nil
	}
	te := &toolError{Code: errUnavailable, Description: fmt.Sprintf("the authorization server answered HTTP %d", status)}
	if code, ok := doc["error"].(string); ok && code != "" {
		te.Code = code
		te.Description, _ = doc["error_description"].(string)
		te.URI, _ = doc["error_uri"].(string)
	}
	if ra := header.Get("Retry-After"); ra != "" && status == http.StatusTooManyRequests {
		te.RetryAfter = ra
	}
	return nil, te
}

// inProcess is an http.RoundTripper that hands the tools' requests to the
// bundled authorization server's handler, with no network. The request
// reaches it as the MCP caller's: the caller's address is its remote
// address, and its context carries no value of the MCP request's (in
// particular never the mark with which the gateway's own transport
// authenticates its built-in client).
type inProcess struct {
	h      http.Handler
	origin string
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme+"://"+req.URL.Host != t.origin {
		return nil, fmt.Errorf("mcpserver: %s is not on the bundled server's origin", req.URL.Redacted())
	}
	in := req.Clone(valueless{req.Context()})
	in.RemoteAddr = net.JoinHostPort(clientAddress(req.Context()), "0")
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	in.Proto, in.ProtoMajor, in.ProtoMinor = "HTTP/1.1", 1, 1
	return authserver.ServeInProcess(t.h, in, req), nil
}

// valueless is a context with its parent's deadline and cancellation but
// none of its values.
type valueless struct{ context.Context }

func (valueless) Value(any) any { return nil }

// Interface guards
var _ http.RoundTripper = inProcess{}
