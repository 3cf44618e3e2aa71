#!/usr/bin/env bash
# Debian tools the tests and benchmarks use: headless Chromium (web page test), hey and wrk (load).
# Installs what is missing when run as root with apt; otherwise says what the dependent tests will skip.
set -euo pipefail
packages=()
command -v chromium >/dev/null || packages+=(chromium)
command -v hey >/dev/null || packages+=(hey)
command -v wrk >/dev/null || packages+=(wrk)
((${#packages[@]})) || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${packages[*]}" >&2
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"; } \
    >/tmp/system-deps.log 2>&1 || echo "system-deps: apt-get failed (see /tmp/system-deps.log); tests needing ${packages[*]} will skip" >&2
else
  echo "system-deps: not root or no apt-get; tests needing ${packages[*]} will skip" >&2
fi
