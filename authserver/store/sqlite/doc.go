// Package sqlite is the embedded default backend of the authorization
// server's store: one SQLite file, through the pure-Go driver
// modernc.org/sqlite, in WAL mode with a busy timeout. Write transactions
// are immediate, so they queue for the database's single write lock
// instead of failing when two of them meet.
//
// It opens the database and hands it to package sqlstore with its
// [Flavor]; the queries and migrations are sqlstore's. Package
// caddymodule opens it as the authgate.storage.sqlite module, the
// default, and the other packages' tests use it as their store; its own
// tests run package storetest. It suits one instance: several instances
// need a shared database (package postgres).
//
// [Backup] copies a database online, read-only, while a server writes to
// it, and [Inspect] checks and describes a copy: `caddy authgate backup`.
package sqlite
