// Package store defines the storage contract of the authorization server:
// plain value types, narrow interfaces per consumer embedded into one
// [Store], and the sentinel errors every backend returns.
//
// Every rule that must hold across instances (single-use codes, refresh
// rotation, key rotation decided once) is expressed here as an atomic
// operation, so that backends enforce it in the database rather than in
// memory. The conformance suite in package storetest checks each backend
// against this contract.
//
// It imports nothing from this module. Package authserver keeps its state
// through it and package keys its signing keys ([KeyStore]); package
// sqlstore implements it for the sqlite and postgres backends, and
// package caddymodule opens a backend and hands it to them. It holds no
// SQL and no logic of its own.
package store
