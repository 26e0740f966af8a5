"""The allocator's HTTP API: upstream's routes and shapes, served from bodies the model already rendered.

Every handler is a lookup: no serialisation, no sorting, no copying of maps per request. Wire compatibility with
the upstream Target Allocator (what the Collector's prometheus receiver and Prometheus's HTTP SD rely on):
- `/jobs/<job>/targets`: the job segment is read from the raw path and decoded as Go's `url.QueryUnescape` does
  (`%2F` → `/`, `+` → space); a literal `/` in a job name must be sent as `%2F`. With `collector_id` (the first
  value only): a JSON array, `[]` for an unknown job or collector. Without: a map of every collector.
- `application/json` everywhere JSON is served; unknown paths and non-GET methods get `404 page not found`.
- `/scrape_configs` redacts secrets as `"<secret>"` unless the request came over the mutual-TLS listener (or
  `allow_insecure_auth_secrets` is on).
Better than upstream, on purpose: strong ETags with `If-None-Match` → 304; `/scrape_configs` answers 503 until the
first configuration is rendered, and with prometheusCR until the monitors' first lists arrived (upstream answers 200
with an empty body, which makes a collector drop its jobs). The collector ignores the status and parses any body as
YAML, so the 503 body is a quoted string: never a mapping (a `reason: text` line would be one), which makes the
collector's parse fail and keep the jobs it has; `/jobs/<job>/targets` answers 503 too until the allocator is ready
(every first list seen), so a restarted allocator never hands out an assignment made before it knew every collector
(upstream serves it: a target can briefly get two scrapers, or none); its clients keep their last targets meanwhile;
a malformed escape in a job name is a 400 that says so (upstream: 500 with `{}`); the all-collectors map links to a
route that exists.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from otel_operator.allocator import ui
from otel_operator.allocator.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from otel_operator.allocator.metrics import AllocatorMetrics
from otel_operator.allocator.model import AllocationModel, Body

log = logging.getLogger("otel_operator.allocator.server")

JSON = "application/json"
NOT_FOUND = "404 page not found"


@dataclass(slots=True)
class Served:
    """What the routes read. The shell replaces fields as it recomputes; handlers only read them."""

    model: AllocationModel
    metrics: AllocatorMetrics
    scrape_configs_redacted: Body | None = None
    scrape_configs_full: Body | None = None
    ready: bool = False
    not_ready_reason: str = "starting"
    allow_insecure_secrets: bool = False
    # `/debug/diagnose`: the findings as dicts, computed on request (a debugging view, not the scrape path)
    diagnose: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None


_HEX = "0123456789abcdefABCDEF"


def go_query_unescape(text: str) -> str:
    """Go's `url.QueryUnescape`: `+` is a space and every `%` must start a two-digit hex escape (ValueError if not)."""
    raw = text.encode()
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        byte = raw[i]
        if byte == 0x25:  # %
            if i + 2 >= n or chr(raw[i + 1]) not in _HEX or chr(raw[i + 2]) not in _HEX:
                raise ValueError(f'invalid URL escape "{raw[i : i + 3].decode(errors="replace")}"')
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(0x20 if byte == 0x2B else byte)  # + is a space
            i += 1
    return out.decode(errors="replace")


def _body(request: web.Request, body: Body, status: int = 200) -> web.Response:
    headers = {"ETag": body.etag, "Cache-Control": "no-cache"}
    if_none_match = request.headers.get("If-None-Match")
    # weak comparison (RFC 9110 13.1.2): a proxy that compresses turns "x" into W/"x"
    if if_none_match and (
        if_none_match.strip() == "*" or body.etag in (t.strip().removeprefix("W/") for t in if_none_match.split(","))
    ):
        return web.Response(status=304, headers=headers)
    return web.Response(status=status, body=body.data, content_type=JSON, headers=headers)


def not_ready_body(reason: str) -> str:
    """/scrape_configs before it can answer: a JSON (so YAML) string, which a collector cannot take for its jobs."""
    return json.dumps(f"target allocator not ready: {reason}")


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


