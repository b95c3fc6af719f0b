#!/usr/bin/python3
"""The console's pages in headless Chromium, over a running stack with the demo data.

For each page (overview, customer, watch list, what-if): log in through the login form,
load it, wait for body.dataset.ready, assert no console error, uncaught exception or
failed load and no request off the console's origin, and write a screenshot to
<shots>/<page>.png. Then the page's numbers against gRPC (through tierctl): the overview's
against GetDistribution (now) and GetOverview (a past date), a customer's explanation
against ExplainTier, and the error the what-if page shows for a broken standard against
its line.

Usage: console_pages.py --console URL --tierctl PATH --tier-addr HOST:PORT --token-file F
                        --standard deploy/local/standard.yaml --shots DIR --past YYYY-MM-DD
Exit 0 when every check passed. The token is never printed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser, CdpError  # noqa: E402

failures = 0


def ok(msg):
    print(f"ok   - {msg}", flush=True)


def fail(msg):
    global failures
    failures += 1
    print(f"FAIL - {msg}", flush=True)


def check_eq(what, expected, actual):
    if str(expected) == str(actual):
        ok(f"{what}: {actual}")
    else:
        fail(f"{what}: expected {expected!r}, got {actual!r}")


def tierctl(args, opts, json_out=True, check=True):
    cmd = [opts.tierctl, "--addr", opts.tier_addr, "--token-file", opts.token_file, "--deadline-ms", "60000"]
    cmd += (["--json"] if json_out else []) + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"tierctl {' '.join(args)}: {r.stderr.strip()}")
    return json.loads(r.stdout) if json_out and r.returncode == 0 else r


def number_of(b, testid):
    """The exact number an element shows: its data-value, else the digits of its text."""
    js = (f"(function(){{var e=document.querySelector('[data-testid=\"{testid}\"]');"
          f"if(!e)return null;return e.dataset.value!==undefined?e.dataset.value:e.textContent;}})()")
    v = b.evaluate(js)
    if v is None:
        return None
    digits = re.sub(r"[^0-9-]", "", str(v))
    return digits or None


def open_page(b, opts, name, path, ready_timeout=60):
    """Loads a page, waits until it says it is ready, checks it went right, screenshots it."""
    since = len(b.events)
    url = opts.console + path
    try:
        b.navigate(url)
        b.wait_for("document.body && document.body.dataset.ready === '1'", ready_timeout,
                   f"{name}: body.dataset.ready")
        ok(f"{name}: {path} rendered")
    except CdpError as e:
        fail(f"{name}: {e}")
    b.pump(0.3)  # late console errors from rendering
    problems = b.problems(since)
    if problems:
        fail(f"{name}: {len(problems)} console problems: {problems[:5]}")
    else:
        ok(f"{name}: no console error, exception or failed load")
    foreign = [u for u in b.requested_urls(since)
               if not (u.startswith(opts.console) or u.startswith("data:") or u.startswith("blob:"))]
    if foreign:
        fail(f"{name}: requests off the console: {foreign[:5]}")
    else:
        ok(f"{name}: every request went to the console itself")
    shot = os.path.join(opts.shots, f"{name}.png")
    try:
        b.screenshot(shot)
        ok(f"{name}: screenshot {shot} ({os.path.getsize(shot)} bytes)")
    except CdpError as e:
        fail(f"{name}: screenshot: {e}")


def login(b, opts, token):
    since = len(b.events)
    b.navigate(opts.console + "/login")
    b.evaluate("document.querySelector('input[name=token]') !== null") or fail("login: no input[name=token]")
    start = len(b.events)
    b.evaluate("(function(t){var i=document.querySelector('input[name=token]');i.value=t;"
               "var f=i.form;if(f.requestSubmit)f.requestSubmit();else f.submit();return true;})(%s)"
               % json.dumps(token))
    b.wait_event("Page.loadEventFired", 30, start)
    where = b.evaluate("location.pathname")
    if where == "/login":
        fail("login: still on /login after submitting the finance token")
    else:
        ok(f"login: the finance token opens the console (now at {where})")
    problems = b.problems(since)
    if problems:
        fail(f"login: console problems: {problems[:5]}")
    cookie = [c for c in b.send("Network.getCookies", {"urls": [opts.console]}).get("cookies", [])
              if c.get("name") == "tf_session"]
    if cookie and cookie[0].get("httpOnly") and cookie[0].get("sameSite") == "Strict":
        ok("login: tf_session cookie is HttpOnly and SameSite=Strict")
    else:
        fail(f"login: tf_session cookie missing or not HttpOnly/SameSite=Strict: "
             f"{[{k: c.get(k) for k in ('name', 'httpOnly', 'sameSite')} for c in cookie]}")


def check_overview(b, opts, truth, label):
    """The overview page against a Distribution (protobuf JSON from tierctl)."""
    check_eq(f"{label}: overview-customers", truth.get("customers", "0"), number_of(b, "overview-customers"))
    check_eq(f"{label}: overview-total-value", truth.get("totalValueMinor", "0"),
             number_of(b, "overview-total-value"))
    for t in truth.get("tiers", []):
        tier = t.get("tier", "")
        check_eq(f"{label}: tier-customers-{tier}", t.get("customers", "0"), number_of(b, f"tier-customers-{tier}"))
    for r in truth.get("reach", []):
        if abs(float(r.get("valueShare", 0)) - 0.8) < 1e-9:
            check_eq(f"{label}: reach-80-customers", r.get("customers", "0"), number_of(b, "reach-80-customers"))


def main():
    ap = argparse.ArgumentParser()
    for a in ("--console", "--tierctl", "--tier-addr", "--token-file", "--standard", "--shots", "--past"):
        ap.add_argument(a, required=True)
    ap.add_argument("--chromium", default="chromium")
    opts = ap.parse_args()
    opts.console = opts.console.rstrip("/")
    token = open(opts.token_file).read().strip()

    b = Browser(opts.chromium)
    try:
        login(b, opts, token)

        # Overview now, against GetDistribution; and a past date, against GetOverview.
        now = tierctl(["distribution"], opts)
        open_page(b, opts, "overview", "/")
        check_overview(b, opts, now, "overview (now) vs GetDistribution")
        past = tierctl(["overview", "--as-of", opts.past], opts)  # a bare date: the end of that day, as the page
        open_page(b, opts, "overview-as-of", f"/?as_of={opts.past}")
        check_overview(b, opts, past.get("distribution", {}), f"overview as of {opts.past} vs GetOverview")

        # A customer's page shows what ExplainTier says.
        customer = None
        for tier in ("gold", "diamond", "silver", "bronze"):
            listed = tierctl(["list", "--tier", tier, "--page-size", "1"], opts).get("assignments", [])
            if listed:
                customer = listed[0]["customerId"]
                break
        if customer is None:
            fail("no customer in any tier to open")
        else:
            lines = tierctl(["explain", customer], opts).get("lines", [])
            open_page(b, opts, "customer", f"/customer?id={customer}")
            shown = b.evaluate("(function(){var e=document.querySelector('[data-testid=\"customer-explanation\"]');"
                               "return e?e.innerText:null;})()")
            norm = lambda s: re.sub(r"\s+", " ", s or "").strip()
            if shown is None:
                fail(f"customer {customer}: no [data-testid=customer-explanation]")
            elif not lines:
                fail(f"customer {customer}: ExplainTier returned no lines to compare")
            else:
                missing = [l for l in lines if norm(l) not in norm(shown)]
                if missing:
                    fail(f"customer {customer}: explanation lacks {len(missing)} of ExplainTier's {len(lines)} "
                         f"lines, e.g. {missing[0]!r}")
                else:
                    ok(f"customer {customer}: the page shows ExplainTier's {len(lines)} lines")

        open_page(b, opts, "watch", "/watch")

        # The report as the page offers it (GET /report, tierflow::report): the same totals, no URL.
        got = b.evaluate("fetch('/report').then(function(r){return r.text().then(function(t){"
                         "return {status:r.status,type:r.headers.get('content-type')||'',"
                         "disposition:r.headers.get('content-disposition')||'',body:t};});})")
        check_eq("GET /report status", 200, got.get("status"))
        body = got.get("body", "")
        m = re.search(r'data-testid="report-customers" data-value="([^"]*)"', body)
        check_eq("GET /report customers = GetDistribution", now.get("customers", "0"), m.group(1) if m else None)
        m = re.search(r'data-testid="report-total-value" data-value="([^"]*)"', body)
        check_eq("GET /report total value = GetDistribution", now.get("totalValueMinor", "0"), m.group(1) if m else None)
        urls = re.findall(r"https?://\S{0,40}", body)
        check_eq("GET /report external URLs", [], urls[:3])
        if "attachment" in got.get("disposition", ""):
            ok(f"GET /report is a download: {got['disposition']}")
        else:
            fail(f"GET /report is not offered as a download (Content-Disposition {got.get('disposition')!r})")

        # What-if: a standard broken at a known line; the page names that line, as gRPC does.
        # The first rule's tier, renamed to one the standard does not define.
        text = open(opts.standard).read().split("\n")
        rules = next(i for i, l in enumerate(text) if l.startswith("rules:"))
        at = next(i for i in range(rules + 1, len(text)) if re.match(r"^\s+-?\s*tier:\s*\S", text[i]))
        text[at] = re.sub(r"tier:\s*\S+", "tier: no-such-tier", text[at])
        broken_line = at + 1
        broken = "\n".join(text)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(broken)
        grpc_err = tierctl(["what-if", f.name], opts, json_out=False, check=False)
        os.unlink(f.name)
        if grpc_err.returncode == 0 or f":{broken_line}:" not in grpc_err.stderr:
            fail(f"WhatIf over gRPC does not name line {broken_line}: {grpc_err.stderr.strip()}")
        else:
            ok(f"WhatIf over gRPC names line {broken_line}")
        open_page(b, opts, "whatif", "/whatif")
        since = len(b.events)
        try:
            b.evaluate("(function(y){var t=document.querySelector('[data-testid=\"whatif-input\"]');"
                       "t.value=y;t.dispatchEvent(new Event('input',{bubbles:true}));"
                       "document.querySelector('[data-testid=\"whatif-submit\"]').click();return true;})(%s)"
                       % json.dumps(broken))
            shown = b.wait_for("(function(){var e=document.querySelectorAll('[data-testid=\"whatif-error\"]');"
                               "return e.length?Array.from(e).map(function(x){return x.innerText;}).join('\\n'):null;})()",
                               60, "whatif-error")
            lines_attr = b.evaluate("Array.from(document.querySelectorAll('[data-testid=\"whatif-error\"]'))"
                                    ".map(function(x){return x.dataset.line;}).join(',')")
            check_eq("what-if error's data-line", str(broken_line), (lines_attr or "").split(",")[0])
            if re.search(rf"(?<![0-9]){broken_line}(?![0-9])", shown):
                ok(f"what-if page shows the error at line {broken_line}: {shown.splitlines()[0][:120]}")
            else:
                fail(f"what-if page error does not name line {broken_line}: {shown[:200]!r}")
            b.screenshot(os.path.join(opts.shots, "whatif-error.png"))
        except CdpError as e:
            fail(f"what-if: {e}")
        problems = [p for p in b.problems(since) if "400" not in p and "422" not in p]
        if problems:
            fail(f"what-if: console problems after submitting: {problems[:5]}")
    finally:
        b.close()

    # zh-CN, chosen by the browser's language.
    zh = Browser(opts.chromium, lang="zh-CN")
    try:
        login(zh, opts, token)
        open_page(zh, opts, "overview-zh", "/")
        lang = zh.evaluate("document.documentElement.lang")
        text = zh.evaluate("document.body.innerText") or ""
        if (lang or "").lower().startswith("zh") and "客户" in text:
            ok(f"overview-zh: html lang {lang}, the page speaks Chinese")
        else:
            fail(f"overview-zh: html lang {lang!r}, Chinese text {'客户' in text} for a zh-CN browser")
        check_eq("overview-zh: overview-customers", now.get("customers", "0"), number_of(zh, "overview-customers"))
    finally:
        zh.close()

    print()
    if failures:
        print(f"console pages: {failures} checks failed")
        return 1
    print("console pages: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
