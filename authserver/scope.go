package authserver

import (
	"net/url"
	"slices"
	"strings"
)

// parseScope splits a scope parameter into its tokens, dropping
// duplicates. It reports false if a token has a character RFC 6749 §3.3
// does not allow (NQCHAR: %x21 / %x23-5B / %x5D-7E).
func parseScope(s string) ([]string, bool) {
	if len(s) > maxScopeLength {
		return nil, false
	}
	var out []string
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, false
			}
		}
		if !slices.Contains(out, tok) {
			if len(out) == maxScopes {
				return nil, false
			}
			out = append(out, tok)
		}
	}
	return out, true
}

// Bounds on a scope parameter, so that checking it stays cheap.
const (
	maxScopeLength = 2048
	maxScopes      = 64
)

// grantScope decides the scopes a request gets: those requested if all
// are allowed, or every allowed scope when none is requested.
func grantScope(requested string, allowed []string) ([]string, *Error) {
	want, ok := parseScope(requested)
	if !ok {
		return nil, oauthError(codeInvalidScope, "the scope parameter has characters a scope cannot contain")
	}
	if len(want) == 0 {
		return slices.Clone(allowed), nil
	}
	for _, sc := range want {
		if !slices.Contains(allowed, sc) {
			return nil, oauthError(codeInvalidScope, "scope "+sc+" is not allowed for this client")
		}
	}
	return want, nil
}

// grantAudience decides a token's audience from the RFC 8707 resource
// parameters: each must be an absolute URI without a fragment that the
// client may request. With none, the client's audiences, or else the
// issuer, are the audience.
func (s *Server) grantAudience(resources []string, c *Client) ([]string, *Error) {
	if len(resources) == 0 {
		if len(c.Audiences) > 0 {
			return slices.Clone(c.Audiences), nil
		}
		return []string{s.issuer}, nil
	}
	var out []string
	for _, res := range resources {
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(res, "#") {
			return nil, oauthError(codeInvalidTarget, "resource must be an absolute URI without a fragment")
		}
		if !slices.Contains(c.Audiences, res) {
			return nil, oauthError(codeInvalidTarget, "the client may not request a token for that resource")
		}
		if !slices.Contains(out, res) {
			out = append(out, res)
		}
	}
	return out, nil
}
