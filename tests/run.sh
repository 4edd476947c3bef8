#!/usr/bin/env bash
# Every test of the project, on a fresh machine: installs what the tests need, then runs
# the workspace's unit, doc and integration tests (the integration tests build the
# shipped and test-only plugins from source and start the real parts they talk to).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> toolchain targets"
rustup target add wasm32-unknown-unknown wasm32-wasip2 >/dev/null

echo "==> tests"
cargo test --workspace --locked "$@"
