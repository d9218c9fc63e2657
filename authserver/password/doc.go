// Package password checks passwords and client secrets against the slow
// hashes an operator may configure: bcrypt (as `caddy hash-password`
// prints it) and argon2id in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash). The hashing itself is
// golang.org/x/crypto's; this package only parses and compares.
//
// It imports nothing from this module. Package authserver checks client
// secrets and users' passwords with it, and package caddymodule parses
// the password_hash of configured users. It makes no new hashes and
// stores nothing.
package password
