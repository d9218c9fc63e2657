// Package ldap is the connector that lets people sign in to the
// authorization server with their directory account: an LDAP directory
// such as OpenLDAP, 389 Directory Server, FreeIPA, lldap or Active
// Directory checks their username and password, and says who they are and
// which groups they are in.
//
// It implements [connector.Password] from package authserver/connector:
// caddymodule builds a [Connector] from configuration with [New], and
// package authserver calls [Connector.Login] with what the person typed
// into its sign-in form, turning the returned [connector.Identity] into a
// user.
//
// # How a sign-in goes
//
// Login opens a new connection to the directory for each sign-in (there
// is no pool; the connection is always closed before Login returns), with
// TLS from the start for ldaps:// or upgraded with StartTLS when
// [Config.StartTLS] is set. It binds as the service account
// ([Config.BindDN], or anonymously), searches [Config.BaseDN] for the one
// entry that [Config.UserFilter] matches with the username, then binds as
// that entry with the password: the directory checks the password, and
// the connector never reads or compares password hashes. It then binds as
// the service account again and searches the person's groups with
// [Config.GroupFilter]. [Config.Timeout] bounds the whole exchange.
//
// A wrong password, an unknown username, a username that matches more
// than one entry, and an empty password (which many directories would
// take as an unauthenticated bind and let "succeed") are all a plain
// ok=false. A directory that cannot be reached, does not answer in time,
// fails the TLS handshake or refuses the service account is an error,
// never a wrong password.
//
// # Disabled accounts
//
// The connector has no notion of a disabled account of its own: an
// account is disabled when the directory refuses its bind (OpenLDAP's
// ppolicy overlay after too many failures or an administrative lock,
// Active Directory's disabled or locked accounts), or when
// [Config.UserFilter] leaves it out, for example
//
//	(&(objectClass=person)(uid={username})(!(pwdAccountLockedTime=*)))
//
// on OpenLDAP with ppolicy, or
//
//	(&(objectClass=user)(sAMAccountName={username})(!(userAccountControl:1.2.840.113556.1.4.803:=2)))
//
// on Active Directory. Either way the person gets the same ok=false as
// for a wrong password.
//
// # Identity
//
// Subject is the entry's entryUUID (RFC 4530), which stays when the entry
// is renamed or moved, or the entry's DN when the directory has no such
// attribute; another attribute can be chosen with [AttributeNames.Subject]
// (a value that is not printable text, such as Active Directory's binary
// objectGUID, is hex-encoded). Username, Email and Name come from the
// attributes [AttributeNames] names. EmailVerified is true whenever there
// is an email address: the directory is the organisation's own record of
// its people, authoritative for their addresses, so the address is
// trusted to match an existing account. Only configure a directory whose
// mail attribute people cannot set to someone else's address. Groups are
// the [AttributeNames.Group] values of the group entries that
// [Config.GroupFilter] finds.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/authgate/authgate/authserver/connector"
)

// The defaults of [Config] and [AttributeNames].
const (
	// DefaultUserFilter finds a person by their uid.
	DefaultUserFilter = "(&(objectClass=person)(uid={username}))"
	// DefaultGroupFilter finds the groupOfNames entries listing the person
	// as a member.
	DefaultGroupFilter = "(&(objectClass=groupOfNames)(member={dn}))"
	// DefaultTimeout bounds a Login's exchange with the directory.
	DefaultTimeout = 10 * time.Second
)

// Placeholders in [Config.UserFilter] and [Config.GroupFilter].
const (
	// UsernamePlaceholder stands for the username, escaped as a filter
	// value (RFC 4515), so that "*" or ")" in it match only themselves.
	UsernamePlaceholder = "{username}"
	// DNPlaceholder stands for the person's DN, escaped the same way.
	DNPlaceholder = "{dn}"
)

var _ connector.Password = (*Connector)(nil)

