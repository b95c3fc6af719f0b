#!/usr/bin/env bash
# End-to-end: the console's pages in headless Chromium (DevTools protocol, console_pages.py)
# over the demo data on the whole local stack. Screenshots go to $BUILD/console-screenshots.
set -euo pipefail
NEED_CONSOLE=1 source "$(dirname "$0")/console_stack.sh"
shots="$BUILD/console-screenshots"
mkdir -p "$shots"
# Debian's python3 (python3-websocket lives in its dist-packages), whatever python3 is first on PATH.
if /usr/bin/python3 "$(dirname "$0")/console_pages.py" --console "$console_url" --tierctl "$tierctl" --tier-addr "$tier_addr" \
     --token-file "$TIERFLOW_TOKENS_DIR/finance.token" --standard deploy/local/standard.yaml --shots "$shots" \
     --past "$demo_past"; then
  pass "console pages"
else
  fail "console pages (see the FAIL lines above)"
fi
e2e_finish console-pages
