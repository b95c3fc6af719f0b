#!/usr/bin/env bash
# End-to-end: `tierctl report` over the demo data on the whole local stack. The report's
# totals (HTML and CSV) equal GetDistribution's; the file has no external reference and
# opens in Chromium with the network cut off (its charts drawn: body.dataset.ready); the
# PDF is a PDF; a past --as-of equals GetOverview for that date; zh-CN renders.
set -euo pipefail
source "$(dirname "$0")/console_stack.sh"
out="$RUN_DIR/report"
mkdir -p "$out"
ctl() { "$tierctl" --addr "$tier_addr" --deadline-ms 60000 "$@"; }

ctl --json distribution >"$out/before.json"
if ctl report --lang en --out "$out/report.html" --csv-dir "$out/csv" --pdf "$out/report.pdf" >"$out/report.log" 2>&1; then
  pass "tierctl report wrote HTML, CSV and PDF"
else
  fail "tierctl report: $(cat "$out/report.log")"
fi
ctl --json distribution >"$out/after.json"
check_eq "GetDistribution did not move while the report was made" "$(md5sum <"$out/before.json")" "$(md5sum <"$out/after.json")"

# Totals: HTML data-values and CSV sums against GetDistribution.
/usr/bin/python3 - "$out" >"$out/checks.txt" 2>&1 <<'PY' || fail "the report checks could not run: $(tail -1 "$out/checks.txt")"
import csv, io, json, re, sys
out = sys.argv[1]
d = json.load(open(f"{out}/after.json"))
html = open(f"{out}/report.html", encoding="utf-8").read()
def figure(testid):
    m = re.search(r'data-testid="%s" data-value="([^"]*)"' % testid, html)
    return m.group(1) if m else None
def check(what, want, got):
    print(("ok " if str(want) == str(got) else "FAIL ") + f"{what}: expected {want}, got {got}")
check("report customers = GetDistribution", d.get("customers", "0"), figure("report-customers"))
check("report total value = GetDistribution", d.get("totalValueMinor", "0"), figure("report-total-value"))
table = html[html.index('id="table-tiers"'):]
table = table[:table.index("</table>")]
rows = re.findall(r"<tr><td>([^<]*)</td>(.*?)</tr>", table)
got = {t: re.findall(r'data-value="([^"]*)"', rest) for t, rest in rows}
for t in d.get("tiers", []):
    vals = got.get(t.get("tier", ""), [None] * 4)
    check(f"report tier {t.get('tier')} customers", t.get("customers", "0"), vals[0])
    check(f"report tier {t.get('tier')} value", t.get("valueMinor", "0"), vals[2])
rows = list(csv.reader(io.StringIO(open(f"{out}/csv/tiers.csv", encoding="utf-8-sig", newline="").read())))
check("tiers.csv customers sum = GetDistribution", d.get("customers", "0"), sum(int(r[1]) for r in rows[1:]))
digits = {"JPY": 0, "KRW": 0}.get(d.get("currency", ""), 2)
minor = sum(int(r[3].replace(".", "")) if "." in r[3] else int(r[3]) * 10 ** digits for r in rows[1:])
check("tiers.csv value sum = GetDistribution total", d.get("totalValueMinor", "0"), minor)
summary = dict((r[0], r[1]) for r in csv.reader(io.StringIO(open(f"{out}/csv/summary.csv", encoding="utf-8-sig").read())))
check("summary.csv customers", d.get("customers", "0"), summary.get("customers"))
PY
while IFS= read -r line; do
  case "$line" in "ok "*) pass "${line#ok }" ;; "FAIL "*) fail "${line#FAIL }" ;; esac
done <"$out/checks.txt"
for f in summary tiers quadrants breakdown-region pareto watch; do
  [ -s "$out/csv/$f.csv" ] && pass "csv/$f.csv written" || fail "csv/$f.csv missing"
done

# No external reference, and it opens offline: every non-loopback request goes to a dead proxy.
refs=$(grep -oiE 'https?://[^" <]{0,60}|(src|href|action)=["'"'"']?//[^" >]*' "$out/report.html" | head -5 || true)
check_eq "external references in the report" "" "$refs"
dom=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --proxy-server=127.0.0.1:9 \
  --user-data-dir="$RUN_DIR/chromium-offline" --dump-dom "file://$out/report.html" 2>/dev/null || true)
case "$dom" in *'data-ready="1"'*) pass "the report opens offline and draws its charts" ;;
               *) fail "the report did not become ready offline: $(echo "$dom" | grep -o '<body[^>]*>' | head -1)" ;; esac
case "$dom" in *'data-error='*) fail "the report's script failed: $(echo "$dom" | grep -o 'data-error="[^"]*"')" ;; esac
# For a person to look at: the report as rendered, beside the console's page screenshots.
mkdir -p "$BUILD/console-screenshots"
timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --proxy-server=127.0.0.1:9 \
  --user-data-dir="$RUN_DIR/chromium-shot" --window-size=1280,2400 --screenshot="$BUILD/console-screenshots/report.png" \
  "file://$out/report.html" >/dev/null 2>&1 || true
[ -s "$BUILD/console-screenshots/report.png" ] && pass "screenshot $BUILD/console-screenshots/report.png" ||
  fail "no screenshot of the report"
check_eq "the PDF starts with %PDF" "%PDF" "$(head -c 4 "$out/report.pdf" 2>/dev/null)"

# A past date: the same numbers as GetOverview for that date.
if ! ctl report --as-of "$demo_past" --lang zh-CN --out "$out/past.html" >/dev/null 2>"$out/past.err" ||
   ! ctl --json overview --as-of "$demo_past" >"$out/past.json" 2>>"$out/past.err"; then
  fail "report or overview as of $demo_past: $(cat "$out/past.err")"
  e2e_finish console-report
fi
want=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])).get("distribution",{}); print(d.get("customers","0"), d.get("totalValueMinor","0"))' "$out/past.json")
got=$(/usr/bin/python3 -c 'import re,sys; h=open(sys.argv[1],encoding="utf-8").read(); print(*[re.search(r"data-testid=\"%s\" data-value=\"([^\"]*)\"" % t, h).group(1) for t in ("report-customers","report-total-value")])' "$out/past.html")
check_eq "report as of $demo_past = GetOverview (customers, value)" "$want" "$got"
grep -q '<html lang="zh-CN">' "$out/past.html" && pass "zh-CN report" || fail "--lang zh-CN did not render Chinese"
grep -q "截至 $demo_past" "$out/past.html" && pass "zh-CN report names its date" || fail "zh-CN report lacks '截至 $demo_past'"

e2e_finish console-report