// Config configures a [Connector]. URL and BaseDN are required;
// everything else is optional.
type Config struct {
	// URL is the directory's address: ldap://host[:port] (389 by default)
	// or ldaps://host[:port] (TLS from the start, 636 by default). Over
	// ldap:// without StartTLS, passwords cross the network in clear text:
	// use it only on a loopback address or a private link.
	URL string
	// BindDN and BindPassword are the service account the connector binds
	// as to search people and groups. Both empty means anonymous searches;
	// a BindDN without a password is refused (it would be an
	// unauthenticated bind, which searches with no rights at all).
	BindDN       string
	BindPassword string
	// BaseDN is where people are searched, the whole subtree below it:
	// ou=people,dc=example,dc=org.
	BaseDN string
	// UserFilter finds the person's entry; it must contain {username}.
	// Empty means [DefaultUserFilter]. It must match exactly one entry for
	// the sign-in to go on. It is also how to leave out disabled accounts
	// (see the package documentation).
	UserFilter string
	// GroupBaseDN is where groups are searched, the whole subtree below
	// it. Empty means BaseDN.
	GroupBaseDN string
	// GroupFilter finds the person's groups; it must contain {dn} (the
	// person's DN) or {username} (for posixGroup's memberUid, say:
	// (&(objectClass=posixGroup)(memberUid={username})), where
	// {username} is the username the directory has, not as typed). Empty
	// means [DefaultGroupFilter].
	GroupFilter string
	// Attributes names the attributes the identity is read from.
	Attributes AttributeNames
	// StartTLS upgrades an ldap:// connection to TLS before anything else
	// is sent; a directory that cannot is an error. Only with ldap://.
	StartTLS bool
	// CACert (PEM) and CAFile (a PEM file, read by New) are the
	// certificate authorities trusted for the directory's certificate,
	// instead of the system's; both may be given. They need ldaps:// or
	// StartTLS. The certificate is always verified, against the URL's
	// host name: there is no option to skip that.
	CACert []byte
	CAFile string
	// Timeout bounds each Login's whole exchange with the directory:
	// connecting, TLS, binds and searches. Zero means [DefaultTimeout].
	Timeout time.Duration
	// AllowGroups, when not empty, lets in only members of at least one
	// of these groups (group names as [AttributeNames.Group] gives them,
	// compared case-insensitively, as LDAP compares names); anyone else
	// gets a [*connector.RefusedError].
	AllowGroups []string
}

// AttributeNames names the directory attributes the [connector.Identity]
// is read from. An empty field means its default.
type AttributeNames struct {
	// Username is the person's username: uid by default
	// (sAMAccountName on Active Directory).
	Username string
	// Email is the person's email address: mail by default.
	Email string
	// Name is the display name: cn by default (displayName is another
	// common choice).
	Name string
	// Group is the group entry's attribute that names it: cn by default.
	Group string
	// Subject is the person's stable identifier: entryUUID by default
	// (objectGUID on Active Directory). An entry without it is identified
	// by its DN.
	Subject string
}

// Connector signs people in against an LDAP directory. It implements
// [connector.Password]; build it with [New]. It is safe for concurrent
// use.
type Connector struct {
	cfg        Config // defaults filled in
	addr       string // host:port
	serverName string // the URL's host, for the certificate
	implicit   bool   // ldaps://
	tlsConfig  *tls.Config
	timeout    time.Duration
	attrs      []string // asked of the user's entry
}

