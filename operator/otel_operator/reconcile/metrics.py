"""The operator's own metrics, served on `--metrics-addr` (`/metrics`): what it reconciled, how it went, how long it
took, what it wrote, whether this replica leads, and the admission reviews it answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from otel_operator import serving

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class OperatorMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.reconciles = Counter(
            "otel_operator_reconcile",
            "Reconciles by resource kind and result (applied, unchanged, invalid, unmanaged, error).",
            ["kind", "result"],
            registry=r,
        )
        self.duration = Histogram(
            "otel_operator_reconcile_duration_seconds",
            "Seconds per reconcile, by resource kind.",
            ["kind"],
            buckets=BUCKETS,
            registry=r,
        )
        self.writes = Counter(
            "otel_operator_object_writes",
            "Objects the operator created, updated or deleted, by object kind and verb.",
            ["kind", "verb"],
            registry=r,
        )
        self.leader = Gauge("otel_operator_leader", "1 while this replica reconciles (holds the Lease).", registry=r)
        self.admissions = Counter(
            "otel_operator_admission_reviews",
            "Admission reviews answered, by webhook (its path) and result (allowed, refused, defaulted, injected, "
            "not-injected, error).",
            ["webhook", "result"],
            registry=r,
        )
        self.admission_duration = Histogram(
            "otel_operator_admission_duration_seconds",
            "Seconds per admission review, by webhook: the API server waits this long (timeoutSeconds 5).",
            ["webhook"],
            buckets=BUCKETS,
            registry=r,
        )

    @contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.duration.labels(kind).observe(time.perf_counter() - started)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def serve_metrics(
    metrics: OperatorMetrics, addr: str, limits: serving.ServerLimits | None = None
) -> web.AppRunner:
    """Bind `/metrics` on `addr` ("host:port", ":port" for every interface)."""

    async def handler(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", handler)
    limits = limits or serving.ServerLimits()
    runner = serving.runner(app, limits)  # the product's one serving policy: timeouts, a cap
    await runner.setup()
    host, _, port = addr.rpartition(":")
    site = serving.GuardedSite(
        runner, host.strip("[]") or None, int(port), limits=limits, name="metrics", reuse_address=True
    )
    await site.start()
    return runner
