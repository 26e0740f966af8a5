"""One serving policy for every HTTP listener the product opens (the allocator's plain and mTLS listeners, the
operator's health and metrics servers), so no client can hold the server hostage and no malformed request fills the
log.

- Idle timeout: a connection that has not sent a complete request head within `idle_timeout` of its accept, or of its
  last response, is closed (aiohttp's keep-alive timer, started at accept). This is Go's ReadHeaderTimeout and
  IdleTimeout in one; upstream's allocator sets only the first, at 90 s.
- A connection cap: at `max_connections` the server first closes its longest-idle connection (one waiting for a
  request), and when every connection is busy, refuses the new one with `503` and `Retry-After`, at once.
- Descriptor pressure: when accept() fails for want of file descriptors, the idle connections of every guarded
  server are closed (asyncio pauses accepting for a second by itself), and one warning says so, at most once a
  minute; the loop never spins.
- A malformed request is answered with its status and a one-line reason, and logged as one line (client address,
  reason): at debug each time, at info at most every 10 s with a count. Tracebacks stay for what is a bug: an
  exception in a handler (500).
- Responses say `Server: otel-operator`, not the Python and aiohttp versions.
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

log = logging.getLogger("otel_operator.serving")

DEFAULT_IDLE_TIMEOUT: Final = 30.0
MIN_IDLE_TIMEOUT: Final = 1.0  # seconds: less leaves a client no time to send its request
MAX_DEFAULT_CONNECTIONS: Final = 4096
LINGER: Final = 1.0  # seconds
SERVER: Final = "otel-operator"  # the Server header: no runtime or library versions for a scanner to match
REFUSAL: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: 21\r\n\r\ntoo many connections\n"
)
_UNPRINTABLE: Final = re.compile(r"[^\x20-\x7e]+")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT  # seconds; see the module's docstring
    max_connections: int = 0  # 0: half the soft descriptor limit, at most MAX_DEFAULT_CONNECTIONS

    def connection_cap(self) -> int:
        if self.max_connections > 0:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return MAX_DEFAULT_CONNECTIONS
        return max(16, min(MAX_DEFAULT_CONNECTIONS, soft // 2))


class RateLimitedLog:
    """One line now, then at most one per `every` seconds, each saying how many were folded into it."""

    def __init__(self, logger: logging.Logger, level: int, every: float, clock: Callable[[], float] = time.monotonic):
        self.logger, self.level, self.every, self.clock = logger, level, every, clock
        self._last: float | None = None
        self._folded = 0

    def __call__(self, message: str) -> bool:
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            self._folded += 1
            return False
        folded, self._folded, self._last = self._folded, 0, now
        self.logger.log(self.level, "%s%s", message, f" ({folded} more since the last such line)" if folded else "")
        return True


_bad_request_summary = RateLimitedLog(log, logging.INFO, 10.0)
_refusal_summary = RateLimitedLog(log, logging.WARNING, 60.0)
_pressure_summary = RateLimitedLog(log, logging.WARNING, 60.0)


def one_line(text: str, limit: int = 120) -> str:
    """The first line of a parser's message, printable and short: it may echo the client's bytes."""
    first = _UNPRINTABLE.sub(" ", text.strip().splitlines()[0] if text.strip() else "").strip()
    return first if len(first) <= limit else first[: limit - 1] + "…"


def bad_request_reason(status: int, exc: BaseException | None, message: str | None) -> str:
    words = message or (getattr(exc, "message", None) if exc is not None else None) or ""
    return one_line(str(words)) or HTTPStatus(status).phrase


class ConciseHandler(RequestHandler):
    """aiohttp's connection handler, with client errors answered and logged in one line instead of a traceback."""

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500:  # a bug of ours: aiohttp's handling, traceback included
            return super().handle_error(request, status, exc, message)
        reason = bad_request_reason(status, exc, message)
        line = f"bad request from {request.remote or 'unknown peer'}: {status} {reason}"
        log.debug("%s", line)
        _bad_request_summary(line)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had begun; the connection is closed instead")
        response = web.Response(status=status, text=f"{status} {HTTPStatus(status).phrase}: {reason}\n")
        response.headers["Server"] = SERVER
        response.force_close()
        return response

    @property
    def idle(self) -> bool:
        """Waiting for a request (none being read or handled): what is shed first."""
        waiter = self._waiter
        return not self._messages and waiter is not None and not waiter.done()


