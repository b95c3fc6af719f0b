#!/usr/bin/env bash
# CDNOW through the whole stack: every row of ../shared/datasets/CDNOW_master.txt is a
# cash sale sent by pos-sim to ingest; the ledger posts it, classification classifies as
# of the end of the data (clock: events, 1998-06-30). The A class's share of value that
# `tierctl distribution` prints must equal the share computed here from the raw file:
#   value    = sales in the 12 calendar months 1997-07 .. 1998-06 (no cost: gross profit
#              is sales), per customer, in cents;
#   A        = customers with value > 0 and value >= the value of the ceil(20% x N)-th best
#              of the N customers (ties with it included) -- deploy/local/standard.yaml's
#              "top_percent: 20" as population.h defines it;
#   share    = value of A / value of everyone;
#   reach80  = the fewest customers, best first, whose values add up to at least 80% of
#              everyone's (the first question of the 80/20 analysis).
# The standard is the shipped one with its currency set to USD (CDNOW's).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
data="${CDNOW_DATA:-$root/../shared/datasets/CDNOW_master.txt}"
if [ ! -f "$data" ]; then echo "cdnow-e2e: $data is absent: skipped"; exit 0; fi

sed 's/^currency: CNY$/currency: USD/' deploy/local/standard.yaml >"$RUN_DIR/standard-usd.yaml"
grep -q '^currency: USD$' "$RUN_DIR/standard-usd.yaml" || { echo "cannot set the standard's currency"; exit 1; }
export TIERFLOW_STANDARD_PATH="$RUN_DIR/standard-usd.yaml"
# The figures are computed as of the newest event (1998-06-30): points at each new day of
# the newest event time, not the ledger's watermarks (the default, whose last point is a
# day or two earlier: services/classification/README.md).
export TIERFLOW_EVALUATION_POINTS=newest_event
deploy/local/stack.sh up

# Independent expectation, from the file alone (POSIX awk and sort: no gawk here).
read -r want_customers want_a_customers want_a_value want_total want_reach80 < <(tr -d '\r' <"$data" | awk '
  NR > 1 && NF >= 4 {
    split($4, d, "."); cents = d[1] * 100 + (length(d[2]) == 1 ? d[2] * 10 : d[2] + 0)
    if ($2 >= 19970701 && $2 <= 19980630) value[$1] += cents; else value[$1] += 0
  }
  END { for (c in value) printf "%d\n", value[c] }' | sort -n -r | awk '
  { v[NR] = $1; total += $1 }
  END {
    n = NR; k = int((n * 20 + 99) / 100)   # ceil(20% x n)
    threshold = v[k]; a = 0; av = 0
    for (i = 1; i <= n; i++) if (v[i] > 0 && v[i] >= threshold) { a++; av += v[i] }
    cum = 0; reach = 0
    for (i = 1; i <= n && reach == 0; i++) { if (v[i] > 0) cum += v[i]; if (cum * 10 >= total * 8) reach = i }
    printf "%d %d %.0f %.0f %d\n", n, a, av, total, reach
  }')
echo "from the file: $want_customers customers, A = $want_a_customers customers, $want_a_value of $want_total cents," \
  "80% of value from $want_reach80 customers"

"$BUILD/tools/pos-sim/pos-sim" --ingest "127.0.0.1:$(port ingest grpc)" --replay-cdnow "$data" \
  --summary-json "$RUN_DIR/pos-sim.json"
check_eq "events accepted" 69659 "$(json_field "$RUN_DIR/pos-sim.json" accepted)"

tier_addr="127.0.0.1:$(port classification grpc)"
a_row() { { "$tierctl" --addr "$tier_addr" distribution 2>/dev/null || true; } | awk '$1 == "value" && $2 == "A"'; }
# Wait (bounded) until the classification holds every customer and A has the expected
# size: it evaluates while the replay streams in.
deadline=$((SECONDS + 180))
until [ "$(a_row | awk '{gsub(",", "", $3); print $3}')" = "$want_a_customers" ] || [ $SECONDS -ge $deadline ]; do
  sleep 1
done
row=$(a_row)
echo "tierctl distribution: $row"
got_customers=$(echo "$row" | awk '{gsub(",", "", $3); print $3}')
got_value=$(echo "$row" | awk '{gsub("[,.]", "", $4); print $4 + 0}')
got_share=$(echo "$row" | awk '{print $6}')
want_share=$(awk -v a="$want_a_value" -v t="$want_total" 'BEGIN { printf "%.1f%%", 100 * a / t }')
check_eq "customers in class A" "$want_a_customers" "$got_customers"
check_eq "value of class A (cents)" "$want_a_value" "$got_value"
check_eq "A's share of value printed by tierctl" "$want_share" "$got_share"
grouped=$(awk -v n="$want_customers" 'BEGIN { s = ""; while (n >= 1000) { s = sprintf(",%03d", n % 1000) s; n = int(n / 1000) } print n s }')
distribution=$("$tierctl" --addr "$tier_addr" distribution)
total_line=${distribution%%$'\n'*}
got_reach80=$(echo "$distribution" | awk '/^customers to reach 80.0% of value:/ {gsub(",", "", $7); print $7}')
check_eq "customers needed to reach 80% of value" "$want_reach80" "$got_reach80"
case "$total_line" in "$grouped customers"*) pass "customers classified: $total_line" ;;
                      *) fail "customers classified: expected $grouped, got: $total_line" ;; esac

e2e_finish cdnow-e2e
