// Package sqlstore implements [store.Store] once over database/sql for
// every SQL backend. A [Flavor] holds the few things that differ between
// databases (placeholders, column types, locks, unique-violation errors),
// so the SQLite and PostgreSQL backends share the queries, the migrations
// and their transaction rules.
//
// It imports package store, whose contract it implements; packages
// sqlite and postgres use it, each with its driver and its Flavor. It
// loads no driver and opens no database itself: a backend opens the
// [database/sql.DB] and passes it to [Open].
package sqlstore
