// Package raw measures the work the token endpoint cannot avoid, with
// nothing else around it: signing one ES256 access token and recording it
// with one store insert. bench/tokens.sh divides each endpoint's rate by
// this raw rate (DESIGN.md §8: client credentials ≥ 50 % of it).
//
//	go test -run '^$' -bench SignInsert -benchtime 5s ./bench/raw/
//
// The benchmarks run in parallel on every CPU, like the server's request
// goroutines. The PostgreSQL one runs on a fresh database of the server
// package pgtest finds, and is skipped when there is none.
package raw
