package policy

import (
	"strings"
	"testing"
)

// withMFA is alice signed in with amr and acr.
func withMFA(amr []string, acr string) Identity {
	id := alice()
	id.AMR, id.ACR = amr, acr
	return id
}

func TestHasMFA(t *testing.T) {
	for _, tt := range []struct {
		amr  []string
		acr  string
		want bool
	}{
		{nil, "", false},
		{[]string{"pwd"}, "", false},
		{[]string{"pwd", "otp"}, "", false}, // two methods, but the provider did not say mfa
		{[]string{"pwd", "otp", "mfa"}, "", true},
		{[]string{"mfa"}, "", true},
		{nil, "mfa", true},
		{[]string{"pwd"}, "mfa", true},
		{[]string{"MFA"}, "MFA", false}, // RFC 8176 values are case-sensitive
		{[]string{"pwd"}, "urn:mace:incommon:iap:silver", false},
	} {
		id := withMFA(tt.amr, tt.acr)
		if got := id.HasMFA(); got != tt.want {
			t.Errorf("HasMFA(amr %q, acr %q) = %v, want %v", tt.amr, tt.acr, got, tt.want)
		}
	}
}

func TestRequireMFA(t *testing.T) {
	mfa := Requirements{MFA: true}
	pwd := withMFA([]string{"pwd"}, "")
	otp := withMFA([]string{"pwd", "otp", "mfa"}, "mfa")
	byACR := withMFA(nil, "mfa")
	for _, tt := range []struct {
		name string
		cfg  Config
		id   Identity
		want Decision
	}{
		{"password only", Config{Require: mfa}, pwd, Decision{Reason: ReasonMFARequired, Rule: -1}},
		{"no amr at all", Config{Require: mfa}, alice(), Decision{Reason: ReasonMFARequired, Rule: -1}},
		{"amr mfa", Config{Require: mfa}, otp, Decision{Allowed: true, Reason: ReasonAllowed, Rule: -1}},
		{"acr mfa", Config{Require: mfa}, byACR, Decision{Allowed: true, Reason: ReasonAllowed, Rule: -1}},
		{"not required", Config{}, pwd, Decision{Allowed: true, Reason: ReasonAllowed, Rule: -1}},
		// The requirements before the rules come first: a token for another
		// resource or without the scope is refused as such.
		{"wrong audience first", Config{Require: Requirements{MFA: true, Audiences: []string{"https://else.example"}}}, pwd,
			Decision{Reason: ReasonWrongAudience, Rule: -1}},
		{"missing scope first", Config{Require: Requirements{MFA: true, Scopes: []string{"admin"}}}, pwd,
			Decision{Reason: ReasonInsufficientScope, Rule: -1, MissingScopes: []string{"admin"}, NeededScopes: []string{"admin"}}},
		// Nobody is asked for a second factor to be refused anyway.
		{"a deny rule wins", Config{Require: mfa, Rules: []Rule{deny(KindUser, "alice")}}, pwd, Decision{Reason: ReasonDenied, Rule: 0}},
		{"no allow rule matched", Config{Require: mfa, Rules: []Rule{allow(KindGroup, "nobody")}}, pwd, Decision{Reason: ReasonNoAllowMatched, Rule: -1}},
		{"allowed by a rule, still needs mfa", Config{Require: mfa, Rules: []Rule{allow(KindGroup, "admins")}}, pwd, Decision{Reason: ReasonMFARequired, Rule: -1}},
		{"allowed by a rule, with mfa", Config{Require: mfa, Rules: []Rule{allow(KindGroup, "admins")}}, otp, Decision{Allowed: true, Reason: ReasonAllowed, Rule: 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.cfg)
			got := p.Evaluate(tt.id, get)
			if got.Allowed != tt.want.Allowed || got.Reason != tt.want.Reason || got.Rule != tt.want.Rule ||
				strings.Join(got.MissingScopes, " ") != strings.Join(tt.want.MissingScopes, " ") {
				t.Errorf("Evaluate = %+v, want %+v", got, tt.want)
			}
			if p.RequiresMFA() != tt.cfg.Require.MFA {
				t.Errorf("RequiresMFA = %v", p.RequiresMFA())
			}
		})
	}
	if (*Policy)(nil).RequiresMFA() {
		t.Error("a nil policy requires MFA")
	}
}

