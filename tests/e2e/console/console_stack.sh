# Sourced by the console's end-to-end scripts: the local stack on free ports (tests/e2e/
# lib.sh: torn down on exit, logs shown on failure) with the console, the demo workload
# streamed through it (pos-sim, like `make run` but smaller), and a wait until the ledger
# and classification have caught up. Sets tier_addr, demo_start, demo_past, and with
# NEED_CONSOLE=1 console_url (the console's ready file must then exist).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CUSTOMERS=${CONSOLE_E2E_CUSTOMERS:-300}
MONTHS=${CONSOLE_E2E_MONTHS:-8}
demo_start=$(date -u -d "-$MONTHS months" +%Y-%m-%d)
# A date in the middle of the simulated history, for the as-of checks.
demo_past=$(date -u -d "$demo_start +$((MONTHS / 2)) months" +%Y-%m-%d)

metric() {  # metric <service> <name>: the sum of its series on the service's /metrics
  curl -sf "http://127.0.0.1:$(port "$1" metrics)/metrics" \
    | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }'
}

deploy/local/stack.sh up
tier_addr="127.0.0.1:$(port classification grpc)"
if [ -n "${NEED_CONSOLE:-}" ]; then
  if [ ! -s "$RUN_DIR/console.ready" ]; then
    fail "the console is not part of the local stack: no $RUN_DIR/console.ready after stack.sh up"
    e2e_finish console
  fi
  console_url="http://127.0.0.1:$(port console http)"
fi

"$BUILD/tools/pos-sim/pos-sim" --ingest "127.0.0.1:$(port ingest grpc)" --customers "$CUSTOMERS" \
  --months "$MONTHS" --seed 7 --start "$demo_start" --streams 2 --summary-json "$RUN_DIR/pos-sim.json" >/dev/null
accepted=$(json_field "$RUN_DIR/pos-sim.json" accepted)
deadline=$((SECONDS + 240))
until [ "$(metric ledger tierflow_ledger_events_total)" -ge "$accepted" ]; do
  [ $SECONDS -lt $deadline ] || { fail "the ledger did not post the $accepted accepted events in time"; e2e_finish console; }
  sleep 0.5
done
# Classification has caught up when its counters stop moving for three seconds.
last="" stable=0
while [ $stable -lt 3 ]; do
  [ $SECONDS -lt $deadline ] || { fail "classification did not settle"; e2e_finish console; }
  now="$(metric classification tierflow_classification_records_total)/$(metric classification tierflow_classification_assignment_changes_total)"
  if [ "$now" = "$last" ]; then stable=$((stable + 1)); else stable=0; last=$now; fi
  sleep 1
done
pass "demo data: $accepted events of $CUSTOMERS customers over $MONTHS months, settled"
