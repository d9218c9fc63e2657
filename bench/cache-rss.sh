#!/usr/bin/env bash
# Memory of the gateway's verified-token cache in a running Caddy (issue
# 16): one Caddy serves the authorization server, an upstream and a route
# behind `authgate { accept bearer; require scope read }` whose cache holds
# every token. The script issues TOKENS distinct access tokens (client
# credentials), sends each once through the route, so each is verified
# and cached, and reads Caddy's resident memory (VmRSS in
# /proc/PID/status) and its live heap after a GC (HeapAlloc, from the
# admin endpoint's /debug/vars, after /debug/pprof/heap?gc=1) before and
# after; Caddy is restarted between issuing and sending, so "before" is a
# fresh process. It prints both, and the growth per cached token. It then sends a
# sample of the tokens again to show that they are all still cached (no
# new verification). It is a measurement, not a test: it exits 0 whatever
# the figures.
#
# The growth also counts the authorization server's own signature cache,
# which the bundled verifier fills as it checks the tokens (at most 10,000
# entries, about 4 MB), and whatever else the requests leave behind. The
# cache alone is measured by
#   go test -run '^$' -bench TokenCacheMemory -benchtime 1x ./caddymodule/gateway
#
# Environment:
#   TOKENS     how many tokens to cache (default 100000)
#   WORKERS    concurrent requests of the fill (default 8)
#   CADDY_BIN  use this Caddy binary (with the plugin) instead of building one
#   KEEP       1 keeps the temp dir (Caddyfile, caddy.log, the tokens)
set -euo pipefail

TOKENS="${TOKENS:-100000}"
WORKERS="${WORKERS:-8}"
KEEP="${KEEP:-0}"
SAMPLE=$((TOKENS < 2000 ? TOKENS : 2000))

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# ---- configuration ----

read -r ADMIN ISSUER_PORT UP_PORT BEARER_PORT <<<"$("$CLIENT" ports 4 | tr '\n' ' ')"
ISSUER="http://127.0.0.1:$ISSUER_PORT"
BEARER="http://127.0.0.1:$BEARER_PORT"
SECRET="bench-service-secret"
BODY="hello from the upstream"
# Past its size the cache drops a random half, so it is sized well above
# the fill.
CACHE_SIZE=$((TOKENS * 2))

cat >"$WORK/Caddyfile" <<CADDYFILE
{
$(caddy_globals)
	authgate {
		issuer $ISSUER
		storage sqlite $WORK/data/authgate.db
		client bench-service {
			secret $SECRET
			grant_types client_credentials
			scopes read
			audiences $BEARER
		}
	}
}

$ISSUER {
	bind 127.0.0.1
	authgate_server
}

$BEARER {
	bind 127.0.0.1
	route {
		authgate {
			accept bearer
			require scope read
			cache_size $CACHE_SIZE
		}
		reverse_proxy 127.0.0.1:$UP_PORT
	}
}

http://127.0.0.1:$UP_PORT {
	bind 127.0.0.1
	respond "$BODY" 200
}
CADDYFILE

log "starting Caddy (admin 127.0.0.1:$ADMIN, issuer $ISSUER)"
start_caddy "$WORK/Caddyfile" "$ISSUER/.well-known/openid-configuration"

# ---- memory ----

# rss_kb: Caddy's resident set, in kB.
rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$CADDY_PID/status"; }
# heap_bytes: Caddy's live heap right after a GC, in bytes; HELD is set
# to what Go's heap holds from the OS (HeapSys - HeapReleased), which it
# returns only gradually: up to about twice the live heap (GOGC=100).
heap_bytes() {
	curl -fsS --max-time 60 -o /dev/null "http://127.0.0.1:$ADMIN/debug/pprof/heap?gc=1" </dev/null
	curl -fsS --max-time 10 -o "$WORK/vars.json" "http://127.0.0.1:$ADMIN/debug/vars" </dev/null
	HELD="$(($(memstat HeapSys) - $(memstat HeapReleased)))"
	memstat HeapAlloc
}
memstat() { grep -o "\"$1\":[0-9]*" "$WORK/vars.json" | head -1 | cut -d: -f2; }
# verified: how many tokens the gateway has verified (its cache missed).
verified() {
	curl -fsS --max-time 10 "http://127.0.0.1:$ADMIN/metrics" </dev/null |
		awk '/^authgate_token_verification_duration_seconds_count/ {n += $NF} END {printf "%d", n}'
}

# ---- tokens ----

log "issuing $TOKENS access tokens"
start=$SECONDS
"$CLIENT" tokens -issuer "$ISSUER" -client bench-service -secret "$SECRET" -n "$TOKENS" >"$WORK/tokens"
log "issued in $((SECONDS - start)) s"
# A fresh process for the fill: what issuing left in memory would blur the
# figures. The tokens and the signing keys are in the store.
stop_caddy
log "restarting Caddy"
start_caddy "$WORK/Caddyfile" "$ISSUER/.well-known/openid-configuration"

heap_bytes >"$WORK/heap0"
HEAP0="$(cat "$WORK/heap0")" HELD0="$HELD"
RSS0="$(rss_kb)"
V0="$(verified)"
log "sending each token once through the bearer route ($WORKERS workers)"
start=$SECONDS
"$CLIENT" send -url "$BEARER/" -file "$WORK/tokens" -want "$BODY" -workers "$WORKERS"
FILL_SECS=$((SECONDS - start))
RSSFILL="$(rss_kb)"
heap_bytes >"$WORK/heap1"
HEAP1="$(cat "$WORK/heap1")" HELD1="$HELD"
RSS1="$(rss_kb)"
V1="$(verified)"
head -n "$SAMPLE" "$WORK/tokens" >"$WORK/sample"
"$CLIENT" send -url "$BEARER/" -file "$WORK/sample" -want "$BODY" -workers "$WORKERS"
V2="$(verified)"

# ---- results ----

mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
per() { awk -v a="$1" -v b="$2" -v n="$TOKENS" 'BEGIN {printf "%.0f B", (b - a) / n}'; }
echo
echo "authgate verified-token cache: $TOKENS tokens, cache_size $CACHE_SIZE"
echo "$(nproc) CPUs, $(uname -sr), $(go version 2>/dev/null | awk '{print $3}'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-22s %10s %10s %10s %10s\n' "" before after growth "per token"
printf '%-22s %10s %10s %10s %10s\n' "Caddy VmRSS" "$(mb $((RSS0 * 1024)))" "$(mb $((RSS1 * 1024)))" \
	"$(mb $(((RSS1 - RSS0) * 1024)))" "$(per $((RSS0 * 1024)) $((RSS1 * 1024)))"
printf '%-22s %10s %10s %10s %10s\n' "live heap after a GC" "$(mb "$HEAP0")" "$(mb "$HEAP1")" \
	"$(mb $((HEAP1 - HEAP0)))" "$(per "$HEAP0" "$HEAP1")"
printf '%-22s %10s %10s %10s %10s\n' "Go heap held" "$(mb "$HELD0")" "$(mb "$HELD1")" \
	"$(mb $((HELD1 - HELD0)))" "$(per "$HELD0" "$HELD1")"
echo
echo "all after a GC; Go heap held = HeapSys - HeapReleased, memory the heap has not returned to the OS"
echo "the fill took $FILL_SECS s, and VmRSS was $(mb $((RSSFILL * 1024))) at its end, before the GC"
echo "verifications: $((V1 - V0)) during the fill (want $TOKENS), $((V2 - V1)) when $SAMPLE of the tokens came again (want 0: still cached)"
exit 0
