#!/usr/bin/env bash
# Gateway benchmark (DESIGN.md §8, issue 6): one Caddy serves one upstream
# three ways — unprotected, behind `authgate { accept bearer; require scope
# read }` with a valid bearer JWT, and behind `authgate { accept session }`
# with a valid session cookie — and wrk drives each on loopback for a
# bounded time. Prints req/s, p50 and p99 latency per variant and the
# ratios protected/unprotected against the 0.90 target. It is a
# measurement, not a test: it exits 0 whatever the ratios.
#
# Columns: req/s, p50 and p99 from wrk; ratio = req/s over unprotected
# req/s; caddy us/req = Caddy's CPU time per request (front and upstream:
# one process); cpu ratio = (Caddy + wrk) CPU per unprotected request over
# the same for this variant, the req/s ratio the machine would give with
# nothing else running; others% = the share of all CPUs that went to
# neither Caddy nor wrk during the run (a neighbour, steal). When others%
# is high the req/s ratios are noise and the cpu ratio is the figure to
# trust.
#
# Environment:
#   DURATION     wrk duration per measured run (default 10s)
#   THREADS      wrk threads (default 2)
#   CONNECTIONS  wrk connections (default 64)
#   WARMUP       unmeasured wrk run per variant before measuring (default 2s; 0 skips)
#   ROUNDS       measured rounds, variants interleaved (default 1). Each
#                variant's req/s and latencies are its median round's; its
#                ratio is the median over rounds of its req/s divided by the
#                unprotected req/s of the same round, which cancels much of
#                the noise of a shared machine
#   CADDY_BIN    use this Caddy binary (with the plugin) instead of building one
#   CONTROLS     1 adds two control variants: the unprotected site sent the
#                bearer header (open+authz) or the session cookie (open+cookie)
#                it ignores, to tell the gateway's cost from the cost of the
#                bigger request (the header is parsed and proxied upstream too)
#   KEEP         1 keeps the temp dir (Caddyfile, caddy.log, wrk outputs)
#   PROFILE_DIR  if set, a CPU profile of Caddy (from its admin endpoint's
#                /debug/pprof) is saved there for each variant's last
#                measured run: go tool pprof -top PROFILE_DIR/session.pprof
set -euo pipefail

DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
WARMUP="${WARMUP:-2s}"
ROUNDS="${ROUNDS:-1}"
KEEP="${KEEP:-0}"
CONTROLS="${CONTROLS:-0}"
TARGET="0.90"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/authgate-bench.XXXXXX")"
CADDY_PID=""

cleanup() {
	local rc=$?
	if [ -n "$CADDY_PID" ] && kill -0 "$CADDY_PID" 2>/dev/null; then
		kill "$CADDY_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$CADDY_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$CADDY_PID" 2>/dev/null || true
		wait "$CADDY_PID" 2>/dev/null || true
	fi
	if [ "$KEEP" = 1 ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench/run.sh: failed at line $LINENO" >&2' ERR

log() { echo "== $*" >&2; }

# ---- tools ----

if ! command -v wrk >/dev/null 2>&1; then
	log "installing wrk"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y wrk </dev/null >"$WORK/apt.log" 2>&1; then
		apt-get update </dev/null >>"$WORK/apt.log" 2>&1
		apt-get install -y wrk </dev/null >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; exit 1; }
	fi
fi

mkdir -p "$WORK/bin"
if [ -n "${CADDY_BIN:-}" ]; then
	CADDY="$CADDY_BIN"
else
	log "building Caddy with the authgate plugin (go build ./cmd/caddy)"
	(cd "$ROOT" && go build -o "$WORK/bin/caddy" ./cmd/caddy)
	CADDY="$WORK/bin/caddy"
fi
(cd "$ROOT" && go build -o "$WORK/bin/client" ./bench/client)
CLIENT="$WORK/bin/client"

# ---- configuration ----

PORTS="$("$CLIENT" ports 6)"
read -r ADMIN ISSUER_PORT UP_PORT OPEN_PORT BEARER_PORT SESSION_PORT <<<"$(echo $PORTS)"
ISSUER="http://127.0.0.1:$ISSUER_PORT"
OPEN="http://127.0.0.1:$OPEN_PORT"
BEARER="http://127.0.0.1:$BEARER_PORT"
SESSION="http://127.0.0.1:$SESSION_PORT"
BODY="hello from the upstream"

mkdir -p "$WORK/data" "$WORK/config"
export XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config"

# The three front sites are the same but for the authgate handler. Caddy's
# reverse_proxy keeps 32 idle connections per upstream host by default;
# with more client connections it would keep reconnecting, so the pool is
# raised above the wrk connection count. No access logs; Caddy's own log
# goes to a file.
IDLE=$((CONNECTIONS * 2))
PROXY="reverse_proxy 127.0.0.1:$UP_PORT {
		transport http {
			keepalive_idle_conns_per_host $IDLE
		}
	}"
