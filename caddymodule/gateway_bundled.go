package caddymodule

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/caddymodule/gateway"
)

// gatewaySessions keeps gateway sessions in the bundled server's store,
// where every instance sees them and its revocation feed ends them.
type gatewaySessions struct {
	server *authserver.Server
	// bundled: the sessions come from the bundled server, whose sid
	// claims name its login sessions (an external provider's do not).
	bundled bool
}

func (s gatewaySessions) StartSession(ctx context.Context, subject, loginSID string, until time.Time) (string, error) {
	if !s.bundled {
		loginSID = ""
	}
	return s.server.StartGatewaySession(ctx, subject, loginSID, until)
}

func (s gatewaySessions) SessionActive(ctx context.Context, id string) (bool, error) {
	return s.server.GatewaySessionActive(ctx, id)
}

func (s gatewaySessions) EndSession(ctx context.Context, id string) error {
	return s.server.EndGatewaySession(ctx, id)
}

// localVerifier verifies the bundled server's access tokens in-process.
type localVerifier struct{ server *authserver.Server }

func (v localVerifier) Verify(ctx context.Context, token string) (*gateway.Identity, time.Time, error) {
	info, err := v.server.VerifyAccessToken(ctx, token)
	if errors.Is(err, authserver.ErrInvalidToken) {
		return nil, time.Time{}, gateway.ErrInvalidToken
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	c := info.Claims
	claims := map[string]any{"iss": c.Issuer, "sub": c.Subject, "client_id": c.ClientID, "scope": c.Scope, "jti": c.ID,
		"iat": float64(c.IssuedAt), "exp": float64(c.Expiry), "aud": anyList(c.Audience)}
	// What the user is goes upstream only as far as the token's scopes
	// released it (OIDC Core §5.4).
	if u := info.User; u != nil {
		scopes := strings.Fields(c.Scope)
		if slices.Contains(scopes, "email") {
			claims["email"] = u.Email
		}
		if slices.Contains(scopes, "profile") {
			claims["name"], claims["preferred_username"] = u.Name, u.Username
		}
		if slices.Contains(scopes, "groups") {
			claims["groups"] = anyList(u.Groups)
		}
	}
	// How the user signed in (amr, acr: RFC 8176, OIDC Core §2), as the
	// token's claims say it (RFC 9068 §2.2.1).
	if len(c.AMR) > 0 {
		claims["amr"] = anyList(c.AMR)
	}
	if c.ACR != "" {
		claims["acr"] = c.ACR
	}
	id := gateway.IdentityFromClaims(claims, gateway.AuthBearer)
	return id, time.Unix(c.Expiry, 0), nil
}

// anyList is a string list as JSON decodes one, as claims hold it.
func anyList(list []string) []any {
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out
}

// chainVerifier sends JWTs to one verifier and opaque tokens to another.
type chainVerifier struct{ jwt, opaque gateway.Verifier }

func (v chainVerifier) Verify(ctx context.Context, token string) (*gateway.Identity, time.Time, error) {
	if strings.Count(token, ".") == 2 || v.opaque == nil {
		return v.jwt.Verify(ctx, token)
	}
	return v.opaque.Verify(ctx, token)
}

// bundledLogin signs browsers in with the bundled server as its built-in
// first-party client, entirely in-process, through the server's own seam.
// The pushed requests name the site (name, if not empty) for the sign-in
// pages, and sign-out names it by its redirect URI.
func bundledLogin(s *authserver.Server, scopes []string, name string) *gateway.Login {
	c := s.GatewayClient()
	push := c.Push
	if name != "" {
		push = func(ctx context.Context, params url.Values) (string, error) {
			params.Set(authserver.GatewayAppNameParam, name)
			return c.Push(ctx, params)
		}
	}
	return &gateway.Login{
		Issuer: c.Issuer, ClientID: c.ClientID, Scopes: scopes, HTTPClient: c.HTTPClient,
		Endpoint:          oauth2.Endpoint{AuthURL: c.AuthorizationURL, TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		EndSessionURL:     c.EndSessionURL,
		IssParameter:      true, // RFC 9207: it always sends iss
		RevocationURL:     c.RevocationURL,
		KeySet:            c.KeySet,
		SigningAlgorithms: c.SigningAlgorithms,
		Push:              push,
		SiteParam:         authserver.GatewaySiteParam,
		// Where a user adds a second factor, for the page shown when a
		// route needs one and the account has none.
		AccountURL: strings.TrimSuffix(c.Issuer, "/") + "/account",
	}
}
