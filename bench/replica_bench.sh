#!/usr/bin/env bash
# Several servers and a read replica (issue 18, docs/scaling.md): GET of one record by id on a
# 100,000-row table, with CONNS connections (default 16) for SECONDS (default 10) each:
#   1. through one `keel serve`;
#   2. through two, at the same time, each with half the connections (the sum is printed);
#   3. through one server with database.replica_urls naming a streaming replica of the primary
#      (made by pg_basebackup -R), so that the reads run on the replica;
# and pgbench -M prepared on the primary with the same connections, as a reference. Everything
# runs on this machine: the servers, both PostgreSQL clusters and the load share its cores.
# Usage: bench/replica_bench.sh [SECONDS]; KEEL and LOAD name the binaries (release build).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
conns=${CONNS:-16}
keel=$PWD/${KEEL:-build/release/src/keel}
load=$PWD/${LOAD:-build/release/bench/http_load}
bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d /tmp/keel-replica-bench-XXXXXX)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for pid in "$work"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; done
  sleep 1
  for d in replica primary; do
    [ -d "$work/$d" ] && as_pg "$bindir/pg_ctl" stop -m fast -D "$work/$d" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/pr" "$work/rr"
[ "$(id -u)" = 0 ] && chown postgres "$work" "$work/pr" "$work/rr"

as_pg "$bindir/initdb" -D "$work/primary" -U keel -A trust -E UTF8 --locale=C \
  --no-instructions >/dev/null
printf "listen_addresses = ''\nunix_socket_directories = '%s'\nmax_connections = 200\n" \
  "$work/pr" >>"$work/primary/postgresql.conf"
as_pg "$bindir/pg_ctl" start -w -D "$work/primary" -l "$work/primary/log" >/dev/null
primary="host=$work/pr user=keel dbname=keel"
psql -q "host=$work/pr user=keel dbname=postgres" -c "CREATE DATABASE keel"
addons="$PWD/bench/addons"
export KEEL_CORE_PATH=$PWD/core KEEL_SECRET=replica-bench-secret-0123456789
(cd "$work" && "$keel" --db "$primary" --addons-path "$addons" --log-level warn \
  module install bench_items >/dev/null)
psql -q "$primary" -c "INSERT INTO bench_item (name, category, amount, quantity)
  SELECT 'item ' || i, 'c' || (i % 20), (i % 1000) / 10.0, i % 7 FROM generate_series(1, 100000) i;
  ANALYZE bench_item;"
as_pg "$bindir/pg_basebackup" -D "$work/replica" -R -X stream -c fast -d "host=$work/pr user=keel"
printf "unix_socket_directories = '%s'\n" "$work/rr" >>"$work/replica/postgresql.conf"
as_pg "$bindir/pg_ctl" start -w -D "$work/replica" -l "$work/replica/log" >/dev/null

# serve NAME PORT [KEEL.TOML TEXT]: a server in its own directory.
serve() {
  mkdir -p "$work/$1"
  [ -n "${3:-}" ] && printf '%s\n' "$3" >"$work/$1/keel.toml"
  (cd "$work/$1" && KEEL_ADMIN_PASSWORD=bench-admin-password exec "$keel" --db "$primary" \
    --addons-path "$addons" --log-level warn serve --listen "127.0.0.1:$2" >"$work/$1.log" 2>&1) &
  echo $! >"$work/$1.pid"
  for _ in $(seq 100); do curl -sf "127.0.0.1:$2/api/v1/healthz" >/dev/null && return; sleep 0.2; done
  echo "server $1 did not start" >&2
  exit 1
}
serve a 18281
serve b 18282
serve c 18283 "[database]
replica_urls = [\"host=$work/rr user=keel dbname=keel\"]"
token=$(curl -sf -XPOST 127.0.0.1:18281/api/v1/auth/login \
  -d '{"login": "admin", "password": "bench-admin-password"}' |
  sed -E 's/.*"access_token":"([^"]+)".*/\1/')
get_path='/api/v1/records/bench_item/{rand:1:100000}'
# get PORT CONNS: "req/s p50 p90 p99 max errors" of http_load.
get() {
  "$load" -c "$2" -t 2 -d "$seconds" -H "Authorization: Bearer $token" "127.0.0.1:$1" "$get_path" |
    awk '/RESULT/ {print $2, $3, $4, $5, $6, $7}'
}
replica_reads() {
  curl -sf 127.0.0.1:18283/api/v1/metrics |
    awk '/^keel_db_reads_total\{target="replica"/ {print $2}'
}
cols="t.id, t.name, t.category, t.amount::text, t.quantity, t.active, t.created_at, t.updated_at, t.created_by, t.updated_by"
printf '\\set id random(1, 100000)\nSELECT %s FROM bench_item t WHERE t.id = :id;\n' "$cols" >"$work/get.sql"

echo "machine: $(nproc) cores, $(uptime | sed 's/.*load/load/'); GET by id, $conns connections, ${seconds} s"
printf '%-34s %10s %7s %7s %7s %8s %6s\n' setup req/s p50 p90 p99 max errors
read -r rps p50 p90 p99 max errors < <(get 18281 "$conns")
printf '%-34s %10.0f %7.2f %7.2f %7.2f %8.1f %6s\n' "one server" "$rps" "$p50" "$p90" "$p99" "$max" "$errors"
half=$((conns / 2))
get 18281 "$half" >"$work/two-a" &
other=$!
get 18282 "$half" >"$work/two-b"
wait "$other"
read -r ra a50 a90 a99 amax aerr <"$work/two-a"
read -r rb b50 b90 b99 bmax berr <"$work/two-b"
printf '%-34s %10.0f %7s %7s %7s %8s %6s\n' "two servers (sum; A, then B)" "$(awk -v a="$ra" -v b="$rb" 'BEGIN {print a + b}')" \
  "" "" "" "" "$((aerr + berr))"
printf '%-34s %10.0f %7.2f %7.2f %7.2f %8.1f %6s\n' "  A" "$ra" "$a50" "$a90" "$a99" "$amax" "$aerr"
printf '%-34s %10.0f %7.2f %7.2f %7.2f %8.1f %6s\n' "  B" "$rb" "$b50" "$b90" "$b99" "$bmax" "$berr"
before=$(replica_reads)
read -r rps p50 p90 p99 max errors < <(get 18283 "$conns")
after=$(replica_reads)
printf '%-34s %10.0f %7.2f %7.2f %7.2f %8.1f %6s\n' "one server, reads on the replica" "$rps" "$p50" "$p90" "$p99" "$max" "$errors"
echo "  reads counted on the replica: $((after - before))"
tps=$( (cd "$work" && pgbench -n -M prepared -c "$conns" -j 2 -T "$seconds" -f "$work/get.sql" "$primary" \
  2>/dev/null) | awk '/^tps/ {print $3}' | head -1)
printf '%-34s %10.0f\n' "pgbench on the primary" "$tps"
