"""A small Chrome DevTools Protocol client over python3-websocket, for the console's page
tests: starts headless Chromium in a fresh profile, opens one page, and records what a
person would see go wrong (console errors, uncaught exceptions, failed loads) and every
URL the page requests.

Not thread-safe; one Browser per test process. Chromium is killed on close().
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

import websocket


class CdpError(Exception):
    pass


class Browser:
    def __init__(self, chromium="chromium", width=1280, height=1000, lang="en-US"):
        self.profile = tempfile.mkdtemp(prefix="tierflow-cdp.")
        args = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--remote-debugging-port=0", "--remote-allow-origins=*",
            # Anything not on loopback goes to a dead proxy: the pages must work offline.
            "--proxy-server=127.0.0.1:9",
            f"--lang={lang}", f"--window-size={width},{height}",
            f"--user-data-dir={self.profile}", "about:blank",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not (os.path.exists(port_file) and len(open(port_file).read().split()) >= 2):
            if self.proc.poll() is not None:
                raise CdpError(f"chromium exited with {self.proc.returncode} before DevTools was up")
            if time.monotonic() > deadline:
                raise CdpError("chromium did not open DevTools within 30 s")
            time.sleep(0.1)
        port, path = open(port_file).read().split()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        # Headless Chromium sends Accept-Language en-US whatever --lang says; the pages choose
        # their language by that header.
        user_agent = self.call("Browser.getVersion")["userAgent"].replace("HeadlessChrome", "Chrome")
        self.send("Network.setUserAgentOverride", {"userAgent": user_agent, "acceptLanguage": lang})
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.kill()
            self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)

    # --- protocol ---------------------------------------------------------------------------
    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def send(self, method, params=None):
        """A call on the page's session."""
        return self.call(method, params, self.session)

    def pump(self, seconds):
        """Reads events for up to `seconds`."""
        self.ws.settimeout(seconds)
        try:
            while True:
                self.events.append(json.loads(self.ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(60)

    # --- page ---------------------------------------------------------------------------------
    def evaluate(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CdpError(f"evaluate {expression!r}: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")

    def navigate(self, url, timeout=30):
        """Opens `url` and waits for its load event."""
        start = len(self.events)
        r = self.send("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise CdpError(f"navigate {url}: {r['errorText']}")
        self.wait_event("Page.loadEventFired", timeout, start)

    def wait_event(self, method, timeout, start=0):
        deadline = time.monotonic() + timeout
        while True:
            if any(e.get("method") == method for e in self.events[start:]):
                return
            if time.monotonic() > deadline:
                raise CdpError(f"no {method} within {timeout} s")
            self.pump(0.1)

    def wait_for(self, expression, timeout=30, what=None):
        """Polls a JavaScript condition until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"{what or expression} not true within {timeout} s")
            self.pump(0.1)

    def screenshot(self, path):
        """The whole page (not only the viewport) as PNG."""
        height = int(self.evaluate("Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"))
        width = int(self.evaluate("Math.max(document.body.scrollWidth, document.documentElement.scrollWidth)"))
        data = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": max(width, 800), "height": min(max(height, 600), 8000), "scale": 1}})
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))

    # --- what went wrong ------------------------------------------------------------------------
    def problems(self, since=0):
        """Console errors, uncaught exceptions and failed loads since event index `since`."""
        out = []
        for e in self.events[since:]:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                       for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                out.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
            elif m == "Network.loadingFailed" and not p.get("canceled"):
                out.append(f"load failed: {p.get('errorText')}")
        return out

    def requested_urls(self, since=0):
        return [e["params"]["request"]["url"] for e in self.events[since:]
                if e.get("method") == "Network.requestWillBeSent"]
