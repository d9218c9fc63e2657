#!/usr/bin/env bash
# Gateway benchmark (DESIGN.md §8, issues 6 and 16): one Caddy serves one
# upstream several ways — unprotected, behind `authgate { accept bearer;
# require scope read }` with a valid bearer JWT, behind `authgate { accept
# session }` with a valid session cookie, and (VERIFY=1) behind
# forward_auth — and wrk drives each on loopback for a bounded time.
# Prints req/s, p50 and p99 latency per variant, each protected route over
# the unprotected one sent the same request bytes against the 0.95 target
# (issue 16), forward_auth over plain reverse_proxy, and each protected
# route over the unprotected one sent nothing against the older 0.90
# target. It is a measurement, not a test: it exits 0 whatever the ratios.
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
#   CONTROLS     1 (the default) adds two control variants: the unprotected
#                site sent the bearer header (open+authz) or the session cookie
#                (open+cookie) it ignores. Protected over its control (the same
#                request bytes, so only the gateway's own cost counts) is the
#                headline figure, against the 0.95 target; 0 leaves them out
#   IDS          1 makes the unprotected site send its upstream the identity
#                headers the gateway sets for a client credentials token
#                (X-Auth-Subject, X-Auth-Scopes, X-Auth-Client-Id), so that
#                both routes proxy the same bytes and only the gateway's
#                decision differs
#   VERIFY       1 adds three forward_auth variants, each over open+authz
#                (which it adds if CONTROLS=0), all sent the bearer header:
#                verify, README's recipe: forward_auth to the authgate_verify
#                endpoint on the same Caddy; noop-auth, forward_auth to a site
#                that only answers 200, the floor of any forward_auth set-up;
#                and noop-copy, the same with the recipe's header_up and
#                copy_headers, so verify/noop-copy is the verify endpoint's
#                own cost
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
CONTROLS="${CONTROLS:-1}"
VERIFY="${VERIFY:-0}"
IDS="${IDS:-0}"
OPEN_IDS=""
if [ "$IDS" = 1 ]; then
	OPEN_IDS="request_header X-Auth-Subject bench-service
		request_header X-Auth-Scopes read
		request_header X-Auth-Client-Id bench-service"
fi
TARGET="0.90"
SAME_BYTES_TARGET="0.95"

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# ---- configuration ----

PORTS="$("$CLIENT" ports 9)"
read -r ADMIN ISSUER_PORT UP_PORT OPEN_PORT BEARER_PORT SESSION_PORT VERIFY_PORT NOOP_PORT NOOP_COPY_PORT <<<"$(echo $PORTS)"
ISSUER="http://127.0.0.1:$ISSUER_PORT"
OPEN="http://127.0.0.1:$OPEN_PORT"
BEARER="http://127.0.0.1:$BEARER_PORT"
SESSION="http://127.0.0.1:$SESSION_PORT"
VERIFIED="http://127.0.0.1:$VERIFY_PORT"
NOOP="http://127.0.0.1:$NOOP_PORT"
NOOP_COPY="http://127.0.0.1:$NOOP_COPY_PORT"
BODY="hello from the upstream"

# The front sites are the same but for what is in front of reverse_proxy.
# Caddy's reverse_proxy (and forward_auth) keeps 32 idle connections per
# upstream host by default; with more client connections it would keep
# reconnecting, so the pool is raised above the wrk connection count. No access logs; Caddy's own log
# goes to a file.
IDLE=$((CONNECTIONS * 2))
TRANSPORT="transport http {
			keepalive_idle_conns_per_host $IDLE
		}"
PROXY="reverse_proxy 127.0.0.1:$UP_PORT {
		$TRANSPORT
	}"
# README's forward_auth recipe copies every identity header and Cookie.
COPY="header_up Host {upstream_hostport}
			copy_headers X-Auth-Subject X-Auth-Username X-Auth-Email X-Auth-Name X-Auth-Groups X-Auth-Scopes X-Auth-Client-Id Remote-User Remote-Groups Remote-Email Remote-Name Cookie"
