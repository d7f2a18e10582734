"""Headless Chromium driven over the Chrome DevTools Protocol: no browser download, no new package.

The browser is the distribution's (`make chromium` installs Debian's package); the protocol is JSON
over one websocket, spoken here with aiohttp (already a test dependency) on a loop in its own thread.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import aiohttp

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1")
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


class CdpError(RuntimeError):
    pass


class Browser:
    """One Chromium process with a fresh profile. `events` keeps every event, in order."""

    def __init__(self, executable: str, profile: Path | None = None, timeout: float = 30) -> None:
        """`profile`: an empty folder for the user data dir (the caller's to remove), else a temporary one."""
        self.timeout = timeout
        self._own_profile = profile is None
        self.profile = str(profile or tempfile.mkdtemp(prefix="watchdog-chromium-"))
        self.process = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
        url = None
        while url is None:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                self.close()
                raise CdpError(f"Chromium did not open its DevTools socket within {timeout}s") from None
            match = _LISTENING.search(line)
            url = match.group(1) if match else None
        self.events: list[tuple[str, dict[str, Any], str | None]] = []
        self._changed = threading.Condition()
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="cdp", daemon=True).start()
        self._run(self._connect(url))

    def _drain(self, lines: queue.Queue[str]) -> None:
        for line in self.process.stderr:  # type: ignore[union-attr]
            lines.put(line)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout + 5)

    async def _connect(self, url: str) -> None:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(url, max_msg_size=0)
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future and not future.done():
                    future.set_result(data)
            else:
                with self._changed:
                    self.events.append((data["method"], data.get("params", {}), data.get("sessionId")))
                    self._changed.notify_all()

    async def _call(self, method: str, params: dict[str, Any], session: str | None) -> dict[str, Any]:
        ident = next(self._ids)
        future = self._loop.create_future()
        self._pending[ident] = future
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params,
                                            **({"sessionId": session} if session else {})}))
        answer = await asyncio.wait_for(future, self.timeout)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        return self._run(self._call(method, params or {}, session))

    def wait_for(self, method: str, session: str | None, start: int = 0,
                 where: Callable[[dict[str, Any]], bool] = lambda _: True) -> dict[str, Any]:
        """The first event `method` of `session` at or after index `start` of `events`."""
        def found() -> dict[str, Any] | None:
            return next((p for m, p, s in self.events[start:] if m == method and s == session and where(p)), None)
        with self._changed:
            if not self._changed.wait_for(lambda: found() is not None, self.timeout):
                raise CdpError(f"no {method} within {self.timeout}s")
            return found()  # type: ignore[return-value]

    def new_page(self) -> "Page":
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session, target)

    def close(self) -> None:
        if getattr(self, "_loop", None) is not None and self._loop.is_running():
            async def _close() -> None:
                await self._ws.close()
                await self._session.close()
            try:
                self._run(_close())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self._own_profile:
            shutil.rmtree(self.profile, ignore_errors=True)


# Records what the page's Content-Security-Policy blocked. Scripts injected over CDP run outside the
# page's CSP, so this listener is not itself subject to it.
_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline")));
"""


class Page:
    def __init__(self, browser: Browser, session: str, target: str) -> None:
        self.browser, self.session, self.target = browser, session, target
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_VIOLATIONS})
        self.first_event = len(browser.events)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def set_width(self, width: int, mobile: bool = False, scripts: bool = True) -> None:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 900 if not mobile else 844, "deviceScaleFactor": 1, "mobile": mobile})
        self.call("Emulation.setScriptExecutionDisabled", {"value": not scripts})

    def open(self, url: str) -> None:
        start = len(self.browser.events)
        self.call("Page.navigate", {"url": url})
        self.browser.wait_for("Page.loadEventFired", self.session, start)

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in answer:
            raise CdpError(f"{expression[:60]}...: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def events(self, *methods: str) -> list[dict[str, Any]]:
        return [p for m, p, s in self.browser.events[self.first_event:] if s == self.session and m in methods]

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, error log entries (CSP reports land here) and dialogs."""
        out = [f"console.{p['type']}: {p.get('args')}" for p in self.events("Runtime.consoleAPICalled")
               if p["type"] in ("error", "assert", "warning")]
        out += [f"exception: {p['exceptionDetails']}" for p in self.events("Runtime.exceptionThrown")]
        out += [f"log {p['entry']['level']}: {p['entry'].get('text')}" for p in self.events("Log.entryAdded")
                if p["entry"]["level"] in ("error", "warning")]
        out += [f"dialog: {p.get('message')}" for p in self.events("Page.javascriptDialogOpening")]
        return out

    def screenshot(self, path: Path, max_height: float | None = None) -> None:
        """The whole page, or its top `max_height` CSS pixels."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        height = min(size["height"], max_height or size["height"])
        clip = {"x": 0, "y": 0, "width": size["width"], "height": height, "scale": 1}
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def key(self, key: str, code: str, text: str = "", key_code: int = 0) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": key_code,
                                                 **({"text": text} if text and kind == "keyDown" else {})})

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})
