#!/usr/bin/env bash
# Generates the Python messages and gRPC stubs of the token API from proto/ into OUT_DIR
# (default: examples/python/gen). Needs python3-grpc-tools (which brings its own protoc).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/gen}"
python="${PYTHON:-python3}"
mkdir -p "$out"
"$python" -m grpc_tools.protoc -I "$root/proto" --python_out="$out" --grpc_python_out="$out" \
  "$root/proto/authmesh/token/v1/token.proto"
# Packages for the import path authmesh.token.v1 (protoc writes modules, not packages).
for d in authmesh authmesh/token authmesh/token/v1; do touch "$out/$d/__init__.py"; done
echo "$out"
