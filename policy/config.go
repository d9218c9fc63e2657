package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Effect is what a matching [Rule] does.
type Effect uint8

// Effects. The zero Effect is invalid, so a rule must say which it is.
const (
	// Allow lets the identity in if no deny rule matches.
	Allow Effect = iota + 1
	// Deny refuses the identity, whatever allow rules say.
	Deny
)

// ParseEffect parses "allow" or "deny".
func ParseEffect(s string) (Effect, error) {
	switch s {
	case "allow":
		return Allow, nil
	case "deny":
		return Deny, nil
	}
	return 0, fmt.Errorf("policy: unknown effect %q (want allow or deny)", s)
}

// String returns "allow" or "deny".
func (e Effect) String() string {
	switch e {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "Effect(" + strconv.Itoa(int(e)) + ")"
}

// Kind is what a [Rule] matches on.
type Kind uint8

// Kinds of rule. The zero Kind is invalid.
const (
	// KindUser matches when [Identity.Subject] is one of the values.
	KindUser Kind = iota + 1
	// KindGroup matches when one of [Identity.Groups] is one of the values.
	KindGroup
	// KindClient matches when [Identity.ClientID] is one of the values.
	KindClient
	// KindScope matches when one of [Identity.Scopes] is one of the values.
	// Use [Requirements.Scopes] to require all of a list instead.
	KindScope
	// KindAudience matches when one of [Identity.Audience] is one of the
	// values.
	KindAudience
	// KindClaim matches when the claim named [Rule.Claim] equals one of the
	// values; see [Rule] for how non-string claims compare.
	KindClaim
	// KindExpression matches when the CEL expression [Rule.Expression]
	// evaluates to true.
	KindExpression
	// KindTool matches a "tools/call" request ([Request.MCPMethod] is
	// [MethodToolsCall]) whose [Request.MCPTool] one of the values names;
	// a value may hold "*" wildcards (see [Rule]). It never matches any
	// other request, and its allow rules do not refuse other requests: see
	// [Policy.Evaluate].
	KindTool
)

var kindNames = [...]string{
	KindUser:       "user",
	KindGroup:      "group",
	KindClient:     "client",
	KindScope:      "scope",
	KindAudience:   "audience",
	KindClaim:      "claim",
	KindExpression: "expression",
	KindTool:       "tool",
}

// ParseKind parses a kind name: "user", "group", "client", "scope",
// "audience", "claim", "expression" or "tool".
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name != "" && name == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("policy: unknown rule kind %q (want one of user, group, client, scope, audience, claim, expression, tool)", s)
}

// String returns the kind's name, as accepted by [ParseKind].
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Rule is one allow or deny rule.
//
// Values are compared exactly (case matters). For [KindClaim], a string
// claim must equal a value; a number claim matches a value that is the same
// number written in decimal ("42" matches 42 and 42.0, "0.5" matches 0.5);
// a bool claim matches "true" or "false"; a list claim matches when any of
// its string, number or bool elements does. A missing claim, null, an
// object, or any other type matches nothing; use an expression for those.
// So a deny rule on a claim the identity lacks does not deny: to insist on
// a claim, allow its wanted value instead.
//
// For [KindTool], a value is a tool name or a pattern in which "*" stands
// for any run of characters, "/" and none included ("secret_*", "*_admin",
// "github/*", "*"); every other character, "?" and "[" included, stands
// for itself. Tool names are compared case-sensitively, as MCP servers
// resolve them.
type Rule struct {
	// Effect is [Allow] or [Deny]. Required.
	Effect Effect
	// Kind is what the rule matches on. Required.
	Kind Kind
	// Claim is the claim name for [KindClaim], looked up in
	// [Identity.Claims]; empty for other kinds.
	Claim string
	// Values are the accepted values; one is enough to match. Required,
	// without empty strings, except for [KindExpression], which takes none.
	Values []string
	// Expression is the CEL expression for [KindExpression]; it must
	// evaluate to a bool. See [Compile] for its variables.
	Expression string
}

// String describes the rule as a Caddyfile-like line for logs, such as
// `allow group admins ops` or `deny expression "auth == \"session\""`.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Effect.String())
	b.WriteByte(' ')
	b.WriteString(r.Kind.String())
	if r.Kind == KindExpression {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(r.Expression))
		return b.String()
	}
	if r.Kind == KindClaim {
		b.WriteByte(' ')
		b.WriteString(quoteIfNeeded(r.Claim))
	}
	for _, v := range r.Values {
		b.WriteByte(' ')
		b.WriteString(quoteIfNeeded(v))
	}
	return b.String()
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"'`\\{}#") || !strconv.CanBackquote(s) {
		return strconv.Quote(s)
	}
	return s
}

// Requirements must all hold before any rule is looked at, except MFA
// and Tools, which are checked after the rules (see [Policy.Evaluate]).
type Requirements struct {
	// Scopes must all be in [Identity.Scopes]. Default: none.
	Scopes []string
	// Audiences, if set, must include at least one of [Identity.Audience].
	// Default: any audience.
	Audiences []string
	// Tools lists scopes that calling particular tools needs, besides
	// Scopes: a "tools/call" of a tool that entries name needs all of
	// their scopes. Default: none.
	Tools []ToolScopes
	// MFA requires a sign-in that included a second factor
	// ([Identity.HasMFA]); an identity without one gets
	// [ReasonMFARequired]. Default: any sign-in.
	MFA bool
}

// ToolScopes requires scopes for calling some tools.
type ToolScopes struct {
	// Tools are tool names or patterns, as [KindTool] rule values.
	Tools []string
	// Scopes must all be granted to call one of Tools.
	Scopes []string
}

// Config is a policy before compilation.
type Config struct {
	// Require holds the requirements checked first.
	Require Requirements
	// Rules are the allow and deny rules, in order. Default: none, which
	// allows every identity that meets the requirements.
	Rules []Rule
}
