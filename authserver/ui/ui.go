package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
)

//go:embed templates/*.html
var embedded embed.FS

// Pages lists the page templates; each is rendered inside layout.html.
var Pages = []string{"login", "consent", "logout", "message", "device"}

// Templates holds the parsed pages.
type Templates struct {
	pages map[string]*template.Template
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
	// Title is the page's heading.
	Title string
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
// (X-Frame-Options and CSP frame-ancestors), scripts and caching.
func (t *Templates) Render(w http.ResponseWriter, name string, status int, p Page) {
	tpl, ok := t.pages[name]
	if !ok {
		http.Error(w, "unknown page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := tpl.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w.Header())
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
