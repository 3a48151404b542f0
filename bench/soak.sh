#!/usr/bin/env bash
# Soak (issue 16 §5; `make soak`, not in CI): a mixed load at saturation through `keel serve`
# (release build) for SECONDS (default 600): reads by id 42 %, list pages 26 %, creates 16 %,
# updates 16 % from wrk's connections, and beside them one login every second (each ~0.3 s of
# argon2id, by design; as a share of a saturating closed-loop mix, 2 % of requests asked for
# more hashing than the machine could do, and logins queued for tens of seconds: see
# docs/operations.md "Soak"). Samples keel's RSS and PostgreSQL's
# connection count every 10 s; prints the errors, the RSS growth after the warm-up (the first
# tenth, at least 30 s: the largest RSS of the second half against the first) and the
# connection counts; fails when any request failed or RSS grew by 5 % or more.
# Usage: bench/soak.sh [SECONDS] [CONNECTIONS (default 32)]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
conns=${2:-32}
keel=${KEEL:-build/release/src/keel}
work=$(mktemp -d /tmp/keel-soak-XXXXXX)
chmod 755 "$work"
port=18191
trap 'kill $(cat "$work/serve.pid" 2>/dev/null) 2>/dev/null; sleep 2; rm -rf "$work"' EXIT
addons="$PWD/bench/addons"
core="$PWD/core"
(cd "$work" && KEEL_CORE_PATH=$core "$OLDPWD/$keel" --addons-path "$addons" --log-level warn \
  module install bench_items >/dev/null)
password=soak-admin-password
(cd "$work" && KEEL_CORE_PATH=$core KEEL_ADMIN_PASSWORD=$password exec "$OLDPWD/$keel" \
  --addons-path "$addons" --log-level warn serve --listen 127.0.0.1:$port >"$work/serve.log" 2>&1) &
echo $! >"$work/serve.pid"
pid=$(cat "$work/serve.pid")
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/api/v1/healthz" >/dev/null && break; sleep 0.2; done
token=$(curl -sf -XPOST "127.0.0.1:$port/api/v1/auth/login" \
  -d '{"login": "admin", "password": "'$password'"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
db="host=$work/var/run user=keel dbname=keel"
psql -q "$db" -c "INSERT INTO bench_item (name, category, amount, quantity)
  SELECT 'item ' || i, 'c' || (i % 20), (i % 1000) / 10.0, i % 7 FROM generate_series(1, 10000) i;
  ANALYZE bench_item;"

cat >"$work/mixed.lua" <<LUA
local token = "$token"
local auth = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
request = function()
  local r = math.random(1, 100)
  if r <= 42 then
    return wrk.format("GET", "/api/v1/records/bench_item/" .. math.random(1, 10000), auth)
  elseif r <= 68 then
    return wrk.format("GET", "/api/v1/records/bench_item?filter=%7B%22category%22%3A%7B%22eq%22%3A%22c" ..
      math.random(0, 19) .. "%22%7D%7D&sort=-amount&limit=50", auth)
  elseif r <= 84 then
    return wrk.format("POST", "/api/v1/records/bench_item", auth,
      '{"name": "soak", "category": "c1", "amount": "12.50", "quantity": 3}')
  else
    return wrk.format("PATCH", "/api/v1/records/bench_item/" .. math.random(1, 10000), auth,
      '{"quantity": ' .. math.random(0, 100) .. '}')
  end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) failed = {} end
response = function(status, headers, body)
  if status >= 400 then failed[status] = (failed[status] or 0) + 1 end