class _Refusal(asyncio.Protocol):
    """A connection over the cap while every other one is busy: 503 at once, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(REFUSAL)
        transport.close()


_sites: weakref.WeakSet[GuardedSite] = weakref.WeakSet()


class GuardedSite(web.TCPSite):
    """`web.TCPSite` under the policy of this module. `wrap` turns each connection's handler into the protocol the
    listener runs (the mTLS listener wraps it in its TLS protocol); by default the handler itself."""

    def __init__(self, runner: web.BaseRunner, host: str | None, port: int, *, limits: ServerLimits | None = None,
                 name: str = "http", **kwargs: Any) -> None:  # fmt: skip
        super().__init__(runner, host, port, **kwargs)
        limits = limits or ServerLimits()
        self.limits, self.label = limits, name
        self.cap = limits.connection_cap()
        self.shed = 0
        self.refused = 0

    def wrap(self, handler: ConciseHandler) -> asyncio.BaseProtocol:
        return handler

    def _server_of_runner(self) -> web.Server:
        server = self._runner.server
        if server is None:
            raise RuntimeError("the runner is not set up")
        return server

    def handlers(self) -> list[ConciseHandler]:
        return [h for h in self._server_of_runner().connections if isinstance(h, ConciseHandler)]

    def shed_idle(self, keep: int = 0) -> int:
        """Close idle connections, oldest first, until at most `keep` idle ones remain; how many were closed."""
        idle = [h for h in self.handlers() if h.idle]
        closing = idle[: max(0, len(idle) - keep)]
        for handler in closing:
            handler.force_close()
        self.shed += len(closing)
        return len(closing)

    def protocol(self) -> asyncio.BaseProtocol:
        server = self._server_of_runner()
        if len(server.connections) >= self.cap:
            idle = next((h for h in self.handlers() if h.idle), None)
            if idle is None:
                self.refused += 1
                _refusal_summary(f"{self.label}: {self.cap} connections, all busy: refusing new ones with 503")
                return _Refusal()
            idle.force_close()
            self.shed += 1
        handler = ConciseHandler(server, loop=asyncio.get_running_loop(), **server._kwargs)
        return self.wrap(handler)

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner, as TCPSite.start does first
        loop = asyncio.get_running_loop()
        install_descriptor_guard(loop)
        self._server = await loop.create_server(
            self.protocol,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        _sites.add(self)

    async def stop(self) -> None:
        _sites.discard(self)
        await super().stop()

    @property
    def port(self) -> int:
        sockets = getattr(self._server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else self._port


async def _server_header(_: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER  # before aiohttp's default (its and Python's versions), which it keeps


def runner(app: web.Application, limits: ServerLimits) -> web.AppRunner:
    """An AppRunner whose connections close after `limits.idle_timeout` without a request (from accept on), and
    which drains an answered request's unread body for at most LINGER seconds (aiohttp's 10 s would let a client
    that trickles a body hold the connection that long after its answer)."""
    app.on_response_prepare.append(_server_header)
    return web.AppRunner(
        app, access_log=None, keepalive_timeout=limits.idle_timeout, lingering_time=LINGER, handle_signals=False
    )


def install_descriptor_guard(loop: asyncio.AbstractEventLoop) -> None:
    """On accept()'s EMFILE/ENFILE, shed every guarded server's idle connections; other exceptions go where they
    went before. Installed once per loop."""
    previous = loop.get_exception_handler()
    if getattr(previous, "_descriptor_guard", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            closed = sum(site.shed_idle() for site in list(_sites))
            _pressure_summary(
                f"out of file descriptors accepting connections ({context.get('exception')}): closed {closed} idle "
                "connections; raise the descriptor limit or lower max_connections"
            )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler._descriptor_guard = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)
