package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authgate/authgate/authserver"
)

// sessionsCommand is `caddy authgate sessions list|revoke`.
func sessionsCommand() *cobra.Command {
	s := &cobra.Command{Use: "sessions", Short: "Lists and ends sign-in sessions", Args: cobra.NoArgs}
	adminFlags(s)
	list := &cobra.Command{
		Use:   "list [--subject <sub>]",
		Short: "Lists the live sign-in sessions, of every user or of one subject",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			uri := sessionsPath
			if sub, _ := cmd.Flags().GetString("subject"); sub != "" {
				uri += "?" + url.Values{"subject": {sub}}.Encode()
			}
			body, err := adminRequest(cmd, http.MethodGet, uri, nil)
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var sessions []authserver.SessionInfo
			if err := json.Unmarshal(body, &sessions); err != nil {
				return fmt.Errorf("reading the admin API's sessions: %w", err)
			}
			return printSessions(cmd.OutOrStdout(), sessions)
		},
	}
	list.Flags().String("subject", "", "List only this subject's sessions")
	list.Flags().Bool("json", false, "Print the admin API's JSON")
	revoke := &cobra.Command{
		Use:   "revoke <session-id> | --subject <sub>",
		Short: "Ends a sign-in session, or every session of a subject",
		Long: `
Ends a sign-in session (its ID as "sessions list" shows it), or every
live session of --subject, as the account page's "end session" does:
the browser must sign in again, and the gateway sessions signed in
through the session end too, on every instance sharing the store. The
user's refresh tokens stay valid; "tokens revoke --subject" ends
everything.
`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req sessionsRevokeRequest
			req.Subject, _ = cmd.Flags().GetString("subject")
			if len(args) == 1 {
				req.Session = args[0]
			}
			if (strings.TrimSpace(req.Session) == "") == (strings.TrimSpace(req.Subject) == "") {
				return errors.New("give a session ID or --subject, not both")
			}
			body, err := adminRequest(cmd, http.MethodPost, sessionsRevokePath, req)
			if err != nil {
				return err
			}
			var res struct {
				Ended int `json:"ended"`
			}
			if err := json.Unmarshal(body, &res); err != nil {
				return fmt.Errorf("reading the admin API's answer: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d ended\n", res.Ended)
			return nil
		},
	}
	revoke.Flags().String("subject", "", "End every session of this subject")
	s.AddCommand(list, revoke)
	return s
}

// printSessions prints sessions as a table.
func printSessions(out io.Writer, sessions []authserver.SessionInfo) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBJECT\tUSERNAME\tCREATED\tLAST USED\tEXPIRES\tAMR")
	for _, s := range sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, cell(s.Subject), cell(s.Username), when(s.CreatedAt),
			when(s.LastUsedAt), when(s.ExpiresAt), cell(strings.Join(s.AMR, ",")))
	}
	return tw.Flush()
}
