package policy

import (
	"slices"
	"strings"
	"testing"
)

// MCP requests as the gateway passes them.
func mcpCall(tool string) Request {
	return Request{Method: "POST", Path: "/mcp", Host: "app.example.com", RemoteIP: "10.1.2.3", MCPMethod: MethodToolsCall, MCPTool: tool}
}

func mcpRequest(method string) Request {
	return Request{Method: "POST", Path: "/mcp", Host: "app.example.com", RemoteIP: "10.1.2.3", MCPMethod: method}
}

func allowTool(names ...string) Rule { return Rule{Effect: Allow, Kind: KindTool, Values: names} }
func denyTool(names ...string) Rule  { return Rule{Effect: Deny, Kind: KindTool, Values: names} }

func TestEvaluateTools(t *testing.T) {
	allowed := func(rule int) Decision { return Decision{Allowed: true, Reason: ReasonAllowed, Rule: rule} }
	denied := func(rule int) Decision { return Decision{Reason: ReasonDenied, Rule: rule} }
	noAllow := Decision{Reason: ReasonNoAllowMatched, Rule: -1}
	scope := func(missing, needed []string) Decision {
		return Decision{Reason: ReasonInsufficientScope, Rule: -1, MissingScopes: missing, NeededScopes: needed}
	}
	adminTools := Requirements{Tools: []ToolScopes{{Tools: []string{"admin_*"}, Scopes: []string{"tools:admin"}}}}
	// alice has read and write.
	tests := []struct {
		name string
		cfg  Config
		req  Request
		want Decision
	}{
		// deny tool
		{name: "deny tool by name", cfg: rules(denyTool("drop_db")), req: mcpCall("drop_db"), want: denied(0)},
		{name: "deny tool other name", cfg: rules(denyTool("drop_db")), req: mcpCall("search"), want: allowed(-1)},
		{name: "deny tool is case sensitive", cfg: rules(denyTool("drop_db")), req: mcpCall("Drop_DB"), want: allowed(-1)},
		{name: "deny tool prefix", cfg: rules(denyTool("secret_*")), req: mcpCall("secret_keys"), want: denied(0)},
		{name: "deny tool prefix, empty rest", cfg: rules(denyTool("secret_*")), req: mcpCall("secret_"), want: denied(0)},
		{name: "deny tool prefix other", cfg: rules(denyTool("secret_*")), req: mcpCall("secretkeys"), want: allowed(-1)},
		{name: "deny tool suffix", cfg: rules(denyTool("*_admin")), req: mcpCall("users_admin"), want: denied(0)},
		{name: "deny tool infix", cfg: rules(denyTool("a*b*c")), req: mcpCall("a-x-b-y-c"), want: denied(0)},
		{name: "deny tool infix needs order", cfg: rules(denyTool("a*b*c")), req: mcpCall("a-c-b"), want: allowed(-1)},
		{name: "deny tool parts do not overlap", cfg: rules(denyTool("ab*ba")), req: mcpCall("aba"), want: allowed(-1)},
		{name: "star matches slashes", cfg: rules(denyTool("github*")), req: mcpCall("github/delete_repo"), want: denied(0)},
		{name: "star alone matches every tool", cfg: rules(denyTool("*")), req: mcpCall("anything"), want: denied(0)},
		{name: "question mark is literal", cfg: rules(denyTool("a?")), req: mcpCall("ab"), want: allowed(-1)},
		{name: "brackets are literal", cfg: rules(denyTool("[ab]")), req: mcpCall("a"), want: allowed(-1)},
		{name: "brackets match themselves", cfg: rules(denyTool("[ab]")), req: mcpCall("[ab]"), want: denied(0)},
		{name: "deny tool ignores tools/list", cfg: rules(denyTool("*")), req: mcpRequest("tools/list"), want: allowed(-1)},
		{name: "deny tool ignores plain HTTP", cfg: rules(denyTool("*")), req: get, want: allowed(-1)},
		{name: "deny tool does not read MCPTool without tools/call", cfg: rules(denyTool("x")), req: Request{MCPMethod: "prompts/get", MCPTool: "x"}, want: allowed(-1)},

		// allow tool: an allowlist for tools/call only.
		{name: "allow tool", cfg: rules(allowTool("search", "fetch")), req: mcpCall("fetch"), want: allowed(0)},
		{name: "allow tool pattern", cfg: rules(allowTool("read_*")), req: mcpCall("read_file"), want: allowed(0)},
		{name: "allow tool refuses others", cfg: rules(allowTool("search")), req: mcpCall("delete"), want: noAllow},
		{name: "allow tool keeps initialize", cfg: rules(allowTool("search")), req: mcpRequest("initialize"), want: allowed(-1)},
		{name: "allow tool keeps tools/list", cfg: rules(allowTool("search")), req: mcpRequest("tools/list"), want: allowed(-1)},
		{name: "allow tool keeps notifications", cfg: rules(allowTool("search")), req: mcpRequest("notifications/initialized"), want: allowed(-1)},
		{name: "allow tool keeps responses", cfg: rules(allowTool("search")), req: mcpRequest(""), want: allowed(-1)},
		{name: "allow tool keeps GET", cfg: rules(allowTool("search")), req: get, want: allowed(-1)},
		{name: "deny wins over allow tool", cfg: rules(allowTool("*"), denyTool("drop_db")), req: mcpCall("drop_db"), want: denied(1)},
		{name: "deny identity wins over allow tool", cfg: rules(allowTool("*"), deny(KindUser, "alice")), req: mcpCall("search"), want: denied(1)},

		// Both layers: who may use the server, and which tools.
		{name: "identity and tool allowed", cfg: rules(allow(KindGroup, "admins"), allowTool("search")), req: mcpCall("search"), want: allowed(1)},
		{name: "identity allowed, tool not", cfg: rules(allow(KindGroup, "admins"), allowTool("search")), req: mcpCall("delete"), want: noAllow},
		{name: "tool allowed, identity not", cfg: rules(allow(KindGroup, "ops"), allowTool("search")), req: mcpCall("search"), want: noAllow},
		{name: "identity layer on initialize", cfg: rules(allow(KindGroup, "ops"), allowTool("search")), req: mcpRequest("initialize"), want: noAllow},
		{name: "identity rule reported off tools/call", cfg: rules(allow(KindGroup, "admins"), allowTool("search")), req: mcpRequest("initialize"), want: allowed(0)},

		// Expressions.
		{name: "cel mcp.tool", cfg: rules(denyExpr(`mcp.tool.startsWith("rm_") && !("admins" in groups)`)), req: mcpCall("rm_all"), want: allowed(-1)},
		{name: "cel mcp.tool denies", cfg: rules(denyExpr(`mcp.tool.startsWith("rm_") && sub != "root"`)), req: mcpCall("rm_all"), want: denied(0)},
		{name: "cel mcp.method", cfg: rules(allowExpr(`mcp.method != "tools/call" || mcp.tool == "search"`)), req: mcpCall("search"), want: allowed(0)},
		{name: "cel mcp.method refuses", cfg: rules(allowExpr(`mcp.method != "tools/call" || mcp.tool == "search"`)), req: mcpCall("delete"), want: noAllow},
		{name: "cel mcp.method keeps the handshake", cfg: rules(allowExpr(`mcp.method != "tools/call" || mcp.tool == "search"`)), req: mcpRequest("initialize"), want: allowed(0)},
		{name: "cel mcp empty outside MCP", cfg: rules(allowExpr(`mcp.method == "" && mcp.tool == ""`)), req: get, want: allowed(0)},
		{name: "cel allow expression on the tool alone refuses the handshake", cfg: rules(allowExpr(`mcp.tool == "search"`)), req: mcpRequest("initialize"), want: noAllow},

		// Scopes per tool.
		{name: "tool scope granted", cfg: Config{Require: Requirements{Tools: []ToolScopes{{Tools: []string{"write_*"}, Scopes: []string{"write"}}}}}, req: mcpCall("write_file"), want: allowed(-1)},
		{name: "tool scope missing", cfg: Config{Require: adminTools}, req: mcpCall("admin_reset"), want: scope([]string{"tools:admin"}, []string{"tools:admin"})},
		{name: "tool scope other tool", cfg: Config{Require: adminTools}, req: mcpCall("search"), want: allowed(-1)},
		{name: "tool scope not for tools/list", cfg: Config{Require: adminTools}, req: mcpRequest("tools/list"), want: allowed(-1)},
		{
			name: "tool scopes of every matching entry, and the route's, no other tool's",
			cfg: Config{Require: Requirements{Scopes: []string{"read"}, Tools: []ToolScopes{
				{Tools: []string{"admin_*"}, Scopes: []string{"tools:admin", "write"}},
				{Tools: []string{"admin_reset"}, Scopes: []string{"tools:reset", "tools:admin"}},
				{Tools: []string{"other"}, Scopes: []string{"tools:other"}},
			}}},
			req:  mcpCall("admin_reset"),
			want: scope([]string{"tools:admin", "tools:reset"}, []string{"read", "tools:admin", "write", "tools:reset"}),
		},
		{
			name: "route scope missing names the tool's too",
			cfg:  Config{Require: Requirements{Scopes: []string{"mcp"}, Tools: adminTools.Tools}},
			req:  mcpCall("admin_reset"),
			want: scope([]string{"mcp"}, []string{"mcp", "tools:admin"}),
		},
		{name: "denied tool is not a step-up", cfg: Config{Require: adminTools, Rules: []Rule{denyTool("admin_reset")}}, req: mcpCall("admin_reset"), want: denied(0)},
		{name: "tool outside the allowlist is not a step-up", cfg: Config{Require: adminTools, Rules: []Rule{allowTool("search")}}, req: mcpCall("admin_reset"), want: noAllow},
		{name: "allowed tool then scope", cfg: Config{Require: adminTools, Rules: []Rule{allowTool("admin_*")}}, req: mcpCall("admin_reset"), want: scope([]string{"tools:admin"}, []string{"tools:admin"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.cfg)
			got := p.Evaluate(alice(), tt.req)
			if got.Err != nil {
				t.Errorf("Err = %v", got.Err)
			}
			if got.Allowed != tt.want.Allowed || got.Reason != tt.want.Reason || got.Rule != tt.want.Rule ||
				!slices.Equal(got.MissingScopes, tt.want.MissingScopes) || !slices.Equal(got.NeededScopes, tt.want.NeededScopes) {
				t.Errorf("Evaluate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUsesMCP(t *testing.T) {
	tests := []struct {
		cfg  Config
		want bool
	}{
		{Config{}, false},
		{rules(allow(KindGroup, "admins"), denyExpr(`request.path == "/x"`)), false},
		{rules(denyTool("x")), true},
		{rules(allowTool("x")), true},
		{rules(denyExpr(`mcp.tool == "x"`)), true},
		{rules(allowExpr(`mcp.method == "tools/list" || sub == "a"`)), true},
		{Config{Require: Requirements{Tools: []ToolScopes{{Tools: []string{"x"}, Scopes: []string{"s"}}}}}, true},
	}
	for i, tt := range tests {
		if got := mustCompile(t, tt.cfg).UsesMCP(); got != tt.want {
			t.Errorf("%d: UsesMCP = %v, want %v", i, got, tt.want)
		}
	}
	var p *Policy
	if p.UsesMCP() {
		t.Error("nil Policy uses MCP")
	}
}

func TestCompileToolErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"tool rule without names", rules(allowTool()), "rule 0 (allow tool): no values"},
		{"empty tool name", rules(denyTool("a", "")), "empty value"},
		{"tool rule with a claim", rules(Rule{Effect: Deny, Kind: KindTool, Claim: "c", Values: []string{"x"}}), "a tool rule takes no claim name"},
		{"tool rule with an expression", rules(Rule{Effect: Deny, Kind: KindTool, Values: []string{"x"}, Expression: "true"}), "a tool rule takes no expression"},
		{"tool scopes without tools", Config{Require: Requirements{Tools: []ToolScopes{{Scopes: []string{"s"}}}}}, "no tools"},
		{"tool scopes without scopes", Config{Require: Requirements{Tools: []ToolScopes{{Tools: []string{"x"}}}}}, "require scope for tool x: no scopes"},
		{"tool scopes with an empty scope", Config{Require: Requirements{Tools: []ToolScopes{{Tools: []string{"x"}, Scopes: []string{""}}}}}, "empty scope"},
		{"tool scopes with an empty tool", Config{Require: Requirements{Tools: []ToolScopes{{Tools: []string{""}, Scopes: []string{"s"}}}}}, "empty tool name"},
		{"misspelt mcp variable", rules(allowExpr(`mcp.tools == "x"`)), "mcp.method, mcp.tool)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestToolRuleString(t *testing.T) {
	if got := denyTool("secret_*", "drop db").String(); got != `deny tool secret_* "drop db"` {
		t.Errorf("String = %s", got)
	}
	if k, err := ParseKind("tool"); err != nil || k != KindTool || k.String() != "tool" {
		t.Errorf("ParseKind(tool) = %v, %v", k, err)
	}
}

func TestEvaluateToolsAllocs(t *testing.T) {
	p := mustCompile(t, Config{
		Require: Requirements{Scopes: []string{"read"}, Tools: []ToolScopes{{Tools: []string{"admin_*"}, Scopes: []string{"tools:admin"}}}},
		Rules:   []Rule{denyTool("secret_*", "drop_db"), allowTool("read_*", "search", "admin_*"), allow(KindGroup, "staff")},
	})
	id, req := alice(), mcpCall("read_file")
	if n := testing.AllocsPerRun(100, func() {
		if d := p.Evaluate(id, req); !d.Allowed {
			t.Fatalf("refused: %+v", d)
		}
	}); n != 0 {
		t.Errorf("Evaluate of a tools/call allocates %v times", n)
	}
}

func BenchmarkEvaluateTool(b *testing.B) {
	p := mustCompile(b, Config{
		Require: Requirements{Scopes: []string{"read"}, Tools: []ToolScopes{{Tools: []string{"admin_*"}, Scopes: []string{"tools:admin"}}}},
		Rules:   []Rule{denyTool("secret_*", "drop_db"), allowTool("read_*", "search", "admin_*")},
	})
	id, req := alice(), mcpCall("read_file")
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(id, req)
	}
}
