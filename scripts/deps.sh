#!/usr/bin/env bash
# Installs what replicad's build and tests need on a fresh Debian machine
# with Go, and does nothing when it is all there: the PostgreSQL server
# binaries, npm (for the googleapis protos), Chromium (the console's
# browser tests), and checks moto_server. Pinned Go
# tools (buf, protoc plugins) need no step: `go tool` builds them from
# go.mod and tools/go.mod.
set -euo pipefail

need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || [ -n "${PG_BINDIR:-}" ] || need+=(postgresql)
command -v npm >/dev/null || need+=(npm)
command -v curl >/dev/null || need+=(curl) # the fleet end-to-end test drives REST with curl
# The web console's browser tests (internal/console) drive Debian's Chromium:
# installed when we can (root); otherwise those tests skip, saying why.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    need+=(chromium)
  else
    echo "deps: chromium not found and not root: the console's browser tests will be skipped (apt-get install -y chromium)" >&2
  fi
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: please install: ${need[*]} (apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! command -v moto_server >/dev/null; then
  if [ "${CI:-}" = true ]; then
    echo "deps: moto_server (moto 5.x) is required in CI" >&2
    exit 1
  fi
  echo "deps: moto_server not found: conformance tests against moto will be skipped" >&2
fi
