// Package postgres is the backend of the authorization server's store for
// deployments of more than one instance: every instance opens the same
// PostgreSQL database, through pgx behind database/sql, so a token issued
// by one is introspected, revoked and refreshed on any other.
//
// Named locks are transaction-scoped advisory locks, so instances that
// start together migrate the schema once, and key rotation and sweeping
// take turns across instances.
//
// It opens the database and hands it to package sqlstore with its
// [Flavor]; the queries and migrations are sqlstore's. Package
// caddymodule opens it as the authgate.storage.postgres module; its tests
// run package storetest on databases from package pgtest. Creating the
// database and its role is left to the operator.
package postgres
