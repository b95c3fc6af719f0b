# Shared by the end-to-end scripts: a local stack on free ports under a temporary
# RUN_DIR, torn down on exit (with its logs shown when a check failed), and check helpers
# that count failures. Source it from a script that has set -euo pipefail.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
export BUILD=${BUILD:-$root/build}
RUN_DIR=$(mktemp -d /tmp/tierflow-e2e.XXXXXX)
export RUN_DIR PORTS=ephemeral
# stack.sh generates a token per role there; tierctl and pos-sim pick theirs from it.
export TIERFLOW_TOKENS_DIR="$RUN_DIR/tokens"
cd "$root"

failures=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
check_eq() {  # check_eq <what> <expected> <actual>
  if [ "$2" = "$3" ]; then pass "$1: $3"; else fail "$1: expected '$2', got '$3'"; fi
}
e2e_cleanup() {
  deploy/local/stack.sh down >/dev/null 2>&1 || true
  if [ $failures -gt 0 ] || [ -n "${KEEP:-}" ]; then
    for f in "$RUN_DIR"/logs/*.log; do echo "--- $f (last 20 lines)"; tail -n 20 "$f"; done
  fi
  rm -rf "$RUN_DIR"
}
trap e2e_cleanup EXIT

port() { grep -o "\"$2\": [0-9]*" "$RUN_DIR/$1.ready" | grep -o '[0-9]*$'; }
json_field() { grep -o "\"$2\": *[0-9]*" "$1" | grep -o '[0-9]*$'; }
tierctl="$BUILD/tools/tierctl/tierctl"
e2e_finish() {
  echo
  if [ $failures -eq 0 ]; then echo "$1: all checks passed"; else echo "$1: $failures checks failed"; exit 1; fi
}