// TestRequireMFAToolCall: on an MCP route the second factor is asked for
// after the tool rules (a tool nobody may call is refused as such) and
// before the scopes a tool needs.
func TestRequireMFAToolCall(t *testing.T) {
	p := mustCompile(t, Config{
		Require: Requirements{MFA: true, Tools: []ToolScopes{{Tools: []string{"deploy"}, Scopes: []string{"deploy"}}}},
		Rules:   []Rule{allow(KindTool, "deploy", "read_*")},
	})
	call := func(tool string) Request {
		r := get
		r.MCPMethod, r.MCPTool = MethodToolsCall, tool
		return r
	}
	pwd := withMFA([]string{"pwd"}, "")
	otp := withMFA([]string{"otp", "mfa"}, "")
	for _, tt := range []struct {
		name string
		id   Identity
		req  Request
		want Reason
	}{
		{"tool not allowed", pwd, call("delete_all"), ReasonNoAllowMatched},
		{"allowed tool without mfa", pwd, call("read_x"), ReasonMFARequired},
		{"scoped tool without mfa", pwd, call("deploy"), ReasonMFARequired},
		{"scoped tool with mfa, no scope", otp, call("deploy"), ReasonInsufficientScope},
		{"allowed tool with mfa", otp, call("read_x"), ReasonAllowed},
		{"tools/list without mfa", pwd, Request{Method: "POST", MCPMethod: "tools/list"}, ReasonMFARequired},
	} {
		if d := p.Evaluate(tt.id, tt.req); d.Reason != tt.want {
			t.Errorf("%s: %+v, want %s", tt.name, d, tt.want)
		}
	}
}

// TestCELAMRAndACR: expressions read amr (a list of strings) and acr.
func TestCELAMRAndACR(t *testing.T) {
	pwd := withMFA([]string{"pwd"}, "")
	otp := withMFA([]string{"pwd", "otp", "mfa"}, "mfa")
	key := withMFA([]string{"hwk", "mfa"}, "")
	for _, tt := range []struct {
		expr         string
		pwd, otp, hw bool
	}{
		{`'mfa' in amr`, false, true, true},
		{`acr == "mfa"`, false, true, false},
		{`'mfa' in amr || acr == "mfa"`, false, true, true},
		{`amr.exists(m, m in ["hwk", "swk"])`, false, false, true},
		{`size(amr) == 1`, true, false, false},
		{`acr == ""`, true, false, true},
		{`sets.intersects(amr, ["otp", "hwk"])`, false, true, true},
		{`claims.amr == amr`, false, false, false}, // alice's claims have no amr: an evaluation error, never a match
	} {
		p := mustCompile(t, rules(allowExpr(tt.expr)))
		for _, c := range []struct {
			id   Identity
			want bool
		}{{pwd, tt.pwd}, {otp, tt.otp}, {key, tt.hw}} {
			if got := p.Evaluate(c.id, get).Allowed; got != c.want {
				t.Errorf("%s with amr %q acr %q: %v, want %v", tt.expr, c.id.AMR, c.id.ACR, got, c.want)
			}
		}
	}
	// A deny expression over amr fails closed like any other.
	p := mustCompile(t, rules(denyExpr(`!('mfa' in amr) && request.path.startsWith("/admin")`)))
	if d := p.Evaluate(pwd, get); d.Allowed || d.Reason != ReasonDenied {
		t.Errorf("deny without mfa: %+v", d)
	}
	if d := p.Evaluate(otp, get); !d.Allowed {
		t.Errorf("deny with mfa: %+v", d)
	}
	// Type errors are caught when compiling.
	for _, bad := range []string{`amr == "mfa"`, `acr in ["mfa"] && amr`, `amr.contains("mfa")`} {
		if _, err := Compile(rules(allowExpr(bad))); err == nil {
			t.Errorf("Compile(%s) accepted", bad)
		}
	}
	// A misspelt variable names amr and acr among the real ones.
	_, err := Compile(rules(allowExpr(`'mfa' in amrs`)))
	if err == nil || !strings.Contains(err.Error(), "amr, acr") {
		t.Errorf("undeclared variable: %v", err)
	}
}

// TestRequireMFAAllocs: the requirement adds no allocation.
func TestRequireMFAAllocs(t *testing.T) {
	p := mustCompile(t, Config{Require: Requirements{MFA: true}, Rules: []Rule{allow(KindGroup, "admins")}})
	for _, id := range []Identity{withMFA([]string{"pwd"}, ""), withMFA([]string{"pwd", "mfa"}, "")} {
		if n := testing.AllocsPerRun(100, func() { p.Evaluate(id, get) }); n != 0 {
			t.Errorf("Evaluate allocates %v times, want 0", n)
		}
	}
}
