#!/usr/bin/env bash
# Regenerates the committed API contract: docs/api/<service>.json (OpenAPI 3.1) and docs/events.md.
# Run after changing an endpoint or an event record, then review and commit the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build tests/Sunaiva.Api.Tests -nologo -v q
SUNAIVA_UPDATE_API_DOCS=1 dotnet test tests/Sunaiva.Api.Tests --no-build --filter "FullyQualifiedName~Each_service_serves_the_committed_openapi_document|FullyQualifiedName~Events_page_matches"
git status --short docs/api docs/events.md
