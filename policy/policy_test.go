package policy

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

func mustCompile(tb testing.TB, cfg Config) *Policy {
	tb.Helper()
	p, err := Compile(cfg)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return p
}

func allow(k Kind, values ...string) Rule { return Rule{Effect: Allow, Kind: k, Values: values} }
func deny(k Kind, values ...string) Rule  { return Rule{Effect: Deny, Kind: k, Values: values} }

func allowClaim(name string, values ...string) Rule {
	return Rule{Effect: Allow, Kind: KindClaim, Claim: name, Values: values}
}

func allowExpr(expr string) Rule { return Rule{Effect: Allow, Kind: KindExpression, Expression: expr} }
func denyExpr(expr string) Rule  { return Rule{Effect: Deny, Kind: KindExpression, Expression: expr} }

func rules(rs ...Rule) Config { return Config{Rules: rs} }

// alice is a typical bearer identity with claims of every JSON type and a
// few Go types JSON decoding would not produce.
func alice() Identity {
	return Identity{
		Subject:  "alice",
		ClientID: "cli",
		Email:    "alice@example.com",
		Name:     "Alice",
		Scopes:   []string{"read", "write"},
		Groups:   []string{"staff", "admins"},
		Audience: []string{"https://api.example.com", "https://other.example.com"},
		Claims: map[string]any{
			"tier":           "gold",
			"level":          float64(3),
			"ratio":          0.5,
			"email_verified": true,
			"mfa":            false,
			"roles":          []any{"editor", float64(7), true, map[string]any{"x": "viewer"}, []any{"nested"}, nil},
			"ids":            []string{"a", "b"},
			"null":           nil,
			"obj":            map[string]any{"a": "b"},
			"big":            int64(9007199254740993),
			"small":          int8(-5),
			"unsigned":       uint64(math.MaxUint64),
			"number":         json.Number("42.0"),
			"nan":            math.NaN(),
			"inf":            math.Inf(1),
			"chan":           make(chan int),
			"func":           func() {},
			"struct":         struct{ A int }{1},
			"ptr":            (*int)(nil),
			"ints":           []int{1, 2},
		},
		Auth: AuthBearer,
	}
}

var get = Request{Method: "GET", Path: "/admin/users", Host: "app.example.com", RemoteIP: "10.1.2.3"}

