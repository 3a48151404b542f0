#!/usr/bin/env bash
# Two Keel binaries compared on one machine that other work shares (issue 18): both serve the
# same database (bench_items, 100,000 rows); GET by id and create at 8 connections
# (bench/http_load) run on A then B, the order swapped every round, so that both see the same
# load from elsewhere. Prints, per load and server, req/s, p99 and Keel's CPU time per request
# (user + system of the serve process from /proc/PID/stat over the load, divided by the
# requests answered); compare the per-round differences, not the ranges.
# Usage: bench/cpu_ab.sh ROUNDS SECONDS KEEL_A KEEL_B (binaries relative to the repository or absolute).
# With SYSCALLS=1, each run also counts the serve process's system calls (perf stat on the
# syscalls:sys_enter_* tracepoints, all threads) and prints them per request.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=$1; seconds=$2; A=$(realpath "$3"); B=$(realpath "$4")
load=${LOAD:-build/release/bench/http_load}
bindir=$(pg_config --bindir)
work=$(mktemp -d /tmp/keel-ab-XXXXXX); chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() { for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; sleep 1;
  as_pg "$bindir/pg_ctl" stop -m fast -D "$work/primary" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/pr"; [ "$(id -u)" = 0 ] && chown postgres "$work" "$work/pr"
as_pg "$bindir/initdb" -D "$work/primary" -U keel -A trust -E UTF8 --locale=C --no-instructions >/dev/null
printf "listen_addresses = ''\nunix_socket_directories = '%s'\nmax_connections = 200\n" "$work/pr" >>"$work/primary/postgresql.conf"
as_pg "$bindir/pg_ctl" start -w -D "$work/primary" -l "$work/primary/log" >/dev/null
db="host=$work/pr user=keel dbname=keel"
psql -q "host=$work/pr user=keel dbname=postgres" -c "CREATE DATABASE keel"
addons="$PWD/bench/addons"
export KEEL_CORE_PATH=$PWD/core KEEL_SECRET=ab-bench-secret-0123456789012345
(cd "$work" && "$A" --db "$db" --addons-path "$addons" --log-level warn module install bench_items >/dev/null)
psql -q "$db" -c "INSERT INTO bench_item (name, category, amount, quantity)
  SELECT 'item ' || i, 'c' || (i % 20), (i % 1000) / 10.0, i % 7 FROM generate_series(1, 100000) i; ANALYZE bench_item;"
serve() { mkdir -p "$work/$1"
  (cd "$work/$1" && KEEL_ADMIN_PASSWORD=bench-admin-password exec "$2" --db "$db" --addons-path "$addons" \
    --log-level warn serve --listen "127.0.0.1:$3" >"$work/$1.log" 2>&1) &
  echo $! >"$work/$1.pid"
  for _ in $(seq 100); do curl -sf "127.0.0.1:$3/api/v1/healthz" >/dev/null && return; sleep 0.2; done; exit 1; }
serve a "$A" 18381; serve b "$B" 18382
token=$(curl -sf -XPOST "127.0.0.1:18381/api/v1/auth/login" -d '{"login": "admin", "password": "bench-admin-password"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$(cat "$work/$1.pid")/stat"; }
run() { # NAME PORT LOAD
  local args=(-c 8 -t 2 -d "$seconds" -H "Authorization: Bearer $token")
  if [ "$3" = get ]; then args+=(127.0.0.1:$2 '/api/v1/records/bench_item/{rand:1:100000}')
  else args+=(-m POST -H 'Content-Type: application/json' -b '{"name": "new item", "category": "c1", "amount": "12.50", "quantity": 3}' 127.0.0.1:$2 /api/v1/records/bench_item); fi
  local t0; t0=$(ticks "$1") perf=()
  [ -n "${SYSCALLS:-}" ] && perf=(perf stat -x, -o "$work/perf" -p "$(cat "$work/$1.pid")" \
    -e 'syscalls:sys_enter_*' --)
  read -r _ rps p50 p90 p99 max errors p99c < <("${perf[@]}" "$load" "${args[@]}" | grep RESULT)
  [ -n "${SYSCALLS:-}" ] && awk -F, -v n="$rps" -v s="$seconds" '$1 ~ /^[0-9]+$/ && $1 > 0 {
      sub("syscalls:sys_enter_", "", $3); out = out sprintf(" %s %.2f", $3, $1 / (n * s)) }
    END { print "  syscalls per request:" out }' "$work/perf" >&2
  awk -v t=$(($(ticks "$1") - t0)) -v hz="$hz" -v r="$rps" -v s="$seconds" -v n="$1" -v l="$3" -v p99="$p99" -v e="$errors" \
    'BEGIN {printf "%s %s %.0f req/s p99 %.2f errors %s cpu_us %.1f\n", n, l, r, p99, e, t / hz * 1e6 / (r * s)}'
}
for l in get post; do run a 18381 $l >/dev/null; run b 18382 $l >/dev/null; done  # warm-up
for r in $(seq "$rounds"); do for l in get post; do
  if [ $((r % 2)) = 1 ]; then run a 18381 $l; run b 18382 $l; else run b 18382 $l; run a 18381 $l; fi
done; done
