// Command caddy is Caddy with its standard modules and authgate, as
// xcaddy would build it, for the multi-instance tests, which run two of
// them as separate processes.
//
// It imports the module's root package and nothing else of this module;
// the tests of package multiinstance (e2e/multiinstance) build it with
// go build and run several of them on one PostgreSQL database.
package main
