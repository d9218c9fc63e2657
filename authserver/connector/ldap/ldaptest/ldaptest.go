package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The directory's fixed names and secrets.
const (
	// Suffix is the directory's naming context.
	Suffix = "dc=example,dc=org"
	// RootDN and RootPassword are slapd's rootdn, which may do anything.
	RootDN       = "cn=admin," + Suffix
	RootPassword = "root-secret"
	// PeopleDN is where the people are.
	PeopleDN = "ou=people," + Suffix
	// GroupsDN is where the groups are.
	GroupsDN = "ou=groups," + Suffix
	// ServiceDN and ServicePassword are the service account a connector
	// searches as.
	ServiceDN       = "cn=search,ou=services," + Suffix
	ServicePassword = "service-secret"
	// startupTime bounds slapd's start.
	startupTime = 20 * time.Second
)

// User is a person loaded into the directory.
type User struct {
	// OU is the organisational unit under PeopleDN the entry is in; empty
	// for directly under it.
	OU string
	// UID, CN and Mail are the entry's uid, cn (and sn) and mail; an
	// empty Mail means the entry has none.
	UID, CN, Mail string
	// Password is the entry's password, in clear.
	Password string
	// Extra are further attributes of the entry.
	Extra map[string][]string
}

// DN is the user's DN.
func (u User) DN() string {
	base := PeopleDN
	if u.OU != "" {
		base = "ou=" + u.OU + "," + PeopleDN
	}
	return "uid=" + EscapeDNValue(u.UID) + "," + base
}

// The people every directory has.
var (
	// Alice is in the groups admins and staff (and developers, by
	// memberUid).
	Alice = User{UID: "alice", CN: "Alice Liddell", Mail: "alice@example.org", Password: "alice-pw"}
	// Bob is in staff (and developers, by memberUid).
	Bob = User{UID: "bob", CN: "Bob Builder", Mail: "bob@example.org", Password: "bob-pw"}
	// Carol has no mail and is in no group.
	Carol = User{UID: "carol", CN: "Carol", Password: "carol-pw"}
	// Dave has employeeType disabled, for a UserFilter that leaves him
	// out; he is in staff.
	Dave = User{UID: "dave", CN: "Dave Disabled", Mail: "dave@example.org", Password: "dave-pw", Extra: map[string][]string{"employeeType": {"disabled"}}}
	// Paren has filter characters in his uid and is in odd.
	Paren = User{UID: "par(en)*", CN: "Paren Thesis", Mail: "paren@example.org", Password: "paren-pw"}
	// TwinEast and TwinWest share the uid twin, in ou=east and ou=west.
	TwinEast = User{OU: "east", UID: "twin", CN: "Twin East", Password: "twin-pw"}
	TwinWest = User{OU: "west", UID: "twin", CN: "Twin West", Password: "twin-pw"}
	// People are all of them.
	People = []User{Alice, Bob, Carol, Dave, Paren, TwinEast, TwinWest}
	// Groups maps each groupOfNames under GroupsDN, by cn, to its
	// members.
	Groups = map[string][]User{
		"admins": {Alice},
		"staff":  {Alice, Bob, Dave},
		"odd":    {Paren},
	}
)

// Directory is one running slapd with the people and groups above.
type Directory struct {
	// URL is the plain address, ldap://127.0.0.1:<port>, which also
	// takes StartTLS.
	URL string
	// TLSURL is the TLS address, ldaps://127.0.0.1:<port>.
	TLSURL string
	// BaseDN is the suffix; PeopleDN and GroupsDN are where people and
	// groups are.
	BaseDN, PeopleDN, GroupsDN string
	// ServiceDN and ServicePassword are the service account.
	ServiceDN, ServicePassword string
	// RootDN and RootPassword are the rootdn.
	RootDN, RootPassword string
	// Users and Groups are the people and groups loaded.
	Users  []User
	Groups map[string][]User
	// CAPEM is the certificate of the CA that signed slapd's certificate
	// (for 127.0.0.1 and localhost); CAFile holds it in a file.
	CAPEM  []byte
	CAFile string

	dir  string
	stop func()
	once sync.Once
}

