"""A small Chrome DevTools Protocol client for the UI tests: launch a headless Chromium, drive one tab, kill it.

Only what the tests use: navigate and wait for the load event, evaluate JavaScript in the page to read the DOM,
click an element with real mouse events at its centre, type with real key input, save screenshots. One websocket to
the browser (aiohttp's client); the tab is a flattened session on it (`Target.attachToTarget`, `flatten: true`), so
every command and event carries the tab's `sessionId`.

Chromium always dies with the `Browser` context: `Browser.close` first, then SIGKILL to the process group it was
started in (its zygote, GPU and renderer processes live there too).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

LISTENING = re.compile(rb"DevTools listening on (ws://\S+)")


class CDPError(Exception):
    pass


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Connection:
    """The browser websocket: commands matched to replies by id, events handed to whoever waits for them."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, str | None, asyncio.Future[dict[str, Any]]]] = []
        self._reader = asyncio.create_task(self._read(), name="cdp-reader")

    async def _read(self) -> None:
        error: BaseException = CDPError("the DevTools websocket closed")
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = message.json()
                if "id" in data:
                    future = self._replies.pop(data["id"], None)
                    if future is not None and not future.done():
                        if "error" in data:
                            future.set_exception(CDPError(f"{data['error']}"))
                        else:
                            future.set_result(data.get("result", {}))
                    continue
                for waiter in list(self._waiters):
                    method, session, future = waiter
                    if data.get("method") == method and session in (None, data.get("sessionId")):
                        self._waiters.remove(waiter)
                        if not future.done():
                            future.set_result(data.get("params", {}))
        except Exception as err:  # handed to every waiter below
            error = err
        for future in [*self._replies.values(), *(w[2] for w in self._waiters)]:
            if not future.done():
                future.set_exception(error)

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send_json(message)
        return await asyncio.wait_for(future, 30)

    def expect(self, method: str, session: str | None = None) -> asyncio.Future[dict[str, Any]]:
        """A future for the next `method` event; register it before doing what triggers the event."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, session, future))
        return future

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self.ws.close()


class Tab:
    def __init__(self, connection: Connection, session: str) -> None:
        self.cdp = connection
        self.session = session

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.cdp.send(method, params, self.session)

    async def _until_loaded(self, action: Any, within: float = 30) -> None:
        loaded = self.cdp.expect("Page.loadEventFired", self.session)
        try:
            await action
            await asyncio.wait_for(loaded, within)
        finally:
            loaded.cancel()

    async def navigate(self, url: str) -> None:
        async def go() -> None:
            result = await self.send("Page.navigate", {"url": url})
            if result.get("errorText"):
                raise CDPError(f"navigating to {url}: {result['errorText']}")

        await self._until_loaded(go())

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (awaited if it is a promise)."""
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def url(self) -> str:
        return str(await self.evaluate("location.href"))

    async def _centre(self, selector: str) -> tuple[float, float]:
        box = await self.evaluate(
            f"""(() => {{
                const e = document.querySelector({_js(selector)});
                if (!e) return null;
                e.scrollIntoView({{block: "center"}});
                const r = e.getBoundingClientRect();
                return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height];
            }})()"""
        )
        if box is None:
            raise CDPError(f"no element matches {selector!r} on {await self.url()}")
        if box[2] <= 0 or box[3] <= 0:
            raise CDPError(f"{selector!r} is not visible (its box is {box[2]}×{box[3]})")
        return box[0], box[1]

    async def click(self, selector: str, *, navigates: bool = True) -> None:
        """A left click with real mouse events at the element's centre; waits for the page it opens."""
        x, y = await self._centre(selector)

        async def press() -> None:
            for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
                event = {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
                if kind == "mouseMoved":
                    event.update(button="none", clickCount=0)
                await self.send("Input.dispatchMouseEvent", event)

        if navigates:
            await self._until_loaded(press())
        else:
            await press()

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the field by clicking it, clear it, and type `text` as keyboard input."""
        await self.click(selector, navigates=False)
        await self.evaluate(f"document.querySelector({_js(selector)}).select()")
        await self.send("Input.insertText", {"text": text})

    async def press_enter(self) -> None:
        async def enter() -> None:
            key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}
            await self.send("Input.dispatchKeyEvent", {"type": "keyDown", **key})
            await self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Enter", "code": "Enter"})

        await self._until_loaded(enter())

    async def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            height = min(size["height"], 8000)
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["width"], "height": height,
                                                              "scale": 1})  # fmt: skip
        data = await self.send("Page.captureScreenshot", params)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path


def _js(text: str) -> str:
    """A JavaScript string literal."""
    return json.dumps(text)


class Browser:
    def __init__(self, process: asyncio.subprocess.Process, session: aiohttp.ClientSession, cdp: Connection) -> None:
        self.process = process
        self.http = session
        self.cdp = cdp

    async def new_tab(self, width: int = 1280, height: int = 900) -> Tab:
        target = await self.cdp.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        tab = Tab(self.cdp, attached["sessionId"])
        await tab.send("Page.enable")
        await tab.send("Runtime.enable")
        await tab.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return tab


async def _listening(process: asyncio.subprocess.Process, within: float) -> str:
    assert process.stderr is not None
    seen: list[bytes] = []

    async def scan() -> str:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            seen.append(line)
            if match := LISTENING.search(line):
                return match.group(1).decode()
        raise CDPError("Chromium exited before listening:\n" + b"".join(seen).decode(errors="replace"))

    try:
        return await asyncio.wait_for(scan(), within)
    except TimeoutError:
        output = b"".join(seen).decode(errors="replace")
        raise CDPError(f"Chromium did not listen within {within}s:\n{output}") from None


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():  # an unread pipe would fill up and block Chromium
        pass


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the group Chromium leads (start_new_session): only its processes


@contextlib.asynccontextmanager
async def launch(executable: str, profile: Path, *, within: float = 30) -> AsyncIterator[Browser]:
    """A headless Chromium with a throwaway profile in `profile`; killed on exit, whatever happened."""
    args = [
        executable,
        "--headless=new",
        "--no-sandbox",  # tests run as root in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--mute-audio",
        "--hide-scrollbars",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    drain: asyncio.Task[None] | None = None
    session: aiohttp.ClientSession | None = None
    cdp: Connection | None = None
    try:
        url = await _listening(process, within)
        assert process.stderr is not None
        drain = asyncio.create_task(_drain(process.stderr), name="chromium-stderr")
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(url, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(ws_close=5))
        cdp = Connection(ws)
        yield Browser(process, session, cdp)
    finally:
        if cdp is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(cdp.send("Browser.close"), 5)
            await cdp.close()
        if session is not None:
            await session.close()
        _kill_group(process)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 10)
        if drain is not None:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await drain
