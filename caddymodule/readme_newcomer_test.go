package caddymodule

import (
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestReadmeClientManagement runs the README's RFC 7592 block as a
// newcomer pastes it into a shell, against Caddyfile.example (on a free
// port instead of 9000): it registers a client, takes $CLIENT_ID and $RAT
// from the response, reads, replaces and deletes the client.
func TestReadmeClientManagement(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s not found: skipping the README's shell example", tool)
		}
	}
	text, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	local, ports := localExample(t, string(text))
	cfgJSON, err := adaptCaddyfile(t, local)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("running Caddyfile.example: %v", err)
	}
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
	issuer := "http://" + ports["9000"]

	block := readmeBlock(t, "sh", "REG=$(curl")
	for _, v := range []string{"CLIENT_ID=", "RAT="} {
		if !strings.Contains(block, "\n"+v) {
			t.Fatalf("the README's RFC 7592 block does not set %s:\n%s", v, block)
		}
	}
	script := "set -eu\n" + strings.ReplaceAll(block, "http://localhost:9000", issuer) +
		"\nprintf '\\nCLIENT_ID=%s RAT=%s\\n' \"$CLIENT_ID\" \"$RAT\"\n"
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's RFC 7592 block: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`\nCLIENT_ID=(ag_c_\S+) RAT=(ag_rat_\S+)\n$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("the README's RFC 7592 block did not set $CLIENT_ID and $RAT:\n%s", out)
	}
	id, rat := m[1], m[2]
	// The read and the replace answered with the client; the replace set its name.
	if strings.Count(string(out), `"client_id":"`+id+`"`) != 2 || !strings.Contains(string(out), `"client_name":"Agent"`) {
		t.Errorf("the README's read and replace:\n%s", out)
	}
	// The delete deleted it.
	req, _ := http.NewRequest("GET", issuer+"/register/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+rat)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode == http.StatusOK {
		t.Errorf("the client is still there after the README's delete")
	}
}
