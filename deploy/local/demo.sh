#!/usr/bin/env bash
# The demo behind `make run` and `make demo`: starts the local stack, streams a generated
# workload (customers with profiles, then months of sales, payments, refunds and feedback)
# through ingest, waits until every service has caught up, and shows what came out.
#
#   deploy/local/demo.sh           run, show, stop the stack
#   deploy/local/demo.sh --stay    run, show, keep the stack up until Ctrl-C
#
# DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED size the workload.
set -euo pipefail
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build} RUN_DIR=${RUN_DIR:-.run}
export TIERFLOW_TOKENS_DIR="$RUN_DIR/tokens"  # stack.sh generates them; tierctl and pos-sim read them
STAY=0
[ "${1:-}" = "--stay" ] && STAY=1
CUSTOMERS=${DEMO_CUSTOMERS:-2000}
MONTHS=${DEMO_MONTHS:-18}
SEED=${DEMO_SEED:-7}
# The simulated months end today, so the tiers and messages are about the present.
START=$(date -u -d "-$MONTHS months" +%Y-%m-%d)
tierctl="$BUILD/tools/tierctl/tierctl"
stack=deploy/local/stack.sh

ready_port() { grep -o "\"$2\": [0-9]*" "$RUN_DIR/$1.ready" | grep -o '[0-9]*$'; }
# Sum of every series of a Prometheus metric on a service's /metrics.
metric() {
  curl -sf "http://127.0.0.1:$(ready_port "$1" metrics)/metrics" \
    | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }'
}
json_field() { grep -o "\"$2\": *[0-9.]*" "$1" | grep -o '[0-9.]*$'; }
heading() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

