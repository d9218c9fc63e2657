package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/authgate/authgate/authserver/store/sqlite"
	"github.com/authgate/authgate/authserver/store/sqlstore"
)

// The `caddy authgate backup` command: an online copy of the SQLite store
// (VACUUM INTO on the database opened read-only, see sqlite.Backup), and
// the check of a copy before it is restored. It reads the database file
// itself, not through the admin API, and does not take the lock that
// keeps a second Caddy off the store: it works while Caddy runs.

// backupCommand is `caddy authgate backup`.
func backupCommand() *cobra.Command {
	backup := &cobra.Command{
		Use:   "backup (--db <file> | --config <Caddyfile>) --output <file> | --verify <file>",
		Short: "Copies the SQLite store while Caddy runs, or checks a copy",
		Long: `
Copies authgate's SQLite store to a new file while Caddy runs and
writes: one consistent snapshot (SQLite's VACUUM INTO), read from the
database opened read-only. The copy is created with mode 0600, never
over an existing file, then checked (PRAGMA integrity_check); what it
holds is printed: size, schema version, row counts. It holds the private
signing keys: keep it as safe as the store.

  caddy authgate backup --db /var/lib/caddy/authgate/authgate.db --output /backup/authgate.db
  caddy authgate backup --config /etc/caddy/Caddyfile --output /backup/authgate.db
  caddy authgate backup --verify /backup/authgate.db

--config (with --adapter) finds the database in the authgate app's
storage; a relative path is taken from the current directory, and the
default one is in the Caddy data directory of the user running this
command. A PostgreSQL store is backed up with pg_dump instead.

--verify checks a copy before it is restored: its integrity, and that
its schema is not newer than this authgate's.
`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := cmd.Flags()
			db, _ := flags.GetString("db")
			config, _ := flags.GetString("config")
			adapter, _ := flags.GetString("adapter")
			output, _ := flags.GetString("output")
			verify, _ := flags.GetString("verify")
			if verify != "" {
				if db != "" || config != "" || output != "" {
					return errors.New("--verify takes no --db, --config nor --output")
				}
				return verifyBackup(cmd, verify)
			}
			if output == "" {
				return errors.New("give --output, the file to write the copy to (or --verify <file>)")
			}
			switch {
			case db != "" && config != "":
				return errors.New("give --db or --config, not both")
			case db == "" && config == "":
				return errors.New("give --db, the database file, or --config, the Caddy configuration that names it")
			case config != "":
				var err error
				if db, err = sqlitePathFromConfig(config, adapter); err != nil {
					return err
				}
			}
			return runBackup(cmd, db, output)
		},
	}
	f := backup.Flags()
	f.String("db", "", "The SQLite database file to copy")
	f.StringP("config", "c", "", "The Caddy configuration whose authgate storage to copy")
	f.StringP("adapter", "a", "", "Name of the config adapter of --config")
	f.StringP("output", "o", "", "The file to write the copy to; it must not exist")
	f.String("verify", "", "Check a copy instead: integrity and schema version")
	return backup
}

// runBackup copies db to output and prints what the copy holds.
func runBackup(cmd *cobra.Command, db, output string) error {
	// Interrupted (Ctrl-C, systemctl stop), the copy stops and what it
	// wrote is removed.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := sqlite.Backup(ctx, db, output)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "backed up %s to %s\n", db, output)
	if err := printSummary(out, sum); err != nil {
		return err
	}
	if sum.SchemaVersion > sqlstore.SchemaVersion {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: the schema (version %d) is newer than this authgate's (%d): restore the copy with an authgate at least as new as the running one\n",
			sum.SchemaVersion, sqlstore.SchemaVersion)
	}
	return nil
}

// verifyBackup checks that the copy at path can be restored by this
// authgate, and prints it.
func verifyBackup(cmd *cobra.Command, path string) error {
	sum, err := sqlite.Inspect(cmd.Context(), path)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	switch {
	case sum.Integrity != "ok":
		return fmt.Errorf("verify: %s fails its integrity check: %s", path, sum.Integrity)
	case sum.SchemaVersion == 0:
		return fmt.Errorf("verify: %s is not an authgate store: it has no schema version", path)
	case sum.SchemaVersion > sqlstore.SchemaVersion:
		return fmt.Errorf("verify: %s has schema version %d, newer than this authgate's (%d): restore it with the authgate that made it, or a newer one",
			path, sum.SchemaVersion, sqlstore.SchemaVersion)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s can be restored\n", path)
	return printSummary(out, sum)
}

// printSummary prints what a copy holds; never the rows themselves.
func printSummary(out io.Writer, sum sqlite.Summary) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "size:\t%d bytes\n", sum.Size)
	fmt.Fprintf(tw, "integrity:\t%s\n", sum.Integrity)
	fmt.Fprintf(tw, "schema version:\t%d (this authgate's: %d)\n", sum.SchemaVersion, sqlstore.SchemaVersion)
	for _, table := range sqlite.SummaryTables() {
		if n, ok := sum.Rows[table]; ok {
			fmt.Fprintf(tw, "%s:\t%d\n", table, n)
		}
	}
	return tw.Flush()
}

// sqlitePathFromConfig loads the Caddy configuration in file (adapting
// it in this process, as `caddy run` would) and returns the absolute path
// of the authgate app's SQLite database. A PostgreSQL store, or another
// backend, is an error that says what to use instead; a DSN is never
// printed.
func sqlitePathFromConfig(file, adapter string) (string, error) {
	cfgJSON, _, _, err := caddycmd.LoadConfig(file, adapter)
	if err != nil {
		return "", fmt.Errorf("loading %s: %w", file, err)
	}
	var cfg struct {
		Apps struct {
			Authgate *struct {
				Storage json.RawMessage `json:"storage"`
			} `json:"authgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return "", fmt.Errorf("reading %s: %w", file, err)
	}
	if cfg.Apps.Authgate == nil {
		return "", fmt.Errorf("%s has no authgate app", file)
	}
	storage := SQLiteStorage{}
	backend := "sqlite"
	if len(cfg.Apps.Authgate.Storage) > 0 {
		var b struct {
			Backend string `json:"backend"`
		}
		if err := json.Unmarshal(cfg.Apps.Authgate.Storage, &b); err != nil {
			return "", fmt.Errorf("reading the authgate storage of %s: %w", file, err)
		}
		backend = b.Backend
		if backend == "sqlite" {
			if err := json.Unmarshal(cfg.Apps.Authgate.Storage, &storage); err != nil {
				return "", fmt.Errorf("reading the authgate storage of %s: %w", file, err)
			}
		}
	}
	switch backend {
	case "sqlite":
	case "postgres":
		return "", fmt.Errorf("the authgate storage of %s is PostgreSQL: back it up with pg_dump (see docs/deployment.md), not with this command", file)
	default:
		return "", fmt.Errorf("the authgate storage of %s is %q, not sqlite: back it up with that backend's tools", file, backend)
	}
	return storage.databasePath()
}