cat >"$WORK/Caddyfile" <<EOF
{
$(caddy_globals)
	authgate {
		issuer $ISSUER
		storage sqlite $WORK/data/authgate.db
		client bench-service {
			secret bench-service-secret
			grant_types client_credentials
			scopes read
			# A token names the protected origins as its audience, or
			# the gateway refuses it there.
			audiences $BEARER $VERIFIED
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

# The authorization server, with the verify endpoint for the forward_auth
# site (README's recipe, for tokens with the read scope).
$ISSUER {
	bind 127.0.0.1
	authgate_server
	handle /verify* {
		authgate_verify {
			accept bearer
			require scope read
			hosts 127.0.0.1:$VERIFY_PORT
		}
	}
}

# Unprotected (with IDS=1, sending the upstream the identity headers the
# bearer route sets).
$OPEN {
	bind 127.0.0.1
	route {
		$OPEN_IDS
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

# Protected through forward_auth to the verify endpoint, as README's
# recipe does it; forward_auth's connections are pooled like
# reverse_proxy's.
$VERIFIED {
	bind 127.0.0.1
	route {
		forward_auth 127.0.0.1:$ISSUER_PORT {
			uri /verify
			$COPY
			$TRANSPORT
		}
		$PROXY
	}
}

# The floor of forward_auth: an auth request to a site that allows
# everything.
$NOOP {
	bind 127.0.0.1
	route {
		forward_auth 127.0.0.1:$UP_PORT {
			uri /allow
			$TRANSPORT
		}
		$PROXY
	}
}

# The same with the recipe's header_up and copy_headers: everything the
# verify site does but the verify endpoint.
$NOOP_COPY {
	bind 127.0.0.1
	route {
		forward_auth 127.0.0.1:$UP_PORT {
			uri /allow
			$COPY
			$TRANSPORT
		}
		$PROXY
	}
}

# The upstream.
http://127.0.0.1:$UP_PORT {
	bind 127.0.0.1
	respond /allow 200
	respond "$BODY" 200
}
EOF

# ---- start Caddy ----

log "starting Caddy (admin 127.0.0.1:$ADMIN, issuer $ISSUER, upstream :$UP_PORT)"
start_caddy "$WORK/Caddyfile" "$ISSUER/.well-known/openid-configuration" "$OPEN/"

# ---- credentials ----

TOKEN="$("$CLIENT" token -issuer "$ISSUER" -client bench-service -secret bench-service-secret -scope read)"
COOKIE="$("$CLIENT" session -url "$SESSION/" -user bench -password demo-password)"
"$CLIENT" check -url "$OPEN/" -want "$BODY"
"$CLIENT" check -url "$BEARER/" -header "Authorization: Bearer $TOKEN" -want "$BODY"
"$CLIENT" check -url "$SESSION/" -header "Cookie: $COOKIE" -want "$BODY"
"$CLIENT" check -url "$VERIFIED/" -header "Authorization: Bearer $TOKEN" -want "$BODY"
"$CLIENT" check -url "$NOOP/" -want "$BODY"
"$CLIENT" check -url "$NOOP_COPY/" -want "$BODY"
log "bearer token (${#TOKEN} bytes) and session cookie (${#COOKIE} bytes) accepted"

# ---- load ----

VARIANTS=(unprotected bearer session)
if [ "$CONTROLS" = 1 ]; then VARIANTS+=(open+authz open+cookie); fi
if [ "$VERIFY" = 1 ]; then
	if [ "$CONTROLS" != 1 ]; then VARIANTS+=(open+authz); fi
	VARIANTS+=(verify noop-auth noop-copy)
fi
has() { [[ " ${VARIANTS[*]} " == *" $1 "* ]]; }
url_of() {
	case "$1" in
	unprotected | open+*) echo "$OPEN/" ;;
	bearer) echo "$BEARER/" ;;
	session) echo "$SESSION/" ;;
	verify) echo "$VERIFIED/" ;;
	noop-auth) echo "$NOOP/" ;;
	noop-copy) echo "$NOOP_COPY/" ;;
	esac
}
header_of() {
	case "$1" in
	unprotected) echo "" ;;
	bearer | open+authz | verify | noop-*) echo "Authorization: Bearer $TOKEN" ;;
	session | open+cookie) echo "Cookie: $COOKIE" ;;
	esac
}
# header_args VARIANT sets HDR to wrk's -H arguments for the variant.
header_args() {
	HDR=()
	local h
	h="$(header_of "$1")"
	if [ -n "$h" ]; then HDR=(-H "$h"); fi
}