cleanup() { $stack down || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

$stack down >/dev/null 2>&1 || true
heading "starting the local stack"
$stack up

heading "streaming the demo workload: $CUSTOMERS customers, $MONTHS months"
"$BUILD/tools/pos-sim/pos-sim" --ingest "127.0.0.1:$(ready_port ingest grpc)" --customers "$CUSTOMERS" \
  --months "$MONTHS" --seed "$SEED" --start "$START" --duplicates-every 1000 --streams 4 \
  --summary-json "$RUN_DIR/pos-sim.json"
accepted=$(json_field "$RUN_DIR/pos-sim.json" accepted)

heading "waiting for the ledger, classification and notification to catch up"
deadline=$((SECONDS + 300))
until [ "$(metric ledger tierflow_ledger_events_total)" -ge "$accepted" ]; do
  [ $SECONDS -lt $deadline ] || { echo "ledger did not catch up; see $RUN_DIR/logs/ledger.log" >&2; exit 1; }
  printf '\r  ledger: %s of %s events' "$(metric ledger tierflow_ledger_events_total)" "$accepted"
  sleep 1
done
printf "\r  ledger: all %s accepted events posted\n" "$accepted"
# Classification and notification have caught up when their counters stop moving.
last="" stable=0
while [ $stable -lt 3 ]; do
  [ $SECONDS -lt $deadline ] || { echo "classification did not settle" >&2; exit 1; }
  now="$(metric classification tierflow_classification_records_total)/$(metric classification tierflow_classification_assignment_changes_total)/$(metric notification tierflow_notification_records_total)"
  if [ "$now" = "$last" ]; then stable=$((stable + 1)); else stable=0; last=$now; fi
  sleep 1
done
echo "  classification and notification settled"

tier_addr="127.0.0.1:$(ready_port classification grpc)"
# The distribution is as of the last evaluation point: the last day end every partition's
# watermark passed (evaluation_points: watermarks). Newer decisions are provisional: they
# show in lookups (get, explain, Redis) and reach the distribution at the next point.
point=$("$tierctl" --addr "$tier_addr" --json overview 2>/dev/null | grep -o '"evaluatedTime": *"[^"]*"' | head -1 |
  cut -d'"' -f4 || true)
heading "customers per tier as of evaluation point ${point:-(none yet)} (tierctl distribution)"
"$tierctl" --addr "$tier_addr" distribution

heading "a few lookups, as the call-center sees them (tierctl explain)"
for tier in diamond gold bronze; do
  id=$("$tierctl" --addr "$tier_addr" --json list --tier "$tier" --page-size 1 | grep -o '"customerId": *"[^"]*"' | head -1 | cut -d'"' -f4 || true)
  [ -n "$id" ] || continue
  echo; echo "--- $id ($tier)"
  "$tierctl" --addr "$tier_addr" explain "$id"
done

heading "messages written by notification ($RUN_DIR/messages.jsonl)"
messages=$(wc -l <"$RUN_DIR/messages.jsonl" 2>/dev/null || echo 0)
echo "$messages tier-upgrade messages; the first:"
head -1 "$RUN_DIR/messages.jsonl" 2>/dev/null || true

heading "today's birthdays (tierctl campaign): each in the customer's own zone, quiet hours kept"
notification_addr="127.0.0.1:$(ready_port notification grpc)"
campaign="demo-birthday-$(date -u +%Y%m%d)"
"$tierctl" campaign --addr "$notification_addr" preview --kind birthday --channel file | head -12 || true
"$tierctl" campaign --addr "$notification_addr" start "$campaign" --kind birthday --channel file || true
sleep 2
birthday_progress=$("$tierctl" campaign --addr "$notification_addr" get "$campaign" 2>&1 | tail -1 | sed 's/^ *//' || true)
echo "$birthday_progress"
# Why what was not sent is not sent yet (quiet hours, the cap, consent): GetCampaign's notes.
birthday_notes=$("$tierctl" --json campaign --addr "$notification_addr" get "$campaign" 2>/dev/null | tr -d '\n' |
  grep -o '"notes": *\[[^]]*\]' | sed -e 's/^"notes": *\[ *//' -e 's/ *\]$//' -e 's/" *, *"/; /g' -e 's/"//g' || true)
if [ -n "$birthday_notes" ]; then echo "why: $birthday_notes"; fi
echo "(the standing campaign greets the same birthdays at 09:00 local if this one has not: one greeting a year)"
"$tierctl" campaign --addr "$notification_addr" get standing-birthday || true

heading "summary"
echo "events sent $(json_field "$RUN_DIR/pos-sim.json" sent), accepted $accepted, duplicates $(json_field "$RUN_DIR/pos-sim.json" duplicate), rejected $(json_field "$RUN_DIR/pos-sim.json" rejected)"
# pos-sim's own clock, from its first event to its last ack: every event validated,
# deduped and stored in Kafka before it counts.
echo "through ingest: $(json_field "$RUN_DIR/pos-sim.json" events_per_s) events/s ($(json_field "$RUN_DIR/pos-sim.json" sent) events in $(json_field "$RUN_DIR/pos-sim.json" elapsed_s) s, 4 streams of StreamEventBatches at pos-sim's default events per message, dedupe on)"
echo "ledger posted $(metric ledger tierflow_ledger_events_total) events; $(metric classification tierflow_classification_assignment_changes_total) tier assignments published; $messages messages"
tiers=$("$tierctl" --addr "$tier_addr" --json distribution 2>/dev/null | tr -d ' \n' |
  grep -o '"tier":"[^"]*","customers":"[0-9]*"' | sed -E 's/"tier":"([^"]*)","customers":"([0-9]*)"/\2 \1/' |
  paste -sd, - | sed 's/,/, /g' || true)
echo "tiers as of evaluation point ${point:-(none yet)}: ${tiers:-none}"
echo "  (decisions after that point are provisional: lookups show them, the next point records them)"
for svc in ingest ledger classification notification; do
  echo "$svc: gRPC 127.0.0.1:$(ready_port $svc grpc), metrics http://127.0.0.1:$(ready_port $svc metrics)/metrics"
done
echo "birthday campaign $campaign: ${birthday_progress:-no birthday today}${birthday_notes:+ (why: $birthday_notes)}"
echo "campaigns: $tierctl campaign --addr $notification_addr get|deliveries|cancel ..."
echo "redis: redis-cli -p $(cat "$RUN_DIR/redis.port") HGETALL tf:tier:<customer>"
echo "look a customer up: $tierctl --addr $tier_addr get <customer>   (token: $TIERFLOW_TOKENS_DIR/call-center.token)"
[ -s "$RUN_DIR/console.ready" ] && echo "console: http://127.0.0.1:$(ready_port console http)/   (log in with $TIERFLOW_TOKENS_DIR/finance.token, call-center.token or admin.token)"

if [ $STAY = 1 ]; then
  heading "the stack keeps running; Ctrl-C stops it (or 'make down' from another shell)"
  while $stack status >/dev/null && kill -0 "$(cut -d' ' -f1 "$RUN_DIR/pids/ingest.pid")" 2>/dev/null; do sleep 2; done
fi
