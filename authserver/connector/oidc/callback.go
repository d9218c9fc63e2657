package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authgate/authgate/authserver/connector"
)

// Why a callback fails, besides the provider's own errors. Messages name
// no code, token or secret.
var (
	errNoCode          = errors.New("the callback carries no authorization code")
	errNoISS           = errors.New("the authorization response lacks the iss parameter the provider promises (RFC 9207)")
	errISSMismatch     = errors.New("the authorization response comes from another issuer (RFC 9207)")
	errNoIDToken       = errors.New("the provider's token response has no ID token")
	errNonce           = errors.New("the ID token's nonce is not the one of this sign-in")
	errNoSubject       = errors.New("the ID token has no subject (sub)")
	errAuthorizedParty = errors.New("the ID token was issued to another client (azp)")
	errUserinfoSubject = errors.New("the userinfo endpoint answered for another subject than the ID token's")
)

// Callback finishes the sign-in from the callback's query: it reports the
// provider's error, checks the response's issuer (RFC 9207), redeems the
// code with the PKCE verifier, verifies the ID token and its nonce, reads
// the claims, and applies the allow-lists. When the ID token lacks the
// username, the name, the email address, whether it is verified, or the
// groups, the userinfo endpoint is asked too (OIDC Core §5.3), its sub
// must be the ID token's, and what it says fills only the gaps.
//
// The error never names the code, the verifier, the client secret or a
// token, even when the provider echoes one in an answer it quotes.
func (c *Connector) Callback(ctx context.Context, callbackURL string, query url.Values, nonce, verifier string) (connector.Identity, error) {
	secrets := []string{query.Get("code"), verifier, c.cfg.ClientSecret}
	id, err := c.callback(ctx, callbackURL, query, nonce, verifier, &secrets)
	if err != nil {
		return connector.Identity{}, redact(err, secrets)
	}
	return id, nil
}

// callback is Callback, adding the tokens it gets to secrets.
func (c *Connector) callback(ctx context.Context, callbackURL string, query url.Values, nonce, verifier string, secrets *[]string) (connector.Identity, error) {
	if err := connector.CallbackError(query); err != nil {
		return connector.Identity{}, err
	}
	code := query.Get("code")
	if code == "" {
		return connector.Identity{}, errNoCode
	}
	if nonce == "" || verifier == "" {
		return connector.Identity{}, errors.New("oidc connector: a nonce and a PKCE verifier are required")
	}
	p, err := c.discover(ctx)
	if err != nil {
		return connector.Identity{}, err
	}
	iss, hasISS := query["iss"]
	switch {
	case !hasISS && p.issParameter:
		return connector.Identity{}, errNoISS
	case hasISS && (len(iss) != 1 || iss[0] != c.cfg.Issuer):
		return connector.Identity{}, fmt.Errorf("%w: %q, not %q", errISSMismatch, strings.Join(iss, " "), c.cfg.Issuer)
	}

	hctx := gooidc.ClientContext(ctx, c.client)
	tok, err := c.oauth2Config(p, callbackURL).Exchange(hctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return connector.Identity{}, tokenError(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	*secrets = append(*secrets, tok.AccessToken, tok.RefreshToken, raw)
	if raw == "" {
		return connector.Identity{}, errNoIDToken
	}
	idt, err := p.verifier.Verify(hctx, raw)
	if err != nil {
		return connector.Identity{}, fmt.Errorf("verifying the ID token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return connector.Identity{}, errNonce
	}
	if idt.Subject == "" {
		return connector.Identity{}, errNoSubject
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return connector.Identity{}, fmt.Errorf("checking the ID token's at_hash: %w", err)
		}
	}
	var idClaims claimSet
	if err := idt.Claims(&idClaims); err != nil {
		return connector.Identity{}, fmt.Errorf("reading the ID token's claims: %w", err)
	}
	if azp, ok := idClaims.str("azp"); ok && azp != c.cfg.ClientID {
		return connector.Identity{}, errAuthorizedParty
	}

	var prof profile
	prof.fill(idClaims, c.cfg.Claims)
	if prof.incomplete() && p.oidc.UserInfoEndpoint() != "" && tok.AccessToken != "" {
		info, err := p.oidc.UserInfo(hctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return connector.Identity{}, fmt.Errorf("reading the provider's userinfo endpoint: %w", err)
		}
		if info.Subject != idt.Subject {
			return connector.Identity{}, errUserinfoSubject
		}
		var infoClaims claimSet
		if err := info.Claims(&infoClaims); err != nil {
			return connector.Identity{}, fmt.Errorf("reading the userinfo claims: %w", err)
		}
		prof.fill(infoClaims, c.cfg.Claims)
	}

	id := connector.Identity{
		Subject:       idt.Subject,
		Username:      prof.username,
		Email:         prof.email,
		EmailVerified: prof.email != "" && prof.emailVerified,
		Name:          prof.name,
		Groups:        prof.groups,
	}
	// amr is read from the ID token only: it says how this sign-in
	// happened, which the userinfo endpoint does not.
	if amr, ok := idClaims.list("amr"); ok {
		id.AMR = amr
	}
	if err := c.admit(id, prof.hostedDomain); err != nil {
		return connector.Identity{}, err
	}
	return id, nil
}

// tokenError describes a failed code redemption by the provider's error
// code and description only: the response body it also carries could
// echo what was sent.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("redeeming the code at the provider's token endpoint: %w", err)
	}
	msg := re.ErrorCode
	if msg == "" && re.Response != nil {
		msg = re.Response.Status
	}
	if re.ErrorDescription != "" {
		msg += ": " + re.ErrorDescription
	}
	return fmt.Errorf("the provider's token endpoint refused the code: %s", msg)
}

