package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Login signs browsers in with an OpenID provider, as a confidential
// client using the authorization code flow with PKCE, state and nonce.
type Login struct {
	// Issuer is the provider's issuer URL.
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes to ask for. Default openid, profile, email, groups,
	// offline_access.
	Scopes []string
	// HTTPClient talks to the provider (the bundled server passes one
	// that stays in the process). Default http.DefaultClient.
	HTTPClient *http.Client
	// Endpoint and EndSessionURL, when set, replace discovery (the bundled
	// server knows its own), and KeySet replaces the provider's JWKS.
	Endpoint      oauth2.Endpoint
	EndSessionURL string
	KeySet        oidc.KeySet
	// SigningAlgorithms are the JWS algorithms accepted for ID tokens
	// verified with KeySet. Default: go-oidc's (RS256).
	SigningAlgorithms []string
	// RevocationURL is the provider's RFC 7009 revocation endpoint, where
	// sign-out revokes the session's refresh token; discovered when empty.
	RevocationURL string
	// IssParameter says the provider puts iss in every authorization
	// response (RFC 9207), so that a response without it is refused;
	// discovered from authorization_response_iss_parameter_supported
	// when the provider's metadata is fetched.
	IssParameter bool
	// Push, when set, stores the authorization request server-side and
	// returns the URL to send the browser to (the bundled server's
	// in-process PAR). Otherwise the request goes in the URL.
	Push func(ctx context.Context, params url.Values) (string, error)
	// SiteParam, when set, names the end session URL parameter in which
	// LogoutURL passes the gateway's redirect URI on the site being
	// signed out of, so that the provider's sign-out pages can name the
	// site and link back to it (the bundled server's
	// authserver.GatewaySiteParam).
	SiteParam string
	// AccountURL, when set, is where users manage how they sign in (the
	// bundled server's /account): the page shown when a route needs a
	// second factor and the provider signed the user in without one links
	// there, to add one. Default: no link.
	AccountURL string

	mu       sync.Mutex
	ready    bool
	verifier *oidc.IDTokenVerifier
	// provider is the discovered provider, whose userinfo endpoint fills
	// in what ID tokens leave out; nil without discovery.
	provider *oidc.Provider
}

func (l *Login) ctx(ctx context.Context) context.Context {
	if l.HTTPClient != nil {
		return oidc.ClientContext(ctx, l.HTTPClient)
	}
	return ctx
}

// load discovers the provider once, on first use (never while Caddy
// provisions).
func (l *Login) load(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ready {
		return nil
	}
	cfg := &oidc.Config{ClientID: l.ClientID}
	if l.Endpoint.TokenURL == "" || l.KeySet == nil {
		dctx, cancel := context.WithTimeout(l.ctx(ctx), 10*time.Second)
		defer cancel()
		p, err := oidc.NewProvider(dctx, l.Issuer)
		if err != nil {
			return fmt.Errorf("discovering %s: %w", l.Issuer, err)
		}
		if l.Endpoint.TokenURL == "" {
			l.Endpoint = p.Endpoint()
		}
		if l.EndSessionURL == "" {
			var meta struct {
				EndSession string `json:"end_session_endpoint"`
			}
			p.Claims(&meta) //nolint:errcheck // optional
			l.EndSessionURL = meta.EndSession
		}
		if l.RevocationURL == "" {
			var meta struct {
				Revocation string `json:"revocation_endpoint"`
			}
			p.Claims(&meta) //nolint:errcheck // optional
			l.RevocationURL = meta.Revocation
		}
		var iss struct {
			Supported bool `json:"authorization_response_iss_parameter_supported"`
		}
		p.Claims(&iss) //nolint:errcheck // optional
		l.IssParameter = l.IssParameter || iss.Supported
		if l.KeySet == nil {
			l.verifier = p.VerifierContext(l.ctx(context.Background()), cfg)
		}
		l.provider = p
	}
	if l.verifier == nil {
		// A key set of our own, with the algorithms its keys sign with.
		cfg.SupportedSigningAlgs = l.SigningAlgorithms
		l.verifier = oidc.NewVerifier(l.Issuer, l.KeySet, cfg)
	}
	if len(l.Scopes) == 0 {
		l.Scopes = []string{oidc.ScopeOpenID, "profile", "email", "groups", oidc.ScopeOfflineAccess}
	}
	l.ready = true
	return nil
}

func (l *Login) oauth2Config(redirectURI string) *oauth2.Config {
	return &oauth2.Config{ClientID: l.ClientID, ClientSecret: l.ClientSecret, Endpoint: l.Endpoint, Scopes: l.Scopes, RedirectURL: redirectURI}
}

// AuthURL returns where to send the browser to sign in. extra adds
// parameters to the authorization request (pushed with it, with Push),
// such as [ACRValues] to ask for a second factor.
func (l *Login) AuthURL(ctx context.Context, redirectURI, state, nonce, verifier string, extra ...oauth2.AuthCodeOption) (string, error) {
	if err := l.load(ctx); err != nil {
		return "", err
	}
	cfg := l.oauth2Config(redirectURI)
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}, extra...)
	if l.Push == nil {
		return cfg.AuthCodeURL(state, opts...), nil
	}
	u, err := url.Parse(cfg.AuthCodeURL(state, opts...))
	if err != nil {
		return "", err
	}
	return l.Push(ctx, u.Query())
}