cat >"$WORK/Caddyfile" <<EOF
{
	admin 127.0.0.1:$ADMIN
	persist_config off
	storage file_system $WORK/data/caddy
	log {
		output file $WORK/caddy-runtime.log
		level WARN
	}
	authgate {
		issuer $ISSUER
		storage sqlite $WORK/data/authgate.db
		client bench-service {
			secret bench-service-secret
			grant_types client_credentials
			scopes read
		}
		# bench / demo-password (bcrypt cost 10, as in Caddyfile.example)
		user bench {
			password_hash \$2a\$10\$TxTvSJ8XNfMdqsG3LDKz0e30mgNWlRiNwJZydHG86HHkxJh4nZIOq
			name "Bench User"
			email bench@example.com
			groups users
		}
	}
}

# The authorization server.
$ISSUER {
	bind 127.0.0.1
	authgate_server
}

# Unprotected.
$OPEN {
	bind 127.0.0.1
	route {
		$PROXY
	}
}

# Protected: a bearer token with the read scope.
$BEARER {
	bind 127.0.0.1
	route {
		authgate {
			accept bearer
			require scope read
		}
		$PROXY
	}
}

# Protected: a browser session.
$SESSION {
	bind 127.0.0.1
	route {
		authgate {
			accept session
		}
		$PROXY
	}
}

# The upstream.
http://127.0.0.1:$UP_PORT {
	bind 127.0.0.1
	respond "$BODY" 200
}
EOF

# ---- start Caddy ----

log "starting Caddy (admin 127.0.0.1:$ADMIN, issuer $ISSUER, upstream :$UP_PORT)"
"$CADDY" run --config "$WORK/Caddyfile" --adapter caddyfile </dev/null >"$WORK/caddy.log" 2>&1 &
CADDY_PID=$!
ready=0
for _ in $(seq 300); do
	if ! kill -0 "$CADDY_PID" 2>/dev/null; then
		echo "Caddy exited:" >&2
		cat "$WORK/caddy.log" >&2
		exit 1
	fi
	if curl -fsS -o /dev/null --max-time 2 "$ISSUER/.well-known/openid-configuration" 2>/dev/null &&
		curl -fsS -o /dev/null --max-time 2 "$OPEN/" 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ "$ready" != 1 ]; then
	echo "Caddy did not come up in 30s:" >&2
	cat "$WORK/caddy.log" >&2
	exit 1
fi

# ---- credentials ----

TOKEN="$("$CLIENT" token -issuer "$ISSUER" -client bench-service -secret bench-service-secret -scope read)"
COOKIE="$("$CLIENT" session -url "$SESSION/" -user bench -password demo-password)"
"$CLIENT" check -url "$OPEN/" -want "$BODY"
"$CLIENT" check -url "$BEARER/" -header "Authorization: Bearer $TOKEN" -want "$BODY"
"$CLIENT" check -url "$SESSION/" -header "Cookie: $COOKIE" -want "$BODY"
log "bearer token (${#TOKEN} bytes) and session cookie (${#COOKIE} bytes) accepted"

# ---- load ----

# run_wrk OUT URL HEADER DURATION [PROFILE]: wrk's output goes to OUT; with
# PROFILE, a CPU profile of Caddy over the run goes there.
run_wrk() {
	local out="$1" url="$2" header="$3" duration="$4" profile="${5:-}"
	local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency)
	if [ -n "$header" ]; then args+=(-H "$header"); fi
	local prof_pid=""
	if [ -n "$profile" ]; then
		local secs
		secs="$(awk -v d="$duration" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; n = int(n) - 1; print (n < 1 ? 1 : n) }')"
		curl -fsS --max-time $((secs + 30)) -o "$profile" "http://127.0.0.1:$ADMIN/debug/pprof/profile?seconds=$secs" </dev/null &
		prof_pid=$!
	fi
	local before after TIMEFORMAT='%3U %3S'
	before="$(cpu_ticks)"
	{ time wrk "${args[@]}" "$url" </dev/null >"$out" 2>&1; } 2>"$out.time"
	after="$(cpu_ticks)"
	echo "$before $after $(cat "$out.time")" >"$out.cpu"
	if [ -n "$prof_pid" ]; then wait "$prof_pid" || echo "warning: no profile for $out" >&2; fi
}

