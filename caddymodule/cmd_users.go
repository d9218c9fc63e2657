package caddymodule

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/authgate/authgate/authserver"
)

// The `caddy authgate user …` commands manage users through a running
// Caddy's admin API (/authgate/users, see AdminAPI), which they find as
// `caddy stop` and `caddy reload` do.

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "authgate",
		Usage: "<status|keys|clients|sessions|tokens|user|hash-secret> [args]",
		Short: "Manages authgate through a running Caddy's admin API, or its store directly",
		Long: `
Manages the authgate app of a running Caddy through its admin API
(/authgate/...): its users, clients, sign-in sessions, signing keys and
tokens, and shows its status. Users from the configuration are listed
but read-only; users added here are kept in authgate's store and can
sign in at once, on every instance sharing the store.

  caddy authgate status [--json]
  caddy authgate keys list [--json]
  caddy authgate keys rotate
  caddy authgate clients list [--json]
  caddy authgate clients show <client-id> [--json]
  caddy authgate sessions list [--subject <sub>] [--json]
  caddy authgate sessions revoke <session-id> | --subject <sub>
  caddy authgate tokens revoke --client <id> | --subject <sub> | --jti <jti>
  caddy authgate hash-secret [--stdin]

  caddy authgate user add <username> [--email E] [--name N] [--groups a,b] [--password-stdin]
  caddy authgate user passwd <username> [--password-stdin]
  caddy authgate user disable <username>
  caddy authgate user enable <username>
  caddy authgate user delete <username>
  caddy authgate user list [--json]

The admin API's address is --address, else $CADDY_ADMIN or
localhost:2019. With --config <file> (and --adapter, as for caddy run)
the command works on the store of that configuration's authgate app
instead, with no Caddy running: for a store a running Caddy holds (the
embedded SQLite store), use its admin API. Run it as the user Caddy
runs as, so that it finds the same data directory.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(userCommand(), statusCommand(), keysCommand(), clientsCommand(), sessionsCommand(), tokensCommand(), hashSecretCommand(), backupCommand())
		},
	})
}

// userCommand is `caddy authgate user` and its subcommands.
func userCommand() *cobra.Command {
	user := &cobra.Command{
		Use:   "user",
		Short: "Adds, changes, disables, deletes and lists users",
		Args:  cobra.NoArgs,
	}
	adminFlags(user)

	add := &cobra.Command{
		Use:   "add <username>",
		Short: "Adds a local user, who can sign in at once",
		Long: `
Adds a local user to authgate's store. The password is read from stdin
with --password-stdin (one line), or else asked for twice on the
terminal without echo. There is no flag that takes the password itself:
it would be kept in the shell's history and shown to other users of the
machine in the process list.

  printf '%s\n' "$PASSWORD" | caddy authgate user add alice --password-stdin --email alice@example.com --groups staff,admins
`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd, args[0])
			if err != nil {
				return err
			}
			email, _ := cmd.Flags().GetString("email")
			name, _ := cmd.Flags().GetString("name")
			groups, _ := cmd.Flags().GetStringSlice("groups")
			for i, g := range groups {
				groups[i] = strings.TrimSpace(g) // --groups "a, b"
			}
			body := newUserRequest{Username: args[0], Password: pw, Email: email, Name: name, Groups: groups}
			if _, err := adminRequest(cmd, http.MethodPost, usersPath, body); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %q added\n", args[0])
			return nil
		},
	}
	add.Flags().String("email", "", "The user's email address")
	add.Flags().String("name", "", "The user's full name")
	add.Flags().StringSlice("groups", nil, "The user's groups, separated by commas")
	add.Flags().Bool("password-stdin", false, "Read the password from the first line of stdin")

	passwd := &cobra.Command{
		Use:   "passwd <username>",
		Short: "Sets a local user's password, ending their sessions and tokens",
		Long: `
