package ldap

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/connector"
	"github.com/authgate/authgate/authserver/connector/ldap/ldaptest"
)

// serviceConfig is a configuration searching as the service account over
// plain ldap://.
func serviceConfig(d *ldaptest.Directory) Config {
	return Config{URL: d.URL, BindDN: ldaptest.ServiceDN, BindPassword: ldaptest.ServicePassword, BaseDN: ldaptest.PeopleDN, GroupBaseDN: ldaptest.GroupsDN}
}

// mustNew builds the connector or fails the test.
func mustNew(t *testing.T, cfg Config) *Connector {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// noSecrets fails the test when err's text holds a password.
func noSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, pw := range []string{ldaptest.ServicePassword, ldaptest.RootPassword, ldaptest.Alice.Password, "wrong-service-pw"} {
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the error %q holds a password", err)
		}
	}
}

// TestNew: configurations New refuses, checked without a directory, and
// the defaults it fills in.
func TestNew(t *testing.T) {
	good := Config{URL: "ldap://ldap.example.org", BaseDN: "dc=example,dc=org"}
	for name, tc := range map[string]struct {
		change func(*Config)
		want   string // in the error
	}{
		"no URL":                 {func(c *Config) { c.URL = "" }, "not an ldap:// or ldaps:// URL"},
		"http URL":               {func(c *Config) { c.URL = "http://ldap.example.org" }, "not an ldap:// or ldaps:// URL"},
		"ldapi URL":              {func(c *Config) { c.URL = "ldapi:///var/run/slapd/ldapi" }, "not an ldap:// or ldaps:// URL"},
		"no host":                {func(c *Config) { c.URL = "ldap://" }, "scheme://host[:port]"},
		"URL with a DN":          {func(c *Config) { c.URL = "ldap://ldap.example.org/dc=example,dc=org" }, "scheme://host[:port]"},
		"URL with credentials":   {func(c *Config) { c.URL = "ldap://admin:secret@ldap.example.org" }, "must not carry credentials"},
		"no BaseDN":              {func(c *Config) { c.BaseDN = "" }, "BaseDN is required"},
		"BaseDN not a DN":        {func(c *Config) { c.BaseDN = "example.org" }, "BaseDN"},
		"GroupBaseDN not a DN":   {func(c *Config) { c.GroupBaseDN = "groups" }, "GroupBaseDN"},
		"BindDN no password":     {func(c *Config) { c.BindDN = "cn=search,dc=example,dc=org" }, "BindDN without BindPassword"},
		"password no BindDN":     {func(c *Config) { c.BindPassword = "x" }, "BindPassword without BindDN"},
		"UserFilter no username": {func(c *Config) { c.UserFilter = "(uid=alice)" }, "has no {username}"},
		"UserFilter bad syntax":  {func(c *Config) { c.UserFilter = "(&(uid={username})" }, "not an LDAP filter"},
		"GroupFilter no dn":      {func(c *Config) { c.GroupFilter = "(objectClass=groupOfNames)" }, "neither {dn} nor {username}"},
		"GroupFilter bad syntax": {func(c *Config) { c.GroupFilter = "member={dn})" }, "not an LDAP filter"},
		"StartTLS with ldaps":    {func(c *Config) { c.URL = "ldaps://ldap.example.org"; c.StartTLS = true }, "StartTLS is for ldap://"},
		"CA without TLS":         {func(c *Config) { c.CACert = []byte("x") }, "not encrypted"},
		"CACert not PEM":         {func(c *Config) { c.StartTLS = true; c.CACert = []byte("not a certificate") }, "no PEM certificate"},
		"CAFile missing":         {func(c *Config) { c.StartTLS = true; c.CAFile = "/nonexistent/ca.pem" }, "reading CAFile"},
		"negative Timeout":       {func(c *Config) { c.Timeout = -time.Second }, "negative"},
		"bad attribute":          {func(c *Config) { c.Attributes.Email = "mail)(uid=*" }, "not an attribute name"},
		"empty allowed group":    {func(c *Config) { c.AllowGroups = []string{"admins", " "} }, "empty group name"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}

	c := mustNew(t, good)
	if c.addr != "ldap.example.org:389" || c.tlsConfig != nil || c.timeout != DefaultTimeout {
		t.Errorf("addr %q, TLS %v, timeout %s", c.addr, c.tlsConfig, c.timeout)
	}
	if c.cfg.UserFilter != DefaultUserFilter || c.cfg.GroupFilter != DefaultGroupFilter || c.cfg.GroupBaseDN != good.BaseDN {
		t.Errorf("filters %q %q, group base %q", c.cfg.UserFilter, c.cfg.GroupFilter, c.cfg.GroupBaseDN)
	}
	if a := c.cfg.Attributes; a != (AttributeNames{Username: "uid", Email: "mail", Name: "cn", Group: "cn", Subject: "entryUUID"}) {
		t.Errorf("attributes %+v", a)
	}
	c = mustNew(t, Config{URL: "ldaps://[::1]", BaseDN: "dc=example,dc=org"})
	if c.addr != "[::1]:636" || c.tlsConfig == nil || c.tlsConfig.ServerName != "::1" {
		t.Errorf("ldaps: addr %q, TLS %+v", c.addr, c.tlsConfig)
	}
}

// TestLogin signs people in against a real OpenLDAP with the service
// account: who gets in, with which identity, and who gets a plain
// ok=false.
func TestLogin(t *testing.T) {
	d := ldaptest.Start(t)
	disabledFilter := "(&(objectClass=person)(uid={username})(!(employeeType=disabled)))"
	aliceID := connector.Identity{
		Subject: d.EntryUUID(t, ldaptest.Alice.DN()), Username: "alice", Email: "alice@example.org", EmailVerified: true,
		Name: "Alice Liddell", Groups: []string{"admins", "staff"},
	}
	for _, tc := range []struct {
		name               string
		change             func(*Config)
		username, password string
		want               *connector.Identity // nil: ok=false, nil error
	}{
		{name: "good password", username: "alice", password: "alice-pw", want: &aliceID},
		{name: "username in another case", username: "ALICE", password: "alice-pw", want: &aliceID},
		{name: "bad password", username: "alice", password: "bob-pw"},
		{name: "password in another case", username: "alice", password: "ALICE-PW"},
		{name: "unknown user", username: "mallory", password: "alice-pw"},
		{name: "empty password", username: "alice", password: ""},
		{name: "empty username", username: "", password: "alice-pw"},
		{name: "injection closing the filter", username: "*)(uid=*", password: "alice-pw"},
		{name: "injection with a wildcard", username: "*", password: "alice-pw"},
		{name: "injection with a prefix wildcard", username: "ali*", password: "alice-pw"},
		{name: "injection of an or", username: "nobody)(|(uid=alice", password: "alice-pw"},
		{name: "injection with a NUL", username: "alice\x00", password: "alice-pw"},
		{name: "username matching two entries", username: "twin", password: "twin-pw"},
		{name: "filter characters in a real username", username: "par(en)*", password: "paren-pw", want: &connector.Identity{
			Subject: d.EntryUUID(t, ldaptest.Paren.DN()), Username: "par(en)*", Email: "paren@example.org", EmailVerified: true,
			Name: "Paren Thesis", Groups: []string{"odd"},
		}},
		{name: "no mail and no groups", username: "carol", password: "carol-pw", want: &connector.Identity{
			Subject: d.EntryUUID(t, ldaptest.Carol.DN()), Username: "carol", Name: "Carol",
		}},
		{name: "account the default filter keeps", username: "dave", password: "dave-pw", want: &connector.Identity{
			Subject: d.EntryUUID(t, ldaptest.Dave.DN()), Username: "dave", Email: "dave@example.org", EmailVerified: true,
			Name: "Dave Disabled", Groups: []string{"staff"},
		}},
		{name: "disabled account left out by UserFilter", username: "dave", password: "dave-pw",
			change: func(c *Config) { c.UserFilter = disabledFilter }},
		{name: "enabled account with the same UserFilter", username: "alice", password: "alice-pw", want: &aliceID,
			change: func(c *Config) { c.UserFilter = disabledFilter }},
		{name: "anonymous search", username: "alice", password: "alice-pw", want: &aliceID,
			change: func(c *Config) { c.BindDN, c.BindPassword = "", "" }},
		{name: "anonymous search, bad password", username: "alice", password: "wrong",
			change: func(c *Config) { c.BindDN, c.BindPassword = "", "" }},
		{name: "posixGroup by username", username: "alice", password: "alice-pw",
			change: func(c *Config) { c.GroupFilter = "(&(objectClass=posixGroup)(memberUid={username}))" },
			want: &connector.Identity{
				Subject: aliceID.Subject, Username: "alice", Email: "alice@example.org", EmailVerified: true,
				Name: "Alice Liddell", Groups: []string{"developers"},
			}},
		{name: "other attributes, subject falling back to the DN", username: "alice", password: "alice-pw",
			change: func(c *Config) {
				c.Attributes = AttributeNames{Subject: "employeeNumber", Name: "sn", Username: "cn", Email: "description"}
				c.GroupBaseDN = ""
			},
			want: &connector.Identity{Subject: ldaptest.Alice.DN(), Username: "Alice Liddell", Name: "Alice Liddell"}},
		{name: "group search base without the groups", username: "alice", password: "alice-pw",
			change: func(c *Config) { c.GroupBaseDN = "ou=services," + ldaptest.Suffix },
			want: &connector.Identity{
				Subject: aliceID.Subject, Username: "alice", Email: "alice@example.org", EmailVerified: true, Name: "Alice Liddell",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := serviceConfig(d)
			if tc.change != nil {
				tc.change(&cfg)
			}
			id, ok, err := mustNew(t, cfg).Login(t.Context(), tc.username, tc.password)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if tc.want == nil {
				if ok || id.Subject != "" {
					t.Fatalf("Login = %+v, %v; want ok=false", id, ok)
				}
				return
			}
			if !ok {
				t.Fatal("Login: ok=false, want the identity")
			}
			if !identityEqual(id, *tc.want) {
				t.Errorf("identity\n got %+v\nwant %+v", id, *tc.want)
			}
		})
	}
}

// identityEqual compares identities, nil and empty groups alike.
func identityEqual(a, b connector.Identity) bool {
	return a.Subject == b.Subject && a.Username == b.Username && a.Email == b.Email &&
		a.EmailVerified == b.EmailVerified && a.Name == b.Name && slices.Equal(a.Groups, b.Groups)
}

// TestLoginAllowGroups: with AllowGroups, members of a listed group get
// in and the others are refused in plain words, once their password is
// right.
func TestLoginAllowGroups(t *testing.T) {
	d := ldaptest.Start(t)
	for _, tc := range []struct {
		name               string
		allow              []string
		username, password string
		wantOK, refused    bool
	}{
		{"member", []string{"admins"}, "alice", "alice-pw", true, false},
		{"member, other case", []string{"ADMINS"}, "alice", "alice-pw", true, false},
		{"member of one of several", []string{"nobody-group", "staff"}, "bob", "bob-pw", true, false},
		{"not a member", []string{"admins"}, "bob", "bob-pw", false, true},
		{"in no group at all", []string{"admins"}, "carol", "carol-pw", false, true},
		{"not a member, bad password", []string{"admins"}, "bob", "alice-pw", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := serviceConfig(d)
			cfg.AllowGroups = tc.allow
			id, ok, err := mustNew(t, cfg).Login(t.Context(), tc.username, tc.password)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v (err %v)", ok, tc.wantOK, err)
			}
			r, refused := connector.IsRefused(err)
			if refused != tc.refused {
				t.Fatalf("err = %v, refused %v, want refused %v", err, refused, tc.refused)
			}
			if refused {
				if id.Subject != "" || r.Reason != "your directory account is not in a group that may sign in here" {
					t.Errorf("refused with %+v and reason %q", id, r.Reason)
				}
			} else if err != nil {
				t.Fatalf("Login: %v", err)
			}
		})
	}
}

