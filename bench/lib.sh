# Shared by bench/run.sh (the gateway) and bench/tokens.sh (the token
# endpoints): a temp dir, wrk, the Caddy and helper binaries, starting and
# stopping Caddy, one wrk run with its CPU accounting, and reading wrk's
# output. Source it after setting KEEP; it sets ROOT, WORK, CADDY, CLIENT.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/authgate-bench.XXXXXX")"
CADDY_PID=""
BENCH_NAME="$(basename "$0")"

# stop_caddy stops the Caddy started by start_caddy, if it runs.
stop_caddy() {
	if [ -n "$CADDY_PID" ] && kill -0 "$CADDY_PID" 2>/dev/null; then
		kill "$CADDY_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$CADDY_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$CADDY_PID" 2>/dev/null || true
		wait "$CADDY_PID" 2>/dev/null || true
	fi
	CADDY_PID=""
}

# on_exit CMD runs CMD (a shell string) when the script ends.
EXIT_HOOKS=()
on_exit() { EXIT_HOOKS+=("$1"); }

cleanup() {
	local rc=$?
	stop_caddy
	local h
	for h in "${EXIT_HOOKS[@]}"; do eval "$h" || true; done
	if [ "$KEEP" = 1 ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "$BENCH_NAME: failed at line $LINENO" >&2' ERR

log() { echo "== $*" >&2; }

# caddy_globals prints the global options every benchmark's Caddyfile
# starts with: the admin endpoint, and Caddy's own storage and log in
# $WORK.
caddy_globals() {
	cat <<EOF
	admin 127.0.0.1:$ADMIN
	persist_config off
	storage file_system $WORK/data/caddy
	log {
		output file $WORK/caddy-runtime.log
		level WARN
	}
EOF
}

# ---- tools ----

if ! command -v wrk >/dev/null 2>&1; then
	log "installing wrk"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y wrk </dev/null >"$WORK/apt.log" 2>&1; then
		apt-get update </dev/null >>"$WORK/apt.log" 2>&1
		apt-get install -y wrk </dev/null >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; exit 1; }
	fi
fi

mkdir -p "$WORK/bin" "$WORK/data" "$WORK/config"
if [ -n "${CADDY_BIN:-}" ]; then
	CADDY="$CADDY_BIN"
else
	log "building Caddy with the authgate plugin (go build ./cmd/caddy)"
	(cd "$ROOT" && go build -o "$WORK/bin/caddy" ./cmd/caddy)
	CADDY="$WORK/bin/caddy"
fi
(cd "$ROOT" && go build -o "$WORK/bin/client" ./bench/client)
CLIENT="$WORK/bin/client"
export XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config"

# start_caddy CADDYFILE URL...: runs Caddy on CADDYFILE and waits until
# every URL answers 2xx.
start_caddy() {
	local file="$1"
	shift
	"$CADDY" run --config "$file" --adapter caddyfile </dev/null >>"$WORK/caddy.log" 2>&1 &
	CADDY_PID=$!
	local u
	for _ in $(seq 300); do
		if ! kill -0 "$CADDY_PID" 2>/dev/null; then
			echo "Caddy exited:" >&2
			cat "$WORK/caddy.log" >&2
			exit 1
		fi
		local up=1
		for u in "$@"; do
			curl -fsS -o /dev/null --max-time 2 "$u" 2>/dev/null || { up=0; break; }
		done
		if [ "$up" = 1 ]; then return 0; fi
		sleep 0.1
	done
	echo "Caddy did not come up in 30s:" >&2
	cat "$WORK/caddy.log" >&2
	exit 1
}

# run_wrk OUT URL DURATION PROFILE [WRK ARGS...]: wrk's output goes to
# OUT and the CPU accounting to OUT.cpu; with PROFILE (may be empty), a
# CPU profile of Caddy over the run goes there (ADMIN must be its admin
# port).
run_wrk() {
	local out="$1" url="$2" duration="$3" profile="$4"
	shift 4
	local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency "$@")
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

# ---- reading wrk's output ----

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