// ACRValues is the authorization request parameter acr_values (OpenID
// Connect Core §3.1.2.1; RFC 9470 §4), for [Login.AuthURL]: the
// authentication context class references the sign-in should meet, in
// order of preference, such as "mfa" for a second factor.
func ACRValues(values string) oauth2.AuthCodeOption {
	return oauth2.SetAuthURLParam("acr_values", values)
}

// Exchange redeems a code and verifies the ID token and its nonce.
func (l *Login) Exchange(ctx context.Context, redirectURI, code, verifier, nonce string) (*oauth2.Token, *oidc.IDToken, error) {
	if err := l.load(ctx); err != nil {
		return nil, nil, err
	}
	tok, err := l.oauth2Config(redirectURI).Exchange(l.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, nil, fmt.Errorf("exchanging the code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := l.verifier.Verify(l.ctx(ctx), raw)
	if err != nil {
		return nil, nil, fmt.Errorf("verifying the ID token: %w", err)
	}
	if id.Nonce != nonce {
		return nil, nil, errors.New("the ID token's nonce is not the one sent")
	}
	return tok, id, nil
}

// RequiresIss reports whether an authorization response must carry iss:
// a provider that advertises authorization_response_iss_parameter_supported
// always sends it, so a response without it did not come from that
// provider, or was tampered with on the way (RFC 9207 §2.4). When the
// provider cannot be discovered the answer is true: the code could not be
// redeemed anyway.
func (l *Login) RequiresIss(ctx context.Context) bool {
	if err := l.load(ctx); err != nil {
		return true
	}
	return l.IssParameter
}

// Profile is what a sign-in learned about the user.
type Profile struct {
	Subject           string
	Email             string
	Name              string
	PreferredUsername string
	Groups            []string
	// AMR and ACR are the ID token's amr and acr claims: how the user
	// signed in (RFC 8176 methods such as pwd, otp, mfa) and the
	// authentication context class reached, such as mfa. They describe
	// the sign-in, so they come from the ID token only, never userinfo.
	AMR []string
	ACR string
}

// profileClaims are the claims a Profile is made of, besides sub and sid.
var profileClaims = []string{"email", "name", "preferred_username", "groups"}

// Profile reads the user's claims from a verified ID token and, for
// those it lacks (many providers put only sub in an ID token issued with
// an access token, OIDC Core §5.4), from the provider's userinfo endpoint
// with the access token. The userinfo answer counts only if its sub is
// the ID token's (OIDC Core §5.3.2); if the endpoint cannot be asked or
// answers about someone else, the sign-in fails rather than going on with
// an identity that misses its groups (a deny rule on a group must not be
// dodged by an endpoint that is down).
func (l *Login) Profile(ctx context.Context, tok *oauth2.Token, idt *oidc.IDToken) (*Profile, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("reading the ID token's claims: %w", err)
	}
	missing := false
	for _, c := range profileClaims {
		if _, ok := claims[c]; !ok {
			missing = true
		}
	}
	if missing && tok != nil && tok.AccessToken != "" && l.userInfoURL() != "" {
		ui, err := l.provider.UserInfo(l.ctx(ctx), oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, fmt.Errorf("asking the provider's userinfo endpoint: %w", err)
		}
		if ui.Subject != idt.Subject {
			return nil, errors.New("the userinfo endpoint answered for another subject than the ID token's")
		}
		var info map[string]any
		if err := ui.Claims(&info); err != nil {
			return nil, fmt.Errorf("reading the userinfo claims: %w", err)
		}
		for _, c := range profileClaims {
			if _, ok := claims[c]; !ok && info[c] != nil {
				claims[c] = info[c]
			}
		}
	}
	str := func(k string) string { s, _ := claims[k].(string); return s }
	// amr and acr are the ID token's: userinfo fills in profileClaims only.
	return &Profile{Subject: idt.Subject, Email: str("email"), Name: str("name"), PreferredUsername: str("preferred_username"),
		Groups: stringList(claims["groups"]), AMR: stringList(claims["amr"]), ACR: str("acr")}, nil
}

func (l *Login) userInfoURL() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.provider == nil {
		return ""
	}
	return l.provider.UserInfoEndpoint()
}

// Refresh uses a refresh token and verifies the new ID token, if any.
func (l *Login) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, *oidc.IDToken, error) {
	if err := l.load(ctx); err != nil {
		return nil, nil, err
	}
	ts := l.oauth2Config("").TokenSource(l.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := ts.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("refreshing: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return tok, nil, nil
	}
	id, err := l.verifier.Verify(l.ctx(ctx), raw)
	if err != nil {
		return nil, nil, fmt.Errorf("verifying the refreshed ID token: %w", err)
	}
	return tok, id, nil
}

// LogoutURL is the provider's end session URL, or "". The session cookie
// keeps no ID token (it would triple the cookie every request carries),
// so the provider asks the user to confirm. redirectURI, if not empty, is
// the gateway's redirect URI on the site being signed out of, passed as
// SiteParam when that is set.
func (l *Login) LogoutURL(ctx context.Context, redirectURI string) string {
	if l.load(ctx) != nil || l.EndSessionURL == "" {
		return ""
	}
	q := url.Values{"client_id": {l.ClientID}}
	if l.SiteParam != "" && redirectURI != "" {
		q.Set(l.SiteParam, redirectURI)
	}
	return l.EndSessionURL + "?" + q.Encode()
}