// TestLoginErrors: a directory that cannot answer is an error, never a
// wrong password, and comes back within the Timeout; the errors hold no
// password. An empty password never reaches the directory.
func TestLoginErrors(t *testing.T) {
	d := ldaptest.Start(t)

	t.Run("service account with a wrong password", func(t *testing.T) {
		cfg := serviceConfig(d)
		cfg.BindPassword = "wrong-service-pw"
		_, ok, err := mustNew(t, cfg).Login(t.Context(), "alice", "alice-pw")
		if ok || err == nil || !strings.Contains(err.Error(), "binding as the service account") {
			t.Fatalf("ok %v, err %v; want the service account's bind error", ok, err)
		}
		if _, refused := connector.IsRefused(err); refused {
			t.Error("a misconfigured service account is not a refusal")
		}
		noSecrets(t, err)
	})
	t.Run("user base that does not exist", func(t *testing.T) {
		cfg := serviceConfig(d)
		cfg.BaseDN = "ou=nobody," + ldaptest.Suffix
		_, ok, err := mustNew(t, cfg).Login(t.Context(), "alice", "alice-pw")
		if ok || err == nil || !strings.Contains(err.Error(), "searching the user") {
			t.Fatalf("ok %v, err %v; want the search error", ok, err)
		}
	})

	nobody := ldaptest.FreePort(t) // nothing listens there
	unreachable := "ldap://127.0.0.1:" + strconv.Itoa(nobody)
	t.Run("unreachable directory", func(t *testing.T) {
		start := time.Now()
		_, ok, err := mustNew(t, Config{URL: unreachable, BaseDN: ldaptest.PeopleDN, Timeout: 2 * time.Second}).
			Login(t.Context(), "alice", "alice-pw")
		if ok || err == nil || !strings.Contains(err.Error(), "connecting") {
			t.Fatalf("ok %v, err %v; want a connection error", ok, err)
		}
		if el := time.Since(start); el > 2*time.Second+time.Second {
			t.Errorf("took %s, Timeout is 2s", el)
		}
		noSecrets(t, err)
	})
	t.Run("empty password never reaches the directory", func(t *testing.T) {
		_, ok, err := mustNew(t, Config{URL: unreachable, BaseDN: ldaptest.PeopleDN}).Login(t.Context(), "alice", "")
		if ok || err != nil {
			t.Fatalf("ok %v, err %v; want ok=false and no error (no connection attempted)", ok, err)
		}
	})

	// A server that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-held:
				c.Close()
			default:
				return
			}
		}
	})
	silentURL := "ldap://" + silent.Addr().String()
	for _, tc := range []struct {
		name     string
		cfg      Config
		ctx      func() (context.Context, context.CancelFunc)
		bound    time.Duration
		wantErr  error
		wantText string
	}{
		{"silent directory, Timeout", Config{URL: silentURL, BindDN: ldaptest.ServiceDN, BindPassword: ldaptest.ServicePassword, BaseDN: ldaptest.PeopleDN, Timeout: 300 * time.Millisecond},
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			300 * time.Millisecond, context.DeadlineExceeded, "no answer within 300ms"},
		{"silent directory, StartTLS, Timeout", Config{URL: silentURL, StartTLS: true, CACert: d.CAPEM, BaseDN: ldaptest.PeopleDN, Timeout: 300 * time.Millisecond},
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			300 * time.Millisecond, context.DeadlineExceeded, "StartTLS"},
		{"silent directory, ldaps, Timeout", Config{URL: "ldaps://" + silent.Addr().String(), CACert: d.CAPEM, BaseDN: ldaptest.PeopleDN, Timeout: 300 * time.Millisecond},
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			300 * time.Millisecond, context.DeadlineExceeded, "TLS handshake"},
		{"silent directory, context deadline", Config{URL: silentURL, BindDN: ldaptest.ServiceDN, BindPassword: ldaptest.ServicePassword, BaseDN: ldaptest.PeopleDN},
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			},
			300 * time.Millisecond, context.DeadlineExceeded, "binding as the service account"},
		{"silent directory, context cancelled", Config{URL: silentURL, BindDN: ldaptest.ServiceDN, BindPassword: ldaptest.ServicePassword, BaseDN: ldaptest.PeopleDN},
			func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(300*time.Millisecond, cancel)
				return ctx, cancel
			},
			300 * time.Millisecond, context.Canceled, "binding as the service account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, ok, err := mustNew(t, tc.cfg).Login(ctx, "alice", "alice-pw")
			el := time.Since(start)
			if ok || !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("ok %v, err %v; want %v with %q", ok, err, tc.wantErr, tc.wantText)
			}
			if el < tc.bound-50*time.Millisecond || el > tc.bound+2*time.Second {
				t.Errorf("took %s, want about %s", el, tc.bound)
			}
			noSecrets(t, err)
		})
	}
}

