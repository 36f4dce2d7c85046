"""Open a page in headless Chromium and watch it, over the DevTools protocol on a pipe.

``--remote-debugging-pipe`` makes Chromium read protocol messages (JSON, each ended by a NUL byte)
on its fd 3 and write on its fd 4: no port, no websocket library, nothing but the standard library.
Used by the dashboard's test (console errors, network requests, what each plot drew) and by
``workbench dashboard --screenshot`` for a PNG of the page.

Chromium runs with a fresh profile folder and with everything that would talk to the network on its
own switched off; the page's own requests are recorded (``Network.requestWillBeSent``).
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.filesystem import write_atomic

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
         "--no-default-browser-check", "--mute-audio", "--hide-scrollbars")


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    raise WorkbenchError("chromium not found (Debian: apt-get install --no-install-recommends chromium)")


@dataclass
class PageReport:
    url: str
    console: list[dict] = field(default_factory=list)      # {"level", "text"}
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)      # every URL the page asked for
    failed: list[str] = field(default_factory=list)        # requests that failed (blocked, offline)

    @property
    def errors(self) -> list[str]:
        return [c["text"] for c in self.console if c["level"] == "error"] + self.exceptions


class Chromium:
    """One headless Chromium, one page; a context manager that always ends the browser."""

    def __init__(self, width: int = 1400, height: int = 900, timeout: float = 60.0):
        self.width, self.height, self.timeout = width, height, timeout
        self._id = 0
        self._buf = b""
        self._events: list[dict] = []

    def __enter__(self):
        self.profile_dir = tempfile.mkdtemp(prefix="wb-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds():       # in the child, before exec: the protocol pipe on fds 3 and 4
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        cmd = [chromium_binary(), *FLAGS, f"--user-data-dir={self.profile_dir}", "--remote-debugging-pipe",
               f"--window-size={self.width},{self.height}", "about:blank"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=wire_fds,
                                     start_new_session=True)
        os.close(to_child_r)
        os.close(from_child_w)
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next((t for t in targets if t["type"] == "page"), None)
        target_id = page["targetId"] if page else self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target_id, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc):
        try:
            self._send({"id": self._next_id(), "method": "Browser.close"})
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile_dir, ignore_errors=True)
        return False

    # -- protocol --
    def _next_id(self) -> int:
        self._id += 1
        return self._id

    def _send(self, msg: dict) -> None:
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkbenchError("chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 16)
                if not chunk:
                    raise WorkbenchError(f"chromium exited (code {self.proc.poll()})")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: bool = False, **params) -> dict:
        msg_id = self._next_id()
        msg = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self._send(msg)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise WorkbenchError(f"chromium: {method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self._events.append(msg)

    def wait_event(self, method: str, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        for i, ev in enumerate(self._events):
            if ev["method"] == method:
                return self._events.pop(i)
        while True:
            msg = self._read(deadline)
            if msg.get("method") == method:
                return msg
            if "method" in msg:
                self._events.append(msg)

    # -- what a test or a screenshot needs --
    def open(self, url: str, settle: float = 0.3) -> PageReport:
        """Navigate, wait for load, then collect console messages, exceptions and requests."""
        self._events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")
        time.sleep(settle)
        self.call("Runtime.evaluate", session=True, expression="1")   # drain: events arrive before the answer
        report = PageReport(url)
        for ev in self._events:
            p, method = ev.get("params", {}), ev["method"]
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                report.console.append({"level": "error" if p.get("type") in ("error", "assert") else p.get("type"),
                                       "text": text})
            elif method == "Log.entryAdded":
                e = p.get("entry", {})
                report.console.append({"level": e.get("level"), "text": e.get("text", "")})
            elif method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                report.exceptions.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
            elif method == "Network.requestWillBeSent":
                report.requests.append(p.get("request", {}).get("url", ""))
            elif method == "Network.loadingFailed":
                report.failed.append(p.get("errorText", ""))
        return report

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise WorkbenchError(f"chromium: evaluation failed: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def screenshot(self, out: Path, full_page: bool = True) -> Path:
        height = self.height
        if full_page:
            height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=self.width, height=height,
                      deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        out = Path(out)
        write_atomic(out, base64.b64decode(data), what="write the screenshot")
        return out


PLOT_CENSUS_JS = """JSON.stringify(Array.from(document.querySelectorAll('[data-plot]')).map(function (s) {
  return {plot: s.getAttribute('data-plot'), points: s.querySelectorAll('[data-point]').length,
          svgs: s.querySelectorAll('svg').length, empty: s.querySelectorAll('.empty').length};
}))"""


def census(browser: Chromium) -> dict[str, dict]:
    """Each plot section: how many data marks it drew."""
    return {c["plot"]: c for c in json.loads(browser.evaluate(PLOT_CENSUS_JS))}
