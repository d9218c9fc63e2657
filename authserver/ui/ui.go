package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

//go:embed templates/*.html assets/webauthn.js
var embedded embed.FS

// WebAuthnScript is the one script pages may load: it runs the WebAuthn
// (passkey) ceremonies of the forms marked data-webauthn. The server
// serves it from its own origin; the pages that use it name it in
// Page.Script, and only those pages let scripts run (script-src 'self').
func WebAuthnScript() []byte {
	b, err := embedded.ReadFile("assets/webauthn.js")
	if err != nil {
		panic("ui: the embedded WebAuthn script is missing: " + err.Error())
	}
	return b
}

// Pages lists the page templates; each is rendered inside layout.html.
var Pages = []string{"login", "consent", "logout", "message", "device", "landing", "factor", "factor_setup", "recovery_codes",
	"account", "account_totp", "account_codes", "passkeys"}

// Templates holds the parsed pages.
type Templates struct {
	pages map[string]*template.Template
	brand Brand
	// csp is the Content-Security-Policy of every page, which lets
	// images come from the logo's origin too; cspScript is the same for
	// a page that loads the passkey script from the server's origin.
	csp, cspScript string
}

// Brand is how every page presents the server: the product's name in
// the title and header, its logo, and the accent color of buttons and
// focus outlines. The caller validates it (see SetBrand).
type Brand struct {
	// ProductName names the server to its users ("authgate" by default).
	ProductName string
	// LogoURL, if set, is an image shown beside the product name: an
	// https URL or a path on the server's own origin.
	LogoURL string
	// AccentColor is a color as #rrggbb.
	AccentColor string
}

// DefaultAccentColor is the accent of the embedded pages.
const DefaultAccentColor = "#1f5fbf"

// AccentCSS is the accent color for a style sheet: the validated
// #rrggbb, or the default.
func (b Brand) AccentCSS() template.CSS {
	if !ValidColor(b.AccentColor) {
		return template.CSS(DefaultAccentColor)
	}
	return template.CSS(b.AccentColor) //nolint:gosec // ValidColor: exactly #rrggbb
}

// AccentTextCSS is the text color that reads on the accent: black on a
// light accent, white on a dark one.
func (b Brand) AccentTextCSS() template.CSS {
	c := string(b.AccentCSS())
	var lum float64
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(c[1+2*i:3+2*i], 16, 8)
		lum += weight * float64(v) / 255
	}
	if lum > 0.55 {
		return "#000"
	}
	return "#fff"
}

// ValidColor reports whether c is a color as #rrggbb, the only form an
// accent color may take.
func ValidColor(c string) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for i := 1; i < 7; i++ {
		x := c[i]
		if !('0' <= x && x <= '9' || 'a' <= x && x <= 'f' || 'A' <= x && x <= 'F') {
			return false
		}
	}
	return true
}

// SetBrand sets how the pages present the server, and the
// Content-Security-Policy that lets the logo load: images from the
// pages' own origin, and from the logo's origin when it is an absolute
// https URL elsewhere. The caller has validated b (ValidColor, an https
// or same-origin LogoURL).
func (t *Templates) SetBrand(b Brand) {
	t.brand = b
	imgSrc := "'self' data:"
	if u, err := url.Parse(b.LogoURL); err == nil && u.Scheme == "https" && u.Host != "" {
		imgSrc += " https://" + u.Host
	}
	t.csp = "default-src 'none'; style-src 'unsafe-inline'; img-src " + imgSrc + "; frame-ancestors 'none'; base-uri 'none'"
	// No inline script and no eval: only the script file itself.
	t.cspScript = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src " + imgSrc + "; frame-ancestors 'none'; base-uri 'none'"
}

