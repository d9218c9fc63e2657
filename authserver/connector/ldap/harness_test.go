package ldap

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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The test directory's fixed names and secrets.
const (
	suffix      = "dc=example,dc=org"
	rootDN      = "cn=admin," + suffix
	rootPW      = "root-secret"
	peopleDN    = "ou=people," + suffix
	groupsDN    = "ou=groups," + suffix
	serviceDN   = "cn=search,ou=services," + suffix
	servicePW   = "service-secret"
	startupTime = 20 * time.Second
)

// testUser is a person loaded into the test directory.
type testUser struct {
	ou       string // under peopleDN; "" for directly under it
	uid      string
	cn       string
	mail     string
	password string
	extra    map[string][]string
}

// dn is the user's DN.
func (u testUser) dn() string {
	base := peopleDN
	if u.ou != "" {
		base = "ou=" + u.ou + "," + peopleDN
	}
	return "uid=" + escapeDNValue(u.uid) + "," + base
}

// The people and groups every test directory has.
var (
	alice  = testUser{uid: "alice", cn: "Alice Liddell", mail: "alice@example.org", password: "alice-pw"}
	bob    = testUser{uid: "bob", cn: "Bob Builder", mail: "bob@example.org", password: "bob-pw"}
	carol  = testUser{uid: "carol", cn: "Carol", password: "carol-pw"} // no mail, no groups
	dave   = testUser{uid: "dave", cn: "Dave Disabled", mail: "dave@example.org", password: "dave-pw", extra: map[string][]string{"employeeType": {"disabled"}}}
	paren  = testUser{uid: "par(en)*", cn: "Paren Thesis", mail: "paren@example.org", password: "paren-pw"}
	twin1  = testUser{ou: "east", uid: "twin", cn: "Twin East", password: "twin-pw"}
	twin2  = testUser{ou: "west", uid: "twin", cn: "Twin West", password: "twin-pw"}
	people = []testUser{alice, bob, carol, dave, paren, twin1, twin2}
	// groups maps each groupOfNames to its members.
	groups = map[string][]testUser{
		"admins": {alice},
		"staff":  {alice, bob, dave},
		"odd":    {paren},
	}
)

// directory is one running slapd with the test data.
type directory struct {
	url    string // ldap://127.0.0.1:port
	tlsURL string // ldaps://127.0.0.1:port
	caPEM  []byte // the CA that signed slapd's certificate
	caFile string // caPEM in a file
	dir    string
}