func TestEvaluate(t *testing.T) {
	post := get
	post.Method = "POST"
	outside := get
	outside.RemoteIP = "203.0.113.9"
	session := alice()
	session.Auth = AuthSession
	bare := Identity{Subject: "bob"}

	allowed := func(rule int) Decision { return Decision{Allowed: true, Reason: ReasonAllowed, Rule: rule} }
	denied := func(rule int) Decision { return Decision{Reason: ReasonDenied, Rule: rule} }
	noAllow := Decision{Reason: ReasonNoAllowMatched, Rule: -1}

	tests := []struct {
		name    string
		cfg     Config
		id      Identity
		req     Request
		want    Decision
		wantErr bool // Decision.Err set
	}{
		{name: "empty policy allows", id: alice(), want: allowed(-1)},
		{name: "empty policy allows an empty identity", want: allowed(-1)},

		// One kind at a time, allow and deny, matching and not.
		{name: "allow user", cfg: rules(allow(KindUser, "bob", "alice")), id: alice(), want: allowed(0)},
		{name: "allow user other", cfg: rules(allow(KindUser, "bob")), id: alice(), want: noAllow},
		{name: "allow user is case sensitive", cfg: rules(allow(KindUser, "Alice")), id: alice(), want: noAllow},
		{name: "deny user", cfg: rules(deny(KindUser, "alice")), id: alice(), want: denied(0)},
		{name: "deny user other", cfg: rules(deny(KindUser, "bob")), id: alice(), want: allowed(-1)},
		{name: "allow group", cfg: rules(allow(KindGroup, "admins")), id: alice(), want: allowed(0)},
		{name: "allow group other", cfg: rules(allow(KindGroup, "ops")), id: alice(), want: noAllow},
		{name: "allow group none", cfg: rules(allow(KindGroup, "ops")), id: bare, want: noAllow},
		{name: "deny group", cfg: rules(deny(KindGroup, "contractors", "staff")), id: alice(), want: denied(0)},
		{name: "deny group other", cfg: rules(deny(KindGroup, "contractors")), id: alice(), want: allowed(-1)},
		{name: "allow client", cfg: rules(allow(KindClient, "cli")), id: alice(), want: allowed(0)},
		{name: "allow client other", cfg: rules(allow(KindClient, "web")), id: alice(), want: noAllow},
		{name: "allow client without client", cfg: rules(allow(KindClient, "web")), id: bare, want: noAllow},
		{name: "deny client", cfg: rules(deny(KindClient, "cli")), id: alice(), want: denied(0)},
		{name: "deny client other", cfg: rules(deny(KindClient, "web")), id: alice(), want: allowed(-1)},
		{name: "allow scope any of", cfg: rules(allow(KindScope, "admin", "write")), id: alice(), want: allowed(0)},
		{name: "allow scope other", cfg: rules(allow(KindScope, "admin")), id: alice(), want: noAllow},
		{name: "deny scope", cfg: rules(deny(KindScope, "read")), id: alice(), want: denied(0)},
		{name: "allow audience", cfg: rules(allow(KindAudience, "https://other.example.com")), id: alice(), want: allowed(0)},
		{name: "deny audience", cfg: rules(deny(KindAudience, "https://api.example.com")), id: alice(), want: denied(0)},
		{name: "deny audience other", cfg: rules(deny(KindAudience, "x")), id: alice(), want: allowed(-1)},
		{name: "allow claim", cfg: rules(allowClaim("tier", "silver", "gold")), id: alice(), want: allowed(0)},
		{name: "deny claim", cfg: rules(Rule{Effect: Deny, Kind: KindClaim, Claim: "tier", Values: []string{"gold"}}), id: alice(), want: denied(0)},
		{name: "deny claim other", cfg: rules(Rule{Effect: Deny, Kind: KindClaim, Claim: "tier", Values: []string{"silver"}}), id: alice(), want: allowed(-1)},
		{name: "allow expression", cfg: rules(allowExpr(`sub == "alice"`)), id: alice(), want: allowed(0)},
		{name: "allow expression false", cfg: rules(allowExpr(`sub == "bob"`)), id: alice(), want: noAllow},
		{name: "deny expression", cfg: rules(denyExpr(`sub == "alice"`)), id: alice(), want: denied(0)},
		{name: "deny expression false", cfg: rules(denyExpr(`sub == "bob"`)), id: alice(), want: allowed(-1)},

		// Many values switch the set to a map.
		{name: "allow group from a large set", cfg: rules(allow(KindGroup, "g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9", "admins")), id: alice(), want: allowed(0)},
		{name: "allow group not in a large set", cfg: rules(allow(KindGroup, "g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9", "g10")), id: alice(), want: noAllow},
		{name: "claim number in a large set", cfg: rules(allowClaim("level", "1", "2", "4", "5", "6", "7", "8", "9", "3.0")), id: alice(), want: allowed(0)},

		// Combining rules.
		{name: "deny wins after allow", cfg: rules(allow(KindGroup, "admins"), deny(KindUser, "alice")), id: alice(), want: denied(1)},
		{name: "deny wins before allow", cfg: rules(deny(KindUser, "alice"), allow(KindGroup, "admins")), id: alice(), want: denied(0)},
		{name: "first matching deny reported", cfg: rules(deny(KindUser, "bob"), deny(KindGroup, "staff"), deny(KindClient, "cli")), id: alice(), want: denied(1)},
		{name: "first matching allow reported", cfg: rules(allow(KindUser, "bob"), allow(KindClient, "cli"), allow(KindGroup, "staff")), id: alice(), want: allowed(1)},
		{name: "default deny once an allow is set", cfg: rules(deny(KindUser, "mallory"), allow(KindGroup, "ops")), id: alice(), want: noAllow},
		{name: "deny only allows the rest", cfg: rules(deny(KindUser, "mallory")), id: alice(), want: allowed(-1)},

		// Requirements.
		{
			name: "scopes present", id: alice(), want: allowed(-1),
			cfg: Config{Require: Requirements{Scopes: []string{"write", "read"}}},
		},
		{
			name: "scopes missing lists exactly the missing ones in order", id: alice(),
			cfg:  Config{Require: Requirements{Scopes: []string{"admin", "read", "delete", "admin", "write"}}},
			want: Decision{Reason: ReasonInsufficientScope, Rule: -1, MissingScopes: []string{"admin", "delete"}},
		},
		{
			name: "scopes missing without any scope", id: bare,
			cfg:  Config{Require: Requirements{Scopes: []string{"read"}}, Rules: []Rule{allow(KindUser, "bob")}},
			want: Decision{Reason: ReasonInsufficientScope, Rule: -1, MissingScopes: []string{"read"}},
		},
		{
			name: "scopes checked before rules", id: alice(),
			cfg:  Config{Require: Requirements{Scopes: []string{"admin"}}, Rules: []Rule{deny(KindUser, "alice")}},
			want: Decision{Reason: ReasonInsufficientScope, Rule: -1, MissingScopes: []string{"admin"}},
		},
		{
			name: "audience one of", id: alice(), want: allowed(-1),
			cfg: Config{Require: Requirements{Audiences: []string{"https://nope.example.com", "https://other.example.com"}}},
		},
		{
			name: "audience wrong", id: alice(), want: Decision{Reason: ReasonWrongAudience, Rule: -1},
			cfg: Config{Require: Requirements{Audiences: []string{"https://nope.example.com"}}},
		},
		{
			name: "audience missing", id: bare, want: Decision{Reason: ReasonWrongAudience, Rule: -1},
			cfg: Config{Require: Requirements{Audiences: []string{"https://api.example.com"}}},
		},
		{
			name: "audience checked before scopes", id: alice(), want: Decision{Reason: ReasonWrongAudience, Rule: -1},
			cfg: Config{Require: Requirements{Scopes: []string{"admin"}, Audiences: []string{"https://nope.example.com"}}},
		},
		{
			name: "requirements then rules", id: alice(), req: get, want: denied(1),
			cfg: Config{
				Require: Requirements{Scopes: []string{"read"}, Audiences: []string{"https://api.example.com"}},
				Rules:   []Rule{allow(KindGroup, "admins"), denyExpr(`request.method == "GET"`)},
			},
		},

		// Claims of every type.
		{name: "claim string exact", cfg: rules(allowClaim("tier", "Gold")), id: alice(), want: noAllow},
		{name: "claim number integer", cfg: rules(allowClaim("level", "3")), id: alice(), want: allowed(0)},
		{name: "claim number written as float", cfg: rules(allowClaim("level", "3.0")), id: alice(), want: allowed(0)},
		{name: "claim number written with exponent", cfg: rules(allowClaim("level", "0.3e1")), id: alice(), want: allowed(0)},
		{name: "claim number other", cfg: rules(allowClaim("level", "4", "three")), id: alice(), want: noAllow},
		{name: "claim fraction", cfg: rules(allowClaim("ratio", ".5")), id: alice(), want: allowed(0)},
		{name: "claim int8", cfg: rules(allowClaim("small", "-5")), id: alice(), want: allowed(0)},
		{name: "claim int64 exact", cfg: rules(allowClaim("big", "9007199254740993")), id: alice(), want: allowed(0)},
		{name: "claim int64 not rounded", cfg: rules(allowClaim("big", "9007199254740992")), id: alice(), want: noAllow},
		{name: "claim uint64", cfg: rules(allowClaim("unsigned", "18446744073709551615")), id: alice(), want: allowed(0)},
		{name: "claim json.Number", cfg: rules(allowClaim("number", "42")), id: alice(), want: allowed(0)},
		{name: "claim number does not match a string claim", cfg: rules(allowClaim("tier", "3")), id: alice(), want: noAllow},
		{name: "claim bool true", cfg: rules(allowClaim("email_verified", "true")), id: alice(), want: allowed(0)},
		{name: "claim bool not false", cfg: rules(allowClaim("email_verified", "false")), id: alice(), want: noAllow},
		{name: "claim bool false", cfg: rules(allowClaim("mfa", "false")), id: alice(), want: allowed(0)},
		{name: "claim bool spelling", cfg: rules(allowClaim("email_verified", "True", "1")), id: alice(), want: noAllow},
		{name: "deny claim bool false", cfg: rules(Rule{Effect: Deny, Kind: KindClaim, Claim: "mfa", Values: []string{"false"}}), id: alice(), want: denied(0)},
		{name: "claim list string element", cfg: rules(allowClaim("roles", "editor")), id: alice(), want: allowed(0)},
		{name: "claim list number element", cfg: rules(allowClaim("roles", "7")), id: alice(), want: allowed(0)},
		{name: "claim list bool element", cfg: rules(allowClaim("roles", "true")), id: alice(), want: allowed(0)},
		{name: "claim list ignores nested values", cfg: rules(allowClaim("roles", "viewer", "nested", "x")), id: alice(), want: noAllow},
		{name: "claim []string", cfg: rules(allowClaim("ids", "b")), id: alice(), want: allowed(0)},
		{name: "claim missing", cfg: rules(allowClaim("nope", "x")), id: alice(), want: noAllow},
		{name: "claim missing without claims", cfg: rules(allowClaim("tier", "gold")), id: bare, want: noAllow},
		{name: "claim null", cfg: rules(allowClaim("null", "null", "nil")), id: alice(), want: noAllow},
		{name: "claim object", cfg: rules(allowClaim("obj", "a", "b", "map[a:b]")), id: alice(), want: noAllow},
		{name: "claim NaN", cfg: rules(allowClaim("nan", "NaN", "nan")), id: alice(), want: noAllow},
		{name: "claim infinity", cfg: rules(allowClaim("inf", "Inf", "+Inf", "1e999")), id: alice(), want: noAllow},
		{name: "claim odd Go types", cfg: rules(allowClaim("chan", "x"), allowClaim("func", "x"), allowClaim("struct", "{1}"), allowClaim("ptr", "0"), allowClaim("ints", "1")), id: alice(), want: noAllow},

		// CEL over the identity and the request.
		{name: "cel group and method", cfg: rules(allowExpr(`"admins" in groups && request.method == "GET"`)), id: alice(), req: get, want: allowed(0)},
		{name: "cel group and other method", cfg: rules(allowExpr(`"admins" in groups && request.method == "GET"`)), id: alice(), req: post, want: noAllow},
		{name: "cel identity fields", cfg: rules(allowExpr(`sub == "alice" && client_id == "cli" && email.endsWith("@example.com") && name == "Alice"`)), id: alice(), want: allowed(0)},
		{name: "cel scopes and audience", cfg: rules(allowExpr(`"write" in scopes && "https://api.example.com" in aud`)), id: alice(), want: allowed(0)},
		{name: "cel auth bearer", cfg: rules(allowExpr(`auth == "bearer"`)), id: alice(), want: allowed(0)},
		{name: "cel auth session", cfg: rules(allowExpr(`auth == "bearer"`)), id: session, want: noAllow},
		{name: "cel request path and host", cfg: rules(denyExpr(`request.path.startsWith("/admin") && request.host == "app.example.com"`)), id: alice(), req: get, want: denied(0)},
		{name: "cel remote ip in range", cfg: rules(allowExpr(`cidr("10.0.0.0/8").containsIP(request.remote_ip)`)), id: alice(), req: get, want: allowed(0)},
		{name: "cel remote ip out of range", cfg: rules(allowExpr(`cidr("10.0.0.0/8").containsIP(request.remote_ip)`)), id: alice(), req: outside, want: noAllow},
		{name: "cel sets", cfg: rules(allowExpr(`sets.intersects(groups, ["ops", "admins"])`)), id: alice(), want: allowed(0)},
		{name: "cel strings", cfg: rules(allowExpr(`email.lowerAscii().split("@")[1] == "example.com"`)), id: alice(), want: allowed(0)},
		{name: "cel claim number against int", cfg: rules(allowExpr(`claims.level >= 3 && claims.level == 3`)), id: alice(), want: allowed(0)},
		{name: "cel claim bool", cfg: rules(allowExpr(`claims.email_verified == true`)), id: alice(), want: allowed(0)},
		{name: "cel claim list", cfg: rules(allowExpr(`"editor" in claims.roles`)), id: alice(), want: allowed(0)},
		{name: "cel nested claim", cfg: rules(allowExpr(`claims.obj.a == "b"`)), id: alice(), want: allowed(0)},
		{name: "cel has on missing claim", cfg: rules(allowExpr(`!has(claims.nope) && !("nope" in claims)`)), id: alice(), want: allowed(0)},
		{name: "cel without claims", cfg: rules(allowExpr(`size(claims) == 0 && size(groups) == 0 && sub == "bob"`)), id: bare, want: allowed(0)},
		{name: "cel empty request", cfg: rules(allowExpr(`request.method == "" && request.remote_ip == ""`)), id: bare, want: allowed(0)},
		{name: "cel matches", cfg: rules(allowExpr(`request.path.matches("^/admin/[a-z]+$")`)), id: alice(), req: get, want: allowed(0)},
		{name: "cel set rule first then expression", cfg: rules(allow(KindUser, "bob"), allowExpr(`"staff" in groups`)), id: alice(), want: allowed(1)},
		{name: "cel deny wins over set allow", cfg: rules(allow(KindGroup, "admins"), denyExpr(`request.method == "POST"`)), id: alice(), req: post, want: denied(1)},

		// CEL evaluation errors: fail closed.
		{name: "cel error in deny fails closed", cfg: rules(denyExpr(`claims.missing == "x"`)), id: alice(), want: denied(0), wantErr: true},
		{name: "cel error in allow does not match", cfg: rules(allowExpr(`claims.missing == "x"`)), id: alice(), want: noAllow, wantErr: true},
		{name: "cel error in allow, next allow matches", cfg: rules(allowExpr(`claims.missing == "x"`), allow(KindGroup, "admins")), id: alice(), want: allowed(1)},
		{name: "cel error in deny beats allow", cfg: rules(allow(KindGroup, "admins"), denyExpr(`claims.missing == "x"`)), id: alice(), want: denied(1), wantErr: true},
		{name: "cel type error fails closed", cfg: rules(denyExpr(`claims.tier > 2`)), id: alice(), want: denied(0), wantErr: true},
		{name: "cel bad runtime regex fails closed", cfg: rules(denyExpr(`sub.matches(claims.tier + "(")`)), id: alice(), want: denied(0), wantErr: true},
		{name: "cel bad ip fails closed", cfg: rules(denyExpr(`!cidr("10.0.0.0/8").containsIP(request.remote_ip)`)), id: alice(), req: Request{RemoteIP: "not-an-ip"}, want: denied(0), wantErr: true},
		{name: "cel odd Go claim types", cfg: rules(allowExpr(`claims.chan == 1 || claims.func == 1 || claims.struct == 1 || claims.ptr == 1`)), id: alice(), want: noAllow, wantErr: true},
		{name: "cel odd Go claim types in deny", cfg: rules(denyExpr(`claims.chan == 1`)), id: alice(), want: denied(0), wantErr: true},
		{name: "cel NaN claim", cfg: rules(allowExpr(`claims.nan == claims.nan`)), id: alice(), want: noAllow},
		{
			name: "cel cost limit fails closed", id: alice(), want: denied(0), wantErr: true,
			cfg: rules(denyExpr(`[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.cfg)
			got := p.Evaluate(tt.id, tt.req)
			if (got.Err != nil) != tt.wantErr {
				t.Errorf("Err = %v, want error: %v", got.Err, tt.wantErr)
			}
			got.Err = nil
			if got.Allowed != tt.want.Allowed || got.Reason != tt.want.Reason || got.Rule != tt.want.Rule ||
				!slices.Equal(got.MissingScopes, tt.want.MissingScopes) {
				t.Errorf("Evaluate = %+v, want %+v", got, tt.want)
			}
			if got.Allowed != (got.Reason == ReasonAllowed) {
				t.Errorf("Allowed = %v with Reason %q", got.Allowed, got.Reason)
			}
			if r, ok := p.Rule(got.Rule); ok != (got.Rule >= 0) || (ok && r.String() != tt.cfg.Rules[got.Rule].String()) {
				t.Errorf("Rule(%d) = %v, %v", got.Rule, r, ok)
			}
		})
	}
}

func TestNilPolicyAllows(t *testing.T) {
	var p *Policy
	if d := p.Evaluate(alice(), get); !d.Allowed || d.Reason != ReasonAllowed || d.Rule != -1 {
		t.Errorf("nil Policy: Evaluate = %+v", d)
	}
	if _, ok := p.Rule(0); ok {
		t.Error("nil Policy: Rule(0) found")
	}
	if s := p.RequiredScopes(); s != nil {
		t.Errorf("nil Policy: RequiredScopes = %q", s)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error
	}{
		{name: "syntax error", cfg: rules(allowExpr(`"admins" in`)), want: []string{"policy: rule 0 (allow expression ", "invalid expression", "Syntax error"}},
		{name: "unbalanced", cfg: rules(allowExpr(`(sub == "a"`)), want: []string{"rule 0", "Syntax error"}},
		{name: "string result", cfg: rules(denyExpr(`sub`)), want: []string{`rule 0 (deny expression "sub")`, "has type string, not bool"}},
		{name: "dyn result", cfg: rules(allowExpr(`claims.admin`)), want: []string{"has type dyn, not bool", "claims.admin == true"}},
		{name: "list result", cfg: rules(allowExpr(`groups`)), want: []string{"has type list(string), not bool"}},
		{name: "unknown variable", cfg: rules(allowExpr(`user == "alice"`)), want: []string{"undeclared reference to 'user'"}},
		{name: "unknown request field", cfg: rules(allowExpr(`request.methd == "GET"`)), want: []string{"undeclared reference to 'request'", "(the variables are sub, client_id, email, name, scopes, groups, aud, claims, auth, amr, acr, request.method, request.path, request.host, request.remote_ip, mcp.method, mcp.tool)"}},
		{name: "wrong operand types", cfg: rules(allowExpr(`sub == 1`)), want: []string{"no matching overload"}},
		{name: "bad regex literal", cfg: rules(allowExpr(`sub.matches("(")`)), want: []string{"invalid matches argument"}},
		{name: "bad cidr literal", cfg: rules(allowExpr(`cidr("10.0.0.0/99").containsIP(request.remote_ip)`)), want: []string{"rule 0"}},
		{name: "empty expression", cfg: rules(allowExpr(``)), want: []string{"empty expression"}},
		{name: "expression with values", cfg: rules(Rule{Effect: Allow, Kind: KindExpression, Expression: "true", Values: []string{"x"}}), want: []string{"takes no values"}},
		{name: "no effect", cfg: rules(Rule{Kind: KindUser, Values: []string{"alice"}}), want: []string{"effect must be allow or deny"}},
		{name: "bad effect", cfg: rules(Rule{Effect: 9, Kind: KindUser, Values: []string{"alice"}}), want: []string{"Effect(9)", "effect must be allow or deny"}},
		{name: "no kind", cfg: rules(Rule{Effect: Allow, Values: []string{"alice"}}), want: []string{"unknown rule kind"}},
		{name: "no values", cfg: rules(allow(KindGroup)), want: []string{"rule 0 (allow group): no values"}},
		{name: "empty value", cfg: rules(allow(KindGroup, "admins", "")), want: []string{"empty value"}},
		{name: "claim without name", cfg: rules(allowClaim("", "x")), want: []string{"missing claim name"}},
		{name: "user with claim name", cfg: rules(Rule{Effect: Allow, Kind: KindUser, Claim: "sub", Values: []string{"x"}}), want: []string{"a user rule takes no claim name"}},
		{name: "group with expression", cfg: rules(Rule{Effect: Allow, Kind: KindGroup, Values: []string{"x"}, Expression: "true"}), want: []string{"a group rule takes no expression"}},
		{name: "empty scope", cfg: Config{Require: Requirements{Scopes: []string{"read", ""}}}, want: []string{"require scope: empty scope"}},
		{name: "empty audience", cfg: Config{Require: Requirements{Audiences: []string{""}}}, want: []string{"require audience: empty audience"}},
		{
			name: "all problems together",
			cfg:  rules(allowExpr(`1 +`), allow(KindUser, "ok"), denyExpr(`nope`)),
			want: []string{"rule 0 (allow expression \"1 +\")", "rule 2 (deny expression \"nope\")", "undeclared reference to 'nope'"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.cfg)
			if err == nil {
				t.Fatalf("Compile = %v, want an error", p)
			}
			if p != nil {
				t.Errorf("Compile returned a policy with error %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestCompileCopiesConfig(t *testing.T) {
	cfg := Config{
		Require: Requirements{Scopes: []string{"read", "read", "write"}},
		Rules:   []Rule{allow(KindGroup, "admins")},
	}
	p := mustCompile(t, cfg)
	cfg.Rules[0].Values[0] = "nobody"
	cfg.Require.Scopes[0] = "nothing"
	if d := p.Evaluate(alice(), get); !d.Allowed {
		t.Errorf("after changing the Config: Evaluate = %+v", d)
	}
	if r, _ := p.Rule(0); r.Values[0] != "admins" {
		t.Errorf("Rule(0) = %v", r)
	}
	if got := p.RequiredScopes(); !slices.Equal(got, []string{"read", "write"}) {
		t.Errorf("RequiredScopes = %q", got)
	}
}

func TestRuleString(t *testing.T) {
	tests := []struct {
		rule Rule
		want string
	}{
		{allow(KindGroup, "admins", "ops"), "allow group admins ops"},
		{deny(KindUser, "a b"), `deny user "a b"`},
		{Rule{Effect: Deny, Kind: KindClaim, Claim: "email_verified", Values: []string{"false"}}, "deny claim email_verified false"},
		{allowExpr(`auth == "session"`), `allow expression "auth == \"session\""`},
		{Rule{}, "Effect(0) Kind(0)"},
	}
	for _, tt := range tests {
		if got := tt.rule.String(); got != tt.want {
			t.Errorf("String() = %s, want %s", got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, e := range []Effect{Allow, Deny} {
		if got, err := ParseEffect(e.String()); got != e || err != nil {
			t.Errorf("ParseEffect(%q) = %v, %v", e, got, err)
		}
	}
	if _, err := ParseEffect("permit"); err == nil {
		t.Error("ParseEffect(permit): no error")
	}
	for k := KindUser; k <= KindExpression; k++ {
		if got, err := ParseKind(k.String()); got != k || err != nil {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
	}
	for _, s := range []string{"", "users", "Kind(0)"} {
		if _, err := ParseKind(s); err == nil {
			t.Errorf("ParseKind(%q): no error", s)
		}
	}
}

// TestEvaluateAllocs checks the promise that rules without expressions
// do not allocate.
func TestEvaluateAllocs(t *testing.T) {
	p := mustCompile(t, Config{
		Require: Requirements{Scopes: []string{"read", "write"}, Audiences: []string{"https://api.example.com"}},
		Rules: []Rule{
			deny(KindUser, "mallory"),
			Rule{Effect: Deny, Kind: KindClaim, Claim: "level", Values: []string{"0"}},
			allow(KindGroup, "ops"),
			allowClaim("roles", "editor"),
		},
	})
	id := alice()
	if n := testing.AllocsPerRun(100, func() { p.Evaluate(id, get) }); n != 0 {
		t.Errorf("Evaluate allocates %v times, want 0", n)
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	p := mustCompile(t, rules(denyExpr(`request.method == "DELETE"`), allowExpr(`"admins" in groups`)))
	done := make(chan Decision)
	for range 8 {
		go func() {
			var d Decision
			for range 100 {
				d = p.Evaluate(alice(), get)
			}
			done <- d
		}()
	}
	for range 8 {
		if d := <-done; !d.Allowed || d.Rule != 1 {
			t.Errorf("Evaluate = %+v", d)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	require := Requirements{Scopes: []string{"read", "write"}}
	benchmarks := []struct {
		name string
		cfg  Config
	}{
		{"typical", Config{Require: require, Rules: []Rule{
			denyExpr(`request.method == "DELETE" && !("admins" in groups)`),
			allow(KindGroup, "staff", "admins"),
		}}},
		{"no_cel", Config{Require: require, Rules: []Rule{
			deny(KindUser, "mallory"),
			allow(KindGroup, "staff", "admins"),
		}}},
		{"empty", Config{}},
	}
	id := alice()
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			p := mustCompile(b, bm.cfg)
			if d := p.Evaluate(id, get); !d.Allowed {
				b.Fatalf("Evaluate = %+v", d)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Evaluate(id, get)
			}
		})
	}
}
