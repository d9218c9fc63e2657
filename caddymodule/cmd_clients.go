package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authgate/authgate/authserver"
)

// clientsCommand is `caddy authgate clients list|show`.
func clientsCommand() *cobra.Command {
	c := &cobra.Command{Use: "clients", Short: "Lists and shows the configured and registered clients", Args: cobra.NoArgs}
	adminFlags(c)
	list := &cobra.Command{
		Use:   "list",
		Short: "Lists the clients: configured and registered, their grant types and redirect URIs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := adminRequest(cmd, http.MethodGet, clientsPath, nil)
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var clients []authserver.ClientInfo
			if err := json.Unmarshal(body, &clients); err != nil {
				return fmt.Errorf("reading the admin API's clients: %w", err)
			}
			return printClients(cmd.OutOrStdout(), clients)
		},
	}
	list.Flags().Bool("json", false, "Print the admin API's JSON")
	show := &cobra.Command{
		Use:   "show <client-id>",
		Short: "Shows a client's metadata (never its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := adminRequest(cmd, http.MethodGet, clientPath(args[0]), nil)
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var info authserver.ClientInfo
			if err := json.Unmarshal(body, &info); err != nil {
				return fmt.Errorf("reading the admin API's client: %w", err)
			}
			return printClient(cmd.OutOrStdout(), info)
		},
	}
	show.Flags().Bool("json", false, "Print the admin API's JSON")
	c.AddCommand(list, show)
	return c
}

// printClients prints clients as a table.
func printClients(out io.Writer, clients []authserver.ClientInfo) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tGRANT TYPES\tREDIRECT URIS\tCREATED")
	for _, c := range clients {
		name := c.Name
		if c.Damaged {
			name = "(unreadable metadata)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", cell(c.ID), cell(name), c.Kind, cell(strings.Join(c.GrantTypes, ",")),
			len(c.RedirectURIs), when(c.CreatedAt))
	}
	return tw.Flush()
}

// printClient prints one client's metadata, a field a line.
func printClient(out io.Writer, c authserver.ClientInfo) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	list := func(v []string) string { return cell(strings.Join(v, " ")) }
	yes := func(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }
	rows := [][2]string{
		{"ID", cell(c.ID)}, {"Name", cell(c.Name)}, {"Kind", c.Kind}, {"Public", yes(c.Public)},
		{"Auth methods", list(c.AuthMethods)}, {"Grant types", list(c.GrantTypes)},
		{"Redirect URIs", list(c.RedirectURIs)}, {"Post-logout URIs", list(c.PostLogoutRedirectURIs)},
		{"Scopes", list(c.Scopes)}, {"Audiences", list(c.Audiences)},
		{"Require PKCE", yes(c.RequirePKCE)}, {"Require PAR", yes(c.RequirePAR)}, {"Require MFA", yes(c.RequireMFA)},
		{"Skip consent", yes(c.SkipConsent)}, {"Introspect any", yes(c.IntrospectAny)},
	}
	if c.AccessTokenLifetimeSeconds > 0 {
		rows = append(rows, [2]string{"Access token lifetime", (time.Duration(c.AccessTokenLifetimeSeconds) * time.Second).String()})
	}
	if c.Kind == authserver.ClientKindRegistered {
		rows = append(rows, [][2]string{
			{"Client URI", cell(c.ClientURI)}, {"Logo URI", cell(c.LogoURI)}, {"Contacts", list(c.Contacts)},
			{"Software", cell(strings.TrimSpace(c.SoftwareID + " " + c.SoftwareVersion))}, {"Application type", cell(c.ApplicationType)},
			{"Created", when(c.CreatedAt)}, {"Updated", when(c.UpdatedAt)},
		}...)
	}
	if c.Damaged {
		rows = append(rows, [2]string{"Damaged", "yes: the stored metadata cannot be read; the client cannot be used"})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}
