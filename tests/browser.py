"""Headless Chromium (Debian's `chromium`) over the DevTools protocol, for the tests of the HTML pages.

aiohttp's websocket client drives it (no new dependency). `inspect` loads a page, evaluates an expression
in it, records every console message, exception and network request, and saves a full-page screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1000,900"]  # fmt: skip
#: Events that are noise on a page that should be silent: console messages and uncaught exceptions.
NOISE = ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded")


#: Per chart: its title, its marks (lines, dots, bars) and the extent of its data group, as rendered.
CHARTS_JS = """Array.from(document.querySelectorAll('svg.chart')).map(svg => {
  const g = svg.querySelector('g.data'), box = g.getBBox();
  return {title: svg.getAttribute('aria-label'), lines: g.querySelectorAll('polyline').length,
          marks: g.querySelectorAll('polyline, circle, rect').length, width: box.width, height: box.height};
})"""


@dataclass
class Devtools:
    ws: aiohttp.ClientWebSocketResponse
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self.ids)
        await self.ws.send_json({"id": n, "method": method, "params": params})
        while True:
            message = await self.next()
            if message.get("id") == n:
                assert "error" not in message, message
                return dict(message["result"])

    async def loaded(self, url: str) -> None:
        """Wait until the page at `url` has loaded (not a load event of the blank page before it)."""
        check = f"document.readyState === 'complete' && location.href === {json.dumps(url)}"
        deadline = time.monotonic() + 30
        while not (await self.call("Runtime.evaluate", expression=check, returnByValue=True))["result"]["value"]:
            assert time.monotonic() < deadline, f"{url} did not load"
            await asyncio.sleep(0.1)

    async def next(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.receive_str(), 30))
        if "method" in message:
            self.events.append(message)
        return message


@dataclass
class Seen:
    """What a page did in the browser: the expression's value, its console noise, the URLs it requested."""

    value: Any
    noise: list[dict[str, Any]]
    requests: list[str]


async def inspect(
    page: Path, screenshot: Path, profile: Path, expression: str = CHARTS_JS, height: int | None = None
) -> Seen:
    """`expression`'s value in `page` loaded in headless Chromium, console noise, requests; a PNG of the whole
    page (of its top `height` pixels when given)."""
    assert CHROMIUM is not None, "chromium is not installed"
    log = (profile.parent / "chromium.log").open("wb")
    proc = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=log, stderr=log, start_new_session=True)  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < deadline and proc.poll() is None, "chromium did not start"
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                target = next(t for t in await r.json() if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                cdp = Devtools(ws)
                for domain in ("Page", "Runtime", "Log", "Network"):
                    await cdp.call(f"{domain}.enable")
                await cdp.call("Page.navigate", url=page.as_uri())
                await cdp.loaded(page.as_uri())
                found = await cdp.call("Runtime.evaluate", expression=expression, returnByValue=True)
                size = (await cdp.call("Page.getLayoutMetrics"))["cssContentSize"]
                tall = height or int(size["height"]) + 20
                await cdp.call("Emulation.setDeviceMetricsOverride", width=1000, height=tall,
                               deviceScaleFactor=1, mobile=False)  # fmt: skip
                shot = await cdp.call("Page.captureScreenshot", format="png")
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                await asyncio.sleep(0.2)  # late console messages
                await cdp.call("Runtime.evaluate", expression="1")
        requests = [e["params"]["request"]["url"] for e in cdp.events if e["method"] == "Network.requestWillBeSent"]
        return Seen(found["result"]["value"], [e for e in cdp.events if e["method"] in NOISE], requests)
    finally:
        with contextlib.suppress(ProcessLookupError):  # (its own process group: chromium and its helpers)
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()
