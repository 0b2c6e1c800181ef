"""A small Chrome DevTools Protocol client for headless Chromium.

Standard library only: Chromium is started with --remote-debugging-pipe, so
the protocol runs over two pipes (fd 3: commands in, fd 4: answers and
events out, each message a JSON text ending with a NUL byte) and no
websocket or port is needed. Every wait is bounded.
"""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


def find_chromium():
    """The Chromium binary, or None: $CHROMIUM_BIN, then Debian's names."""
    env = os.environ.get("CHROMIUM_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


class CDPError(Exception):
    pass


class Browser:
    """One headless Chromium with one page (tab) attached in flat mode."""

    def __init__(self, binary, width=1280, height=800, timeout=15.0):
        self.tmp = tempfile.TemporaryDirectory(prefix="metcd-ui-chromium-")
        self.timeout = timeout
        self.next_id = 0
        self.events = []
        self.buf = b""
        cmd_r, self.cmd_w = os.pipe()
        self.out_r, out_w = os.pipe()

        def child_fds():
            # Above 9 first, so that neither dup2 overwrites the other's source.
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", "--user-data-dir=" + self.tmp.name,
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-domain-reliability", "--metrics-recording-only",
                "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
                "--hide-scrollbars", "--mute-audio", "--window-size=%d,%d" % (width, height),
                "about:blank"]
        self.log_path = os.path.join(self.tmp.name, "chromium.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     preexec_fn=child_fds, pass_fds=(3, 4))
        os.close(cmd_r)
        os.close(out_w)
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.page(domain + ".enable")
        self.viewport(width, height)

    # ---- transport ----

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("no answer from Chromium in time")
            r, _, _ = select.select([self.out_r], [], [], left)
            if not r:
                continue
            chunk = os.read(self.out_r, 1 << 20)
            if not chunk:
                raise CDPError("Chromium exited:\n" + self.chromium_log())
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=None):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self.cmd_w, data)
            data = data[n:]
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = self._read_message(deadline)
            if m.get("id") == mid:
                if "error" in m:
                    raise CDPError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def page(self, method, params=None, timeout=None):
        return self.send(method, params, self.session, timeout)

    def drain(self):
        """Reads the events already sent (console messages, exceptions)."""
        while True:
            r, _, _ = select.select([self.out_r], [], [], 0)
            if not r and b"\0" not in self.buf:
                return
            if r:
                chunk = os.read(self.out_r, 1 << 20)
                if not chunk:
                    return
                self.buf += chunk
            while b"\0" in self.buf:
                msg, self.buf = self.buf.split(b"\0", 1)
                m = json.loads(msg)
                if "method" in m:
                    self.events.append(m)

    def problems(self):
        """Uncaught exceptions, console errors and CSP or load errors so far."""
        self.drain()
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s %s" % (d.get("text"), d.get("exception", {}).get("description", "")))
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.%s: %s" % (p["type"], " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))))
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: %s %s" % (p["entry"].get("text"), p["entry"].get("url", "")))
        return out

    def chromium_log(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    # ---- page helpers ----

    def viewport(self, width, height, mobile=False, scale=1):
        self.page("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})

    def goto(self, url):
        self.page("Page.navigate", {"url": url})

    def eval(self, expr):
        r = self.page("Runtime.evaluate", {"expression": expr, "awaitPromise": True,
                                           "returnByValue": True, "userGesture": True})
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError("%s: %s" % (expr[:80], d.get("exception", {}).get("description", d.get("text"))))
        return r.get("result", {}).get("value")

    def wait_for(self, expr, timeout=5.0, what=None):
        """Polls a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.eval(expr)
            except CDPError as e:
                last = e
            # A DOM node comes back as {}: truthy in JavaScript, so here too.
            if not isinstance(last, CDPError) and last not in (None, False, 0, ""):
                return last
            time.sleep(0.02)
        raise AssertionError("timed out after %.1fs waiting for %s (last: %r)%s" % (
            timeout, what or expr, last, "\n" + "\n".join(self.problems())))

    def center(self, selector):
        r = self.eval("(() => { const e = document.querySelector(%s); if (!e) return null;"
                      " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                      " return [r.x + r.width / 2, r.y + r.height / 2]; })()" % json.dumps(selector))
        if not r:
            raise AssertionError("no element %s on the page" % selector)
        return r

    def click(self, selector):
        """A real mouse click in the middle of the element."""
        x, y = self.center(selector)
        for t in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", {"type": t, "x": x, "y": y, "button": "left", "clickCount": 1})

    KEYS = {"Enter": 13, "Escape": 27, "Delete": 46, "ArrowDown": 40, "ArrowUp": 38,
            "ArrowRight": 39, "ArrowLeft": 37, "Tab": 9, "Home": 36, "End": 35}

    def key(self, name):
        """A key press: a named key (Enter, ArrowDown, ...) or one character."""
        if name in self.KEYS:
            code = self.KEYS[name]
            base = {"key": name, "code": name, "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code}
            if name == "Enter":
                base["text"] = "\r"
            self.page("Input.dispatchKeyEvent", dict(base, type="keyDown" if "text" in base else "rawKeyDown"))
            self.page("Input.dispatchKeyEvent", dict(base, type="keyUp"))
        else:
            code = ord(name.upper()) if name.isalnum() else 0
            base = {"key": name, "text": name, "windowsVirtualKeyCode": code}
            self.page("Input.dispatchKeyEvent", dict(base, type="keyDown"))
            self.page("Input.dispatchKeyEvent", dict(base, type="keyUp"))

    def key_chord(self, name, ctrl=False):
        """A named key with Ctrl held (modifiers: 2)."""
        code = self.KEYS[name]
        base = {"key": name, "code": name, "windowsVirtualKeyCode": code, "modifiers": 2 if ctrl else 0}
        self.page("Input.dispatchKeyEvent", dict(base, type="rawKeyDown"))
        self.page("Input.dispatchKeyEvent", dict(base, type="keyUp"))

    def type(self, selector, text):
        """Focuses the field, selects what it holds and types text over it."""
        self.click(selector)
        self.eval("(() => { const e = document.querySelector(%s); e.focus(); e.select && e.select(); })()"
                  % json.dumps(selector))
        self.page("Input.insertText", {"text": text})

    def screenshot(self, path, full=False):
        params = {"format": "png"}
        if full:
            params["captureBeyondViewport"] = True
        data = self.page("Page.captureScreenshot", params, timeout=30)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", timeout=3)
                except (CDPError, OSError):
                    pass
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        finally:
            for fd in (self.cmd_w, self.out_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.log.close()
            self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
