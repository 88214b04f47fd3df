#!/usr/bin/env bash
# Runs every test of the solution against real local Redis, Postgres, s3rver and maildev processes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/eng/bootstrap.sh"
cd "$root"
start=$(date +%s)
dotnet build Sunaiva.sln -nologo -v q -clp:NoSummary
set +e
# The services the AppHost tests start (and every other .NET process of the run) skip the JIT's instrumented tier too:
# the suite is CPU-bound on 2 cores, and profile-guided recompilation pays off only in long-running processes.
export DOTNET_TieredPGO=0
# A test that runs for 15 minutes is taken as hung (the longest takes about 2 minutes on a loaded CI machine): its test
# host is stopped and the run fails, naming it, instead of the whole run waiting for CI's time limit.
dotnet test Sunaiva.sln --no-build -nologo --logger "console;verbosity=normal" --results-directory "$root/TestResults" \
  --blame-hang-timeout 15m --blame-hang-dump-type none 2>&1 | tee "$root/TestResults.log" \
  | grep -E --line-buffered "^\s+(Passed|Failed|Skipped) |Total tests|Passed!|Failed!|error [A-Z]+[0-9]+|Test Run|inactivity time"
status=${PIPESTATUS[0]}
set -e
# Sum the per-project summaries ("Passed: N"): per-test lines of parallel projects can interleave.
sum_of() { { grep -E "^\s+$1: +[0-9]+" "$root/TestResults.log" || true; } | { grep -oE "[0-9]+" || true; } | awk '{ s += $1 } END { print s + 0 }'; }
passed=$(sum_of Passed)
failed=$(sum_of Failed)
skipped=$(sum_of Skipped)
# The failures again, each with the first lines of its message, just above the closing lines, so that
# a log cut to its tail still names them.
if grep -qE "^\s+Failed " "$root/TestResults.log"; then
  echo "Failed tests:"
  grep -E -A 6 "^\s+Failed " "$root/TestResults.log" | grep -vE "^\s+at |^--$" | cut -c1-400 | head -60
fi
if grep -q "The test running when the crash occurred" "$root/TestResults.log"; then
  echo "Test hosts stopped, with the tests they were running:"
  grep -E -A 4 "The test running when the crash occurred" "$root/TestResults.log" | grep -vE "^\s*$|may, or may not|^--$" | head -20
fi
echo "Test wall time: $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
