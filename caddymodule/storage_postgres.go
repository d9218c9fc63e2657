package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/postgres"
)

func init() {
	caddy.RegisterModule(new(PostgresStorage))
}

// PostgresStorage keeps the store in a PostgreSQL database, for more than
// one Caddy instance: every instance points at the same database and acts
// as one authorization server. The schema is created and migrated on
// start; instances that start together migrate it once.
type PostgresStorage struct {
	// DSN names the database: a URL such as
	// postgres://authgate:secret@db.example.com:5432/authgate?sslmode=verify-full
	// or a key=value string as libpq takes them. Caddy placeholders are
	// replaced, so the DSN can come from the environment:
	// {env.AUTHGATE_DSN}. Required. The password is never logged nor shown
	// in errors.
	DSN string `json:"dsn"`

	key string
	dsn string // the DSN with its placeholders replaced, once open
}

// describeStore names the store for the start-up log: its host, port
// and database, never the password nor the whole DSN.
func (s *PostgresStorage) describeStore() []zap.Field {
	fields := []zap.Field{zap.String("store", "postgres")}
	cfg, err := pgconn.ParseConfig(s.dsn)
	if err != nil {
		// The parser's error may quote the DSN: it is not logged.
		return append(fields, zap.String("store_dsn", "unparsable"))
	}
	return append(fields,
		zap.String("store_host", cfg.Host),
		zap.Uint16("store_port", cfg.Port),
		zap.String("store_database", cfg.Database))
}

// CaddyModule returns the Caddy module information.
func (*PostgresStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "authgate.storage.postgres", New: func() caddy.Module { return new(PostgresStorage) }}
}

// OpenStore connects to the database, or shares the pool a previous config
// opened on the same DSN.
func (s *PostgresStorage) OpenStore(ctx caddy.Context) (store.Store, error) {
	dsn := caddy.NewReplacer().ReplaceAll(s.DSN, "")
	if dsn == "" {
		if s.DSN != "" {
			return nil, errors.New("postgres storage: the DSN is empty once its placeholders are replaced (is the environment variable set?)")
		}
		return nil, errors.New("postgres storage: a DSN is required")
	}
	// The pool key names the DSN by its hash, so the password is not kept
	// in clear beyond the pool itself.
	sum := sha256.Sum256([]byte(dsn))
	key := "postgres:" + hex.EncodeToString(sum[:])
	st, err := openShared(key, func() (store.Store, error) { return postgres.Open(ctx, dsn) })
	if err != nil {
		return nil, err
	}
	s.key, s.dsn = key, dsn
	return st, nil
}

// Cleanup releases this config's use of the database.
func (s *PostgresStorage) Cleanup() error { return releaseShared(s.key) }

// UnmarshalCaddyfile reads `storage postgres <dsn>`.
func (s *PostgresStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the backend's name
	if !d.NextArg() || d.Val() == "" {
		return d.Err("storage postgres needs a DSN, such as postgres://user:password@host:5432/db or {env.AUTHGATE_DSN}")
	}
	s.DSN = d.Val()
	if d.NextArg() {
		// The surplus argument is not shown: it may be part of a
		// key=value DSN that was not quoted, with its password.
		return d.Err("storage postgres takes one DSN; quote a key=value DSN that has spaces")
	}
	return nil
}

// Interface guards
var (
	_ StorageBackend        = (*PostgresStorage)(nil)
	_ caddy.CleanerUpper    = (*PostgresStorage)(nil)
	_ caddyfile.Unmarshaler = (*PostgresStorage)(nil)
)