// New checks cfg, without contacting the directory, and returns the
// connector. CAFile is read here.
func New(cfg Config) (*Connector, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || cfg.URL == "" {
		return nil, fmt.Errorf("ldap: URL %q is not an ldap:// or ldaps:// URL", cfg.URL)
	}
	c := &Connector{}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		port = "389"
	case "ldaps":
		port = "636"
		c.implicit = true
	default:
		return nil, fmt.Errorf("ldap: URL %q is not an ldap:// or ldaps:// URL", cfg.URL)
	}
	if u.User != nil {
		return nil, errors.New("ldap: the URL must not carry credentials: use BindDN and BindPassword")
	}
	if u.Hostname() == "" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("ldap: URL %q must be scheme://host[:port], with nothing after", cfg.URL)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	c.serverName = u.Hostname()
	c.addr = net.JoinHostPort(c.serverName, port)

	if cfg.StartTLS && c.implicit {
		return nil, errors.New("ldap: StartTLS is for ldap:// URLs; ldaps:// is TLS already")
	}
	if cfg.BaseDN == "" {
		return nil, errors.New("ldap: BaseDN is required")
	}
	if _, err := ldap.ParseDN(cfg.BaseDN); err != nil {
		return nil, fmt.Errorf("ldap: BaseDN %q is not a DN: %v", cfg.BaseDN, err)
	}
	if cfg.GroupBaseDN == "" {
		cfg.GroupBaseDN = cfg.BaseDN
	} else if _, err := ldap.ParseDN(cfg.GroupBaseDN); err != nil {
		return nil, fmt.Errorf("ldap: GroupBaseDN %q is not a DN: %v", cfg.GroupBaseDN, err)
	}
	if cfg.BindDN == "" && cfg.BindPassword != "" {
		return nil, errors.New("ldap: BindPassword without BindDN")
	}
	if cfg.BindDN != "" {
		if cfg.BindPassword == "" {
			return nil, errors.New("ldap: BindDN without BindPassword (that would be an unauthenticated bind); leave both empty for anonymous searches")
		}
		if _, err := ldap.ParseDN(cfg.BindDN); err != nil {
			return nil, fmt.Errorf("ldap: BindDN %q is not a DN: %v", cfg.BindDN, err)
		}
	}

	if cfg.UserFilter == "" {
		cfg.UserFilter = DefaultUserFilter
	}
	if !strings.Contains(cfg.UserFilter, UsernamePlaceholder) {
		return nil, fmt.Errorf("ldap: UserFilter %q has no %s", cfg.UserFilter, UsernamePlaceholder)
	}
	if err := checkFilter("UserFilter", cfg.UserFilter); err != nil {
		return nil, err
	}
	if cfg.GroupFilter == "" {
		cfg.GroupFilter = DefaultGroupFilter
	}
	if !strings.Contains(cfg.GroupFilter, DNPlaceholder) && !strings.Contains(cfg.GroupFilter, UsernamePlaceholder) {
		return nil, fmt.Errorf("ldap: GroupFilter %q has neither %s nor %s", cfg.GroupFilter, DNPlaceholder, UsernamePlaceholder)
	}
	if err := checkFilter("GroupFilter", cfg.GroupFilter); err != nil {
		return nil, err
	}

	a := &cfg.Attributes
	for _, f := range []struct {
		field *string
		def   string
	}{
		{&a.Username, "uid"},
		{&a.Email, "mail"},
		{&a.Name, "cn"},
		{&a.Group, "cn"},
		{&a.Subject, "entryUUID"},
	} {
		if *f.field == "" {
			*f.field = f.def
		}
		if !validAttribute(*f.field) {
			return nil, fmt.Errorf("ldap: %q is not an attribute name", *f.field)
		}
	}
	c.attrs = []string{a.Username, a.Email, a.Name, a.Subject}

	switch {
	case cfg.Timeout < 0:
		return nil, errors.New("ldap: Timeout must not be negative")
	case cfg.Timeout == 0:
		c.timeout = DefaultTimeout
	default:
		c.timeout = cfg.Timeout
	}

	encrypted := c.implicit || cfg.StartTLS
	if (len(cfg.CACert) > 0 || cfg.CAFile != "") && !encrypted {
		return nil, errors.New("ldap: CACert or CAFile given but the connection is not encrypted: use ldaps:// or StartTLS")
	}
	if encrypted {
		c.tlsConfig = &tls.Config{ServerName: c.serverName, MinVersion: tls.VersionTLS12}
		if len(cfg.CACert) > 0 || cfg.CAFile != "" {
			pool := x509.NewCertPool()
			if len(cfg.CACert) > 0 && !pool.AppendCertsFromPEM(cfg.CACert) {
				return nil, errors.New("ldap: CACert holds no PEM certificate")
			}
			if cfg.CAFile != "" {
				pem, err := os.ReadFile(cfg.CAFile)
				if err != nil {
					return nil, fmt.Errorf("ldap: reading CAFile: %w", err)
				}
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("ldap: CAFile %s holds no PEM certificate", cfg.CAFile)
				}
			}
			c.tlsConfig.RootCAs = pool
		}
	}
	for _, g := range cfg.AllowGroups {
		if strings.TrimSpace(g) == "" {
			return nil, errors.New("ldap: AllowGroups has an empty group name")
		}
	}
	cfg.AllowGroups = slices.Clone(cfg.AllowGroups)
	cfg.CACert = nil // in tlsConfig now
	c.cfg = cfg
	return c, nil
}

