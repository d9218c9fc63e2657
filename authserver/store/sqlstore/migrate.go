package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are applied in order, each in its own transaction, and
// recorded in schema_migrations. Append new ones; never edit an old one.
// Statements use the generic type BLOB, which the flavor renames.
var migrations = [][]string{
	// 1: keys, tokens and shared secrets.
	{
		`CREATE TABLE signing_keys (
			id TEXT PRIMARY KEY,
			algorithm TEXT NOT NULL,
			private_jwk BLOB NOT NULL,
			created_at BIGINT NOT NULL,
			sign_from BIGINT NOT NULL,
			sign_until BIGINT NOT NULL,
			verify_until BIGINT NOT NULL
		)`,
		`CREATE TABLE tokens (
			kind TEXT NOT NULL,
			id TEXT NOT NULL,
			family_id TEXT NOT NULL,
			client_id TEXT NOT NULL,
			subject TEXT NOT NULL,
			data BLOB,
			issued_at BIGINT NOT NULL,
			expires_at BIGINT NOT NULL,
			consumed_at BIGINT,
			revoked_at BIGINT,
			PRIMARY KEY (kind, id)
		)`,
		`CREATE INDEX tokens_by_family ON tokens (family_id) WHERE family_id <> ''`,
		`CREATE INDEX tokens_by_expiry ON tokens (expires_at)`,
		`CREATE INDEX tokens_by_revocation ON tokens (revoked_at) WHERE revoked_at IS NOT NULL`,
		`CREATE TABLE secrets (
			name TEXT PRIMARY KEY,
			value BLOB NOT NULL,
			created_at BIGINT NOT NULL
		)`,
	},
	// 2: registered clients, and finding a client's tokens.
	{
		`CREATE TABLE clients (
			id TEXT PRIMARY KEY,
			metadata BLOB NOT NULL,
			secret_hash TEXT NOT NULL,
			registration_token_hash TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
		`CREATE INDEX tokens_by_client ON tokens (client_id)`,
	},
	// 3: stored users, and finding a subject's tokens. Local users have an
	// empty provider, so the provider pair is unique only where provider
	// is set. Groups are a JSON array of strings.
	{
		`CREATE TABLE users (
			id TEXT PRIMARY KEY,
			username TEXT NOT NULL,
			provider TEXT NOT NULL,
			provider_subject TEXT NOT NULL,
			password_hash TEXT NOT NULL,
			email TEXT NOT NULL,
			email_verified BOOLEAN NOT NULL,
			name TEXT NOT NULL,
			groups_json TEXT NOT NULL,
			disabled BOOLEAN NOT NULL,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL,
			last_login BIGINT
		)`,
		`CREATE UNIQUE INDEX users_by_username ON users (username)`,
		`CREATE UNIQUE INDEX users_by_provider ON users (provider, provider_subject) WHERE provider <> ''`,
		`CREATE INDEX tokens_by_subject ON tokens (subject)`,
	},
	// 4: users' second factors. user_id references no table: users from
	// configuration are not stored, and they have factors too. The
	// primary key serves a user's factors; factors_by_id finds a kind's
	// ID across users (a passkey sign-in starts from the credential ID).
	{
		`CREATE TABLE factors (
			user_id TEXT NOT NULL,
			kind TEXT NOT NULL,
			id TEXT NOT NULL,
			name TEXT NOT NULL,
			data BLOB,
			confirmed BOOLEAN NOT NULL,
			created_at BIGINT NOT NULL,
			last_used BIGINT,
			PRIMARY KEY (user_id, kind, id)
		)`,
		`CREATE INDEX factors_by_id ON factors (kind, id)`,
	},
	// 5: a family's earliest revocation is one index seek, however many
	// rotations the family has had: every token insert into a family
	// asks it. The new index serves lookups by family alone too.
	{
		`CREATE INDEX tokens_by_family_revocation ON tokens (family_id, revoked_at) WHERE family_id <> ''`,
		`DROP INDEX tokens_by_family`,
	},
}

// SchemaVersion is the version the migrations above bring a database to.
var SchemaVersion = len(migrations)

// migrate brings the database up to SchemaVersion. Every step runs in a
// transaction that holds the "migrate" lock, so instances that start
// together apply each step once.
func (s *Store) migrate(ctx context.Context) error {
	for i, stmts := range migrations {
		version := i + 1
		err := s.inTx(ctx, "migrate", func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version INTEGER PRIMARY KEY,
				applied_at BIGINT NOT NULL
			)`); err != nil {
				return fmt.Errorf("creating schema_migrations: %w", err)
			}
			var current sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&current); err != nil {
				return fmt.Errorf("reading schema version: %w", err)
			}
			if int(current.Int64) >= version {
				return nil
			}
			for _, stmt := range stmts {
				if _, err := tx.ExecContext(ctx, s.flavor.ddl(stmt)); err != nil {
					return fmt.Errorf("applying migration %d: %w", version, err)
				}
			}
			_, err := tx.ExecContext(ctx, s.flavor.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
				version, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return err
		}
	}
	var current sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if int(current.Int64) > SchemaVersion {
		return fmt.Errorf("database schema version %d is newer than this build's %d: upgrade authgate", current.Int64, SchemaVersion)
	}
	return nil
}
