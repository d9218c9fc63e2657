package caddymodule

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authgate/authgate/authserver/store/sqlite"
)

// deploymentSection returns the guide's section that starts with the
// heading, up to the next section of its level.
func deploymentSection(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("docs/deployment.md has no %q", heading)
	}
	rest := doc[i+len(heading)+2:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestDeploymentBackup runs the `caddy authgate backup` commands of the
// guide's Backups section, in order, on a store in a temp dir: the
// backup, the timer's script and the restore's --verify; checks the
// sample output's lines are the ones the command prints; and backs up
// with --config the guide's Caddyfile, pointed at the same store.
func TestDeploymentBackup(t *testing.T) {
	doc := deploymentDoc(t)
	section := deploymentSection(t, doc, "## 6. Backups")
	const dataPath = "/var/lib/caddy/authgate/authgate.db"
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "authgate.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateToken(ctx, backupTestToken(0)); err != nil {
		t.Fatal(err)
	}
	backupDir := filepath.Join(dir, "backup")
	if err := os.Mkdir(backupDir, 0o700); err != nil {
		t.Fatal(err)
	}

	script := regexp.MustCompile(`(?m)^out="([^"]+)"$`).FindStringSubmatch(section)
	if script == nil {
		t.Fatal("the backup script sets no out=\"…\"")
	}
	outVar := strings.NewReplacer(`"$out"`, script[1])
	local := strings.NewReplacer(
		"$(date +%F-%H%M)", "2026-11-28-0300",
		"$(date +%F)", "2026-11-28",
		dataPath, db,
		"/backup/", backupDir+"/",
	)
	var ran []string
	for _, block := range codeBlocks(section, "sh") {
		block = strings.ReplaceAll(block, "\\\n", " ")
		for _, line := range strings.Split(block, "\n") {
			line = strings.TrimPrefix(strings.TrimSpace(line), "sudo ")
			if !strings.HasPrefix(line, "caddy authgate backup ") {
				continue
			}
			args := strings.Fields(local.Replace(outVar.Replace(line)))
			for i, a := range args {
				args[i] = strings.Trim(a, `"'`)
			}
			out, stderr, err := authgateCmd(t, "", args[2:]...)
			if err != nil {
				t.Fatalf("%s: %v\n%s", line, err, stderr)
			}
			ran = append(ran, args[3])
			// The sample output under the command: every "# label:" line
			// is one the command prints.
			for _, m := range regexp.MustCompile(`(?m)^# ([a-z_ ]+):\s`).FindAllStringSubmatch(block, -1) {
				if args[3] == "--db" && !regexp.MustCompile(`(?m)^`+m[1]+`:\s`).MatchString(out) {
					t.Errorf("the guide shows %q under %s; the command prints:\n%s", m[1], line, out)
				}
			}
		}
	}
	if got := strings.Join(ran, " "); got != "--db --db --verify" {
		t.Errorf("the guide's backup commands are %q; want a backup, the script's, and a --verify", got)
	}
	if strings.Contains(section, "rm -f \"$out\"") || strings.Contains(section, "sqlite3 -readonly /var/lib") {
		t.Error("the guide still backs up with the sqlite3 shell")
	}

	// --config, on the guide's Caddyfile.
	caddyfile := filepath.Join(dir, "Caddyfile")
	text := strings.ReplaceAll(deploymentCaddyfile(t, doc), dataPath, db)
	if err := os.WriteFile(caddyfile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := authgateCmd(t, "", "backup", "--config", caddyfile, "--adapter", "caddyfile", "--output", filepath.Join(backupDir, "config.db"))
	if err != nil || !strings.Contains(out, "backed up "+db) {
		t.Fatalf("backup --config of the guide's Caddyfile: %v\n%s%s", err, out, stderr)
	}
}
