#!/usr/bin/env bash
# A real execution node for the tests: ganache from npm, on 127.0.0.1 only.
#
#   tests/devnet/ganache.sh install          # npm install into target/devnet/ganache (once)
#   tests/devnet/ganache.sh start PORT       # install if needed, start, wait until it answers
#   tests/devnet/ganache.sh stop PORT        # stop the instance started on PORT (by its PID)
#
# Chain id 1337, one block every GANACHE_BLOCK_TIME seconds (default 1). Each instance
# keeps its PID in target/devnet/ganache-PORT.pid and its log in ganache-PORT.log, so
# several can run side by side (the integration tests start one per test).
#
# Needs Node 20 and npm (the npm registry is the only download). Installs are serialised
# with flock, so concurrent test processes share one install.
set -euo pipefail

GANACHE_VERSION=7.9.2
CHAIN_ID=1337
BLOCK_TIME="${GANACHE_BLOCK_TIME:-1}"
# Seconds to wait for a started node to answer eth_blockNumber before giving up.
START_TIMEOUT_S="${GANACHE_START_TIMEOUT_S:-60}"
# Seconds to wait for a stopped node to exit before SIGKILL.
STOP_TIMEOUT_S=10

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEVNET="${VIGIL_DEVNET_DIR:-$ROOT/target/devnet}"
PREFIX="$DEVNET/ganache"
BIN="$PREFIX/node_modules/ganache/dist/node/cli.js"

die() { echo "ganache.sh: $*" >&2; exit 1; }

installed_version() {
    node -e "console.log(require('$PREFIX/node_modules/ganache/package.json').version)" 2>/dev/null || true
}

install() {
    command -v node >/dev/null || die "node is not installed (Node 20 is needed)"
    command -v npm >/dev/null || die "npm is not installed"
    mkdir -p "$PREFIX"
    exec 9>"$DEVNET/ganache-install.lock"
    flock 9
    if [[ -f "$BIN" && "$(installed_version)" == "$GANACHE_VERSION" ]]; then
        return 0
    fi
    echo "ganache.sh: installing ganache@$GANACHE_VERSION into $PREFIX" >&2
    # A package.json of its own keeps npm from walking up into the repository.
    [[ -f "$PREFIX/package.json" ]] || echo '{"name":"vigil-devnet-ganache","private":true}' >"$PREFIX/package.json"
    npm install --prefix "$PREFIX" --no-audit --no-fund --no-save --loglevel=error \
        "ganache@$GANACHE_VERSION" >&2 || die "npm install ganache@$GANACHE_VERSION failed"
    [[ -f "$BIN" ]] || die "npm install finished but $BIN is missing"
    flock -u 9
}

# Prints the answer to eth_blockNumber, or fails. Node's own fetch: no curl needed.
block_number() {
    node -e '
        fetch("http://127.0.0.1:" + process.argv[1], {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }),
            signal: AbortSignal.timeout(2000),
        })
            .then((r) => r.json())
            .then((j) => { if (typeof j.result !== "string") process.exit(1); console.log(j.result); })
            .catch(() => process.exit(1));
    ' "$1" 2>/dev/null
}

check_port() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] || die "usage: $0 start|stop PORT (got '${1:-}')"
}

start() {
    local port="$1" pidfile="$DEVNET/ganache-$1.pid" log="$DEVNET/ganache-$1.log"
    install
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        die "an instance started by this script already runs on port $port (PID $(cat "$pidfile"))"
    fi
    # setsid: the node is not killed with the caller's process group (a test's Drop stops it).
    setsid node "$BIN" \
        --server.host 127.0.0.1 --server.port "$port" \
        --chain.chainId "$CHAIN_ID" --miner.blockTime "$BLOCK_TIME" \
        --logging.quiet </dev/null >"$log" 2>&1 &
    local pid=$!
    echo "$pid" >"$pidfile"
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until block_number "$port" >/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$pidfile"
            die "ganache exited during start on port $port; its log ($log):
$(tail -n 20 "$log")"
        fi
        if ((SECONDS >= deadline)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$pidfile"
            die "ganache did not answer eth_blockNumber on 127.0.0.1:$port within ${START_TIMEOUT_S}s; log: $log"
        fi
        sleep 0.2
    done
    echo "$pid"
}

stop() {
    local port="$1" pidfile="$DEVNET/ganache-$1.pid"
    [[ -f "$pidfile" ]] || return 0
    local pid
    pid="$(cat "$pidfile")"
    if kill "$pid" 2>/dev/null; then
        local deadline=$((SECONDS + STOP_TIMEOUT_S))
        while kill -0 "$pid" 2>/dev/null; do
            if ((SECONDS >= deadline)); then
                kill -9 "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
        done
    fi
    # The log only matters when a start fails, and that failure prints its tail.
    rm -f "$pidfile" "$DEVNET/ganache-$port.log"
}

case "${1:-}" in
    install) install ;;
    start) check_port "${2:-}"; start "$2" ;;
    stop) check_port "${2:-}"; stop "$2" ;;
    *) die "usage: $0 install | start PORT | stop PORT" ;;
esac
