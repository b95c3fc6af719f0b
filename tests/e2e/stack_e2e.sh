#!/usr/bin/env bash
# End-to-end: the whole local stack as processes on free ports (devbroker, redis-server,
# ingest, ledger, classification, notification), a small hand-written workload through
# pos-sim, then assertions on the tiers in Redis and over gRPC and on the messages in the
# file channel. Expected tiers under deploy/local/standard.yaml, computed by hand (clock:
# the newest event time, 2025-06-12; value = 12-month gross profit = net sales here):
#   c-e2e-diamond  600,000.00, value A (top 1 of 4 buyers), volume big, tenure old (contract
#                  2020), credit A                                     -> diamond (diamond-core)
#   c-e2e-gold     550,000.00 in 12 months                            -> gold (gold-big-sales)
#   c-e2e-silver   80.00 net of a 20.00 refund, value B, lifecycle new -> silver (silver-value-b)
#   c-e2e-late     1,000.00 on account due 2025-02-04, never paid: overdue > 90 days,
#                  credit C, lifecycle at-risk                        -> bronze, credit hold
#   c-e2e-prospect profile only                                       -> prospect
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# History is the point of this test: message it, and send every change (no cap).
export TIERFLOW_TIER_CHANGE_MAX_AGE_S=100000000000 TIERFLOW_TIER_CHANGE_CAP_PERIOD_S=0
# The expected tiers are computed as of the newest event (2025-06-12): points at each new
# day of the newest event time, not the ledger's watermarks (the default).
export TIERFLOW_EVALUATION_POINTS=newest_event
# The workload is streamed while the ledger reads, into mostly empty partitions: a record
# written after the broker confirmed its partition caught up could be overtaken by an idle
# mark from the others' clocks and count late (services/ledger/README.md, "Idle
# partitions"). The hand-computed tiers assume every event at its own time: idle marks a
# year back.
export TIERFLOW_IDLE_PARTITION_AFTER_S=31536000

deploy/local/stack.sh up
redis_port=$(cat "$RUN_DIR/redis.port")
tier_addr="127.0.0.1:$(port classification grpc)"

"$BUILD/tools/pos-sim/pos-sim" --ingest "127.0.0.1:$(port ingest grpc)" --replay-jsonl "$here/workload.jsonl" \
  --summary-json "$RUN_DIR/pos-sim.json"
summary=$(cat "$RUN_DIR/pos-sim.json")
field() { echo "$summary" | grep -o "\"$1\": *[0-9]*" | grep -o '[0-9]*$'; }
check_eq "ingest accepted the valid events" 8 "$(field accepted)"
check_eq "ingest rejected the invalid event" 1 "$(field rejected)"
check_eq "profiles upserted" 5 "$(field customers)"

# Wait (bounded) until classification has published the final state to Redis: it
# evaluates as events arrive, so earlier states (c-e2e-late before its invoice is
# overdue) show first.
declare -A expected=([c-e2e-diamond]=diamond [c-e2e-gold]=gold [c-e2e-silver]=silver [c-e2e-late]=bronze
                     [c-e2e-prospect]=prospect)
tier_of() { redis-cli -p "$redis_port" HGET "tf:tier:$1" tier; }
final_state() {
  for id in "${!expected[@]}"; do [ "$(tier_of "$id")" = "${expected[$id]}" ] || return 1; done
  [ "$(redis-cli -p "$redis_port" HGET tf:tier:c-e2e-late credit_hold)" = 1 ]
}
deadline=$((SECONDS + 90))
until final_state || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
for id in c-e2e-diamond c-e2e-gold c-e2e-silver c-e2e-late c-e2e-prospect; do
  check_eq "redis tier of $id" "${expected[$id]}" "$(tier_of "$id")"
done
check_eq "redis credit hold of c-e2e-late" 1 "$(redis-cli -p "$redis_port" HGET tf:tier:c-e2e-late credit_hold)"
check_eq "redis credit hold of c-e2e-gold" 0 "$(redis-cli -p "$redis_port" HGET tf:tier:c-e2e-gold credit_hold)"

# The same over gRPC, as the call-center sees it.
for id in c-e2e-diamond c-e2e-gold c-e2e-silver; do
  got=$("$tierctl" --addr "$tier_addr" --json get "$id" | grep -o '"tier": *"[^"]*"' | head -1 | cut -d'"' -f4)
  check_eq "TierService.GetTier of $id" "${expected[$id]}" "$got"
done
if out=$("$tierctl" --addr "$tier_addr" get c-e2e-nobody 2>&1); then
  fail "GetTier of an unknown customer succeeded: $out"
else
  case "$out" in *NOT_FOUND*c-e2e-nobody*) pass "GetTier of an unknown customer: NOT_FOUND naming it" ;;
                 *) fail "GetTier of an unknown customer: $out" ;; esac
fi
# The duplicate sale was posted once: the explanation shows 600,000.00, not 1,200,000.00.
explain=$("$tierctl" --addr "$tier_addr" explain c-e2e-diamond)
case "$explain" in *"600,000.00 CNY"*) pass "the duplicate sale was posted once" ;;
                   *) fail "explanation of c-e2e-diamond lacks 600,000.00 CNY: $explain" ;; esac
case "$explain" in *"1,200,000.00"*) fail "the duplicate sale was posted twice" ;; esac

# Messages: upgrades into silver and above, each key once; none for bronze or prospect.
messages="$RUN_DIR/messages.jsonl"
deadline=$((SECONDS + 30))
until grep -q '"customer_id":"c-e2e-silver"' "$messages" 2>/dev/null || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
for want in "c-e2e-diamond:You are now diamond" "c-e2e-gold:恭喜您升级为金牌客户" "c-e2e-silver:You are now silver"; do
  id=${want%%:*} subject=${want#*:}
  if grep "\"customer_id\":\"$id\"" "$messages" | grep -q "\"subject\":\"$subject\""; then
    pass "message to $id: $subject"
  else
    fail "no message '$subject' to $id in $messages"
  fi
done
for id in c-e2e-late c-e2e-prospect; do
  n=$(grep -c "\"customer_id\":\"$id\"" "$messages" || true)
  check_eq "messages to $id" 0 "$n"
done
dupes=$(grep -o '"dedupe_key":"[^"]*"' "$messages" | sort | uniq -d | wc -l)
check_eq "dedupe keys sent twice" 0 "$dupes"
if grep -qE 'Diamond Trading|黄金商贸|Corner Shop' "$RUN_DIR"/logs/*.log; then
  fail "a customer's name appears in the logs"
else
  pass "no customer names in the logs"
fi

e2e_finish e2e