package caddymodule

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/authgate/authgate/authserver/store"
)

// thirdPartyStorage stands for a storage module from another plugin:
// `storage thirdparty <region> { table <name> }`.
type thirdPartyStorage struct {
	Region string `json:"region,omitempty"`
	Table  string `json:"table,omitempty"`
}

func (*thirdPartyStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "authgate.storage.thirdparty", New: func() caddy.Module { return new(thirdPartyStorage) }}
}

func (*thirdPartyStorage) OpenStore(caddy.Context) (store.Store, error) {
	return nil, errors.New("not for opening")
}

func (s *thirdPartyStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if !d.Args(&s.Region) {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if d.Val() != "table" || !d.Args(&s.Table) {
			return d.Errf("unknown option %q", d.Val())
		}
	}
	return nil
}

func init() { caddy.RegisterModule(new(thirdPartyStorage)) } //nolint:gochecknoinits // a test module

// TestThirdPartyStorageFromCaddyfile: a storage module another plugin
// registers reads its own line and block of the global option.
func TestThirdPartyStorageFromCaddyfile(t *testing.T) {
	cfg, err := adaptCaddyfile(t, "{\n\tauthgate {\n\t\tstorage thirdparty eu-west {\n\t\t\ttable tokens\n\t\t}\n\t\tissuer https://a.example\n\t}\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Apps struct {
			Authgate struct {
				Storage json.RawMessage `json:"storage"`
				Issuer  string          `json:"issuer"`
			} `json:"authgate"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	if got, want := string(doc.Apps.Authgate.Storage), `{"backend":"thirdparty","region":"eu-west","table":"tokens"}`; got != want {
		t.Errorf("storage = %s; want %s", got, want)
	}
	if doc.Apps.Authgate.Issuer != "https://a.example" {
		t.Errorf("the option after the storage block was lost: %s", cfg)
	}
	_, err = adaptCaddyfile(t, "{\n\tauthgate {\n\t\tstorage nosuch\n\t}\n}\n")
	if err == nil || !strings.Contains(err.Error(), "unknown storage backend") || !strings.Contains(err.Error(), "thirdparty") {
		t.Errorf("unknown backend: %v", err)
	}
}
