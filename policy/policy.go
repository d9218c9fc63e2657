package policy

import (
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// Policy is a compiled [Config]. It is immutable and safe for concurrent
// use. A nil *Policy allows everyone, like a Policy compiled from an empty
// Config.
type Policy struct {
	rules      []Rule // copy of Config.Rules, for Rule(i)
	scopes     []string
	audiences  stringSet
	deny       []compiledRule
	allow      []compiledRule // allow rules of every kind but tool
	allowTools []compiledRule // allow tool rules
	toolScopes []toolScopes
	mfa        bool          // Requirements.MFA
	usesMCP    bool          // some rule or requirement reads the MCP fields
	adapter    types.Adapter // for CEL values; nil without expressions
}

// toolScopes is a compiled ToolScopes.
type toolScopes struct {
	tools  toolMatcher
	scopes []string
}

// compiledRule is a Rule made ready for matching.
type compiledRule struct {
	index  int
	kind   Kind
	claim  string
	values stringSet
	// For KindClaim: numbers among values in canonical form, and whether
	// "true" or "false" is among them.
	numbers               stringSet
	matchTrue, matchFalse bool
	prg                   cel.Program // for KindExpression
	readsMCP              bool        // an expression that reads mcp.method or mcp.tool
	tools                 toolMatcher // for KindTool
}

// MaxExpressionCost bounds the runtime cost of one expression evaluation,
// in CEL cost units (roughly, one per operation and per list element or
// string byte visited). An evaluation that exceeds it fails, which counts
// as described under [Compile].
const MaxExpressionCost = 100_000

// Compile checks cfg and compiles it, including every CEL expression, once.
// All problems are reported together, each naming the rule by its index and
// text.
//
// Expressions see these variables:
//
//	sub, client_id, email, name  string   Identity fields
//	scopes, groups, aud          list(string)
//	claims                       map(string, dyn)  Identity.Claims
//	auth                         string   "bearer" or "session"
//	amr                          list(string)  Identity.AMR, such as ["pwd", "otp", "mfa"]
//	acr                          string   Identity.ACR, such as "mfa"
//	request.method, request.path, request.host, request.remote_ip  string
//	mcp.method, mcp.tool         string   Request.MCPMethod, Request.MCPTool
//
// with the standard CEL functions and macros (has, in, exists, all,
// matches, startsWith, …) plus cel-go's strings, sets and network
// extensions (lowerAscii, sets.intersects, cidr("10.0.0.0/8").containsIP(…),
// …). An expression must have type bool: compare dyn values explicitly, as
// in claims.admin == true. Reading a missing key such as claims.nope is an
// evaluation error; test with has(claims.nope) or "nope" in claims first.
//
// An expression that fails to evaluate (a missing key, a type mismatch,
// [MaxExpressionCost] exceeded) fails closed: as a deny rule it matches,
// and as an allow rule it does not.
func Compile(cfg Config) (*Policy, error) {
	var errs []error
	p := &Policy{rules: cloneRules(cfg.Rules), mfa: cfg.Require.MFA}

	for _, s := range cfg.Require.Scopes {
		if s == "" {
			errs = append(errs, errors.New("policy: require scope: empty scope"))
			continue
		}
		if !contains(p.scopes, s) {
			p.scopes = append(p.scopes, s)
		}
	}
	for _, a := range cfg.Require.Audiences {
		if a == "" {
			errs = append(errs, errors.New("policy: require audience: empty audience"))
		}
	}
	p.audiences = newStringSet(cfg.Require.Audiences)
	for i, ts := range cfg.Require.Tools {
		m, err := newToolMatcher(ts.Tools)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy: require scope for tool (entry %d): %w", i, err))
			continue
		}
		if len(ts.Scopes) == 0 {
			errs = append(errs, fmt.Errorf("policy: require scope for tool %s: no scopes", strings.Join(ts.Tools, " ")))
			continue
		}
		var scopes []string
		for _, s := range ts.Scopes {
			if s == "" {
				errs = append(errs, fmt.Errorf("policy: require scope for tool %s: empty scope", strings.Join(ts.Tools, " ")))
			} else if !contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
		p.toolScopes = append(p.toolScopes, toolScopes{tools: m, scopes: scopes})
		p.usesMCP = true
	}

	var env *cel.Env
	for i, r := range p.rules {
		if r.Kind == KindExpression && env == nil {
			var err error
			if env, err = newEnv(); err != nil {
				return nil, fmt.Errorf("policy: creating CEL environment: %w", err)
			}
			p.adapter = env.CELTypeAdapter()
		}
		cr, err := compileRule(env, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy: rule %d (%s): %w", i, r, err))
			continue
		}
		cr.index = i
		switch {
		case r.Effect == Deny:
			p.deny = append(p.deny, cr)
		case r.Kind == KindTool:
			p.allowTools = append(p.allowTools, cr)
		default:
			p.allow = append(p.allow, cr)
		}
		if r.Kind == KindTool || r.Kind == KindExpression && cr.readsMCP {
			p.usesMCP = true
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func compileRule(env *cel.Env, r Rule) (compiledRule, error) {
	cr := compiledRule{kind: r.Kind, claim: r.Claim}
	if r.Effect != Allow && r.Effect != Deny {
		return cr, errors.New("effect must be allow or deny")
	}
	switch r.Kind {
	case KindUser, KindGroup, KindClient, KindScope, KindAudience, KindClaim, KindTool:
	case KindExpression:
		if len(r.Values) > 0 || r.Claim != "" {
			return cr, errors.New("an expression rule takes no values or claim name")
		}
		prg, readsMCP, err := compileExpression(env, r.Expression)
		cr.prg, cr.readsMCP = prg, readsMCP
		return cr, err
	default:
		return cr, errors.New("unknown rule kind")
	}
	if r.Expression != "" {
		return cr, fmt.Errorf("a %s rule takes no expression", r.Kind)
	}
	if r.Kind == KindClaim && r.Claim == "" {
		return cr, errors.New("missing claim name")
	}
	if r.Kind != KindClaim && r.Claim != "" {
		return cr, fmt.Errorf("a %s rule takes no claim name", r.Kind)
	}
	if len(r.Values) == 0 {
		return cr, errors.New("no values")
	}
	for _, v := range r.Values {
		if v == "" {
			return cr, errors.New("empty value")
		}
	}
	if r.Kind == KindTool {
		m, err := newToolMatcher(r.Values)
		cr.tools = m
		return cr, err
	}
	cr.values = newStringSet(r.Values)
	if r.Kind == KindClaim {
		var nums []string
		for _, v := range r.Values {
			switch v {
			case "true":
				cr.matchTrue = true
			case "false":
				cr.matchFalse = true
			}
			if n, ok := canonicalNumber(v); ok {
				nums = append(nums, n)
			}
		}
		cr.numbers = newStringSet(nums)
	}
	return cr, nil
}

// Rule returns the rule at index i of [Config.Rules], as in
// [Decision.Rule], and false if there is none (such as for -1).
func (p *Policy) Rule(i int) (Rule, bool) {
	if p == nil || i < 0 || i >= len(p.rules) {
		return Rule{}, false
	}
	r := p.rules[i]
	r.Values = append([]string(nil), r.Values...)
	return r, true
}

// RequiredScopes returns the scopes every identity must have, without
// duplicates, for WWW-Authenticate's scope attribute (RFC 6750 §3) and
// protected resource metadata (RFC 9728). The scopes only some tools need
// ([Requirements.Tools]) are not among them: a client asks for those when
// a call needs them (step-up).
func (p *Policy) RequiredScopes() []string {
	if p == nil {
		return nil
	}
	return append([]string(nil), p.scopes...)
}

// RequiresMFA reports whether the policy requires a sign-in with a second
// factor ([Requirements.MFA]), so that a browser signing in for it can
// ask for one at once (acr_values=mfa) rather than step up afterwards.
func (p *Policy) RequiresMFA() bool { return p != nil && p.mfa }

// UsesMCP reports whether a decision can depend on [Request.MCPMethod] or
// [Request.MCPTool]: there are tool rules, scopes required for tools, or
// expressions that read mcp.method or mcp.tool. A policy that does not
// treats every tool alike, so a tools/list answer needs no filtering.
func (p *Policy) UsesMCP() bool { return p != nil && p.usesMCP }

// Evaluate decides whether id may make req. In order:
//
//  1. If audiences are required and none is in id.Audience:
//     [ReasonWrongAudience]. This comes first because a token meant for
//     another resource should be refused as such, not asked for more scope.
//  2. If required scopes are missing: [ReasonInsufficientScope], with
//     [Decision.MissingScopes].
//  3. If any deny rule matches: [ReasonDenied], with the first one in
//     configuration order as [Decision.Rule].
//  4. If there are allow rules of kinds other than tool, one of them must
//     match, or the answer is [ReasonNoAllowMatched]. They decide who may
//     use the resource at all, so they apply to every request.
//  5. For a "tools/call", if there are allow tool rules, one of them must
//     name the tool, or the answer is [ReasonNoAllowMatched]. Tool rules
//     decide which tools may be called, so they apply to tools/call only:
//     the rest of MCP (initialize, tools/list, notifications, responses)
//     is not refused because a tool rule exists.
//  6. If [Requirements.MFA] is set and the identity's sign-in included no
//     second factor ([Identity.HasMFA]): [ReasonMFARequired]. This comes
//     after the rules, so nobody is asked for a second factor for a
//     request that would be refused anyway.
//  7. For a "tools/call", if [Requirements.Tools] requires scopes for the
//     tool that are missing: [ReasonInsufficientScope]. This comes after
//     the rules, so a client is never asked to step up for a call that
//     would be refused anyway.
//  8. Otherwise: [ReasonAllowed]. [Decision.Rule] is the allow tool rule
//     that matched, else the other allow rule that matched, else -1.
//
// It does not allocate unless an expression rule is evaluated or scopes
// are missing.
func (p *Policy) Evaluate(id Identity, req Request) Decision {
	if p == nil {
		return Decision{Allowed: true, Reason: ReasonAllowed, Rule: -1}
	}
	if !p.audiences.empty() && !p.audiences.hasAny(id.Audience) {
		return Decision{Reason: ReasonWrongAudience, Rule: -1}
	}
	if missing := p.missingScopes(id.Scopes); missing != nil {
		return Decision{Reason: ReasonInsufficientScope, Rule: -1, MissingScopes: missing, NeededScopes: p.neededScopes(&req)}
	}
	call := req.MCPMethod == MethodToolsCall

	var act *activation // built on the first expression, then shared
	for i := range p.deny {
		r := &p.deny[i]
		if r.kind != KindExpression {
			if r.match(&id, call, req.MCPTool) {
				return Decision{Reason: ReasonDenied, Rule: r.index}
			}
			continue
		}
		if act == nil {
			act = p.newActivation(&id, &req)
		}
		ok, err := r.eval(act)
		if ok || err != nil { // fail closed
			return Decision{Reason: ReasonDenied, Rule: r.index, Err: err}
		}
	}

	rule := -1
	if len(p.allow) > 0 {
		var firstErr error
		matched := false
		for i := range p.allow {
			r := &p.allow[i]
			if r.kind != KindExpression {
				if r.match(&id, call, req.MCPTool) {
					rule, matched = r.index, true
					break
				}
				continue
			}
			if act == nil {
				act = p.newActivation(&id, &req)
			}
			ok, err := r.eval(act)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if ok {
				rule, matched = r.index, true
				break
			}
		}
		if !matched {
			return Decision{Reason: ReasonNoAllowMatched, Rule: -1, Err: firstErr}
		}
	}
	if call && len(p.allowTools) > 0 {
		matched := false
		for i := range p.allowTools {
			if r := &p.allowTools[i]; r.tools.match(req.MCPTool) {
				rule, matched = r.index, true
				break
			}
		}
		if !matched {
			return Decision{Reason: ReasonNoAllowMatched, Rule: -1}
		}
	}
	if p.mfa && !id.HasMFA() {
		return Decision{Reason: ReasonMFARequired, Rule: -1}
	}
	if !call {
		return Decision{Allowed: true, Reason: ReasonAllowed, Rule: rule}
	}
	for i := range p.toolScopes {
		ts := &p.toolScopes[i]
		if ts.tools.match(req.MCPTool) && !containsAll(id.Scopes, ts.scopes) {
			return Decision{Reason: ReasonInsufficientScope, Rule: -1, MissingScopes: p.missingToolScopes(id.Scopes, req.MCPTool), NeededScopes: p.neededScopes(&req)}
		}
	}
	return Decision{Allowed: true, Reason: ReasonAllowed, Rule: rule}
}

// neededScopes is every scope req needs: the required ones and, for a
// tools/call, those required for its tool.
func (p *Policy) neededScopes(req *Request) []string {
	needed := append([]string(nil), p.scopes...)
	if req.MCPMethod != MethodToolsCall {
		return needed
	}
	for i := range p.toolScopes {
		ts := &p.toolScopes[i]
		if !ts.tools.match(req.MCPTool) {
			continue
		}
		for _, s := range ts.scopes {
			if !contains(needed, s) {
				needed = append(needed, s)
			}
		}
	}
	return needed
}

// missingToolScopes is the scopes required for tool that have lacks.
func (p *Policy) missingToolScopes(have []string, tool string) []string {
	var missing []string
	for i := range p.toolScopes {
		ts := &p.toolScopes[i]
		if !ts.tools.match(tool) {
			continue
		}
		for _, s := range ts.scopes {
			if !contains(have, s) && !contains(missing, s) {
				missing = append(missing, s)
			}
		}
	}
	return missing
}

func containsAll(have, want []string) bool {
	for _, s := range want {
		if !contains(have, s) {
			return false
		}
	}
	return true
}

// missingScopes returns the required scopes not in have, or nil.
func (p *Policy) missingScopes(have []string) []string {
	var missing []string
	for _, s := range p.scopes {
		if !contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

// match reports whether a non-expression rule matches id, for a request
// that is a tools/call of tool if call is set.
func (r *compiledRule) match(id *Identity, call bool, tool string) bool {
	switch r.kind {
	case KindTool:
		return call && r.tools.match(tool)
	case KindUser:
		return r.values.has(id.Subject)
	case KindGroup:
		return r.values.hasAny(id.Groups)
	case KindClient:
		return r.values.has(id.ClientID)
	case KindScope:
		return r.values.hasAny(id.Scopes)
	case KindAudience:
		return r.values.hasAny(id.Audience)
	case KindClaim:
		v, ok := id.Claims[r.claim]
		return ok && r.matchClaim(v)
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func cloneRules(rules []Rule) []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		r.Values = append([]string(nil), r.Values...)
		out[i] = r
	}
	return out
}
