// Package ldaptest gives tests a real OpenLDAP directory of their own:
// [Start] runs slapd in a temporary directory on free loopback ports, for
// ldap:// (with StartTLS) and ldaps://, with a certificate a test CA
// signed, loads a fixed set of people and groups, and stops it when the
// test ends. Without slapd the test is skipped, except in CI (the CI
// environment variable set), where it fails: .ci/run installs slapd and
// ldap-utils.
//
// The tests of package ldap use it against the connector directly, and
// those of package caddymodule through a real Caddy. It imports nothing
// from this module.
//
// # The directory
//
// The suffix is [Suffix] (dc=example,dc=org). People are inetOrgPerson
// entries under [PeopleDN], uid=<uid>, some under ou=east and ou=west
// below it; groups are groupOfNames entries under [GroupsDN] (see
// [Groups]), plus the posixGroup cn=developers listing alice and bob by
// memberUid. The service account [ServiceDN] with [ServicePassword] may
// read everything, groups included; anonymous binds may search people
// and groups; the people themselves may not read the groups, so that a
// group search left bound as the person finds nothing. Passwords are
// stored hashed ({SSHA}), as slapd makes them.
package ldaptest
