package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authgate/authgate/authserver/connector/ldap/ldaptest"
)

// readmeSection returns the README's section under the heading, up to
// the next heading of the same level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("the README has no section %q", heading)
	}
	rest := text[start+len(heading)+2:]
	level := heading[:strings.Index(heading, " ")+1] // "### "
	if end := strings.Index(rest, "\n"+level); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

// codeBlocks returns the section's fenced code blocks of a language.
func codeBlocks(section, lang string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(section, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestReadmeIdentityProviders adapts and validates every complete
// Caddyfile of the README's "Identity providers" section, and its JSON,
// with values for their placeholders and a CA where they name one:
// provisioning builds every connector, contacting none of the example
// hosts.
func TestReadmeIdentityProviders(t *testing.T) {
	section := readmeSection(t, "### Identity providers")
	dir := t.TempDir()
	caPEM, _, _ := ldaptest.NewCA(t, "README CA")
	caFile := filepath.Join(dir, "ca.pem")
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte("secret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	envPlaceholder := regexp.MustCompile(`\{env\.([A-Z0-9_]+)\}`)
	filePlaceholder := regexp.MustCompile(`\{file\.[^}]+\}`)
	caOption := regexp.MustCompile(`(?m)^(\s*ca\s+)\S+\.pem$`)
	localize := func(text string) string {
		for _, m := range envPlaceholder.FindAllStringSubmatch(text, -1) {
			t.Setenv(m[1], "value-of-"+strings.ToLower(m[1]))
		}
		text = filePlaceholder.ReplaceAllString(text, "{file."+secretFile+"}")
		return caOption.ReplaceAllString(text, "${1}"+caFile)
	}

	examples := 0
	for _, block := range codeBlocks(section, "caddyfile") {
		if !strings.HasPrefix(block, "{\n") {
			continue // a syntax summary, not a Caddyfile
		}
		examples++
		name := regexp.MustCompile(`identity_provider (\S+)`).FindStringSubmatch(block)
		if name == nil {
			t.Errorf("an example without identity_provider:\n%s", block)
			continue
		}
		t.Run(name[1], func(t *testing.T) {
			cfgJSON, err := adaptCaddyfile(t, block)
			if err != nil {
				t.Fatalf("the README's example does not adapt: %v\n%s", err, block)
			}
			if err := validate(t, localize(block)); err != nil {
				t.Fatalf("the README's example does not validate: %v\n%s", err, block)
			}
			if !strings.Contains(string(cfgJSON), `"identity_providers"`) {
				t.Errorf("no identity providers in %s", cfgJSON)
			}
		})
	}
	if examples < 7 {
		t.Errorf("found %d Caddyfile examples in the section; want the OIDC, Google, Entra, Keycloak/Okta, GitHub, OpenLDAP and Active Directory ones", examples)
	}

	jsonBlocks := codeBlocks(section, "json")
	if len(jsonBlocks) != 1 {
		t.Fatalf("want one JSON example, found %d", len(jsonBlocks))
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(localize(jsonBlocks[0])), &cfg); err != nil {
		t.Fatalf("the JSON example: %v", err)
	}
	app := cfg["apps"].(map[string]any)["authgate"].(map[string]any)
	app["storage"] = map[string]any{"backend": "sqlite", "path": filepath.Join(dir, "json.db")}
	b, _ := json.Marshal(cfg)
	if err := validateJSON(t, b); err != nil {
		t.Fatalf("the JSON example does not validate: %v", err)
	}
}
