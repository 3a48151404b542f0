#!/usr/bin/env bash
# REST benchmark (issue 4): on a 100,000-row table, GET one record by id, GET a list page of 50
# (filter + sort) and POST create through `keel serve`, then the equivalent SQL through
# pgbench -M prepared on the same database, in the same run. Prints req/s, p50/p99 and the
# ratio to pgbench, at 8 and at 32 connections (CONNS="8 32"), with p50/p90/p99/max next to
# pgbench's, and Keel's CPU time per request. Usage: bench/rest_bench.sh [SECONDS] (default 10
# per load); LOADS="get post" and CALLERS="admin" run a part of it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
keel=${KEEL:-build/release/src/keel}
load_generator=${LOAD:-build/release/bench/http_load}
conn_list=${CONNS:-8 32}
load_list=${LOADS:-get list post}
caller_list=${CALLERS:-admin user}
work=$(mktemp -d /tmp/keel-rest-bench-XXXXXX)
chmod 755 "$work"
port=18181
trap 'kill $(cat "$work/serve.pid" 2>/dev/null) 2>/dev/null; sleep 2; rm -rf "$work"' EXIT
addons="$PWD/bench/addons"
core="$PWD/core"
(cd "$work" && KEEL_CORE_PATH=$core "$OLDPWD/$keel" --addons-path "$addons" --log-level warn \
  module install bench_items >/dev/null)
password=bench-admin-password
(cd "$work" && KEEL_CORE_PATH=$core KEEL_ADMIN_PASSWORD=$password exec "$OLDPWD/$keel" \
  --addons-path "$addons" --log-level warn serve --listen 127.0.0.1:$port >"$work/serve.log" 2>&1) &
echo $! >"$work/serve.pid"
for _ in $(seq 50); do curl -sf "127.0.0.1:$port/api/v1/healthz" >/dev/null && break; sleep 0.2; done
# Every request carries the access token of the admin the first serve created.
KEEL_TOKEN=$(curl -sf -XPOST "127.0.0.1:$port/api/v1/auth/login" \
  -d '{"login": "admin", "password": "'$password'"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
export KEEL_TOKEN
# A normal user under one record rule (bench_items.clerk: active items only) for the second run.
printf '%s\n' bench-user-password | (cd "$work" && KEEL_CORE_PATH=$core "$OLDPWD/$keel" \
  --addons-path "$addons" --log-level warn user add clerk --role bench_items.clerk >/dev/null)
USER_TOKEN=$(curl -sf -XPOST "127.0.0.1:$port/api/v1/auth/login" \
  -d '{"login": "clerk", "password": "bench-user-password"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
db="host=$work/var/run user=keel dbname=keel"
psql -q "$db" -c "INSERT INTO bench_item (name, category, amount, quantity)
  SELECT 'item ' || i, 'c' || (i % 20), (i % 1000) / 10.0, i % 7 FROM generate_series(1, 100000) i;
  ANALYZE bench_item;"

# The loads, as http_load arguments (bench/http_load.cpp: closed loop, like pgbench's clients).
get_path='/api/v1/records/bench_item/{rand:1:100000}'
list_path='/api/v1/records/bench_item?filter=%7B%22category%22%3A%7B%22eq%22%3A%22c{rand:0:19}%22%7D%7D&sort=-amount&limit=50'
post_body='{"name": "new item", "category": "c1", "amount": "12.50", "quantity": 3}'

# The SQL a hand-written client would send for the same answers (every column, the total of a
# page with count(*) OVER ()), without the JSON work. Keel's own SQL differs (it formats dates
# in SQL, chooses a page in a subquery): that is part of what is measured.
cols="t.id, t.name, t.category, t.amount::text, t.quantity, t.active, t.created_at, t.updated_at, t.created_by, t.updated_by"
printf '\\set id random(1, 100000)\nSELECT %s FROM bench_item t WHERE t.id = :id;\n' "$cols" >"$work/get.sql"
printf '\\set c random(0, 19)\nSELECT %s, count(*) OVER () FROM bench_item t WHERE t.category = '"'"'c'"'"' || :c ORDER BY t.amount DESC, t.id LIMIT 50;\n' "$cols" >"$work/list.sql"
printf "INSERT INTO bench_item AS t (name, category, amount, quantity) VALUES ('new item', 'c1', 12.50, 3) RETURNING %s;\n" "$cols" >"$work/post.sql"

# run_load LOAD TOKEN: RESULT req/s p50 p90 p99 max errors p99-corrected (ms).
run_load() {
  local args=(-c "$conns" -t 2 -d "$seconds" -H "Authorization: Bearer $2")
  case $1 in
    get) args+=(127.0.0.1:$port "$get_path") ;;
    list) args+=(127.0.0.1:$port "$list_path") ;;
    post) args+=(-m POST -H 'Content-Type: application/json' -b "$post_body" 127.0.0.1:$port
      /api/v1/records/bench_item) ;;
  esac
  "$load_generator" "${args[@]}" | grep RESULT
}
# Keel's CPU time so far (user + system, in clock ticks), from /proc: a figure that a machine
# loaded by other work does not inflate, unlike req/s.
keel_ticks() { awk '{print $14 + $15}' "/proc/$(cat "$work/serve.pid")/stat"; }
ticks_per_second=$(getconf CLK_TCK)
# PostgreSQL's CPU time so far: the postmaster's own and its ended children's (the backends of
# pgbench's clients, reaped), plus its live children's (Keel's backends, the background
# processes).
pg_ticks() {
  local postmaster
  postmaster=$(head -1 "$work/var/pg/postmaster.pid")
  { awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat"
    for child in $(pgrep -P "$postmaster"); do awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || true; done
  } | awk '{s += $1} END {print s}'
}
# The whole machine's busy CPU time (every core; user, nice, system, irq, softirq, steal).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# µs of CPU per request from a tick difference.
per_request() { awk -v t="$1" -v hz="$ticks_per_second" -v r="$2" -v s="$seconds" 'BEGIN {printf "%.1f", t / hz * 1e6 / (r * s)}'; }
# pgbench's tps and its latency percentiles (from the per-transaction log, in ms).
run_pgbench() {
  rm -f "$work"/pgbench_log.*
  local pg0 busy0 tps
  pg0=$(pg_ticks) busy0=$(busy_ticks)
  tps=$( (cd "$work" && pgbench -n -M prepared -c "$conns" -j 2 -T "$seconds" -l -f "$work/$1.sql" "$db" \
    2>/dev/null) | awk '/^tps/ {print $3}' | head -1)
  echo "$tps $(per_request $(($(pg_ticks) - pg0)) "$tps") $(per_request $(($(busy_ticks) - busy0)) "$tps")" | tr '\n' ' '
  cat "$work"/pgbench_log.* | awk '{print $3 / 1000}' | sort -n |
    awk '{v[NR] = $1} END {printf "%.3f %.3f %.3f %.3f\n", v[int(NR * 0.5)], v[int(NR * 0.9)],
      v[int(NR * 0.99)], v[NR]}'
}
autogroup=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo n/a)
echo "machine: $(nproc) cores, $(uptime | sed 's/.*load/load/'), kernel.sched_autogroup_enabled=$autogroup"
# With autogroup on, PostgreSQL's backends can wait seconds for a core (docs/api.md, "Stalls"):
# the maxima and p99c then measure the kernel's scheduler, not Keel.
[ "$autogroup" = 1 ] && echo "warning: autogroup scheduling is on; sysctl kernel.sched_autogroup_enabled=0 for figures without its stalls"
echo "keel p99c: the p99 with wrk's coordinated-omission correction (see bench/http_load.cpp)"
echo "cpu us: Keel's CPU time (user + system) per request served, in microseconds; pg us:"
echo "PostgreSQL's (every process of the cluster); all us: the machine's (every core, every process)"
printf '%-5s %-6s %-6s %10s %7s %7s %7s %8s %6s %7s %7s %6s %6s %10s %6s %6s %7s %7s %7s %8s %6s %6s\n' conns load \
  caller "keel req/s" p50 p90 p99 max errors p99c "cpu us" "pg us" "all us" "pg tps" "pg us" "all us" p50 p90 p99 max ratio target