# cpu_ticks: Caddy's user+system CPU, and the machine's idle (with
# iowait) and total time over all CPUs, in clock ticks. The cores may be
# shared with other work: Caddy's CPU time per request is steadier than
# req/s when they are, and "others%" says how much of the machine went to
# neither Caddy nor wrk (other processes, steal).
cpu_ticks() {
	awk '{printf "%d ", $14 + $15}' "/proc/$CADDY_PID/stat"
	awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; printf "%d %d", $5 + $6, t}' /proc/stat
}

VARIANTS=(unprotected bearer session)
if [ "$CONTROLS" = 1 ]; then VARIANTS+=(open+authz open+cookie); fi
url_of() {
	case "$1" in
	unprotected | open+*) echo "$OPEN/" ;;
	bearer) echo "$BEARER/" ;;
	session) echo "$SESSION/" ;;
	esac
}
header_of() {
	case "$1" in
	unprotected) echo "" ;;
	bearer | open+authz) echo "Authorization: Bearer $TOKEN" ;;
	session | open+cookie) echo "Cookie: $COOKIE" ;;
	esac
}

if [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
	for v in "${VARIANTS[@]}"; do
		log "warming up $v ($WARMUP)"
		run_wrk "$WORK/warmup-$v.wrk" "$(url_of "$v")" "$(header_of "$v")" "$WARMUP"
	done
fi
# Round r starts at the r-th variant, so no variant always runs first.
for r in $(seq "$ROUNDS"); do
	n=${#VARIANTS[@]}
	for i in $(seq 0 $((n - 1))); do
		v="${VARIANTS[$(((r - 1 + i) % n))]}"
		log "round $r/$ROUNDS: $v (wrk -t$THREADS -c$CONNECTIONS -d$DURATION)"
		profile=""
		if [ -n "${PROFILE_DIR:-}" ] && [ "$r" = "$ROUNDS" ]; then mkdir -p "$PROFILE_DIR" && profile="$PROFILE_DIR/$v.pprof"; fi
		run_wrk "$WORK/$v.$r.wrk" "$(url_of "$v")" "$(header_of "$v")" "$DURATION" "$profile"
	done
done

# ---- results ----

# to_ms converts a wrk latency (123.45us, 1.23ms, 1.02s, 2.00m) to ms.
to_ms() {
	awk -v x="$1" 'BEGIN {
		n = x + 0; u = x; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n }'
}
rps_of() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
pct_of() { awk -v p="$2" '$1 == p {print $2}' "$1"; }
errors_of() {
	awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); n += v } } END {print n + 0}' "$1"
}

requests_of() { awk '/ requests in / {print $1}' "$1"; }
# cpu_per_req FILE: Caddy's CPU microseconds per request in that run.
cpu_per_req() {
	awk -v n="$(requests_of "$1")" -v hz="$(getconf CLK_TCK)" '{printf "%.0f", ($4 - $1) * 1e6 / hz / n}' "$1.cpu"
}
# load_per_req FILE: Caddy's plus wrk's CPU microseconds per request.
load_per_req() {
	awk -v n="$(requests_of "$1")" -v hz="$(getconf CLK_TCK)" '{printf "%.1f", (($4 - $1) / hz + $7 + $8) * 1e6 / n}' "$1.cpu"
}
# others_of FILE: the share of all CPUs used by neither Caddy nor wrk.
others_of() {
	awk -v hz="$(getconf CLK_TCK)" '{
		total = $6 - $3; busy = total - ($5 - $2); caddy = $4 - $1; wrk = ($7 + $8) * hz
		x = 100 * (busy - caddy - wrk) / total; printf "%.0f", (x < 0 ? 0 : x) }' "$1.cpu"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A RPS P50 P99 ERRS CPU OTHERS ROUNDS_RPS RATIO CPURATIO
