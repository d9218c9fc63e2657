// Package keys owns the authorization server's signing keys: it generates
// them, rotates them on a schedule with an overlap, keeps them in the
// shared store so that every instance signs and verifies with the same
// set, and publishes the public halves as a JSON Web Key Set (RFC 7517).
//
// A key's life has three windows. It is published as soon as it exists
// (the "next" key), signs between SignFrom and SignUntil (the "current"
// key), and keeps verifying until VerifyUntil, at least the longest token
// lifetime after it stopped signing (the "previous" key). Which key signs
// follows from the times alone, so instances agree without talking.
//
// It keeps keys through [store.KeyStore]. Package authserver signs and
// verifies tokens and serves the JWKS with a [Manager]; package
// caddymodule creates the Manager, runs its refresh and rotation, and
// lists and rotates keys on Caddy's admin API. It builds no tokens (the
// claims are authserver's) and knows no database (the store's backend
// does).
package keys
