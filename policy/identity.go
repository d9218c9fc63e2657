package policy

// Values of [Identity.Auth].
const (
	// AuthBearer marks an identity proven by a bearer token (RFC 6750).
	AuthBearer = "bearer"
	// AuthSession marks an identity proven by the gateway's session cookie.
	AuthSession = "session"
)

// MFAValue is the value that marks a sign-in that included a second
// factor: the "mfa" authentication method reference (RFC 8176 §2) in
// [Identity.AMR], or the authentication context class reference in
// [Identity.ACR] that a client asks for with acr_values=mfa (OpenID
// Connect Core §3.1.2.1, RFC 9470 §4).
const MFAValue = "mfa"

// Identity is the authenticated caller a policy decides about. The policy
// only reads it, and keeps none of it after [Policy.Evaluate] returns.
type Identity struct {
	// Subject is the "sub" claim: the user, or the client itself for a
	// client-credentials token.
	Subject string
	// ClientID is the OAuth client the token was issued to, if any.
	ClientID string
	// Email is the user's email address, if known.
	Email string
	// Name is the user's display name, if known.
	Name string
	// Scopes are the granted scopes (for a bearer token, its "scope").
	Scopes []string
	// Groups are the groups the subject belongs to.
	Groups []string
	// Audience is the token's "aud": the resources it is meant for.
	Audience []string
	// AMR lists the authentication methods of the sign-in the token or
	// session comes from: the "amr" claim (RFC 8176 values such as "pwd",
	// "otp", "hwk", "swk" and "mfa"), empty when the provider sent none.
	AMR []string
	// ACR is the authentication context class reference of that sign-in:
	// the "acr" claim, such as "mfa"; empty when the provider sent none.
	ACR string
	// Claims holds the token's or session's claims as decoded from JSON
	// (string, float64, bool, []any, map[string]any, nil); other Go types
	// are tolerated. Claim rules and the CEL variable claims read it.
	Claims map[string]any
	// Auth is how the identity was proven: [AuthBearer] or [AuthSession].
	Auth string
}

// HasMFA reports whether the identity's sign-in included a second
// factor: [Identity.AMR] lists [MFAValue] or [Identity.ACR] is
// [MFAValue]. It is what [Requirements.MFA] requires.
func (id *Identity) HasMFA() bool {
	if id.ACR == MFAValue {
		return true
	}
	for _, m := range id.AMR {
		if m == MFAValue {
			return true
		}
	}
	return false
}

// Request is the request being authorized, as CEL expressions see it.
type Request struct {
	// Method is the HTTP method, such as "GET".
	Method string
	// Path is the URL path, without the query: the gateway passes it
	// percent-decoded and cleaned (slashes merged, dot segments resolved),
	// as the upstream's routing sees it, with its case kept.
	Path string
	// Host is the requested host, without the port.
	Host string
	// RemoteIP is the client's IP address, as trusted by the server.
	RemoteIP string
	// MCPMethod is the JSON-RPC method of a request to an MCP server
	// ("initialize", "tools/list", "tools/call", a notification's method),
	// as the gateway read it from the body on a route marked mcp; empty
	// for a JSON-RPC response and for every other request.
	MCPMethod string
	// MCPTool is the tool a "tools/call" request names (its params.name);
	// empty for every other request.
	MCPTool string
}

// MethodToolsCall is the MCP method that calls a tool: the only request
// [KindTool] rules and [Requirements.Tools] apply to.
const MethodToolsCall = "tools/call"
