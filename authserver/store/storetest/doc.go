// Package storetest is the conformance suite for [store.Store] backends.
// Each backend's tests call [Run] with a factory that returns an empty
// store; the suite checks the contract documented in package store,
// including the atomicity of single-use and compare-and-swap operations
// under concurrent callers.
//
// It imports only package store; the tests of packages sqlite and
// postgres run it. It knows no backend: providing an empty store (a
// file, a fresh database) is the caller's part.
package storetest
