package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

func init() {
	caddy.RegisterModule(new(SQLiteStorage))
}

// storageNamespace is the module namespace of storage backends: a
// backend named b is the module authgate.storage.b.
const storageNamespace = "authgate.storage"

// storePool shares open stores across config reloads, so that a reload
// does not reopen the database.
var storePool = caddy.NewUsagePool()

// pooledStore lets the pool close a store when its last user is gone.
type pooledStore struct{ store.Store }

func (p pooledStore) Destruct() error { return p.Close() }

// openShared returns the store pooled under key, opening it with open if
// no config holds it yet.
func openShared(key string, open func() (store.Store, error)) (store.Store, error) {
	val, _, err := storePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		st, err := open()
		if err != nil {
			return nil, err
		}
		return pooledStore{st}, nil
	})
	if err != nil {
		return nil, err
	}
	return val.(pooledStore).Store, nil
}

// releaseShared drops one config's use of the store under key (if it got
// one); the last use closes it.
func releaseShared(key string) error {
	if key == "" {
		return nil
	}
	_, err := storePool.Delete(key)
	return err
}

// SQLiteStorage is the embedded default store: one SQLite file, nothing to
// install. It suits one Caddy instance; several instances need a shared
// database server.
type SQLiteStorage struct {
	// Path of the database file. Default: authgate/authgate.db in Caddy's
	// data directory.
	Path string `json:"path,omitempty"`

	key  string
	path string // the database file's absolute path, once open
}

// describeStore names the store for the start-up log.
func (s *SQLiteStorage) describeStore() []zap.Field {
	return []zap.Field{zap.String("store", "sqlite"), zap.String("store_path", s.path)}
}

// CaddyModule returns the Caddy module information.
func (*SQLiteStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "authgate.storage.sqlite", New: func() caddy.Module { return new(SQLiteStorage) }}
}

// OpenStore opens the database, or shares the handle a previous config
// opened.
func (s *SQLiteStorage) OpenStore(ctx caddy.Context) (store.Store, error) {
	abs, err := s.databasePath()
	if err != nil {
		return nil, err
	}
	key := "sqlite:" + abs
	st, err := openShared(key, func() (store.Store, error) { return openSQLite(ctx, abs) })
	if err != nil {
		return nil, err
	}
	s.key, s.path = key, abs
	return st, nil
}

// databasePath is the database file's absolute path: Path with its
// placeholders replaced, else the default in Caddy's data directory.
func (s *SQLiteStorage) databasePath() (string, error) {
	path := caddy.NewReplacer().ReplaceAll(s.Path, "")
	if path == "" {
		path = filepath.Join(caddy.AppDataDir(), "authgate", "authgate.db")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", path, err)
	}
	return abs, nil
}

// Cleanup releases this config's use of the database.
func (s *SQLiteStorage) Cleanup() error { return releaseShared(s.key) }

// openSQLite opens the database at path for this process alone: it takes
// the database's lock first, and closing the store releases it.
func openSQLite(ctx context.Context, path string) (store.Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating directory for %s: %w", path, err)
	}
	release, err := lockDatabase(path)
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		release() //nolint:errcheck // the open error is the one to report
		return nil, err
	}
	return &lockedStore{st, release}, nil
}

// errStoreInUse is what opening a SQLite store that another process holds
// fails with (see lockDatabase), for errors.Is.
var errStoreInUse = errors.New("the store is in use by another process")

// storeInUseError is the error of opening a SQLite store another process
// holds: path is the database, holder " (process N)" or empty.
type storeInUseError struct{ path, holder string }

func (e *storeInUseError) Error() string {
	return fmt.Sprintf("the authgate database %s is in use by another process%s, probably another Caddy: "+
		"the embedded SQLite store serves one Caddy instance; stop the other one, give each its own storage path, "+
		"or share a PostgreSQL store (storage postgres) between instances", e.path, e.holder)
}

func (e *storeInUseError) Unwrap() error { return errStoreInUse }

// lockedStore is a store that holds its database's lock until closed.
type lockedStore struct {
	store.Store
	release func() error
}

// Close closes the store, then releases the lock.
func (l *lockedStore) Close() error { return errors.Join(l.Store.Close(), l.release()) }

// UnmarshalCaddyfile reads `storage sqlite [<path>]`.
func (s *SQLiteStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the backend's name
	if d.NextArg() {
		s.Path = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guards
var (
	_ StorageBackend        = (*SQLiteStorage)(nil)
	_ caddy.CleanerUpper    = (*SQLiteStorage)(nil)
	_ caddyfile.Unmarshaler = (*SQLiteStorage)(nil)
)
