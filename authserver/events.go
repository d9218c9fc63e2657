package authserver

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
	// one that was typed. Never a metric label.
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
}

// Event names: stable, since operators filter and alert on them.
const (
	EventSignIn            = "signin"               // Outcome, Method, Username, Subject, RemoteIP, Client
	EventSignOut           = "signout"              // Subject, RemoteIP
	EventSecondFactor      = "signin.second_factor" // Outcome, Method, Subject, RemoteIP
	EventConsentGiven      = "consent.given"        // Subject, Client
	EventConsentRevoked    = "consent.revoked"      // Subject, Client
	EventTokenIssued       = "token.issued"         // Method (grant type), Client, Subject, JTI
	EventTokenError        = "token.error"          // Method (grant type), Client, Error, RemoteIP
	EventTokenRevoked      = "token.revoked"        // Client, Subject, JTI, Count, Method ("revocation_endpoint", "admin", ...)
	EventRefreshReuse      = "token.refresh_reuse"  // Client, Subject: a rotated refresh token came back
	EventCodeReplay        = "token.code_replay"    // Client, Subject: an authorization code came back
	EventIntrospection     = "token.introspected"   // Client, Outcome ("active" or "inactive")
	EventDeviceCode        = "device.code"          // Outcome ("issued", "approved", "denied"), Client, Subject
	EventClientRegistered  = "client.registered"    // Client, RemoteIP
	EventClientUpdated     = "client.updated"       // Client, RemoteIP
	EventClientDeleted     = "client.deleted"       // Client, RemoteIP
	EventClientAuthFailure = "client.auth_failure"  // Client, RemoteIP
	EventKeyRotated        = "key.rotated"          // Method (the new key's algorithm)
	EventAdmin             = "admin"                // Method (the action), Outcome, Client/Subject/Username as the action has them
	EventUserChanged       = "user.changed"         // Method ("added", "password_changed", "disabled", "enabled", "deleted", "factor_added", "factor_removed"), Username, Subject
	EventSessionEnded      = "session.ended"        // Subject, Method ("account_page", "admin", ...), Count
)

// emit hands e to Config.Events, if set.
func (s *Server) emit(e Event) {
	if s.cfg.Events != nil {
		s.cfg.Events(e)
	}
}