for conns in $conn_list; do
  for load in $load_list; do
    read -r tps ppg pall pp50 pp90 pp99 pmax < <(run_pgbench $load)
    case $load in get) target=0.8;; list) target=0.9;; post) target=0.7;; esac
    # The admin bypasses rules; the user runs under one record rule (target: at most 10 % lower).
    for caller in $caller_list; do
      token=$KEEL_TOKEN
      [ $caller = user ] && token=$USER_TOKEN
      ticks_before=$(keel_ticks) pg_before=$(pg_ticks) busy_before=$(busy_ticks)
      # PERF=DIR: a profile of Keel's process under each load, DIR/LOAD-CALLER-CONNS.data.
      if [ -n "${PERF:-}" ]; then
        perf record -q -F 999 --call-graph dwarf,16384 -p "$(cat "$work/serve.pid")" \
          -o "$PERF/$load-$caller-$conns.data" -- sleep "$seconds" 2>/dev/null &
      fi
      read -r _ rps p50 p90 p99 max errors p99c < <(run_load $load "$token")
      cpu_us=$(per_request $(($(keel_ticks) - ticks_before)) "$rps")
      pg_us=$(per_request $(($(pg_ticks) - pg_before)) "$rps")
      all_us=$(per_request $(($(busy_ticks) - busy_before)) "$rps")
      ratio=$(awk -v a="$rps" -v b="$tps" 'BEGIN {printf "%.2f", a / b}')
      printf '%-5s %-6s %-6s %10.0f %7.2f %7.2f %7.2f %8.1f %6s %7.2f %7s %6s %6s %10.0f %6s %6s %7.2f %7.2f %7.2f %8.1f %6s %6s\n' \
        "$conns" $load $caller "$rps" "$p50" "$p90" "$p99" "$max" "$errors" "$p99c" "$cpu_us" "$pg_us" "$all_us" \
        "$tps" "$ppg" "$pall" "$pp50" "$pp90" "$pp99" "$pmax" "$ratio" "$target"
      [ $caller = admin ] && admin_rps=$rps
    done
    if [ "$caller_list" = "admin user" ]; then
      awk -v a="$admin_rps" -v u="$rps" -v l=$load -v c="$conns" \
        'BEGIN {printf "%-5s %-6s user/admin %.2f (target >= 0.90)\n", c, l, u / a}'
    fi
  done
done