if [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
	for v in "${VARIANTS[@]}"; do
		log "warming up $v ($WARMUP)"
		header_args "$v"
		run_wrk "$WORK/warmup-$v.wrk" "$(url_of "$v")" "$WARMUP" "" "${HDR[@]}"
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
		header_args "$v"
		run_wrk "$WORK/$v.$r.wrk" "$(url_of "$v")" "$DURATION" "$profile" "${HDR[@]}"
	done
done

# ---- results ----


# rps_ratio VARIANT BASE: the median over rounds of the variant's req/s
# over the base's in the same round.
rps_ratio() {
	for r in $(seq "$ROUNDS"); do
		awk -v a="$(rps_of "$WORK/$1.$r.wrk")" -v b="$(rps_of "$WORK/$2.$r.wrk")" 'BEGIN {printf "%.3f\n", a / b}'
	done | median
}
# cpu_ratio VARIANT BASE: what the req/s ratio would be if Caddy and wrk
# had the CPUs to themselves: the CPU time (Caddy's and wrk's) a base
# request takes over the variant's, median over rounds.
cpu_ratio() {
	for r in $(seq "$ROUNDS"); do
		awk -v a="$(load_per_req "$WORK/$2.$r.wrk")" -v b="$(load_per_req "$WORK/$1.$r.wrk")" 'BEGIN {printf "%.3f\n", a / b}'
	done | median
}

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
	RATIO[$v]="$(rps_ratio "$v" unprotected)"
	CPURATIO[$v]="$(cpu_ratio "$v" unprotected)"
	ERRS[$v]=0
	for r in $(seq "$ROUNDS"); do ERRS[$v]=$((ERRS[$v] + $(errors_of "$WORK/$v.$r.wrk"))); done
done

echo
echo "authgate gateway benchmark: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS round(s), loopback"
if [ "$IDS" = 1 ]; then echo "IDS=1: the unprotected site sends its upstream the bearer route's identity headers"; fi
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
# verdict RATIO TARGET
verdict() { if awk -v r="$1" -v t="$2" 'BEGIN {exit !(r >= t)}'; then echo PASS; else echo "BELOW TARGET"; fi; }
# pair VARIANT BASE [TARGET [NOTE]]: one ratio line, with a verdict if
# there is a target.
pair() {
	local r c
	r="$(rps_ratio "$1" "$2")"
	c="$(cpu_ratio "$1" "$2")"
	if [ -n "${3:-}" ]; then
		printf '%-22s %s (target >= %s)  %-12s  cpu ratio %s\n' "$1/$2" "$r" "$3" "$(verdict "$r" "$3")" "$c"
	else
		printf '%-22s %s  cpu ratio %s  %s\n' "$1/$2" "$r" "$c" "${4:-}"
	fi
}
if has open+authz || has open+cookie; then
	echo
	echo "the gateway's own cost: protected over unprotected, both sent the same request bytes (issue 16):"
	if has open+authz; then pair bearer open+authz "$SAME_BYTES_TARGET"; fi
	if has open+cookie; then pair session open+cookie "$SAME_BYTES_TARGET"; fi
fi
if [ "$VERIFY" = 1 ]; then
	echo
	echo "forward_auth over plain reverse_proxy (open+authz), the same request bytes:"
	pair verify open+authz "" "(authgate_verify)"
	pair noop-auth open+authz "" "(a site that answers 200: the floor)"
	pair noop-copy open+authz "" "(the same with the recipe's copy_headers)"
	pair verify noop-copy "" "(the verify endpoint's own cost)"
fi
echo
echo "protected over unprotected sent nothing (DESIGN.md §8):"
for v in bearer session; do pair "$v" unprotected "$TARGET"; done
for v in "${VARIANTS[@]}"; do
	if [ "${ERRS[$v]}" != 0 ]; then
		echo "warning: $v had ${ERRS[$v]} non-2xx responses or socket errors; see KEEP=1" >&2
	fi
done
exit 0
