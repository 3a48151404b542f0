#!/usr/bin/env bash
# Sales benchmark (issue 14): installs sales and inventory (sale_stock joins on its own) on a
# fresh embedded PostgreSQL, starts `keel serve`, and runs bench/sales_bench.py against it:
# orders of 10 lines created and confirmed (req/s), and the cost of the stored computed
# recomputation per line change. Usage: bench/sales_bench.sh [SECONDS] [CLIENTS]
# (KEEL=path/to/keel, default build/release/src/keel; the figures in docs/business.md say which).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
clients=${2:-4}
keel=${KEEL:-build/release/src/keel}
work=$(mktemp -d /tmp/keel-sales-bench-XXXXXX)
chmod 755 "$work"
port=${PORT:-18182}
trap 'kill $(cat "$work/serve.pid" 2>/dev/null) 2>/dev/null; sleep 2; rm -rf "$work"' EXIT
addons="$PWD/addons"
core="$PWD/core"
(cd "$work" && KEEL_CORE_PATH=$core "$OLDPWD/$keel" --addons-path "$addons" --log-level warn \
  module install sales inventory >/dev/null)
password=bench-admin-password
(cd "$work" && KEEL_CORE_PATH=$core KEEL_ADMIN_PASSWORD=$password exec "$OLDPWD/$keel" \
  --addons-path "$addons" --log-level error serve --listen 127.0.0.1:$port >"$work/serve.log" 2>&1) &
echo $! >"$work/serve.pid"
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/api/v1/healthz" >/dev/null && break; sleep 0.2; done
token=$(curl -sf -XPOST "127.0.0.1:$port/api/v1/auth/login" \
  -d '{"login": "admin", "password": "'$password'"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
python3 bench/sales_bench.py --port "$port" --token "$token" --seconds "$seconds" --clients "$clients"
