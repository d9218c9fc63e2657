package authserver

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authgate/authgate/authserver/ui"
)

// DefaultProductName is what the pages call this server unless
// Config.ProductName says otherwise.
const DefaultProductName = "authgate"

const (
	// maxProductName bounds Config.ProductName, in characters.
	maxProductName = 60
	// MaxAppNameLength bounds the display name of a site the gateway
	// signs people in to, in characters.
	MaxAppNameLength = 80
)

// plainText reports whether s is text to show as it is: valid UTF-8 of
// at most max characters, not blank, without control or invisible
// (format) characters, and without surrounding white space.
func plainText(s string, max int) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// CheckAppName checks the display name of a site the gateway protects
// (the gateway's name option), which the sign-in pages show: plain text
// of at most MaxAppNameLength characters.
func CheckAppName(name string) error {
	if !plainText(name, MaxAppNameLength) {
		return fmt.Errorf("name %q must be plain text of 1 to %d characters, without control characters or surrounding spaces", name, MaxAppNameLength)
	}
	return nil
}

// checkBrand validates the branding of cfg, fills in its defaults, and
// returns it for the pages. issuer is the parsed issuer identifier.
func checkBrand(cfg *Config, issuer *url.URL) (ui.Brand, error) {
	if cfg.ProductName == "" {
		cfg.ProductName = DefaultProductName
	}
	if !plainText(cfg.ProductName, maxProductName) {
		return ui.Brand{}, fmt.Errorf("product name %q must be plain text of 1 to %d characters, without control characters or surrounding spaces", cfg.ProductName, maxProductName)
	}
	if cfg.AccentColor == "" {
		cfg.AccentColor = ui.DefaultAccentColor
	}
	if !ui.ValidColor(cfg.AccentColor) {
		return ui.Brand{}, fmt.Errorf("accent color %q must be a color as #rrggbb", cfg.AccentColor)
	}
	if cfg.LogoURL != "" && !validLogoURL(cfg.LogoURL, issuer) {
		return ui.Brand{}, fmt.Errorf("logo URL %q must be an https URL, or a URL or absolute path under the issuer %s", cfg.LogoURL, cfg.Issuer)
	}
	return ui.Brand{ProductName: cfg.ProductName, LogoURL: cfg.LogoURL, AccentColor: cfg.AccentColor}, nil
}

// validLogoURL reports whether raw may be the pages' logo: an absolute
// https URL, or a URL or absolute path under the issuer (the issuer's
// own origin, which the pages' Content-Security-Policy allows as 'self').
func validLogoURL(raw string, issuer *url.URL) bool {
	if len(raw) > 2048 || strings.ContainsAny(raw, "\\\"'<> \t\r\n") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" {
		return false
	}
	under := func(path string) bool {
		return strings.HasPrefix(path, issuer.Path+"/") && !strings.Contains(path, "/../") && !strings.HasSuffix(path, "/..")
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return true
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//"):
		return under(u.Path)
	case u.Scheme == issuer.Scheme && u.Host == issuer.Host:
		return under(u.Path)
	}
	return false
}
