package policy

// Reason says why a [Decision] came out as it did. Its values are short
// snake_case words, fit for logs and metrics labels.
type Reason string

// Reasons.
const (
	// ReasonAllowed: the requirements hold, no deny rule matched, and an
	// allow rule matched or there are none.
	ReasonAllowed Reason = "allowed"
	// ReasonWrongAudience: the identity's audience is not one the policy
	// requires. The token was not meant for this resource.
	ReasonWrongAudience Reason = "wrong_audience"
	// ReasonInsufficientScope: required scopes are missing; see
	// [Decision.MissingScopes].
	ReasonInsufficientScope Reason = "insufficient_scope"
	// ReasonMFARequired: [Requirements.MFA] is set and the identity's
	// sign-in included no second factor ([Identity.HasMFA] is false). A
	// browser is sent to sign in again with one (acr_values=mfa); a client
	// with a bearer token is answered per RFC 9470
	// (insufficient_user_authentication).
	ReasonMFARequired Reason = "mfa_required"
	// ReasonDenied: a deny rule matched; see [Decision.Rule].
	ReasonDenied Reason = "denied"
	// ReasonNoAllowMatched: there are allow rules and none matched; for a
	// "tools/call", also: there are tool allow rules and none names the
	// tool.
	ReasonNoAllowMatched Reason = "no_allow_matched"
)

// Decision is the outcome of [Policy.Evaluate].
type Decision struct {
	// Allowed reports whether the request may go on.
	Allowed bool
	// Reason says why.
	Reason Reason
	// Rule is the index in [Config.Rules] of the rule that decided: the
	// deny rule that matched, or the allow rule that matched. It is -1 when
	// no single rule decided (requirements failed, no allow rule matched,
	// or there are no rules). [Policy.Rule] returns the rule itself.
	Rule int
	// MissingScopes lists the required scopes the identity lacks, in the
	// order they were configured, when Reason is
	// [ReasonInsufficientScope].
	MissingScopes []string
	// NeededScopes lists, when Reason is [ReasonInsufficientScope], every
	// scope the request needs, granted or not: [Requirements.Scopes] and,
	// for a "tools/call", the scopes [Requirements.Tools] requires for the
	// tool, and no other tool's. It is what an insufficient_scope
	// challenge names (RFC 6750 §3.1: the scope necessary to access the
	// resource), so a client that re-authorizes with just these can make
	// the request.
	NeededScopes []string
	// Err is the error of an expression that failed to evaluate, when it
	// mattered: the deny expression that failed closed (Reason
	// [ReasonDenied]), or the first allow expression that failed when none
	// matched (Reason [ReasonNoAllowMatched]). It is for logs only.
	Err error
}
