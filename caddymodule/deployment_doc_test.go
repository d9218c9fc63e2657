package caddymodule

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// deploymentDoc returns docs/deployment.md.
func deploymentDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// deploymentCaddyfile returns the guide's one complete Caddyfile.
func deploymentCaddyfile(t *testing.T, doc string) string {
	t.Helper()
	var blocks []string
	for _, b := range codeBlocks(doc, "caddyfile") {
		if strings.HasPrefix(b, "{\n") {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) != 1 {
		t.Fatalf("found %d complete Caddyfiles in docs/deployment.md; want 1", len(blocks))
	}
	return blocks[0]
}

// systemdUnit is a unit file's keys by section; a repeated key keeps
// every value.
type systemdUnit map[string]map[string][]string

func (u systemdUnit) get(section, key string) []string { return u[section][key] }

// parseUnit reads an INI-like systemd unit: [Section] lines, Key=Value
// lines, comments and blank lines; anything else is an error.
func parseUnit(t *testing.T, text string) systemdUnit {
	t.Helper()
	u := systemdUnit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if _, dup := u[section]; dup {
				t.Errorf("line %d: section [%s] twice", n, section)
			}
			u[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" || key == "" || strings.ContainsAny(key, " \t") || strings.HasSuffix(line, "\\") {
				t.Errorf("line %d is not Key=Value in a section: %q", n, line)
				continue
			}
			u[section][key] = append(u[section][key], value)
		}
	}
	return u
}

// deploymentUnit returns the text of the guide's caddy.service.
func deploymentUnit(t *testing.T, doc string) string {
	t.Helper()
	var units []string
	for _, b := range codeBlocks(doc, "ini") {
		if strings.HasPrefix(b, "# /etc/systemd/system/caddy.service\n") {
			units = append(units, b)
		}
	}
	if len(units) != 1 {
		t.Fatalf("found %d caddy.service blocks in docs/deployment.md; want 1", len(units))
	}
	return units[0]
}

