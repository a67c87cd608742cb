"""A tiny Chrome DevTools Protocol client: load a local page in headless Chromium and record what it did.

What it records is what a test of a self-contained page needs: console and log messages, exceptions,
every request the page made, and dialogs. The browser is always killed, with its process group.
"""

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from websockets.sync.client import connect

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-port=0",
)
TIMEOUT = 30.0


@dataclass
class Record:
    """What the page did since it was opened."""

    console: list[dict] = field(default_factory=list)  # {type, text}
    log: list[dict] = field(default_factory=list)  # {level, text, url}: CSP violations and failed loads land here
    exceptions: list[dict] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL, blocked ones too
    dialogs: list[dict] = field(default_factory=list)

    def errors(self) -> list[dict]:
        """Console messages and log entries of level error or warning."""
        return [m for m in self.console if m["type"] in ("error", "assert", "warning")] + [
            e for e in self.log if e["level"] in ("error", "warning")]


class Browser:
    """One headless Chromium with one page, driven over its DevTools websocket."""

    def __init__(self, width: int = 1280, height: int = 900):
        self.profile = tempfile.mkdtemp(prefix="perfone-chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.socket, self.next_id, self.record, self.loaded = None, 0, Record(), False
        try:
            self.socket = connect(self.page_socket(), max_size=None, open_timeout=TIMEOUT)
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                      mobile=False)
        except BaseException:
            self.close()
            raise

    def page_socket(self) -> str:
        """The websocket URL of the page target, once the browser has written its port."""
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            lines = port_file.read_text().split("\n") if port_file.exists() else []
            if len(lines) >= 2 and lines[0].isdigit():
                with urllib.request.urlopen(f"http://127.0.0.1:{lines[0]}/json/list", timeout=5) as reply:
                    pages = [t for t in json.load(reply) if t["type"] == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def call(self, method: str, **params) -> dict:
        """Send one command and wait for its result, recording the events that arrive meanwhile."""
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        reply = self.pump(lambda m: m.get("id") == self.next_id)
        if "error" in reply:
            raise RuntimeError(f"DevTools {method}: {reply['error']}")
        return reply["result"]

    def pump(self, done, timeout: float = TIMEOUT) -> dict:
        """Record messages until one satisfies `done`; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.01, deadline - time.monotonic())))
            self.observe(message)
            if done(message):
                return message

    def observe(self, message: dict) -> None:
        """Record an event; a dialog is accepted at once so that the page cannot block."""
        method, params = message.get("method"), message.get("params", {})
        if method == "Page.loadEventFired":
            self.loaded = True
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            self.record.console.append({"type": params["type"], "text": text})
        elif method == "Log.entryAdded":
            self.record.log.append({k: params["entry"].get(k) for k in ("level", "text", "url")})
        elif method == "Runtime.exceptionThrown":
            self.record.exceptions.append(params["exceptionDetails"])
        elif method == "Network.requestWillBeSent":
            self.record.requests.append(params["request"]["url"])
        elif method == "Page.javascriptDialogOpening":
            self.record.dialogs.append(params)
            accept = {"id": 0, "method": "Page.handleJavaScriptDialog", "params": {"accept": True}}
            self.socket.send(json.dumps(accept))

    def load(self, path: Path) -> Record:
        """Open a local file, wait for its load event; returns a fresh record of what it did."""
        self.record, self.loaded = Record(), False
        self.call("Page.navigate", url=path.resolve().as_uri())
        if not self.loaded:
            self.pump(lambda m: self.loaded)
        self.evaluate("0")  # the events sent before the load event are now recorded
        return self.record

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page, beyond the viewport."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Kill the browser's whole process group and remove its profile, whatever state it is in."""
        try:
            if self.socket is not None:
                self.socket.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
