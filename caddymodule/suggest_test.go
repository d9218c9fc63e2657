package caddymodule

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestDidYouMean(t *testing.T) {
	known := []string{"issuer", "client_id", "client_secret", "scopes", "audiences", "ca", "url"}
	for _, tc := range []struct{ in, want string }{
		{"isuer", "issuer"},  // one deletion
		{"issure", "issuer"}, // transposition: two edits
		{"ISSUER", "issuer"}, // case only
		{"Client_Secret", "client_secret"},
		{"client_secrt", "client_secret"},
		{"scope", "scopes"},
		{"audience", "audiences"},
		{"isssuerr", "issuer"}, // two insertions
		{"issuerxyz", ""},      // three away
		{"totally_unrelated", ""},
		{"id", ""}, // two from "ca", but that is the whole word
		{"", ""},
	} {
		got := didYouMean(tc.in, known...)
		want := ""
		if tc.want != "" {
			want = ` (did you mean "` + tc.want + `"?)`
		}
		if got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"isuer", "issuer", 1}, {"issure", "issuer", 2}, {"héllo", "hello", 1},
	} {
		if got := levenshtein(tc.a, tc.b); got != tc.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestUnrecognizedOptionSuggests runs each Caddyfile parser on a typo and
// checks its error names the option meant.
func TestUnrecognizedOptionSuggests(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
		parse             func(d *caddyfile.Dispenser) error
	}{
		{"global", "authgate {\n isuer https://x\n}", `unrecognized authgate option "isuer" (did you mean "issuer"?)`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"global case", "authgate {\n Issuer https://x\n}", `(did you mean "issuer"?)`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"global far", "authgate {\n frobnicate 1\n}", `unrecognized authgate option "frobnicate"`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"client", "authgate {\n client app {\n  redirect_uri https://x\n }\n}", `unrecognized client option "redirect_uri" (did you mean "redirect_uris"?)`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"registration", "authgate {\n registration open {\n  scope a\n }\n}", `unrecognized registration option "scope" (did you mean "scopes"?)`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"metadata documents", "authgate {\n client_id_metadata_documents {\n  timout 5s\n }\n}", `(did you mean "timeout"?)`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"user", "authgate {\n user alice {\n  group admins\n }\n}", `unrecognized user option "group" (did you mean "groups"?)`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"oidc", "authgate {\n identity_provider corp oidc {\n  isuer https://x\n }\n}", `unrecognized oidc option "isuer" (did you mean "issuer"?)`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"oidc claims", "authgate {\n identity_provider corp oidc {\n  claims {\n   group g\n  }\n }\n}", `unrecognized claims option "group" (did you mean "groups"?) (want`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"github", "authgate {\n identity_provider gh github {\n  org acme\n }\n}", `unrecognized github option "org" (did you mean "orgs"?)`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"ldap", "authgate {\n identity_provider dir ldap {\n  baseDN dc=x\n }\n}", `unrecognized ldap option "baseDN" (did you mean "base_dn"?)`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"ldap attributes", "authgate {\n identity_provider dir ldap {\n  attributes {\n   mail m\n  }\n }\n}", `unrecognized attributes option "mail" (did you mean "email"?) (want`,
			func(d *caddyfile.Dispenser) error { _, err := parseGlobalOption(d, nil); return err }},
		{"gateway", "x {\n isuer https://x\n}", `unrecognized authgate option "isuer" (did you mean "issuer"?)`,
			func(d *caddyfile.Dispenser) error {
				d.Next()
				d.NextBlock(0)
				return parseGatewayOption(d, new(GatewayConfig))
			}},
		{"verify", "x {\n trusted_proxys 10.0.0.0/8\n}", `(did you mean "trusted_proxies"?)`,
			func(d *caddyfile.Dispenser) error {
				d.Next()
				d.NextBlock(0)
				return parseGatewayOption(d, new(GatewayConfig), "trusted_proxies")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %s", err, tc.want)
			}
		})
	}
}

// TestKnownOptionsMatchSwitches reads this package's source: wherever a
// switch's default reports an unrecognized option with a slice of known
// names, that slice must list exactly the switch's cases, so a suggestion
// never drifts from what the parser accepts.
func TestKnownOptionsMatchSwitches(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	slicesByName := map[string][]string{}
	type use struct {
		where string
		slice string
		cases []string
	}
	var uses []use
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, v := range n.Values {
					if cl, ok := v.(*ast.CompositeLit); ok && strings.HasSuffix(n.Names[i].Name, "Options") {
						slicesByName[n.Names[i].Name] = stringLits(cl.Elts)
					}
				}
			case *ast.SwitchStmt:
				var cases []string
				var slice string
				for _, s := range n.Body.List {
					cc := s.(*ast.CaseClause)
					if cc.List != nil {
						cases = append(cases, stringLits(cc.List)...)
						continue
					}
					ast.Inspect(cc, func(m ast.Node) bool {
						call, ok := m.(*ast.CallExpr)
						if !ok {
							return true
						}
						switch fn, _ := call.Fun.(*ast.Ident); {
						case fn == nil:
						case fn.Name == "unrecognizedOption" && len(call.Args) >= 4:
							if id, ok := call.Args[3].(*ast.Ident); ok {
								slice = id.Name
							}
						case fn.Name == "didYouMean" && len(call.Args) == 2:
							if id, ok := call.Args[1].(*ast.Ident); ok {
								slice = id.Name
							}
						}
						return true
					})
				}
				if slice != "" {
					uses = append(uses, use{fset.Position(n.Pos()).String(), slice, cases})
				}
			}
			return true
		})
	}
	if len(uses) < 12 {
		t.Errorf("found %d parsers suggesting options, want at least 12", len(uses))
	}
	for _, u := range uses {
		known, ok := slicesByName[u.slice]
		if !ok {
			t.Errorf("%s: %s is not a []string literal", u.where, u.slice)
			continue
		}
		a, b := slices.Sorted(slices.Values(known)), slices.Sorted(slices.Values(u.cases))
		if !slices.Equal(a, b) {
			t.Errorf("%s: %s = %q, but the switch's cases are %q", u.where, u.slice, known, u.cases)
		}
	}
}

func stringLits(exprs []ast.Expr) []string {
	var out []string
	for _, e := range exprs {
		if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			s, _ := strconv.Unquote(bl.Value)
			out = append(out, s)
		}
	}
	return out
}

func TestUnknownModuleSuggests(t *testing.T) {
	for input, want := range map[string]string{
		"authgate {\n storage sqllite /tmp/x.db\n}":                     `unknown storage backend "sqllite" (did you mean "sqlite"?)`,
		"authgate {\n identity_provider corp odic {\n  issuer x\n }\n}": `unknown type "odic" (did you mean "oidc"?)`,
	} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser(input), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error = %v, want it to contain %s", input, err, want)
		}
	}
}
