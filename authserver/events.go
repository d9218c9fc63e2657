package authserver

import (
	"context"
	"net/http"
	"slices"
)

// Event is one security-relevant act of the server, done or refused: a
// sign-in, a token issued or revoked, a client registered, a key rotated.
// The server hands each to Config.Events as it happens; the Caddy module
// writes it to the audit log and counts it in its metrics. An Event never
// carries a secret, password, token or code: a token is named by its jti,
// a person by their subject and username.
type Event struct {
	// Name is the event's stable name, one of the Event* constants. The
	// audit log writes it as the "event" field.
	Name string
	// Outcome is "success" or "failure" where the event has both.
	Outcome string
	// Method is how it was done: the grant type of a token event, the
	// sign-in method (password, passkey, totp, recovery_code,
	// provider:<name>) of a sign-in, the action of an admin event.
	Method string
	// Client is the client ID involved, if any.
	Client string
	// Subject is the user's subject, if any. Never a metric label.
	Subject string
	// Username is the username involved, if any: on a failed sign-in the
	// one that was typed, if it is a user's (a password typed into the
	// username field must not reach the log). Never a metric label.
	Username string
	// RemoteIP is the address the request came from, if from a request.
	RemoteIP string
	// Error is the OAuth error code (or a short reason) of a failure.
	Error string
	// JTI names the token involved, if any. Never a metric label.
	JTI string
	// Count is how many things the act touched where that is more than
	// one (tokens revoked together, say); 0 means one.
	Count int
	// KeyID is the signing key's kid, for a key event.
	KeyID string
}

// Event names: stable, since operators filter and alert on them.
const (
	EventSignIn            = "signin"               // Outcome, Method (SignIn*), Username, Subject, RemoteIP, Client, Error
	EventSignOut           = "signout"              // Subject, Username, RemoteIP, Method ("logout_endpoint", "account_page")
	EventSecondFactor      = "signin.second_factor" // Outcome, Method (SignInTOTP, SignInPasskey, SignInRecoveryCode), Username, Subject, RemoteIP, Error
	EventConsentGiven      = "consent.given"        // Subject, Client, RemoteIP, Method ("remembered" or "once")
	EventConsentDenied     = "consent.denied"       // Subject, Client, RemoteIP
	EventConsentRevoked    = "consent.revoked"      // Subject, Client, RemoteIP: the user revoked an app's access
	EventTokenIssued       = "token.issued"         // Method (grant type), Client, Subject, JTI (the access token's), RemoteIP
	EventTokenError        = "token.error"          // Method (grant type, if supported), Client, Error (the OAuth error code), RemoteIP
	EventTokenRevoked      = "token.revoked"        // Outcome, Client, Subject, JTI, Count, Method ("revocation_endpoint" or "admin"), Error, RemoteIP
	EventRefreshReuse      = "token.refresh_reuse"  // Client, Subject, RemoteIP: a rotated refresh token came back; its family is revoked
	EventCodeReplay        = "token.code_replay"    // Client, Subject, RemoteIP: an authorization code came back; its tokens are revoked
	EventIntrospection     = "token.introspected"   // Client (the caller), Outcome ("active" or "inactive"), JTI (when active), RemoteIP
	EventDeviceCode        = "device.code"          // Outcome ("issued", "approved", "denied"), Client, Subject, Username, RemoteIP
	EventClientRegistered  = "client.registered"    // Client, RemoteIP
	EventClientUpdated     = "client.updated"       // Client, RemoteIP
	EventClientDeleted     = "client.deleted"       // Client, RemoteIP
	EventClientAuthFailure = "client.auth_failure"  // Client (if known), Method (AuthMethod*, or "registration_access_token"), Error, RemoteIP
	EventKeyRotated        = "key.rotated"          // Method (the new key's algorithm), KeyID (the new signing key's)
	EventAdmin             = "admin"                // Method (the action, such as "users.add"), Outcome, Error, RemoteIP, Client/Subject/Username/JTI/Count as the action has them
	EventUserChanged       = "user.changed"         // Method (UserChange*), Username, Subject, RemoteIP (on the account page)
	EventSessionEnded      = "session.ended"        // Subject, Username, Method ("account_page", or "gateway" for a gateway session), Count, RemoteIP
)

// Sign-in methods, the Method of EventSignIn and EventSecondFactor. A
// sign-in through an identity provider is "provider:" and its name.
const (
	SignInPassword     = "password"
	SignInPasskey      = "passkey"
	SignInTOTP         = "totp"
	SignInRecoveryCode = "recovery_code"
)

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// User changes, the Method of EventUserChanged.
const (
	UserChangeAdded           = "added"
	UserChangePassword        = "password_changed"
	UserChangeProfile         = "profile_changed"
	UserChangeDisabled        = "disabled"
	UserChangeEnabled         = "enabled"
	UserChangeDeleted         = "deleted"
	UserChangeTOTPAdded       = "totp_added"
	UserChangeTOTPRemoved     = "totp_removed"
	UserChangePasskeyAdded    = "passkey_added"
	UserChangePasskeyRemoved  = "passkey_removed"
	UserChangeRecoveryCodes   = "recovery_codes_made"
	UserChangeFederatedCreate = "federated_created"
)

// emit hands e to Config.Events, if set.
func (s *Server) emit(e Event) {
	if s.cfg.Events != nil {
		s.cfg.Events(e)
	}
}

// emitFrom hands e, done for the request r, to Config.Events with the
// request's address.
func (s *Server) emitFrom(r *http.Request, e Event) {
	if s.cfg.Events == nil {
		return
	}
	e.RemoteIP = s.cfg.ClientIP(r)
	s.cfg.Events(e)
}

// remoteIPKey marks a context carrying the address of the request it
// serves, for the events of functions that take only a context.
type remoteIPKey struct{}

// eventContext is r's context carrying r's address for emitCtx.
func (s *Server) eventContext(r *http.Request) context.Context {
	if s.cfg.Events == nil {
		return r.Context()
	}
	return context.WithValue(r.Context(), remoteIPKey{}, s.cfg.ClientIP(r))
}

// emitCtx hands e to Config.Events with the address of the request ctx
// serves, if it came through eventContext.
func (s *Server) emitCtx(ctx context.Context, e Event) {
	if s.cfg.Events == nil {
		return
	}
	e.RemoteIP, _ = ctx.Value(remoteIPKey{}).(string)
	s.cfg.Events(e)
}

// signInMethod names how a sign-in's first factor was done, from its
// identity provider (if any) and authentication methods.
func signInMethod(provider string, amr []string) string {
	switch {
	case provider != "":
		return "provider:" + provider
	case slices.Contains(amr, amrPassword[0]):
		return SignInPassword
	case slices.Contains(amr, amrHWK), slices.Contains(amr, amrSWK):
		return SignInPasskey
	default:
		return SignInPassword
	}
}

// clientOf is c's ID, or "" for no client.
func clientOf(c *Client) string {
	if c == nil {
		return ""
	}
	return c.ID
}
