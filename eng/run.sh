#!/usr/bin/env bash
# Runs the whole Sunaiva system (AppHost + Aspire dashboard) on local defaults.
# Data is kept in Sunaiva.AppHost/.data between runs. Stop with Ctrl+C.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/eng/bootstrap.sh"
cd "$root"
dotnet build Sunaiva.AppHost/Sunaiva.AppHost.csproj -nologo -v q -clp:NoSummary
echo "Starting Sunaiva; the dashboard login URL follows (http://localhost:15180)."
exec dotnet run --project Sunaiva.AppHost/Sunaiva.AppHost.csproj --launch-profile http --no-build "$@"