// checkFilter reports whether filter, with its placeholders filled in, is
// an LDAP filter (RFC 4515).
func checkFilter(name, filter string) error {
	sample := strings.NewReplacer(UsernamePlaceholder, "x", DNPlaceholder, "cn=x").Replace(filter)
	if _, err := ldap.CompileFilter(sample); err != nil {
		return fmt.Errorf("ldap: %s %q is not an LDAP filter: %v", name, filter, err)
	}
	return nil
}

// validAttribute reports whether name is an attribute description: a
// name or an OID, with options (RFC 4512 §2.5).
func validAttribute(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r < utf8.RuneSelf && (r == '-' || r == '.' || r == ';' || unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

// Login checks username and password against the directory (see the
// package documentation for the steps). ok is false, with a nil error,
// for an empty password, an unknown username, a username that matches
// more than one entry and a wrong password (any bind the directory
// refuses as invalid credentials, which is also how it refuses a locked
// account). err is for a directory that could not answer; it never holds
// the password. A person the directory vouches for who is in none of
// [Config.AllowGroups] gets a [*connector.RefusedError] (with ok false).
func (c *Connector) Login(ctx context.Context, username, password string) (connector.Identity, bool, error) {
	// An empty password would make the user's bind an unauthenticated
	// bind (RFC 4513 §5.1.2), which many directories answer with success.
	if password == "" || username == "" {
		return connector.Identity{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	conn, err := c.connect(ctx)
	if err != nil {
		return connector.Identity{}, false, err
	}
	defer conn.Close() //nolint:errcheck

	if err := c.bindService(conn); err != nil {
		return connector.Identity{}, false, c.fail(ctx, "binding as the service account", err)
	}

	filter := strings.ReplaceAll(c.cfg.UserFilter, UsernamePlaceholder, ldap.EscapeFilter(username))
	res, err := conn.Search(ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, c.seconds(ctx), false, filter, c.attrs, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return connector.Identity{}, false, nil // more than one entry
	}
	if err != nil {
		return connector.Identity{}, false, c.fail(ctx, "searching the user", err)
	}
	if len(res.Entries) != 1 {
		return connector.Identity{}, false, nil
	}
	entry := res.Entries[0]

	if err := conn.Bind(entry.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return connector.Identity{}, false, nil
		}
		return connector.Identity{}, false, c.fail(ctx, "binding as the user", err)
	}

	id := connector.Identity{
		Subject:  c.subject(entry),
		Username: entry.GetAttributeValue(c.cfg.Attributes.Username),
		Email:    entry.GetAttributeValue(c.cfg.Attributes.Email),
		Name:     entry.GetAttributeValue(c.cfg.Attributes.Name),
	}
	if id.Username == "" {
		id.Username = username
	}
	id.EmailVerified = id.Email != ""

	// Back to the service account: the person's own rights may not
	// extend to reading groups, and should not decide what is read.
	if err := c.bindService(conn); err != nil {
		return connector.Identity{}, false, c.fail(ctx, "binding again as the service account", err)
	}
	filter = strings.NewReplacer(
		DNPlaceholder, ldap.EscapeFilter(entry.DN),
		UsernamePlaceholder, ldap.EscapeFilter(id.Username),
	).Replace(c.cfg.GroupFilter)
	res, err = conn.Search(ldap.NewSearchRequest(c.cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, c.seconds(ctx), false, filter, []string{c.cfg.Attributes.Group}, nil))
	if err != nil {
		return connector.Identity{}, false, c.fail(ctx, "searching the user's groups", err)
	}
	for _, g := range res.Entries {
		for _, name := range g.GetAttributeValues(c.cfg.Attributes.Group) {
			if name != "" && !slices.Contains(id.Groups, name) {
				id.Groups = append(id.Groups, name)
			}
		}
	}
	slices.Sort(id.Groups)

	if len(c.cfg.AllowGroups) > 0 && !c.allowed(id.Groups) {
		return connector.Identity{}, false, connector.Refused("your directory account is not in a group that may sign in here")
	}
	return id, true, nil
}

// connect dials the directory, with TLS for ldaps:// or StartTLS, and
// returns the connection. Everything on it must be done before ctx's
// deadline, and stops when ctx is cancelled.
func (c *Connector) connect(ctx context.Context) (*ldap.Conn, error) {
	deadline, _ := ctx.Deadline()
	d := net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, c.fail(ctx, "connecting", err)
	}
	// One deadline for the whole exchange, whatever the ldap package's own
	// timers do; and a cancelled ctx ends it at once.
	if err := raw.SetDeadline(deadline); err != nil {
		raw.Close()
		return nil, c.fail(ctx, "connecting", err)
	}
	context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) }) //nolint:errcheck

	var nc net.Conn = raw
	if c.implicit {
		tc := tls.Client(raw, c.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, c.fail(ctx, "TLS handshake", err)
		}
		nc = tc
	}
	conn := ldap.NewConn(nc, c.implicit)
	conn.Start()
	conn.SetTimeout(time.Until(deadline))
	if c.cfg.StartTLS {
		if err := conn.StartTLS(c.tlsConfig); err != nil {
			conn.Close() //nolint:errcheck
			return nil, c.fail(ctx, "StartTLS", err)
		}
	}
	return conn, nil
}

