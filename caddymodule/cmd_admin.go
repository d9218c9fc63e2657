package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/password"
)

// The `caddy authgate status|keys|tokens|hash-secret` commands: the
// first three through a running Caddy's admin API (/authgate/status,
// /authgate/keys, /authgate/tokens/revoke, see AdminAPI), hash-secret on
// its own.

// statusCommand is `caddy authgate status`.
func statusCommand() *cobra.Command {
	status := &cobra.Command{
		Use:   "status",
		Short: "Shows the issuer, store, signing keys and counts of a running authgate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := adminRequest(cmd, http.MethodGet, "/authgate/status", nil)
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var rep statusReport
			if err := json.Unmarshal(body, &rep); err != nil {
				return fmt.Errorf("reading the admin API's status: %w", err)
			}
			return printStatus(cmd.OutOrStdout(), rep)
		},
	}
	status.Flags().Bool("json", false, "Print the admin API's JSON")
	adminFlags(status)
	return status
}

// printStatus prints the status for people.
func printStatus(out io.Writer, rep statusReport) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Issuer:\t%s\n", rep.Issuer)
	where := rep.Store.Path
	if rep.Store.Backend == "postgres" {
		where = rep.Store.Host
		if rep.Store.Database != "" {
			where += "/" + rep.Store.Database
		}
	}
	if where != "" {
		where = " (" + where + ")"
	}
	fmt.Fprintf(tw, "Store:\t%s%s\n", rep.Store.Backend, where)
	fmt.Fprintf(tw, "Clients:\t%d configured, %d registered\n", rep.Clients.Configured, rep.Clients.Registered)
	fmt.Fprintf(tw, "Users:\t%d configured, %d stored\n", rep.Users.Configured, rep.Users.Stored)
	fmt.Fprintf(tw, "Identity providers:\t%d\n", rep.IdentityProviders)
	fmt.Fprintf(tw, "Gateways:\t%d\n", rep.Gateways)
	fmt.Fprintf(tw, "Signing algorithm:\t%s\n", rep.SigningAlgorithm)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return printKeys(out, rep.Keys)
}

// printKeys prints signing keys as a table.
func printKeys(out io.Writer, ks []keyStatus) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tAGE\tSIGNS\tSIGN FROM\tSIGN UNTIL\tVERIFY UNTIL")
	for _, k := range ks {
		signs := "no"
		if k.Signing {
			signs = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, age(time.Duration(k.AgeSeconds)*time.Second), signs,
			k.SignFrom.UTC().Format(time.RFC3339), k.SignUntil.UTC().Format(time.RFC3339), k.VerifyUntil.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// age prints d roughly: 3d4h, 5h2m, 42s; "-" and the time to go for a
// key that has yet to sign.
func age(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "in ", -d
	}
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%s%dd%dh", sign, d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%s%dh%dm", sign, d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%s%dm%ds", sign, d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%s%ds", sign, d/time.Second)
}

// keysCommand is `caddy authgate keys list|rotate`.
func keysCommand() *cobra.Command {
	k := &cobra.Command{Use: "keys", Short: "Lists and rotates the signing keys", Args: cobra.NoArgs}
	adminFlags(k)
	show := func(cmd *cobra.Command, body []byte) error {
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			_, err := cmd.OutOrStdout().Write(body)
			return err
		}
		var infos []keys.KeyInfo
		if err := json.Unmarshal(body, &infos); err != nil {
			return fmt.Errorf("reading the admin API's keys: %w", err)
		}
		return printKeys(cmd.OutOrStdout(), keyStatuses(infos, time.Now()))
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Lists the signing keys (no key material): which signs, until when each verifies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := adminRequest(cmd, http.MethodGet, "/authgate/keys", nil)
			if err != nil {
				return err
			}
			return show(cmd, body)
		},
	}
	list.Flags().Bool("json", false, "Print the admin API's JSON")
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Starts the next signing key now; the previous one keeps verifying",
		Long: `
Starts a new signing key now, on every instance sharing the store (at
their next key refresh). Tokens signed by the previous key stay valid:
it keeps verifying for the longest token lifetime.
`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := adminRequest(cmd, http.MethodPost, "/authgate/keys/rotate", nil)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "signing key rotated; the keys now:")
			return show(cmd, body)
		},
	}
	rotate.Flags().Bool("json", false, "Print the admin API's JSON")
	k.AddCommand(list, rotate)
	return k
}

// tokensCommand is `caddy authgate tokens revoke`.
func tokensCommand() *cobra.Command {
	t := &cobra.Command{Use: "tokens", Short: "Revokes tokens", Args: cobra.NoArgs}
	adminFlags(t)
	revoke := &cobra.Command{
		Use:   "revoke --client <id> | --subject <sub> | --jti <jti>",
		Short: "Revokes a client's tokens, a subject's tokens and sessions, or one access token",
		Long: `
Revokes, on every instance sharing the store:

  --client <id>     every token, code and consent issued to the client
  --subject <sub>   everything of the subject (a user's sub, or a client's
                    ID for its client credentials tokens): sessions,
                    gateway sessions, tokens, codes, consents
  --jti <jti>       the one access token with the jti

This instance's gateways drop the revoked tokens at once, other
instances' within a second (the revocation feed's poll).
`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var req revokeRequest
			req.Client, _ = cmd.Flags().GetString("client")
			req.Subject, _ = cmd.Flags().GetString("subject")
			req.JTI, _ = cmd.Flags().GetString("jti")
			n := 0
			for _, v := range []string{req.Client, req.Subject, req.JTI} {
				if strings.TrimSpace(v) != "" {
					n++
				}
			}
			if n != 1 {
				return errors.New("give exactly one of --client, --subject and --jti")
			}
			body, err := adminRequest(cmd, http.MethodPost, "/authgate/tokens/revoke", req)
			if err != nil {
				return err
			}
			var res struct {
				Revoked int64 `json:"revoked"`
			}
			if err := json.Unmarshal(body, &res); err != nil {
				return fmt.Errorf("reading the admin API's answer: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d revoked\n", res.Revoked)
			return nil
		},
	}
	revoke.Flags().String("client", "", "Revoke everything issued to this client ID")
	revoke.Flags().String("subject", "", "Revoke everything of this subject")
	revoke.Flags().String("jti", "", "Revoke the access token with this jti")
	t.AddCommand(revoke)
	return t
}

// hashSecretCommand is `caddy authgate hash-secret`.
func hashSecretCommand() *cobra.Command {
	h := &cobra.Command{
		Use:   "hash-secret",
		Short: "Prints the argon2id hash of a client secret, for secret_hash",
		Long: `
Reads a secret and prints its argon2id hash, for a client's secret_hash
(or a user's password_hash) in the configuration. The secret is read
from the first line of stdin with --stdin, or else asked for twice on
the terminal without echo; never from a flag, which would land in the
shell's history. Needs no running Caddy.

  head -c 32 /dev/urandom | base64 | tee secret.txt | caddy authgate hash-secret --stdin
`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fromStdin, _ := cmd.Flags().GetBool("stdin")
			secret, err := readSecret(cmd, fromStdin, "secret", "--stdin", "Secret: ")
			if err != nil {
				return err
			}
			hash, err := password.HashArgon2id(secret)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), hash)
			return nil
		},
	}
	h.Flags().Bool("stdin", false, "Read the secret from the first line of stdin")
	return h
}
