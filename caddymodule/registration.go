package caddymodule

import (
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/authgate/authgate/authserver"
)

// RegistrationConfig configures dynamic client registration (RFC 7591)
// and client configuration (RFC 7592).
type RegistrationConfig struct {
	// Mode is open (anyone may register), token (an initial access token
	// is required) or disabled. Default disabled.
	Mode string `json:"mode,omitempty"`

	// InitialAccessTokens are bearer tokens that allow registering in
	// token mode; placeholders such as {env.REG_TOKEN} are replaced.
	// Single-use tokens can also be issued through the admin API.
	InitialAccessTokens []string `json:"initial_access_tokens,omitempty"`

	// GrantTypes self-registered clients may use. Default:
	// authorization_code, refresh_token, client_credentials, device_code.
	GrantTypes []string `json:"grant_types,omitempty"`

	// Scopes self-registered clients may request. Default: openid,
	// profile, email, offline_access. Scopes a gateway requires (read,
	// mcp:tools) must be listed here, and the gateway's resource in
	// Audiences, for registered clients (such as MCP clients) to get
	// tokens it accepts. With client_credentials in GrantTypes, anyone
	// who can register gets these scopes without a user.
	Scopes []string `json:"scopes,omitempty"`

	// Audiences are the resources (RFC 8707 resource values, such as the
	// URL of a protected API) that self-registered clients may ask tokens
	// for.
	Audiences []string `json:"audiences,omitempty"`

	// NoCustomSchemes refuses private-use URI scheme redirect URIs
	// (com.example.app:/callback) even for public native clients.
	NoCustomSchemes bool `json:"no_custom_schemes,omitempty"`

	// PerAddressPerHour bounds registration requests from one client
	// address. Default 20.
	PerAddressPerHour int `json:"per_address_per_hour,omitempty"`
}

func (rc *RegistrationConfig) policy() (authserver.RegistrationPolicy, error) {
	if rc == nil {
		return authserver.RegistrationPolicy{}, nil
	}
	repl := caddy.NewReplacer()
	p := authserver.RegistrationPolicy{
		Mode: rc.Mode, NoCustomSchemes: rc.NoCustomSchemes, PerAddressPerHour: rc.PerAddressPerHour,
		Scopes: rc.Scopes, Audiences: rc.Audiences,
	}
	for _, t := range rc.InitialAccessTokens {
		t = repl.ReplaceAll(t, "")
		if len(t) < 16 {
			return p, fmt.Errorf("an initial access token must have at least 16 characters")
		}
		p.InitialAccessTokens = append(p.InitialAccessTokens, t)
	}
	for _, gt := range rc.GrantTypes {
		if gt == "device_code" {
			gt = authserver.GrantDeviceCode
		}
		p.GrantTypes = append(p.GrantTypes, gt)
	}
	return p, nil
}

// MetadataDocumentsConfig configures client ID metadata documents.
type MetadataDocumentsConfig struct {
	// AllowPrivateAddresses lets documents come from loopback, private
	// and link-local addresses. Off by default, so that nobody can make
	// the server probe its own network.
	AllowPrivateAddresses bool `json:"allow_private_addresses,omitempty"`

	// TrustedCAs are PEM files of the only certificate authorities
	// trusted when fetching documents. Default: the system's.
	TrustedCAs []string `json:"trusted_cas,omitempty"`

	// MaxBytes bounds a document's size. Default 5 KiB.
	MaxBytes int64 `json:"max_bytes,omitempty"`

	// Timeout bounds one fetch. Default 5 seconds.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

func (mc *MetadataDocumentsConfig) policy() (*authserver.MetadataDocumentPolicy, error) {
	if mc == nil {
		return nil, nil
	}
	p := &authserver.MetadataDocumentPolicy{
		AllowPrivateAddresses: mc.AllowPrivateAddresses, MaxBytes: mc.MaxBytes, Timeout: time.Duration(mc.Timeout),
	}
	if len(mc.TrustedCAs) > 0 {
		p.RootCAs = x509.NewCertPool()
		for _, f := range mc.TrustedCAs {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("reading trusted CA: %w", err)
			}
			if !p.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s has no PEM certificate", f)
			}
		}
	}
	return p, nil
}