// Load parses the embedded templates, replacing any file that also exists
// in overrideDir (if not empty), such as layout.html or login.html.
func Load(overrideDir string) (*Templates, error) {
	read := func(name string) ([]byte, error) {
		if overrideDir != "" {
			b, err := os.ReadFile(filepath.Join(overrideDir, name))
			if err == nil {
				return b, nil
			}
			if !os.IsNotExist(err) {
				return nil, fmt.Errorf("reading template override %s: %w", name, err)
			}
		}
		return fs.ReadFile(embedded, "templates/"+name)
	}
	layout, err := read("layout.html")
	if err != nil {
		return nil, err
	}
	t := &Templates{pages: make(map[string]*template.Template, len(Pages))}
	t.SetBrand(Brand{ProductName: "authgate", AccentColor: DefaultAccentColor})
	for _, name := range Pages {
		body, err := read(name + ".html")
		if err != nil {
			return nil, err
		}
		tpl, err := template.New("layout.html").Parse(string(layout))
		if err == nil {
			_, err = tpl.New(name + ".html").Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("parsing template %s: %w", name, err)
		}
		t.pages[name] = tpl
	}
	return t, nil
}

// Page is what every template receives. Fields a page does not use are
// empty.
type Page struct {
	// Title is the page's heading; the document title adds the product
	// name to it.
	Title string
	// Brand is how the server presents itself; Render sets it.
	Brand Brand
	// Action is the path forms post to.
	Action string
	// CSRFToken goes in a hidden field named csrf_token.
	CSRFToken string
	// Error is a message about what went wrong, shown prominently.
	Error string
	// Message is the body of an informational page.
	Message string
	// Client is the application asking for access, if any.
	Client *Client
	// Scopes are the permissions asked for, on the consent page.
	Scopes []Scope
	// Hidden are extra hidden form fields to send back, such as the
	// pending request's handle.
	Hidden map[string]string
	// Username pre-fills the sign-in form (login_hint).
	Username string
	// UserCode pre-fills the device page's code field.
	UserCode string
	// SignedInAs names the signed-in user, where a page shows it.
	SignedInAs string
	// Providers are the identity providers the sign-in page offers,
	// each a link that starts signing in there.
	Providers []Provider
	// PasswordSources, when there is more than one, let the user choose
	// where the sign-in form checks the password: this server's own
	// accounts or a directory. The form sends the chosen Value as "idp".
	PasswordSources []Option
	// NoPasswordForm hides the sign-in page's password form: no one
	// signs in here with a password.
	NoPasswordForm bool
	// Back, if set, links back to where the user came from: the
	// application or site, after signing out or choosing to stay.
	Back *Link
	// Links are the landing page's links.
	Links []Link
	// Factor is what the second-factor pages (factor, factor_setup,
	// recovery_codes) ask for or show.
	Factor *Factor
	// Account is what the account pages (account, account_totp,
	// account_codes) show.
	Account *Account
	// Script, if set, is the URL of the passkey script (see
	// WebAuthnScript) on the server's own origin: the page loads it, and
	// its Content-Security-Policy lets scripts of that origin run. Pages
	// without it run no script at all.
	Script string
	// WebAuthn is the passkey ceremony the page offers (sign in with a
	// passkey, use one as the second factor, add one), if any.
	WebAuthn *WebAuthn
	// Passkeys are the signed-in user's passkeys, on the passkeys page.
	Passkeys []Passkey
	// Reauth, on the passkeys page, asks the user to sign in again
	// before adding or changing passkeys: the sign-in was too long ago.
	Reauth *Link
}

// Account is the signed-in user's account page: one section each for
// the profile, the password, two-step verification, passkeys, sign-in
// sessions and the apps the user allowed. Each form posts to its own
// path, with the page's CSRF token.
type Account struct {
	// Notice says what the last change did, once it succeeded.
	Notice string
	// Profile, read-only.
	Username, Name, Email string
	Groups                []string
	// SignedInWith says how this browser's session signed in, in words.
	SignedInWith string
	// Password is "local" for a user who can change their password
	// here, "config" for one whose password is in the configuration,
	// "provider" for one who signs in through ProviderName.
	Password     string
	ProviderName string
	// HasPassword says the user has a password here, which removing the
	// authenticator app can be confirmed with.
	HasPassword bool
	// TOTP says an authenticator app is set up; RecoveryLeft counts the
	// recovery codes not used yet.
	TOTP         bool
	RecoveryLeft int
	// Required, when not empty, says why the user must keep a second
	// factor; CanRemoveTOTP is false when the app is the last one.
	Required      string
	CanRemoveTOTP bool
	// Passkeys counts the user's passkeys.
	Passkeys int
	// Sessions are the user's sign-in sessions, oldest first.
	Sessions []AccountSession
	// Apps are the applications the user allowed.
	Apps []AccountApp
	// URLs are where the links go and the forms post.
	URLs AccountURLs
}

