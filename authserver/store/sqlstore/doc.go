// Package sqlstore implements [store.Store] once over database/sql for
// every SQL backend. A [Flavor] holds the few things that differ between
// databases (placeholders, column types, locks), so the SQLite and
// PostgreSQL backends share the queries, the migrations and their
// transaction rules.
package sqlstore
