#!/usr/bin/env bash
# Every test of the project, on a fresh machine: installs what the tests need, then runs
# the workspace's unit, doc and integration tests (the integration tests build the
# shipped and test-only plugins from source and start the real parts they talk to).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> toolchain targets"
rustup target add wasm32-unknown-unknown wasm32-wasip2 >/dev/null

echo "==> dashboard test parts: headless Chromium + ChromeDriver, Prometheus (Debian)"
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null || ! command -v prometheus >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver prometheus >/dev/null
fi

echo "==> alerting test parts (Alertmanager, aiosmtpd, openssl)"
if ! command -v prometheus-alertmanager >/dev/null || ! command -v openssl >/dev/null; then
  apt-get update >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-alertmanager openssl >/dev/null
fi
if [ ! -x target/alerting-venv/bin/python ] || ! target/alerting-venv/bin/python -c "import aiosmtpd" 2>/dev/null; then
  python3 -m venv target/alerting-venv
  target/alerting-venv/bin/pip install -q aiosmtpd==1.4.6
fi

echo "==> tests"
cargo test --workspace --locked "$@"
