#!/usr/bin/env bash
# Prints a development JWT for calling the APIs by hand: eng/token.sh USER [--ops] [--minutes N]
# The key is the AppHost's jwt-signing-key parameter (from $SUNAIVA_JWT_KEY, or the AppHost's user secrets).
set -euo pipefail
user="${1:-}"
if [ -z "$user" ] || [ "$user" = "-h" ] || [ "$user" = "--help" ]; then
  echo "usage: eng/token.sh USER [--ops] [--minutes N]" >&2
  exit 2
fi
shift
role=""; minutes=60
while [ $# -gt 0 ]; do
  case "$1" in
    --ops) role="ops" ;;
    --minutes) minutes="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

key="${SUNAIVA_JWT_KEY:-}"
if [ -z "$key" ]; then
  secrets="$HOME/.microsoft/usersecrets/sunaiva-apphost-7c1f/secrets.json"
  if [ ! -f "$secrets" ]; then
    echo "No signing key: run the AppHost once (eng/run.sh) or set SUNAIVA_JWT_KEY." >&2
    exit 1
  fi
  key="$(sed 's/^\xEF\xBB\xBF//' "$secrets" | tr -d '\n' | grep -o '"Parameters:jwt-signing-key"[[:space:]]*:[[:space:]]*"[^"]*"' | sed 's/.*:[[:space:]]*"\(.*\)"/\1/')"
fi
if [ -z "$key" ]; then
  echo "No jwt-signing-key in the AppHost's user secrets; set SUNAIVA_JWT_KEY." >&2
  exit 1
fi

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now="$(date +%s)"
exp=$((now + minutes * 60))
header='{"alg":"HS256","typ":"JWT"}'
if [ -n "$role" ]; then role_claim=",\"role\":\"$role\""; else role_claim=""; fi
payload="{\"sub\":\"$user\",\"iss\":\"sunaiva-dev\",\"aud\":\"sunaiva\",\"iat\":$now,\"nbf\":$now,\"exp\":$exp$role_claim}"
unsigned="$(printf '%s' "$header" | b64url).$(printf '%s' "$payload" | b64url)"
signature="$(printf '%s' "$unsigned" | openssl dgst -sha256 -hmac "$key" -binary | b64url)"
printf '%s.%s\n' "$unsigned" "$signature"