// bindService binds as the service account, or anonymously.
func (c *Connector) bindService(conn *ldap.Conn) error {
	if c.cfg.BindDN == "" {
		return conn.UnauthenticatedBind("")
	}
	return conn.Bind(c.cfg.BindDN, c.cfg.BindPassword)
}

// seconds is the search time limit the directory is asked to keep: what
// is left of ctx's deadline, in whole seconds, at least one.
func (c *Connector) seconds(ctx context.Context) int {
	deadline, _ := ctx.Deadline()
	return max(1, int(time.Until(deadline)/time.Second))
}

// fail wraps err from step with the directory's address, saying so when
// the exchange ran out of time or was cancelled. The errors of the ldap
// package carry result codes and diagnostic messages, never the password
// of a bind.
func (c *Connector) fail(ctx context.Context, step string, err error) error {
	deadline, _ := ctx.Deadline()
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("ldap: %s at %s: %w: %w", step, c.addr, context.Canceled, err)
	case ctx.Err() != nil || !time.Now().Before(deadline):
		return fmt.Errorf("ldap: %s at %s: no answer within %s: %w: %w", step, c.addr, c.timeout, context.DeadlineExceeded, err)
	}
	return fmt.Errorf("ldap: %s at %s: %w", step, c.addr, err)
}

// subject is the entry's Subject attribute, hex-encoded unless it is
// printable text, or the entry's DN when it has none.
func (c *Connector) subject(e *ldap.Entry) string {
	v := e.GetRawAttributeValue(c.cfg.Attributes.Subject)
	if len(v) == 0 {
		return e.DN
	}
	if utf8.Valid(v) && !strings.ContainsFunc(string(v), func(r rune) bool { return !unicode.IsPrint(r) }) {
		return string(v)
	}
	return hex.EncodeToString(v)
}

// allowed reports whether one of groups is in AllowGroups.
func (c *Connector) allowed(groups []string) bool {
	for _, g := range groups {
		for _, a := range c.cfg.AllowGroups {
			if strings.EqualFold(g, a) {
				return true
			}
		}
	}
	return false
}