// minSecretLength is the length from which redact hides a secret: a
// shorter string is no credential worth the name, and hiding it would
// garble the message.
const minSecretLength = 8

// redact returns err, or when its message contains one of the secrets an
// error that says the same with the secrets replaced, and wraps err.
func redact(err error, secrets []string) error {
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= minSecretLength {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// redactedError is an error whose message has its secrets hidden.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// admit applies the allow-lists to an identity the provider vouches for,
// whose hd claim is hostedDomain.
func (c *Connector) admit(id connector.Identity, hostedDomain string) error {
	if len(c.domains) > 0 {
		hd := strings.ToLower(hostedDomain)
		domain := emailDomain(id.Email)
		switch {
		case hd != "" && slices.Contains(c.domains, hd):
		case domain != "" && id.EmailVerified && slices.Contains(c.domains, domain):
		case domain != "" && slices.Contains(c.domains, domain):
			return connector.Refused(fmt.Sprintf("The identity provider has not verified your email address at %s, so this account cannot sign in here.", domain))
		case domain != "":
			return connector.Refused(fmt.Sprintf("Accounts from %s cannot sign in here.", domain))
		case hd != "":
			return connector.Refused(fmt.Sprintf("Accounts from %s cannot sign in here.", hd))
		default:
			return connector.Refused("This account has no email address, so it cannot sign in here.")
		}
	}
	if len(c.cfg.AllowGroups) > 0 && !slices.ContainsFunc(id.Groups, func(g string) bool { return slices.Contains(c.cfg.AllowGroups, g) }) {
		return connector.Refused("This account is not in a group that can sign in here.")
	}
	return nil
}

// emailDomain returns the domain of an email address in lower case, or ""
// when it is not an address.
func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return ""
	}
	return strings.ToLower(email[at+1:])
}

// profile is what the claims say of a person, gathered from the ID token
// and then the userinfo endpoint, the first source to say a thing
// winning.
type profile struct {
	username, email, name string
	// emailVerified is known when verifiedKnown says email_verified
	// came with the email.
	emailVerified, verifiedKnown bool
	groups                       []string
	groupsKnown                  bool
	hostedDomain                 string
}

// fill takes from cs what p does not know yet.
func (p *profile) fill(cs claimSet, names ClaimNames) {
	if p.username == "" {
		p.username, _ = cs.str(names.Username)
	}
	if p.name == "" {
		p.name, _ = cs.str(names.Name)
	}
	if p.hostedDomain == "" {
		p.hostedDomain, _ = cs.str("hd")
	}
	if !p.groupsKnown {
		p.groups, p.groupsKnown = cs.list(names.Groups)
	}
	email, _ := cs.str(names.Email)
	verified, known := cs.boolean("email_verified")
	switch {
	case p.email == "" && email != "":
		p.email, p.emailVerified, p.verifiedKnown = email, verified, known
	case p.email != "" && !p.verifiedKnown && known && strings.EqualFold(email, p.email):
		p.emailVerified, p.verifiedKnown = verified, true
	}
}

// incomplete reports whether a claim is missing that the userinfo
// endpoint may have.
func (p *profile) incomplete() bool {
	return p.username == "" || p.name == "" || p.email == "" || !p.verifiedKnown || !p.groupsKnown
}

// claimSet is a JSON object of claims.
type claimSet map[string]json.RawMessage

// str returns a claim that is a non-empty string.
func (cs claimSet) str(name string) (string, bool) {
	var s string
	if err := json.Unmarshal(cs[name], &s); err != nil || s == "" {
		return "", false
	}
	return s, true
}

// boolean returns a claim that is a boolean, or the string "true" or
// "false" as some providers send.
func (cs claimSet) boolean(name string) (value, ok bool) {
	var v any
	if err := json.Unmarshal(cs[name], &v); err != nil {
		return false, false
	}
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		switch {
		case strings.EqualFold(v, "true"):
			return true, true
		case strings.EqualFold(v, "false"):
			return false, true
		}
	}
	return false, false
}

// list returns a claim that is a list of strings (the others in it
// skipped) or a single string.
func (cs claimSet) list(name string) ([]string, bool) {
	var v any
	if err := json.Unmarshal(cs[name], &v); err != nil {
		return nil, false
	}
	switch v := v.(type) {
	case string:
		if v == "" {
			return nil, true
		}
		return []string{v}, true
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, false
}
