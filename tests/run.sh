#!/usr/bin/env bash
# Every test of the project, on a fresh machine: installs what the tests need, then runs
# the workspace's unit, doc and integration tests (the integration tests build the
# shipped and test-only plugins from source and start the real parts they talk to).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> toolchain targets"
rustup target add wasm32-unknown-unknown wasm32-wasip2 >/dev/null

echo "==> real parts the tests start (Debian): Chromium + ChromeDriver, Prometheus, Alertmanager, openssl"
missing=()
for pair in chromium:chromium chromedriver:chromium-driver prometheus:prometheus \
            prometheus-alertmanager:prometheus-alertmanager openssl:openssl; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "==> SMTP test server (aiosmtpd from PyPI, in target/alerting-venv)"
if [ ! -x target/alerting-venv/bin/python ] || ! target/alerting-venv/bin/python -c "import aiosmtpd" 2>/dev/null; then
  python3 -m venv target/alerting-venv
  target/alerting-venv/bin/pip install -q aiosmtpd==1.4.6
fi

echo "==> habits: formatting and lints (cargo fmt, clippy -D warnings)"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> tests"
cargo test --workspace --locked "$@"