// Start starts slapd (OpenLDAP) in a temporary directory, listening for
// ldap:// and ldaps:// on free loopback ports with a certificate for
// 127.0.0.1 and localhost, loads the people and groups, and stops it
// when the test ends. Without slapd the test is skipped, or fails when
// the CI environment variable is set.
func Start(t testing.TB) *Directory {
	t.Helper()
	slapd := slapdPath(t)
	d := &Directory{
		dir: t.TempDir(), BaseDN: Suffix, PeopleDN: PeopleDN, GroupsDN: GroupsDN,
		ServiceDN: ServiceDN, ServicePassword: ServicePassword, RootDN: RootDN, RootPassword: RootPassword,
		Users: People, Groups: Groups,
	}
	d.CAPEM = writeCertificates(t, d.dir)
	d.CAFile = filepath.Join(d.dir, "ca.pem")

	var lastErr error
	for range 3 { // a port taken between FreePort and slapd's bind: again
		port, tlsPort := FreePort(t), FreePort(t)
		d.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
		d.TLSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", tlsPort)
		if lastErr = d.start(t, slapd); lastErr == nil {
			d.load(t)
			return d
		}
		t.Log(lastErr)
	}
	t.Fatalf("slapd did not start: %v", lastErr)
	return nil
}

// Stop stops slapd now, for tests of a directory that went away; its
// ports then refuse connections. Start already stops it when the test
// ends.
func (d *Directory) Stop() {
	d.once.Do(d.stop)
}

// slapdPath returns slapd's path, skipping the test where it is not
// installed, unless on CI (which installs it), where that fails the test.
func slapdPath(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("slapd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/slapd"); err == nil {
		return "/usr/sbin/slapd"
	}
	if os.Getenv("CI") != "" {
		t.Fatal("slapd is not installed; .ci/run installs it (apt-get install slapd ldap-utils)")
	}
	t.Skip("slapd is not installed (apt-get install slapd ldap-utils): skipping the tests against a real OpenLDAP")
	return ""
}

