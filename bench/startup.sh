#!/usr/bin/env bash
# Prints how long `dotnet run` of the AppHost takes until all four services answer /health with 200:
# cold (a fresh data folder: initdb, databases, migrations) and warm (the same folder again).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/eng/bootstrap.sh"
cd "$root"
dotnet build Sunaiva.AppHost/Sunaiva.AppHost.csproj -nologo -v q -clp:NoSummary >/dev/null
data="$(mktemp -d /tmp/sunaiva-bench-XXXXXX)"
chmod 755 "$data"
trap 'rm -rf "$data"' EXIT

measure() {
  local label="$1" log="$data/apphost-$1.log"
  local start end pid
  start=$(date +%s.%N)
  dotnet run --project Sunaiva.AppHost/Sunaiva.AppHost.csproj --launch-profile http --no-build -- \
    --LocalInfra:DataRoot="$data" >"$log" 2>&1 &
  pid=$!
  for port in 5101 5102 5103 5104; do
    until [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://localhost:$port/health")" = "200" ]; do
      if ! kill -0 "$pid" 2>/dev/null; then echo "AppHost exited; see $log" >&2; cat "$log" >&2; exit 1; fi
      sleep 0.2
    done
  done
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v l="$label" 'BEGIN { printf "%s start to all services healthy: %.1f s\n", l, e - s }'
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  # Let DCP stop the executables before the next run.
  for _ in $(seq 1 50); do pgrep -f "$data" >/dev/null || break; sleep 0.2; done
}

measure cold
measure warm
