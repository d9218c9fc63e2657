// Package store defines the storage contract of the authorization server:
// plain value types, narrow interfaces per consumer embedded into one
// [Store], and the sentinel errors every backend returns.
//
// Every rule that must hold across instances (single-use codes, refresh
// rotation, key rotation decided once) is expressed here as an atomic
// operation, so that backends enforce it in the database rather than in
// memory. The conformance suite in package storetest checks each backend
// against this contract.
package store
