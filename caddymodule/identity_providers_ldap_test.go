package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/authgate/authserver/connector/ldap/ldaptest"
)

// TestIdentityProviderLDAP signs browsers in at a gateway route with
// directory accounts of a real OpenLDAP (over StartTLS, trusting the
// directory's CA from a file), configured with identity_provider … ldap:
// the directory is one of the accounts of the sign-in form. The upstream
// app sees the directory's email and groups; a wrong password is the
// form again with "Wrong username or password."; someone outside
// allow_groups gets the refusal page; a directory that cannot be reached
// (a dead port, or slapd stopped) is a page saying so, not a 500.
func TestIdentityProviderLDAP(t *testing.T) {
	d := ldaptest.Start(t)
	t.Setenv("AUTHGATE_TEST_LDAP_PASSWORD", d.ServicePassword)
	g := startGateway(t, fmt.Sprintf(`
		identity_provider corp-ldap ldap {
			url %s
			starttls
			ca %s
			bind_dn %s
			bind_password {env.AUTHGATE_TEST_LDAP_PASSWORD}
			base_dn %s
			group_base_dn %s
			allow_groups staff
			timeout 5s
			display_name "Corp directory"
		}
		identity_provider old-ldap ldap {
			url ldap://127.0.0.1:%d
			base_dn %s
			timeout 2s
			display_name "Old directory"
		}`, d.URL, d.CAFile, d.ServiceDN, d.PeopleDN, d.GroupsDN, ldaptest.FreePort(t), d.PeopleDN),
		`accept bearer`, `accept session`)

	// signIn opens the app's page, fills in the sign-in form for the
	// directory and returns the answer to it.
	signIn := func(b *browser, idp, username, pw string) response {
		t.Helper()
		page := b.openSignInPage(g.app + "/page")
		for _, want := range []string{`<option value="corp-ldap">Corp directory</option>`, `<option value="old-ldap">Old directory</option>`} {
			if !strings.Contains(string(page.body), want) {
				t.Fatalf("the sign-in form does not offer %s:\n%s", want, page.body)
			}
		}
		f := fields(page)
		f.Set("idp", idp)
		f.Set("username", username)
		f.Set("password", pw)
		return b.post("/login", f)
	}

	alice := ldaptest.Alice
	t.Run("directory account", func(t *testing.T) {
		b := newBrowser(g.testCaddy)
		r, _ := b.follow(g.issuer+"/login", signIn(b, "corp-ldap", alice.UID, alice.Password))
		for _, want := range []string{"user=corp-ldap:alice ", "email=alice@example.org ", "groups=corp-ldap:admins,corp-ldap:staff "} {
			if r.status != http.StatusOK || !strings.Contains(string(r.body), want) {
				t.Fatalf("the upstream app should see %q: %d %s", want, r.status, r.body)
			}
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		b := newBrowser(g.testCaddy)
		r := signIn(b, "corp-ldap", alice.UID, "not-"+alice.Password)
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "Wrong username or password.") ||
			!strings.Contains(string(r.body), `<option value="corp-ldap" selected>`) {
			t.Fatalf("want the form again with the error: %d %s", r.status, r.body)
		}
		if strings.Contains(string(r.body), "not-"+alice.Password) {
			t.Error("the page repeats the password")
		}
		if r := b.get(g.app + "/page"); r.status != http.StatusFound {
			t.Errorf("the app answered %d without a sign-in", r.status)
		}
	})
	t.Run("not in allow_groups", func(t *testing.T) {
		b := newBrowser(g.testCaddy)
		r := signIn(b, "corp-ldap", ldaptest.Carol.UID, ldaptest.Carol.Password)
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "<h1>You cannot sign in here</h1>") {
			t.Fatalf("want the refusal page: %d %s", r.status, r.body)
		}
		if r := b.get(g.app + "/page"); r.status != http.StatusFound {
			t.Errorf("after the refusal the app answered %d", r.status)
		}
	})
	unreachable := func(t *testing.T, idp, display string) {
		t.Helper()
		r := signIn(newBrowser(g.testCaddy), idp, alice.UID, alice.Password)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), display+" cannot be reached right now. Try again later.") ||
			!strings.Contains(string(r.body), `name="password"`) {
			t.Fatalf("want the form again saying the directory cannot be reached: %d %s", r.status, r.body)
		}
		for _, secret := range []string{alice.Password, d.ServicePassword} {
			if strings.Contains(string(r.body), secret) {
				t.Errorf("the page shows a password")
			}
		}
	}
	t.Run("dead port", func(t *testing.T) { unreachable(t, "old-ldap", "Old directory") })
	t.Run("stopped directory", func(t *testing.T) {
		d.Stop()
		unreachable(t, "corp-ldap", "Corp directory")
	})
}
