package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/loopback"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// Authorization endpoint errors (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
const (
	codeUnsupportedResponseType = "unsupported_response_type"
	codeAccessDenied            = "access_denied"
	codeLoginRequired           = "login_required"
	codeConsentRequired         = "consent_required"
	codeInvalidRequestURI       = "invalid_request_uri"
)

const (
	// parRequestURIPrefix starts every request_uri this server issues
	// (RFC 9126 §2.2).
	parRequestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// pendingLifetime is how long a user has to sign in and consent.
	pendingLifetime = 30 * time.Minute
	// codeLifetime is how long an authorization code lives.
	codeLifetime = 60 * time.Second
	// maxAuthorizeQuery bounds an authorization request's query string.
	maxAuthorizeQuery = 16 << 10
)

// authzRequest is a validated authorization request.
type authzRequest struct {
	ClientID            string   `json:"client_id"`
	RedirectURI         string   `json:"redirect_uri"`
	RedirectGiven       bool     `json:"redirect_given,omitempty"`
	Scope               []string `json:"scope,omitempty"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	MaxAge              int64    `json:"max_age"` // -1 when absent
	LoginHint           string   `json:"login_hint,omitempty"`
	// IDP names the identity provider to sign in with (the idp
	// parameter, as other servers call it), if the client chose one.
	IDP      string   `json:"idp,omitempty"`
	Audience []string `json:"aud,omitempty"`
	// AppName is the name of the site the gateway signs the user in to,
	// from its pushed request (GatewayAppNameParam).
	AppName string `json:"app_name,omitempty"`
	// LoginSession is the record ID of the login session the user signed
	// in with for this very request, which alone satisfies prompt=login.
	LoginSession string `json:"login_session,omitempty"`
	// ACRValues are the authentication context classes asked for
	// (acr_values, OIDC Core §3.1.2.1): "mfa" asks for a second factor;
	// others are not known here and make no difference.
	ACRValues []string `json:"acr_values,omitempty"`
}

func (a *authzRequest) prompts(p string) bool { return slices.Contains(a.Prompt, p) }

// authzError is an authorization endpoint error. Until the client and
// redirect URI are known to be valid it is shown on a page; after that it
// goes back to the client by redirect.
type authzError struct {
	*Error
	redirect bool
	// message says on the page, in plain words, what went wrong; the
	// Description, for the application's developers, goes to the log.
	message string
}

// userMessage is what the error page says: the error's own message, or
// one that fits its code.
func (e *authzError) userMessage() string {
	switch {
	case e.message != "":
		return e.message
	case e.Code == codeInvalidRequestURI:
		return "This sign-in link has expired or was already used. Start again from the application."
	case e.Code == codeServerError:
		return "The sign-in could not be started. Try again later."
	case e.Code == codeTemporarilyUnavailable:
		return "The sign-in service is unavailable for a moment. Try again shortly."
	}
	return msgBadSignInRequest
}

// pageError is an error shown on a page: message for the user,
// description for the application's developers (the log, and a PAR
// answer).
func pageError(message, description string) *authzError {
	return &authzError{Error: invalidRequest(description), message: message}
}

func redirectError(code, description string) *authzError {
	return &authzError{Error: oauthError(code, description), redirect: true}
}

// Plain-language messages of the authorization endpoint's error page.
const (
	msgBadSignInRequest = "The application sent a sign-in request that is not valid."
	msgDamagedLink      = "The sign-in link is damaged or incomplete."
)

// readAuthorizeParams reads the request's parameters: the query of a GET,
// the form body of a POST. Repeated parameters are refused.
func (s *Server) readAuthorizeParams(w http.ResponseWriter, r *http.Request) (form, *authzError) {
	var values url.Values
	if r.Method == http.MethodPost {
		f, e := parsePostForm(w, r, s.cfg.MaxBodyBytes)
		if e != nil {
			return nil, &authzError{Error: e}
		}
		values = url.Values(f)
	} else {
		if len(r.URL.RawQuery) > maxAuthorizeQuery {
			return nil, pageError("The sign-in link is too long.", "the authorization request is too long")
		}
		var err error
		if values, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			return nil, pageError(msgDamagedLink, "the request's query string is malformed")
		}
	}
	if name, ok := repeatedParam(values); ok {
		if name == "client_id" || name == "redirect_uri" || name == "request_uri" {
			return nil, pageError(msgBadSignInRequest, "parameter "+name+" is repeated")
		}
		return form(values), redirectError(codeInvalidRequest, "parameter "+name+" is repeated")
	}
	return form(values), nil
}

// validateAuthorize checks an authorization request (RFC 6749 §4.1.1,
// RFC 7636, OIDC Core §3.1.2.1, RFC 8707). The returned request is
// complete even with a redirectable error, so the error can be sent to
// its redirect URI with its state.
func (s *Server) validateAuthorize(ctx context.Context, f form, viaPAR bool) (*authzRequest, *Client, *authzError) {
	c, err := s.lookupClient(ctx, f.get("client_id"))
	if err != nil {
		return nil, nil, &authzError{Error: serverError(err)}
	}
	if c == nil {
		return nil, nil, pageError("This sign-in service does not know the application that sent you here.",
			"the application is not registered here (unknown client_id)")
	}
	req := &authzRequest{ClientID: c.ID, State: f.get("state"), MaxAge: -1}
	if redirect := f.get("redirect_uri"); redirect != "" {
		if viaPAR && c.TrustPushedRedirects {
			if !s.trustedPushedRedirect(redirect) {
				return nil, c, pageError("The site that sent you here is not one this sign-in service protects.",
					"the pushed redirect_uri is not on a host this server's gateways protect")
			}
		} else if !redirectURIMatches(c.RedirectURIs, redirect) {
			return nil, c, pageError("The application asked to send you back to an address it has not registered, so the sign-in stopped to keep you safe.",
				"the redirect_uri is not registered for this application")
		}
		req.RedirectURI, req.RedirectGiven = redirect, true
	} else if len(c.RedirectURIs) == 1 && !slices.Contains(strings.Fields(f.get("scope")), "openid") {
		// OpenID Connect requires redirect_uri (OIDC Core §3.1.2.1).
		req.RedirectURI = c.RedirectURIs[0]
	} else {
		return nil, c, pageError("The application did not say where to send you back after signing in.", "redirect_uri is missing")
	}
	// From here on, errors go back to the client.
	fail := func(code, description string) (*authzRequest, *Client, *authzError) {
		return req, c, redirectError(code, description)
	}
	if _, ok := f["request"]; ok {
		return fail("request_not_supported", "request objects are not supported")
	}
	if !viaPAR && (s.cfg.RequirePAR || c.RequirePAR) {
		return fail(codeInvalidRequest, "this application must push its authorization request (PAR) first")
	}
	switch rt := f.get("response_type"); {
	case rt == "":
		return fail(codeInvalidRequest, "response_type is missing")
	case rt != "code":
		return fail(codeUnsupportedResponseType, "only response_type=code is supported")
	}
	if rm := f.get("response_mode"); rm != "" && rm != "query" {
		return fail(codeInvalidRequest, "only response_mode=query is supported")
	}
	if !c.AllowsGrant(GrantAuthorizationCode) {
		return fail(codeUnauthorizedClient, "this application may not use the authorization code flow")
	}
	scope, e := grantScope(f.get("scope"), c.Scopes)
	if e != nil {
		return fail(e.Code, e.Description)
	}
	req.Scope = scope
	aud, e := s.grantAudience(f.all("resource"), c)
	if e != nil {
		return fail(e.Code, e.Description)
	}
	req.Audience = aud
	if e := checkPKCE(f, c, req); e != nil {
		return fail(e.Code, e.Description)
	}
	req.Nonce = f.get("nonce")
	req.LoginHint = f.get("login_hint")
	if idp := f.get("idp"); providerName.MatchString(idp) {
		req.IDP = idp // one that is not configured is ignored: the page offers them all
	}
	if name := f.get(GatewayAppNameParam); name != "" && viaPAR && c.ID == GatewayClientID {
		if CheckAppName(name) != nil {
			return fail(codeInvalidRequest, "the gateway's app name is not plain text of at most 80 characters")
		}
		req.AppName = name
	}
	acr := f.get("acr_values")
	if len(req.Nonce) > 512 || len(req.State) > 2048 || len(req.LoginHint) > 256 || len(acr) > 512 {
		return fail(codeInvalidRequest, "nonce, state, login_hint or acr_values is too long")
	}
	for _, v := range strings.Fields(acr) {
		if !slices.Contains(req.ACRValues, v) {
			req.ACRValues = append(req.ACRValues, v)
		}
	}
	if p := f.get("prompt"); p != "" {
		for _, v := range strings.Fields(p) {
			switch v {
			case "none", "login", "consent", "select_account":
				if !slices.Contains(req.Prompt, v) {
					req.Prompt = append(req.Prompt, v)
				}
			default:
				return fail(codeInvalidRequest, "unsupported prompt value")
			}
		}
		if req.prompts("none") && len(req.Prompt) > 1 {
			return fail(codeInvalidRequest, "prompt=none cannot be combined with other values")
		}
	}
	if ma := f.get("max_age"); ma != "" {
		n, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || n < 0 {
			return fail(codeInvalidRequest, "max_age must be a non-negative number of seconds")
		}
		req.MaxAge = n
	}
	return req, c, nil
}

// checkPKCE validates code_challenge and its method (RFC 7636 §4.3):
// required for public clients and clients configured to require it; S256
// unless the client allows plain.
func checkPKCE(f form, c *Client, req *authzRequest) *Error {
	challenge, method := f.get("code_challenge"), f.get("code_challenge_method")
	if challenge == "" {
		if method != "" {
			return invalidRequest("code_challenge_method without code_challenge")
		}
		if c.Public || c.RequirePKCE {
			return invalidRequest("this application must use PKCE (code_challenge with S256)")
		}
		return nil
	}
	if method == "" {
		method = "plain" // RFC 7636 §4.3's default
	}
	switch {
	case method != "S256" && method != "plain":
		return invalidRequest("unsupported code_challenge_method")
	case method == "plain" && !c.AllowPlainPKCE:
		return invalidRequest("code_challenge_method must be S256")
	case !validVerifierSyntax(challenge):
		return invalidRequest("code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	req.CodeChallenge, req.CodeChallengeMethod = challenge, method
	return nil
}

// validVerifierSyntax checks RFC 7636 §4.1's code-verifier syntax, which
// a code challenge also has.
func validVerifierSyntax(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// redirectURIMatches compares a redirect URI with the registered ones
// exactly, except that a loopback redirect of a native app may use any
// port (RFC 8252 §7.3).
func redirectURIMatches(registered []string, got string) bool {
	if slices.Contains(registered, got) {
		return true
	}
	g, err := url.Parse(got)
	if err != nil || g.Scheme != "http" || !loopback.IsHost(g.Hostname()) {
		return false
	}
	for _, reg := range registered {
		r, err := url.Parse(reg)
		if err != nil || r.Scheme != "http" || r.Hostname() != g.Hostname() {
			continue
		}
		if r.Path == g.Path && r.RawQuery == g.RawQuery && r.Fragment == "" && g.Fragment == "" && r.User == nil && g.User == nil {
			return true
		}
	}
	return false
}

// redirectWithParams sends the browser to the client's redirect URI with
// params added to its query, plus iss (RFC 9207).
func (s *Server) redirectWithParams(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		s.logger.Info("a redirect URI does not parse", zap.String("redirect_uri", redirectURI))
		s.errorPage(w, r, http.StatusBadRequest, "The address to send you back to is not valid.")
		return
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			if v != "" {
				q.Set(k, v)
			}
		}
	}
	q.Set("iss", s.issuer)
	u.RawQuery = q.Encode()
	ui.SecurityHeaders(w.Header())
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// sendAuthzError answers an authorization error: on a page if the client
// cannot be trusted with a redirect, else by redirect with state and iss.
func (s *Server) sendAuthzError(w http.ResponseWriter, r *http.Request, req *authzRequest, e *authzError) {
	if !e.redirect || req == nil {
		status := e.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		if e.Code == codeServerError || e.Code == codeTemporarilyUnavailable {
			s.logError(r, e.Error)
		} else {
			s.logger.Info("authorization request refused", zap.String("error", e.Code), zap.String("reason", e.Description))
		}
		s.errorPage(w, r, status, e.userMessage())
		return
	}
	s.redirectWithParams(w, r, req.RedirectURI, url.Values{
		"error": {e.Code}, "error_description": {e.Description}, "state": {req.State},
	})
}

// errorPage shows an error to the user where a redirect would be unsafe.
// A 503 carries Retry-After.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	s.templates.Render(w, "message", status, ui.Page{Title: "Something went wrong", Error: message,
		Message: "Go back to the application and try again."})
}

// failurePage answers a page whose work failed on err, logging what
// failed: 503 with Retry-After (at Warn) when the store is unavailable,
// so the user knows to try again shortly; 500 (at Error) otherwise.
// message says what could not be done.
func (s *Server) failurePage(w http.ResponseWriter, r *http.Request, what string, err error, message string) {
	s.logFailure(what, err, zap.String("path", r.URL.Path))
	if storeUnavailable(err) {
		s.errorPage(w, r, http.StatusServiceUnavailable, message+" The service is unavailable for a moment; try again shortly.")
		return
	}
	s.errorPage(w, r, http.StatusInternalServerError, message)
}

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	f, e := s.readAuthorizeParams(w, r)
	if e != nil && !e.redirect {
		s.sendAuthzError(w, r, nil, e)
		return
	}
	viaPAR := false
	if uri := f.get("request_uri"); uri != "" && e == nil {
		if f, e = s.loadPushedRequest(r.Context(), f.get("client_id"), uri); e != nil {
			s.sendAuthzError(w, r, nil, e)
			return
		}
		viaPAR = true
	}
	req, c, verr := s.validateAuthorize(r.Context(), f, viaPAR)
	if verr == nil {
		verr = e // a repeated parameter, known once the redirect URI is
	}
	if verr != nil {
		s.sendAuthzError(w, r, req, verr)
		return
	}
	handle, err := s.storePending(r.Context(), req)
	if err != nil {
		s.failurePage(w, r, "storing authorization request", err, "The sign-in could not be started.")
		return
	}
	sess, user := s.currentSession(r)
	s.continueAuthorization(w, r, handle, req, c, sess, user)
}

// storePending keeps a validated request for the sign-in and consent
// pages, which carry its handle.
func (s *Server) storePending(ctx context.Context, req *authzRequest) (string, error) {
	handle := randomID(32)
	data, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	now := s.now()
	return handle, s.cfg.Store.CreateToken(ctx, store.Token{
		Kind: store.AuthorizeRequest, ID: hashID(handle), ClientID: req.ClientID, Data: data,
		IssuedAt: now, ExpiresAt: now.Add(pendingLifetime),
	})
}

// loadPending returns the pending request a form names, if it is still
// open. err says why it could not be looked up (the store failed); ok is
// false and err nil when it is gone (unknown, expired, completed).
func (s *Server) loadPending(ctx context.Context, handle string) (req *authzRequest, c *Client, ok bool, err error) {
	if handle == "" {
		return nil, nil, false, nil
	}
	rec, err := s.cfg.Store.GetToken(ctx, store.AuthorizeRequest, hashID(handle))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("looking up the pending request: %w", err)
	}
	if !rec.Active(s.now()) || json.Unmarshal(rec.Data, &req) != nil {
		return nil, nil, false, nil
	}
	c, err = s.lookupClient(ctx, req.ClientID)
	if err != nil {
		return nil, nil, false, fmt.Errorf("looking up the pending request's client: %w", err)
	}
	return req, c, c != nil, nil
}

// pendingGone answers a page whose pending request loadPending did not
// return: the store's failure (err) as failurePage does, or message, which
// says the request is gone, as a 400.
func (s *Server) pendingGone(w http.ResponseWriter, r *http.Request, err error, message string) {
	if err != nil {
		s.failurePage(w, r, "loading a pending request", err, "The sign-in could not continue.")
		return
	}
	s.errorPage(w, r, http.StatusBadRequest, message)
}

// needsLogin reports whether the request needs the user to sign in again
// although a session exists: prompt=login asks for a sign-in after the
// request was made, max_age bounds the age of the last sign-in.
func (s *Server) needsLogin(req *authzRequest, sess *session) bool {
	if req.LoginSession != "" && req.LoginSession == sess.id {
		return false // signed in for this very request
	}
	if req.prompts("login") {
		return true
	}
	return req.MaxAge >= 0 && s.now().Unix()-sess.data.AuthTime > req.MaxAge
}

// continueAuthorization takes a pending request as far as it can go with
// the browser's session (nil if none): the sign-in page, the consent
// page, or the code.
func (s *Server) continueAuthorization(w http.ResponseWriter, r *http.Request, handle string, req *authzRequest, c *Client, sess *session, user *User) {
	if sess != nil && s.needsLogin(req, sess) {
		sess = nil
	}
	if sess != nil && s.needsStepUp(sess, user, req, c) {
		if req.prompts("none") {
			s.failPending(w, r, handle, req, codeInteractionRequired, "the user must sign in with a second factor")
			return
		}
		s.stepUp(w, r, sess, user, handle, "")
		return
	}
	if sess == nil {
		if req.prompts("none") {
			s.failPending(w, r, handle, req, codeLoginRequired, "the user is not signed in")
			return
		}
		// idp names the identity provider to sign in with: a provider
		// that redirects is gone to at once; a directory is preselected.
		if p, ok := s.provider(req.IDP); ok && p.Redirect != nil {
			http.Redirect(w, r, s.startURL(p.Name, handle, ""), http.StatusSeeOther)
			return
		}
		s.renderLogin(w, r, http.StatusOK, loginForm{handle: handle, req: req, c: c, username: req.LoginHint, idp: req.IDP}, "")
		return
	}
	if s.needsConsent(r.Context(), req, c, user) {
		if req.prompts("none") {
			s.failPending(w, r, handle, req, codeConsentRequired, "the user has not approved this application")
			return
		}
		s.templates.Render(w, "consent", http.StatusOK, ui.Page{
			Title: "Allow access?", Action: s.prefix + pathConsent, CSRFToken: s.csrfToken(w, r),
			Client: appInfo(c, req), Scopes: scopeInfo(req.Scope), SignedInAs: user.Username,
			Hidden: map[string]string{"request": handle},
		})
		return
	}
	s.issueCode(w, r, handle, req, c, sess)
}

// signedInFor records on a pending request that the user signed in for
// it with the session sess.
func (s *Server) signedInFor(ctx context.Context, handle string, req *authzRequest, sess *session) error {
	req.LoginSession = sess.id
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	_, err = s.cfg.Store.UpdateToken(ctx, store.AuthorizeRequest, hashID(handle), func(t store.Token) (store.Token, error) {
		t.Data = data
		return t, nil
	})
	return err
}

// failPending closes a pending request and sends its error to the client.
func (s *Server) failPending(w http.ResponseWriter, r *http.Request, handle string, req *authzRequest, code, description string) {
	if _, err := s.cfg.Store.ConsumeToken(r.Context(), store.AuthorizeRequest, hashID(handle), s.now()); err != nil {
		if storeUnavailable(err) {
			s.failurePage(w, r, "closing the authorization request", err, "The sign-in request could not be closed.")
			return
		}
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in request was already completed.")
		return
	}
	s.sendAuthzError(w, r, req, redirectError(code, description))
}

// codeData is what an authorization code carries to the token endpoint.
type codeData struct {
	Request  authzRequest `json:"request"`
	AuthTime int64        `json:"auth_time"`
	AMR      []string     `json:"amr,omitempty"`
	// SID identifies the login session (the ID token's sid).
	SID string `json:"sid,omitempty"`
}

// issueCode closes the pending request, records a single-use code bound
// to client, redirect URI and PKCE challenge, and redirects with it.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, handle string, req *authzRequest, c *Client, sess *session) {
	ctx := r.Context()
	now := s.now()
	if _, err := s.cfg.Store.ConsumeToken(ctx, store.AuthorizeRequest, hashID(handle), now); err != nil {
		if storeUnavailable(err) {
			s.failurePage(w, r, "closing the authorization request", err, "The sign-in could not be completed.")
			return
		}
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in request was already completed. Start again from the application.")
		return
	}
	code := "ag_ac_" + randomID(32)
	data, _ := json.Marshal(codeData{Request: *req, AuthTime: sess.data.AuthTime, AMR: sess.data.AMR, SID: sess.sid()})
	err := s.cfg.Store.CreateToken(ctx, store.Token{
		Kind: store.AuthorizationCode, ID: hashID(code), FamilyID: randomID(16), ClientID: c.ID,
		Subject: sess.data.UserID, Data: data, IssuedAt: now, ExpiresAt: now.Add(codeLifetime),
	})
	if storeUnavailable(err) {
		// The pending request is spent: the user starts again from the
		// application, after a page that says to wait a moment.
		s.failurePage(w, r, "storing authorization code", err, "The sign-in could not be completed.")
		return
	}
	if err != nil {
		s.logger.Error("storing authorization code", zapErr(err))
		s.sendAuthzError(w, r, req, redirectError(codeServerError, "the authorization could not be completed"))
		return
	}
	s.redirectWithParams(w, r, req.RedirectURI, url.Values{"code": {code}, "state": {req.State}})
}
