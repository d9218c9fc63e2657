// Package pgtest gives tests a fresh PostgreSQL database of their own on
// the server that AUTHGATE_TEST_POSTGRES names ([EnvVar]), dropped when
// the test ends. Without that variable it uses a local PostgreSQL at
// [DefaultDSN] if one answers within 2 seconds, so a plain go test ./...
// runs the PostgreSQL tests wherever PostgreSQL runs. If none answers the
// test is skipped, except in CI, where it fails.
//
// It imports nothing from this module. The tests of packages postgres
// and caddymodule and the multi-instance tests (e2e/multiinstance) use
// it. It creates databases only: schemas are the store's to migrate.
package pgtest