end
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("failed")) do io.write(string.format("STATUS %d %d\n", status, n)) end
  end
  local e = summary.errors
  io.write(string.format("TIMEOUTS %d\n", e.timeout))
  io.write(string.format("RESULT %d %.1f %.3f %.3f %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
LUA

warmup=$(( seconds / 10 > 30 ? seconds / 10 : 30 ))
(for _ in $(seq 0 10 "$seconds"); do
   echo "SAMPLE $(ps -o rss= -p "$pid") $(psql -Atq "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'keel'")"
   sleep 10
 done) >"$work/samples" &
sampler=$!
# One login a second, each timed; a failure or a status other than 200 is an error.
(end=$((SECONDS + seconds))
 while (( SECONDS < end )); do
   curl -s -o /dev/null -w "LOGIN %{http_code} %{time_total}\n" --max-time 30 -XPOST \
     "127.0.0.1:$port/api/v1/auth/login" -d '{"login": "admin", "password": "'$password'"}' || true
   sleep 1
 done) >"$work/logins" &
logins=$!
echo "soak: $seconds s, $conns connections, $(nproc) cores, $(uptime | sed 's/.*load/load/')"
wrk -t2 -c"$conns" -d"${seconds}s" --timeout 10s -s "$work/mixed.lua" "http://127.0.0.1:$port" \
  >"$work/wrk.out"
grep -E "^(STATUS|TIMEOUTS)" "$work/wrk.out" || true
read -r _ requests rps p50 p99 errors < <(grep RESULT "$work/wrk.out")
kill "$sampler" 2>/dev/null || true
wait "$logins" 2>/dev/null || true
read -r login_count login_failed login_max < <(awk '/^LOGIN/ { n++; if ($2 != 200) f++; if ($3 > m) m = $3 }
  END { printf "%d %d %.3f\n", n, f, m }' "$work/logins")
echo "logins: $login_count, $login_failed not 200, the slowest ${login_max} s"
errors=$((errors + login_failed))
echo "machine after the run: $(uptime | sed 's/.*load/load/')"
# The server's side (its /metrics): what it answered per route, how long it took (time from
# the whole request read to the answer ready), and how many took over 2.5 s, its largest
# bucket. wrk counts a request whose answer came after its timeout as a timeout, and requests
# still waiting at the end are not counted: when the server answered as many requests as wrk
# sent (within the connections in flight at the end) and none took it long, wrk's timeouts were
# spent outside Keel's handlers (the client, the scheduler, the sockets).
curl -sf "127.0.0.1:$port/api/v1/metrics" >"$work/metrics" || true
awk -v conns="$conns" -v wrk="$requests" '
  /^keel_http_requests_total\{/ && !/metrics/ {
    match($0, /route="[^"]*"/); route = substr($0, RSTART + 7, RLENGTH - 8);
    match($0, /method="[^"]*"/); method = substr($0, RSTART + 8, RLENGTH - 9);
    key = method " " route; n[key] += $NF
    if (route !~ /login|healthz/) total += $NF }
  /^keel_http_request_duration_seconds_bucket\{/ && /le="2.5"/ && !/metrics/ {
    match($0, /route="[^"]*"/); route = substr($0, RSTART + 7, RLENGTH - 8);
    match($0, /method="[^"]*"/); method = substr($0, RSTART + 8, RLENGTH - 9);
    fast[method " " route] += $NF }
  /^keel_http_request_duration_seconds_sum\{/ && !/metrics/ {
    match($0, /route="[^"]*"/); route = substr($0, RSTART + 7, RLENGTH - 8);
    match($0, /method="[^"]*"/); method = substr($0, RSTART + 8, RLENGTH - 9);
    sum[method " " route] += $NF }
  END {
    for (k in n) {
      printf "server: %-40s %8d answered, mean %.1f ms, %d over 2.5 s\n", k, n[k],
        sum[k] * 1000 / n[k], n[k] - fast[k]; slow += n[k] - fast[k] }
    printf "server: %d of wrk'"'"'s requests answered (wrk completed %d; up to %d in flight at the end), %d requests took the server over 2.5 s\n",
      total, wrk, conns, slow
  }' "$work/metrics"
awk -v w=$((warmup / 10)) '
  /^SAMPLE/ { n++; rss[n] = $2; c[n] = $3; if (n == 1 || $3 < cmin) cmin = $3; if ($3 > cmax) cmax = $3 }
  END {
    if (w + 1 > n) w = 0;
    # The largest RSS of the first half after the warm-up against that of the second half: a
    # single sample moves with what the allocator has just returned to the system.
    mid = int((w + 1 + n) / 2);
    for (i = w + 1; i <= n; i++) {
      if (i <= mid && rss[i] > base) base = rss[i];
      if (i > mid && rss[i] > last) last = rss[i];
    }
    if (last == 0) last = base;
    printf "RSS: %.1f MB at start, at most %.1f MB in the first half after warm-up, at most %.1f MB in the second: %+.1f %%\n",
      rss[1] / 1024, base / 1024, last / 1024, (last - base) * 100 / base;
    printf "RSS every 10 s (MB):";
    for (i = 1; i <= n; i++) printf " %.0f", rss[i] / 1024;
    printf "\n";
    printf "PostgreSQL connections: %d to %d\n", cmin, cmax;
    printf "GROWTH %.2f\n", (last - base) * 100 / base
  }' "$work/samples" | tee "$work/summary"
echo "requests: $requests ($rps req/s, p50 $p50 ms, p99 $p99 ms), errors: $errors"
growth=$(awk '/^GROWTH/ {print $2}' "$work/summary")
if [[ "$errors" != 0 ]]; then
  echo "soak: FAIL: $errors errors; the server's warnings:"
  grep -v " info " "$work/serve.log" | sort | uniq -c | sort -rn | head -5
  exit 1
fi
awk -v g="$growth" 'BEGIN { exit !(g < 5) }' || { echo "soak: FAIL: RSS grew $growth %"; exit 1; }
echo "soak: ok"
