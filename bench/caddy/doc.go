// Command caddy is Caddy with its standard modules and the authgate
// plugin, built with plain `go build` for the benchmark (bench/run.sh).
//
// It imports the module's root package, as xcaddy's --with would, and
// nothing else of this module; bench/run.sh builds it unless CADDY_BIN
// names another binary. The measuring is run.sh's and wrk's.
package main
