// Command client prepares the gateway benchmark (bench/run.sh): it finds
// free ports, gets a bearer token with client credentials, and signs a
// browser in through the gateway to get a session cookie, then checks
// that both are accepted. For bench/tokens.sh and bench/cache-rss.sh it
// issues many tokens, and sends each of a file's tokens once to a
// protected URL. Usage:
//
//	client ports N
//	client token   -issuer URL -client ID -secret S -scope SCOPE
//	client session -url PROTECTED_URL -user U -password P [-cookie NAME]
//	client check   -url URL [-header 'Name: value'] [-want TEXT]
//	client tokens  -issuer URL -client ID -secret S [-n N]
//	client send    -url URL -file TOKENS [-want TEXT] [-workers N]
//
// It prints what was asked for on stdout, one item a line, and fails with
// a message on stderr otherwise.
//
// It imports nothing from this module and talks to authgate only over
// HTTP, as any client would; bench/run.sh builds and runs it. It measures
// nothing itself.
package main