// start runs slapd in the foreground as a child process and waits until
// it accepts binds; it returns an error when slapd exits first. The groups
// can be read by the service account and anonymously, not by the people
// themselves.
func (d *Directory) start(t testing.TB, slapd string) error {
	data := filepath.Join(d.dir, fmt.Sprintf("data-%d", mrand.Int()))
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(d.dir, "slapd.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server-key.pem
password-hash {SSHA}

database mdb
maxsize 16777216
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[5]s
access to attrs=userPassword
	by self write
	by anonymous auth
	by * none
access to dn.subtree="%[6]s"
	by dn.exact="%[7]s" read
	by anonymous read
	by * none
access to *
	by * read
`, d.dir, Suffix, RootDN, RootPassword, data, GroupsDN, ServiceDN)), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	cmd := exec.Command(slapd, "-f", conf, "-h", d.URL+"/ "+d.TLSURL+"/", "-d", "0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting slapd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill() //nolint:errcheck
			<-exited
		}
	}

	deadline := time.Now().Add(startupTime)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("slapd exited (%v) before accepting connections:\n%s", err, out.String())
		default:
		}
		if conn, err := ldap.DialURL(d.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second})); err == nil {
			err = conn.Bind(RootDN, RootPassword)
			conn.Close() //nolint:errcheck
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("slapd did not accept a bind within %s:\n%s", startupTime, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.stop = stop
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("slapd's output:\n%s", out.String())
		}
	})
	return nil
}

// load adds the organisational units, the service account, the people
// (their passwords set with the password modify operation, so that slapd
// hashes them) and the groups.
func (d *Directory) load(t testing.TB) {
	t.Helper()
	conn := d.Root(t)
	defer conn.Close() //nolint:errcheck
	add := func(dn string, attrs map[string][]string) {
		t.Helper()
		req := ldap.NewAddRequest(dn, nil)
		names := make([]string, 0, len(attrs))
		for name := range attrs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			req.Attribute(name, attrs[name])
		}
		if err := conn.Add(req); err != nil {
			t.Fatalf("adding %s: %v", dn, err)
		}
	}
	setPassword := func(dn, password string) {
		t.Helper()
		if _, err := conn.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", password)); err != nil {
			t.Fatalf("setting the password of %s: %v", dn, err)
		}
	}
	add(Suffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
	for _, ou := range []string{PeopleDN, GroupsDN, "ou=services," + Suffix, "ou=east," + PeopleDN, "ou=west," + PeopleDN} {
		add(ou, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {strings.TrimPrefix(strings.SplitN(ou, ",", 2)[0], "ou=")}})
	}
	add(ServiceDN, map[string][]string{"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"search"}, "userPassword": {"replaced below"}})
	setPassword(ServiceDN, ServicePassword)
	for _, u := range d.Users {
		attrs := map[string][]string{
			"objectClass": {"inetOrgPerson"},
			"uid":         {u.UID},
			"cn":          {u.CN},
			"sn":          {u.CN},
		}
		if u.Mail != "" {
			attrs["mail"] = []string{u.Mail}
		}
		for k, v := range u.Extra {
			attrs[k] = v
		}
		add(u.DN(), attrs)
		setPassword(u.DN(), u.Password)
	}
	for name, members := range d.Groups {
		var dns []string
		for _, m := range members {
			dns = append(dns, m.DN())
		}
		add("cn="+name+","+GroupsDN, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {name}, "member": dns})
	}
	add("cn=developers,"+GroupsDN, map[string][]string{"objectClass": {"posixGroup"}, "cn": {"developers"}, "gidNumber": {"1000"}, "memberUid": {"alice", "bob"}})

	// The passwords are stored hashed, as slapd made them.
	res, err := conn.Search(ldap.NewSearchRequest(Alice.DN(), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"userPassword"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("reading alice's password: %v", err)
	}
	if pw := res.Entries[0].GetAttributeValue("userPassword"); !strings.HasPrefix(pw, "{SSHA}") {
		t.Fatalf("alice's password is stored as %q, not hashed", pw)
	}
}

// Root returns a connection bound as the rootdn; the caller closes it.
func (d *Directory) Root(t testing.TB) *ldap.Conn {
	t.Helper()
	conn, err := ldap.DialURL(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Bind(RootDN, RootPassword); err != nil {
		conn.Close() //nolint:errcheck
		t.Fatal(err)
	}
	return conn
}

// EntryUUID returns the entryUUID slapd gave the entry at dn.
func (d *Directory) EntryUUID(t testing.TB, dn string) string {
	t.Helper()
	conn := d.Root(t)
	defer conn.Close() //nolint:errcheck
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"entryUUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("reading the entryUUID of %s: %v", dn, err)
	}
	id := res.Entries[0].GetAttributeValue("entryUUID")
	if id == "" {
		t.Fatalf("%s has no entryUUID", dn)
	}
	return id
}

// EscapeDNValue escapes an attribute value for a DN (RFC 4514 §2.4).
func EscapeDNValue(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(`,+"\<>;=`, r),
			(r == '#' || r == ' ') && i == 0,
			r == ' ' && i == len(v)-1:
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeCertificates makes a CA and a server certificate it signs, for
// 127.0.0.1 and localhost, writes ca.pem, server.pem and server-key.pem
// into dir, and returns the CA certificate's PEM.
func writeCertificates(t testing.TB, dir string) []byte {
	t.Helper()
	caPEM, caCert, caKey := NewCA(t, "authgate test LDAP CA")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"ca.pem":         caPEM,
		"server.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server-key.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caPEM
}

// NewCA makes a self-signed CA certificate and returns it as PEM and
// parsed, with its key: another CA than the directory's, for tests of a
// certificate that is not trusted.
func NewCA(t testing.TB, name string) ([]byte, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert, key
}

// handedOut remembers the ports FreePort returned, so that one test
// process never gets the same port twice.
var handedOut sync.Map

// FreePort returns a loopback port that was free a moment ago and that
// this test process has not handed out before: for slapd, or for an
// address where nothing listens. It comes from below the system's
// ephemeral range when there is room there: a port from that range, free
// when checked, can be taken by any outgoing connection (of this or a
// parallel test package) before slapd binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	low, high := 10000, ephemeralLow()-1
	for range 200 {
		var port int
		if high-low >= 1000 {
			port = low + mrand.IntN(high-low)
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				continue
			}
			l.Close()
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
	t.Fatal("no free port that was not handed out before")
	return 0
}

// ephemeralLow is the first port of the system's ephemeral range (32768
// where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 {
		return 32768
	}
	return lo
}

// syncBuffer is a bytes.Buffer safe for slapd's output and the test to
// share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
