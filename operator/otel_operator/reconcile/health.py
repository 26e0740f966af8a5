"""The operator's probes (`--liveness URL`): `<path>` (e.g. /healthz) answers while the process runs, `/readyz`
once the admission webhooks accept connections (at once when there are none).

Served by the operator itself rather than by kopf: kopf's endpoint exists only while its operator runs, and the
reconciling operator runs only on the replica that holds the leader Lease. Standby replicas must be alive (not
restarted by the kubelet) and, with webhooks, ready (the webhook Service sends the API server's calls to them).
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Awaitable, Callable

from aiohttp import web

from otel_operator import serving

READY_PATH = "/readyz"


async def accepts(host: str, port: int, within: float = 1.0) -> bool:
    """Whether something listens on host:port (a TCP connect, closed at once)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), within)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def serve_health(
    url: str,
    alive: Callable[[], bool],
    ready: Callable[[], Awaitable[bool]],
    limits: serving.ServerLimits | None = None,
) -> web.AppRunner:
    """Bind the probes at `url` (http://HOST:PORT/PATH): PATH is `alive()`, /readyz is `ready()`."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/healthz"

    async def liveness(_: web.Request) -> web.Response:
        return web.Response(text="ok\n") if alive() else web.Response(status=503, text="stopping\n")

    async def readiness(_: web.Request) -> web.Response:
        return web.Response(text="ready\n") if await ready() else web.Response(status=503, text="not ready\n")

    app = web.Application()
    app.router.add_get(path, liveness)
    if path != READY_PATH:
        app.router.add_get(READY_PATH, readiness)
    limits = limits or serving.ServerLimits()
    runner = serving.runner(app, limits)  # the product's one serving policy: timeouts, a cap
    await runner.setup()
    host = parts.hostname or None
    await serving.GuardedSite(
        runner,
        None if host in (None, "0.0.0.0", "") else host,
        parts.port or 8080,
        limits=limits,
        name="health",
        reuse_address=True,
    ).start()
    return runner