Sets a stored local user's password. Everything the user is signed in
with ends: sessions, gateway sessions, refresh and access tokens. The
password is read as by "add": with --password-stdin, or asked for twice
on the terminal; never from a flag, which would land in the shell's
history.
`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd, args[0])
			if err != nil {
				return err
			}
			if _, err := adminRequest(cmd, http.MethodPatch, userPath(args[0]), userPatch{Password: &pw}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of user %q changed; their sessions and tokens were ended\n", args[0])
			return nil
		},
	}
	passwd.Flags().Bool("password-stdin", false, "Read the password from the first line of stdin")

	setDisabled := func(use, short, done string, disabled bool) *cobra.Command {
		return &cobra.Command{
			Use: use + " <username>", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if _, err := adminRequest(cmd, http.MethodPatch, userPath(args[0]), userPatch{Disabled: &disabled}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %q %s\n", args[0], done)
				return nil
			},
		}
	}
	del := &cobra.Command{
		Use:   "delete <username>",
		Short: "Deletes a stored user, ending their sessions and tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := adminRequest(cmd, http.MethodDelete, userPath(args[0]), nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %q deleted; their sessions and tokens were ended\n", args[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Lists the users: from the configuration, the store and identity providers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := adminRequest(cmd, http.MethodGet, usersPath, nil)
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var users []authserver.UserInfo
			if err := json.Unmarshal(body, &users); err != nil {
				return fmt.Errorf("reading the admin API's list of users: %w", err)
			}
			return printUsers(cmd.OutOrStdout(), users)
		},
	}
	list.Flags().Bool("json", false, "Print the list as the admin API's JSON")

	user.AddCommand(add, passwd,
		setDisabled("disable", "Disables a stored user, ending their sessions and tokens", "disabled; their sessions and tokens were ended", true),
		setDisabled("enable", "Enables a disabled stored user", "enabled", false),
		del, list)
	return user
}

// adminFlags adds to cmd and its subcommands the flags that find the
// admin API.
func adminFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("address", "", "Address of the running Caddy's admin API (default $CADDY_ADMIN or localhost:2019)")
	pf.StringP("config", "c", "", "Work on the store of this configuration's authgate app directly, with no Caddy running on it")
	pf.StringP("adapter", "a", "", "Name of the config adapter of --config (caddyfile for a file named Caddyfile)")
}

// printUsers prints users as a table.
func printUsers(out io.Writer, users []authserver.UserInfo) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tNAME\tEMAIL\tGROUPS\tSOURCE\tDISABLED")
	for _, u := range users {
		source := u.Source
		if u.Provider != "" {
			source = u.Provider
		}
		disabled := "no"
		if u.Disabled {
			disabled = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cell(u.Username), cell(u.Name), cell(u.Email),
			cell(strings.Join(u.Groups, ",")), cell(source), disabled)
	}
	return tw.Flush()
}

// readPassword reads the new password of username: the first line of
// stdin with --password-stdin, or else typed twice on the terminal
// without echo.
func readPassword(cmd *cobra.Command, username string) (string, error) {
	fromStdin, _ := cmd.Flags().GetBool("password-stdin")
	return readSecret(cmd, fromStdin, "password", "--password-stdin", fmt.Sprintf("Password for %s: ", username))
}

// readSecret reads a secret (what names it in errors): the first line of
// stdin if fromStdin, or else typed twice on the terminal without echo
// after prompt. flag is the option that reads stdin.
func readSecret(cmd *cobra.Command, fromStdin bool, what, flag, prompt string) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the %s from stdin: %w", what, err)
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if pw == "" {
			return "", fmt.Errorf("no %s on stdin: give it as the first line", what)
		}
		return pw, nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("stdin is not a terminal: pipe the %s in with %s", what, flag)
	}
	out := cmd.ErrOrStderr()
	ask := func(p string) (string, error) {
		fmt.Fprint(out, p)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(out)
		if err != nil {
			return "", fmt.Errorf("reading the %s: %w", what, err)
		}
		return string(b), nil
	}
	pw, err := ask(prompt)
	if err != nil {
		return "", err
	}
	again, err := ask(fmt.Sprintf("Same %s again: ", what))
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", fmt.Errorf("the two %ss differ", what)
	}
	if pw == "" {
		return "", fmt.Errorf("no %s given", what)
	}
	return pw, nil
}

// apiError is how caddycmd.AdminAPIRequest reports an error status.
var apiError = regexp.MustCompile(`(?s)^caddy responded with error: HTTP (\d+): (.*)$`)

// adminRequest sends a request to the admin API that the command's
// flags name, with body as JSON if not nil, and returns the answer's
// body; with --config it answers the request in this process instead,
// on the configuration's store (see directRequest). An error answer
// becomes an error with the API's message and status.
func adminRequest(cmd *cobra.Command, method, uri string, body any) ([]byte, error) {
	flags := cmd.Flags()
	address, _ := flags.GetString("address")
	config, _ := flags.GetString("config")
	adapter, _ := flags.GetString("adapter")
	var encoded []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		encoded = b
	}
	if config != "" {
		if address != "" {
			return nil, errors.New("give --address (a running Caddy's admin API) or --config (the store itself, with no Caddy running), not both")
		}
		return directRequest(cmd.Context(), config, adapter, method, uri, encoded)
	}
	if adapter != "" {
		return nil, errors.New("--adapter goes with --config")
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(address, nil, "", "")
	if err != nil {
		return nil, fmt.Errorf("finding Caddy's admin API: %w", err)
	}
	var reader io.Reader
	if encoded != nil {
		reader = bytes.NewReader(encoded)
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, nil, reader)
	if err != nil {
		if m := apiError.FindStringSubmatch(err.Error()); m != nil {
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal([]byte(m[2]), &e) == nil && e.Error != "" {
				status, _ := strconv.Atoi(m[1])
				return nil, fmt.Errorf("%s (HTTP %d %s)", e.Error, status, http.StatusText(status))
			}
			return nil, fmt.Errorf("the admin API at %s answered HTTP %s: %s", addr, m[1], strings.TrimSpace(m[2]))
		}
		return nil, fmt.Errorf("reaching Caddy's admin API at %s (is Caddy running? see --address): %w", addr, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the admin API's answer: %w", err)
	}
	return out, nil
}