for v in "${VARIANTS[@]}"; do
	for r in $(seq "$ROUNDS"); do
		if [ -z "$(rps_of "$WORK/$v.$r.wrk")" ]; then
			echo "wrk failed for $v:" >&2
			cat "$WORK/$v.$r.wrk" >&2
			exit 1
		fi
	done
	# req/s and latencies of the median round by req/s; CPU per request
	# and others% are medians of their own.
	best="$(for r in $(seq "$ROUNDS"); do echo "$(rps_of "$WORK/$v.$r.wrk") $WORK/$v.$r.wrk"; done |
		sort -n | awk '{a[NR] = $2} END {print a[int((NR + 1) / 2)]}')"
	RPS[$v]="$(rps_of "$best")"
	P50[$v]="$(to_ms "$(pct_of "$best" 50%)")"
	P99[$v]="$(to_ms "$(pct_of "$best" 99%)")"
	CPU[$v]="$(for r in $(seq "$ROUNDS"); do cpu_per_req "$WORK/$v.$r.wrk"; echo; done | median)"
	OTHERS[$v]="$(for r in $(seq "$ROUNDS"); do others_of "$WORK/$v.$r.wrk"; echo; done | median)"
	ROUNDS_RPS[$v]="$(for r in $(seq "$ROUNDS"); do printf '%.0f ' "$(rps_of "$WORK/$v.$r.wrk")"; done)"
	RATIO[$v]="$(for r in $(seq "$ROUNDS"); do
		awk -v a="$(rps_of "$WORK/$v.$r.wrk")" -v b="$(rps_of "$WORK/unprotected.$r.wrk")" 'BEGIN {printf "%.3f\n", a / b}'
	done | median)"
	# The CPU ratio is what the req/s ratio would be if Caddy and wrk had
	# the CPUs to themselves: the CPU time (Caddy's and wrk's) an
	# unprotected request takes over this variant's, per round.
	CPURATIO[$v]="$(for r in $(seq "$ROUNDS"); do
		awk -v a="$(load_per_req "$WORK/unprotected.$r.wrk")" -v b="$(load_per_req "$WORK/$v.$r.wrk")" 'BEGIN {printf "%.3f\n", a / b}'
	done | median)"
	ERRS[$v]=0
	for r in $(seq "$ROUNDS"); do ERRS[$v]=$((ERRS[$v] + $(errors_of "$WORK/$v.$r.wrk"))); done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

echo
echo "authgate gateway benchmark: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS round(s), loopback"
echo "$(nproc) CPUs, $(uname -sr), $(go version 2>/dev/null | awk '{print $3}'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-12s %8s %7s %7s %6s %13s %10s %8s %7s\n' variant "req/s" "p50 ms" "p99 ms" ratio "caddy us/req" "cpu ratio" "others%" errors
for v in "${VARIANTS[@]}"; do
	printf '%-12s %8.0f %7s %7s %6s %13s %10s %8s %7s\n' "$v" "${RPS[$v]}" "${P50[$v]}" "${P99[$v]}" \
		"${RATIO[$v]}" "${CPU[$v]}" "${CPURATIO[$v]}" "${OTHERS[$v]}" "${ERRS[$v]}"
done
if [ "$ROUNDS" -gt 1 ]; then
	echo
	echo "req/s per round (rounds rotate the order of the variants):"
	for v in "${VARIANTS[@]}"; do printf '  %-12s %s\n' "$v" "${ROUNDS_RPS[$v]}"; done
fi
echo
for v in bearer session; do
	r="${RATIO[$v]}"
	if awk -v r="$r" -v t="$TARGET" 'BEGIN {exit !(r >= t)}'; then verdict=PASS; else verdict="BELOW TARGET"; fi
	printf '%-22s %s (target >= %s)  %-12s  cpu ratio %s\n' "$v/unprotected" "$r" "$TARGET" "$verdict" "${CPURATIO[$v]}"
done
if [ "$CONTROLS" = 1 ]; then
	echo
	echo "controls (same request bytes, no gateway; the gateway's own cost):"
	printf '%-24s %s\n' "bearer/open+authz" "$(ratio "${RATIO[bearer]}" "${RATIO[open+authz]}")"
	printf '%-24s %s\n' "session/open+cookie" "$(ratio "${RATIO[session]}" "${RATIO[open+cookie]}")"
fi
for v in "${VARIANTS[@]}"; do
	if [ "${ERRS[$v]}" != 0 ]; then
		echo "warning: $v had ${ERRS[$v]} non-2xx responses or socket errors; see KEEP=1" >&2
	fi
done
exit 0
