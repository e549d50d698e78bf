#!/usr/bin/env bash
# Debian packages the tests (and optional features) need: chromium for browser tests, espeak-ng for
# server-rendered Vietnamese voice, redis-server for the multi-process tests, postgresql for the province hub's
# tests (they start their own server from /usr/lib/postgresql/*/bin). Installs what is missing
# when run as root (CI, a fresh machine); otherwise says what to install and carries on.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# The server binaries, not just the client: an image may have psql alone (postgresql-client).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "warning: missing ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
fi