// slapdPath returns slapd's path, skipping the test where it is not
// installed, unless on CI (which installs it), where that fails the test.
func slapdPath(t *testing.T) string {
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

// startDirectory starts slapd (OpenLDAP) in a temporary directory,
// listening for ldap:// and ldaps:// on free loopback ports with a
// certificate for 127.0.0.1 and localhost, loads the people and groups
// above, and stops it when the test ends.
func startDirectory(t *testing.T) *directory {
	t.Helper()
	slapd := slapdPath(t)
	d := &directory{dir: t.TempDir()}
	d.caPEM = writeCertificates(t, d.dir)
	d.caFile = filepath.Join(d.dir, "ca.pem")

	var lastErr error
	for range 3 { // a port taken between freePort and slapd's bind: again
		port, tlsPort := freePort(t), freePort(t)
		d.url = fmt.Sprintf("ldap://127.0.0.1:%d", port)
		d.tlsURL = fmt.Sprintf("ldaps://127.0.0.1:%d", tlsPort)
		if lastErr = d.start(t, slapd); lastErr == nil {
			d.load(t)
			return d
		}
		t.Log(lastErr)
	}
	t.Fatalf("slapd did not start: %v", lastErr)
	return nil
}

// start runs slapd in the foreground as a child process and waits until
// it accepts binds; it returns an error when slapd exits first. The groups
// can be read by the service account and anonymously, not by the people
// themselves, so that a group search left bound as the person finds
// nothing.
func (d *directory) start(t *testing.T, slapd string) error {
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
`, d.dir, suffix, rootDN, rootPW, data, groupsDN, serviceDN)), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	cmd := exec.Command(slapd, "-f", conf, "-h", d.url+"/ "+d.tlsURL+"/", "-d", "0")
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
		if conn, err := ldap.DialURL(d.url, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second})); err == nil {
			err = conn.Bind(rootDN, rootPW)
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
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("slapd's output:\n%s", out.String())
		}
	})
	return nil
}

// load adds the organisational units, the service account, the people
// (their passwords set with the password modify operation, so that slapd
// hashes them) and the groups.
func (d *directory) load(t *testing.T) {
	t.Helper()
	conn := d.root(t)
	defer conn.Close() //nolint:errcheck
	add := func(dn string, attrs map[string][]string) {
		t.Helper()
		req := ldap.NewAddRequest(dn, nil)
		for name, values := range attrs {
			req.Attribute(name, values)
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
	add(suffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
	for _, ou := range []string{peopleDN, groupsDN, "ou=services," + suffix, "ou=east," + peopleDN, "ou=west," + peopleDN} {
		add(ou, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {strings.TrimPrefix(strings.SplitN(ou, ",", 2)[0], "ou=")}})
	}
	add(serviceDN, map[string][]string{"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"search"}, "userPassword": {"replaced below"}})
	setPassword(serviceDN, servicePW)
	for _, u := range people {
		attrs := map[string][]string{
			"objectClass": {"inetOrgPerson"},
			"uid":         {u.uid},
			"cn":          {u.cn},
			"sn":          {u.cn},
		}
		if u.mail != "" {
			attrs["mail"] = []string{u.mail}
		}
		for k, v := range u.extra {
			attrs[k] = v
		}
		add(u.dn(), attrs)
		setPassword(u.dn(), u.password)
	}
	for name, members := range groups {
		var dns []string
		for _, m := range members {
			dns = append(dns, m.dn())
		}
		add("cn="+name+","+groupsDN, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {name}, "member": dns})
	}
	add("cn=developers,"+groupsDN, map[string][]string{"objectClass": {"posixGroup"}, "cn": {"developers"}, "gidNumber": {"1000"}, "memberUid": {"alice", "bob"}})

	// The passwords are stored hashed, as slapd made them.
	res, err := conn.Search(ldap.NewSearchRequest(alice.dn(), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"userPassword"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("reading alice's password: %v", err)
	}
	if pw := res.Entries[0].GetAttributeValue("userPassword"); !strings.HasPrefix(pw, "{SSHA}") {
		t.Fatalf("alice's password is stored as %q, not hashed", pw)
	}
}

// root returns a connection bound as the rootdn.
func (d *directory) root(t *testing.T) *ldap.Conn {
	t.Helper()
	conn, err := ldap.DialURL(d.url)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Bind(rootDN, rootPW); err != nil {
		conn.Close() //nolint:errcheck
		t.Fatal(err)
	}
	return conn
}

// entryUUID returns the entryUUID slapd gave the entry at dn.
func (d *directory) entryUUID(t *testing.T, dn string) string {
	t.Helper()
	conn := d.root(t)
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

// escapeDNValue escapes an attribute value for a DN (RFC 4514 §2.4).
func escapeDNValue(v string) string {
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
func writeCertificates(t *testing.T, dir string) []byte {
	t.Helper()
	caPEM, caCert, caKey := newCA(t, "authgate test LDAP CA")
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

// newCA makes a self-signed CA certificate and returns it as PEM and
// parsed, with its key.
func newCA(t *testing.T, name string) ([]byte, *x509.Certificate, *ecdsa.PrivateKey) {
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

// handedOut remembers the ports freePort returned, so that one test
// process never gets the same port twice.
var handedOut sync.Map

// freePort returns a loopback port that was free a moment ago and that
// this test process has not handed out before. It comes from below the
// system's ephemeral range when there is room there: a port from that
// range, free when checked, can be taken by any outgoing connection (of
// this or a parallel test package) before slapd binds it.
func freePort(t *testing.T) int {
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