// TestLoginTLS: StartTLS and ldaps:// against slapd's certificate, which
// a test CA signed: trusted through CACert or CAFile it works; signed by
// another CA than the trusted one, or checked against the system's CAs,
// it is an error, never a wrong password.
func TestLoginTLS(t *testing.T) {
	d := ldaptest.Start(t)
	otherCA, _, _ := ldaptest.NewCA(t, "some other CA")
	otherFile := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(otherFile, otherCA, 0o600); err != nil {
		t.Fatal(err)
	}
	localhostStartTLS := strings.Replace(d.URL, "127.0.0.1", "localhost", 1)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		wantOK bool
	}{
		{"StartTLS, CACert", func(c *Config) { c.StartTLS, c.CACert = true, d.CAPEM }, true},
		{"StartTLS, CAFile", func(c *Config) { c.StartTLS, c.CAFile = true, d.CAFile }, true},
		{"StartTLS by name, CACert", func(c *Config) { c.URL, c.StartTLS, c.CACert = localhostStartTLS, true, d.CAPEM }, true},
		{"StartTLS, untrusted CACert", func(c *Config) { c.StartTLS, c.CACert = true, otherCA }, false},
		{"StartTLS, untrusted CAFile", func(c *Config) { c.StartTLS, c.CAFile = true, otherFile }, false},
		{"StartTLS, system CAs", func(c *Config) { c.StartTLS = true }, false},
		{"ldaps, CACert", func(c *Config) { c.URL, c.CACert = d.TLSURL, d.CAPEM }, true},
		{"ldaps, untrusted CACert", func(c *Config) { c.URL, c.CACert = d.TLSURL, otherCA }, false},
		{"ldaps, system CAs", func(c *Config) { c.URL = d.TLSURL }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := serviceConfig(d)
			tc.change(&cfg)
			c := mustNew(t, cfg)
			id, ok, err := c.Login(t.Context(), "alice", "alice-pw")
			if !tc.wantOK {
				if ok || err == nil || !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("ok %v, err %v; want a certificate error", ok, err)
				}
				noSecrets(t, err)
				return
			}
			if err != nil || !ok || id.Username != "alice" || !slices.Equal(id.Groups, []string{"admins", "staff"}) {
				t.Fatalf("Login = %+v, %v, %v", id, ok, err)
			}
			// And a wrong password over TLS is still a plain ok=false.
			if _, ok, err := c.Login(t.Context(), "alice", "wrong"); ok || err != nil {
				t.Fatalf("wrong password: ok %v, err %v", ok, err)
			}
		})
	}
}