// TestDeploymentCaddyfile adapts the guide's HTTPS Caddyfile and
// provisions it without binding ports, its store and secrets moved to
// a temp dir, and checks it is the set-up the guide describes: the
// authorization server and a gateway on real names, over automatic
// HTTPS.
func TestDeploymentCaddyfile(t *testing.T) {
	doc := deploymentDoc(t)
	text := deploymentCaddyfile(t, doc)

	cfgJSON, err := adaptCaddyfile(t, text)
	if err != nil {
		t.Fatalf("the guide's Caddyfile does not adapt: %v\n%s", err, text)
	}
	var cfg struct {
		Apps struct {
			Authgate struct {
				Issuer  string `json:"issuer"`
				Storage struct {
					Backend string `json:"backend"`
					Path    string `json:"path"`
				} `json:"storage"`
			} `json:"authgate"`
			HTTP struct {
				Servers map[string]struct {
					Listen         []string        `json:"listen"`
					AutomaticHTTPS json.RawMessage `json:"automatic_https"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	app := cfg.Apps.Authgate
	if app.Issuer != "https://auth.example.com" {
		t.Errorf("issuer %q; want https://auth.example.com", app.Issuer)
	}
	if app.Storage.Backend != "sqlite" || !strings.HasPrefix(app.Storage.Path, "/var/lib/caddy/") {
		t.Errorf("storage %+v; want sqlite under /var/lib/caddy", app.Storage)
	}
	if len(cfg.Apps.HTTP.Servers) != 1 {
		t.Errorf("servers %+v; want one, on :443", cfg.Apps.HTTP.Servers)
	}
	for name, srv := range cfg.Apps.HTTP.Servers {
		if len(srv.Listen) != 1 || srv.Listen[0] != ":443" || srv.AutomaticHTTPS != nil {
			t.Errorf("server %s listens on %v with automatic_https %s; want :443 and Caddy's defaults", name, srv.Listen, srv.AutomaticHTTPS)
		}
	}
	for _, want := range []string{
		`"host":["auth.example.com"]`, `"handler":"authgate_server"`,
		`"host":["app.example.com"]`, `"handler":"authgate"`,
	} {
		if !strings.Contains(string(cfgJSON), want) {
			t.Errorf("the adapted config lacks %s:\n%s", want, cfgJSON)
		}
	}
	if strings.Contains(text, "tls ") || strings.Contains(text, "http://") {
		t.Errorf("the guide's Caddyfile should leave certificates to automatic HTTPS:\n%s", text)
	}

	// Provision it as the unit would run it: every {env.X} set, every
	// {file.X} a file, the store in a temp dir, Caddy's data dir too.
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	local := strings.ReplaceAll(text, app.Storage.Path, filepath.Join(dir, "authgate.db"))
	for _, m := range regexp.MustCompile(`\{env\.([A-Za-z0-9_]+)\}`).FindAllStringSubmatch(text, -1) {
		t.Setenv(m[1], "value-of-"+strings.ToLower(m[1]))
	}
	for _, m := range regexp.MustCompile(`\{file\.([^}]+)\}`).FindAllStringSubmatch(text, -1) {
		f := filepath.Join(dir, filepath.Base(m[1]))
		if err := os.WriteFile(f, []byte("secret-from-"+filepath.Base(m[1])+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		local = strings.ReplaceAll(local, m[0], "{file."+f+"}")
	}
	if err := validate(t, local); err != nil {
		t.Fatalf("the guide's Caddyfile does not validate: %v\n%s", err, local)
	}
}

// TestDeploymentSystemdUnit checks the guide's caddy.service: it parses
// as a unit, runs Caddy on the Caddyfile as the user caddy with the
// hardening the guide describes, can write the store's directory and
// provides every secret the Caddyfile reads; and, where systemd-analyze
// is installed, that systemd accepts it.
func TestDeploymentSystemdUnit(t *testing.T) {
	doc := deploymentDoc(t)
	text := deploymentUnit(t, doc)
	u := parseUnit(t, text)
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Errorf("no [%s] section", s)
		}
	}
	one := func(key string) string {
		v := u.get("Service", key)
		if len(v) != 1 {
			t.Errorf("[Service] %s: %q; want one value", key, v)
			return ""
		}
		return v[0]
	}

	execStart := one("ExecStart")
	if !regexp.MustCompile(`^/\S*/caddy run (--environ )?--config /etc/caddy/Caddyfile( --adapter caddyfile)?$`).MatchString(execStart) {
		t.Errorf("ExecStart=%s; want caddy run --config /etc/caddy/Caddyfile [--adapter caddyfile]", execStart)
	}
	if strings.Contains(execStart, "--environ") && strings.Contains(text, "EnvironmentFile=") {
		t.Errorf("ExecStart=%s logs the environment, secrets from EnvironmentFile included", execStart)
	}
	want := map[string]string{
		"User":                  "caddy",
		"Group":                 "caddy",
		"NoNewPrivileges":       "true",
		"ProtectSystem":         "strict",
		"ProtectHome":           "true",
		"PrivateTmp":            "true",
		"PrivateDevices":        "true",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
	}
	for key, value := range want {
		if got := one(key); got != value {
			t.Errorf("[Service] %s=%s; want %s", key, got, value)
		}
	}
	if got := u.get("Install", "WantedBy"); len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%q; want multi-user.target", got)
	}

	// Caddy's data directory is $XDG_DATA_HOME/caddy: /var/lib/caddy,
	// writable, and the store is in it.
	env := map[string]string{}
	for _, line := range u.get("Service", "Environment") {
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(strings.Trim(kv, `"`), "=")
			env[k] = v
		}
	}
	if env["XDG_DATA_HOME"] != "/var/lib" {
		t.Errorf("Environment XDG_DATA_HOME=%q; want /var/lib (Caddy's data directory /var/lib/caddy)", env["XDG_DATA_HOME"])
	}
	writable := strings.Fields(one("ReadWritePaths"))
	under := func(path string) bool {
		for _, w := range writable {
			if path == w || strings.HasPrefix(path, strings.TrimSuffix(w, "/")+"/") {
				return true
			}
		}
		return false
	}
	if !under("/var/lib/caddy/certificates") {
		t.Errorf("ReadWritePaths=%v does not include Caddy's data directory /var/lib/caddy", writable)
	}
	caddyfile := deploymentCaddyfile(t, doc)
	if m := regexp.MustCompile(`storage sqlite (\S+)`).FindStringSubmatch(caddyfile); m == nil || !under(m[1]) {
		t.Errorf("the store (%v) is not under ReadWritePaths=%v", m, writable)
	}
	if cfgHome := env["XDG_CONFIG_HOME"]; cfgHome != "" && !under(cfgHome) {
		t.Errorf("XDG_CONFIG_HOME=%s (the autosaved config) is not writable: ReadWritePaths=%v", cfgHome, writable)
	}

	// Every secret the Caddyfile reads is provided by the unit.
	if len(u.get("Service", "EnvironmentFile")) == 0 {
		t.Error("no EnvironmentFile")
	}
	for _, m := range regexp.MustCompile(`\{env\.([A-Za-z0-9_]+)\}`).FindAllStringSubmatch(caddyfile, -1) {
		if !regexp.MustCompile(`(?m)^\s*` + m[1] + `=`).MatchString(doc) {
			t.Errorf("the guide's environment file does not set %s", m[1])
		}
	}
	creds := map[string]bool{}
	for _, c := range u.get("Service", "LoadCredential") {
		name, _, _ := strings.Cut(c, ":")
		creds[name] = true
	}
	fileRefs := regexp.MustCompile(`\{file\.([^}]+)\}`).FindAllStringSubmatch(caddyfile, -1)
	if len(fileRefs) == 0 || len(creds) == 0 {
		t.Errorf("the guide should show LoadCredential with a {file.…} placeholder: %v, %v", fileRefs, creds)
	}
	for _, m := range fileRefs {
		dir, name := filepath.Split(m[1])
		if dir != "/run/credentials/caddy.service/" || !creds[name] {
			t.Errorf("{file.%s} is not a credential of the unit (LoadCredential: %v)", m[1], creds)
		}
	}

	t.Run("systemd-analyze", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze is not installed")
		}
		// The unit names /usr/bin/caddy, which verify wants executable:
		// point it at a binary that exists here.
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		bin := regexp.MustCompile(`^\S+`).FindString(execStart)
		dir := t.TempDir()
		unit := filepath.Join(dir, "caddy.service")
		if err := os.WriteFile(unit, []byte(strings.ReplaceAll(text, bin+" ", self+" ")), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--man=no", unit)
		cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=warning")
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			// Outside a booted systemd, verify may fail for reasons
			// that have nothing to do with the unit; only complaints
			// about the unit file itself count.
			if strings.Contains(string(out), "caddy.service") {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
			t.Logf("systemd-analyze verify (not about the unit): %v\n%s", err, out)
		}
	})
}