class Routes:
    """The route table over one `Served`. `secure` marks the mutual-TLS listener's app (secrets served whole)."""

    def __init__(self, served: Served, *, secure: bool = False) -> None:
        self.served = served
        self.secure = secure
        self._exact: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {
            "/scrape_configs": self.scrape_configs,
            "/jobs": self.jobs,
            "/livez": self.livez,
            "/readyz": self.readyz,
            "/metrics": self.metrics,
            "/debug/diagnose": self.diagnose,
        }

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """One handler for every path: the job segment must be taken from the raw path before any decoding."""
        started = time.perf_counter()
        path = request.raw_path.partition("?")[0]
        route = path
        if request.method not in ("GET", "HEAD"):
            route, response = "other", _text(404, NOT_FOUND)
        elif handler := self._exact.get(path):
            response = await handler(request)
        else:
            parts = path.split("/")
            if len(parts) == 4 and parts[1] == "jobs" and parts[3] == "targets" and parts[2]:
                route, response = "/jobs/:job_id/targets", self.targets(request, parts[2])
            elif ui.is_ui_path(path):  # the web UI: HTML pages for people (see ui.py)
                route, response = self.ui_page(request, path)
            else:
                route, response = "other", _text(404, NOT_FOUND)
        self.served.metrics.http_duration.labels(route).observe(time.perf_counter() - started)
        return response

    def ui_page(self, request: web.Request, path: str) -> tuple[str, web.Response]:
        s = self.served
        page = ui.route(s.model, path, request.query, ready=s.ready, reason=s.not_ready_reason)
        if page is None:
            return "other", _text(404, NOT_FOUND)
        response = web.Response(status=page.status, body=page.body, headers=ui.HEADERS)
        response.headers["Content-Type"] = ui.CONTENT_TYPE
        return page.route, response

    async def scrape_configs(self, request: web.Request) -> web.Response:
        s = self.served
        body = s.scrape_configs_full if (self.secure or s.allow_insecure_secrets) else s.scrape_configs_redacted
        if body is None:
            return _text(503, not_ready_body(s.not_ready_reason))
        return _body(request, body)

    async def jobs(self, request: web.Request) -> web.Response:
        return _body(request, self.served.model.jobs_body)

    def targets(self, request: web.Request, raw_job: str) -> web.Response:
        try:
            job = go_query_unescape(raw_job)
        except ValueError as err:
            return web.json_response({"error": f"job name in path: {err}; escape '%' as %25"}, status=400)
        if not self.served.ready:
            # a restarted allocator that has not yet seen every collector and monitor would hand out a partial or
            # doubled assignment; an error makes each client keep the targets it has (Prometheus' HTTP SD and the
            # Collector's receiver both keep the last good answer)
            return _text(503, not_ready_body(self.served.not_ready_reason))
        model = self.served.model
        if "collector_id" in request.query:
            return _body(request, model.targets_body(job, request.query.getone("collector_id")))
        return _body(request, model.job_body(job))

    async def diagnose(self, request: web.Request) -> web.Response:
        """The troubleshooting guide's checks, answered from what this allocator sees: JSON, or HTML for a browser."""
        if self.served.diagnose is None:
            return _text(404, "diagnosis needs Kubernetes (this allocator runs with static collectors)")
        findings = await self.served.diagnose()
        wants_html = "text/html" in request.headers.get("Accept", "") and request.query.get("format") != "json"
        if wants_html:
            page = ui.diagnosis_page(findings)
            response = web.Response(status=page.status, body=page.body, headers=ui.HEADERS)
            response.headers["Content-Type"] = ui.CONTENT_TYPE
            return response
        return web.json_response(findings)

    async def livez(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def readyz(self, request: web.Request) -> web.Response:
        s = self.served
        if s.ready:
            return web.Response(status=200)
        return _text(503, f"not ready: {s.not_ready_reason}")

    async def metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.served.metrics.exposition())
        response.headers["Content-Type"] = METRICS_CONTENT_TYPE
        return response


def make_app(served: Served, *, secure: bool = False) -> web.Application:
    routes = Routes(served, secure=secure)
    app = web.Application(handler_args={"max_field_size": 16384})
    app.router.add_route("*", "/{tail:.*}", routes.dispatch)
    return app