// AccountURLs are the account pages' paths.
type AccountURLs struct {
	Account, Password, TOTP, TOTPRemove, RecoveryCodes, Passkeys string
	EndSession, EndOthers, RevokeApp, SignOut                    string
}

// AccountSession is one sign-in session on the account page.
type AccountSession struct {
	// Handle names the session in the form that ends it.
	Handle string
	// Created and LastSeen are times in words (UTC); How says how it
	// signed in.
	Created, LastSeen, How string
	// Current marks this browser's session.
	Current bool
}

// AccountApp is an application the user allowed.
type AccountApp struct {
	Client *Client
	// Scopes are what the user allowed it, when known.
	Scopes []Scope
	// When is when access was last granted, in words (UTC).
	When string
}

// WebAuthn is a passkey ceremony a page offers. Its form is hidden until
// the script finds the browser can run it; the script then calls
// navigator.credentials with Options and posts the authenticator's
// answer, as JSON in the field "credential", to Action.
type WebAuthn struct {
	// Action is where the form posts.
	Action string
	// Options are the ceremony's options as JSON: {"publicKey": ...}
	// with binary members in base64url, as go-webauthn writes them.
	Options string
}

// Passkey is one of the user's passkeys, as the passkeys page lists it.
type Passkey struct {
	// ID is the credential ID (base64url), which the rename and remove
	// forms send back.
	ID string
	// Name is what the user called it.
	Name string
	// Created and LastUsed are dates to show; LastUsed is empty if it
	// was never used.
	Created, LastUsed string
	// Synced says the passkey may be copied to the user's other devices
	// (backup eligible), rather than bound to one authenticator.
	Synced bool
}

// Factor is what the second-factor pages ask for or show.
type Factor struct {
	// TOTP asks for a code from an authenticator app.
	TOTP bool
	// Recovery offers a recovery code instead.
	Recovery bool
	// QRCode is, while an authenticator app is set up, its key as a QR
	// code: a data: URL of a PNG the server drew.
	QRCode template.URL
	// Secret is the same key as text, in groups of four, for typing.
	Secret string
	// RecoveryCodes are new recovery codes, shown once.
	RecoveryCodes []string
	// Passkey offers one of the user's passkeys (Page.WebAuthn holds
	// the ceremony).
	Passkey bool
}

// Link is a link a page shows.
type Link struct {
	// URL is where it goes: a path on this server, or an http(s) URL
	// the server checked.
	URL string
	// Text is what it says.
	Text string
	// Note, if set, explains the link in a smaller line.
	Note string
}

// Provider is an identity provider offered on the sign-in page.
type Provider struct {
	Name        string
	DisplayName string
	// URL starts signing in with the provider.
	URL string
}

// Option is one choice of a select field.
type Option struct {
	Value, Label string
	Selected     bool
}

// Client describes an application to the user.
type Client struct {
	ID   string
	Name string
	// Host is the host the client runs on, when it is known, shown so a
	// user can tell look-alike names apart. For an unverified client it
	// is the host of its metadata document, or else of the redirect URI
	// in use: where the answer goes.
	Host string
	// Unverified marks a client that registered itself (or was named by
	// a client ID metadata document) rather than one the operator
	// configured: its name is its own claim.
	Unverified bool
}

// Scope is one permission on the consent page.
type Scope struct {
	Name        string
	Description string
}

// Render writes page name with status, with headers that forbid framing
// (X-Frame-Options and CSP frame-ancestors), scripts (except, on a page
// with Script, scripts from the page's own origin) and caching; images
// may come only from the page's origin and the logo's.
func (t *Templates) Render(w http.ResponseWriter, name string, status int, p Page) {
	tpl, ok := t.pages[name]
	if !ok {
		http.Error(w, "unknown page", http.StatusInternalServerError)
		return
	}
	p.Brand = t.brand
	var buf bytes.Buffer
	if err := tpl.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w.Header())
	if p.Script != "" {
		w.Header().Set("Content-Security-Policy", t.cspScript)
	} else {
		w.Header().Set("Content-Security-Policy", t.csp)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

// SecurityHeaders sets the headers every page carries.
func SecurityHeaders(h http.Header) {
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}
