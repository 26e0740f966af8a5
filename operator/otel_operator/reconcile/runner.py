"""Start the kopf operator with our handlers: used by `otel-operator run` and by the integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import kopf

from otel_operator.admission.runner import WebhookOptions, serve_admission
from otel_operator.manifests import DEFAULT_ALLOCATOR_IMAGE, DEFAULT_COLLECTOR_IMAGE, BuildOptions, featuregates
from otel_operator.manifests.featuregates import DEFAULT_ENABLED
from otel_operator.manifests.labels import DEFAULT_ANNOTATION_FILTERS
from otel_operator.reconcile.handlers import Context, register
from otel_operator.reconcile.health import accepts, serve_health
from otel_operator.reconcile.kube import Kube
from otel_operator.reconcile.leader import LeaderElector
from otel_operator.reconcile.login import api_client, register_login
from otel_operator.reconcile.metrics import serve_metrics
from otel_operator.serving import ServerLimits


@dataclass(frozen=True, slots=True)
class OperatorOptions:
    namespaces: Sequence[str] = ()  # empty: every namespace
    kubeconfig: str | None = None
    peering: str | None = None  # None: standalone (one replica); a name: kopf peering between replicas
    liveness: str | None = None  # e.g. http://0.0.0.0:8080/healthz
    log_format: str = "plain"
    verbose: bool = False
    collector_image: str = DEFAULT_COLLECTOR_IMAGE  # when a resource names none
    allocator_image: str = DEFAULT_ALLOCATOR_IMAGE  # the image running `otel-operator allocator`
    allocator_rbac: bool = True  # create the allocator's ClusterRole and binding
    leader_election: bool = False  # several replicas: only the Lease holder reconciles
    leader_election_namespace: str | None = None  # default: the pod's namespace ($POD_NAMESPACE), else "default"
    leader_election_id: str = "otel-operator"
    metrics_addr: str | None = None  # e.g. ":8080": serve /metrics there
    collector_rbac: bool = True  # create the ClusterRole and binding the collectors' components need
    feature_gates: frozenset[str] = DEFAULT_ENABLED  # upstream's --feature-gates, parsed (featuregates.parse)
    # Regular expressions (--labels-filter / --annotations-filter): resource labels and annotations matching any are
    # not copied to the objects. The annotation filters add to labels.DEFAULT_ANNOTATION_FILTERS.
    label_filters: tuple[str, ...] = ()
    annotation_filters: tuple[str, ...] = ()
    webhooks: WebhookOptions | None = None  # None: no admission webhooks
    http_limits: ServerLimits = field(default_factory=ServerLimits)  # the health, metrics and webhook servers'


def build_options(opts: OperatorOptions) -> BuildOptions:
    """The settings that shape what the operator builds, from its command-line options."""
    return BuildOptions(
        collector_image=opts.collector_image,
        allocator_image=opts.allocator_image,
        allocator_rbac=opts.allocator_rbac,
        collector_rbac=opts.collector_rbac,
        feature_gates=opts.feature_gates,
        label_filters=opts.label_filters,
        annotation_filters=(*DEFAULT_ANNOTATION_FILTERS, *opts.annotation_filters),
    )


def configure_logging(opts: OperatorOptions) -> None:
    fmt = {"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}[opts.log_format]
    kopf.configure(verbose=opts.verbose, log_format=fmt)


async def run_operator(
    opts: OperatorOptions,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
) -> None:
    """Run until `stop_flag` is set. With leader election, wait for the Lease first, and stop (raising
    LeadershipLost) if it is lost; a clean stop releases it."""
    log = logging.getLogger("otel_operator")
    log.info("feature gates: %s", featuregates.summary(opts.feature_gates))  # as upstream logs them at start
    ctx = Context(build_options(opts), kubeconfig=opts.kubeconfig)
    registry = register(kopf.OperatorRegistry(), ctx)
    register_login(registry, opts.kubeconfig)
    metrics_server = (
        await serve_metrics(ctx.metrics, opts.metrics_addr, opts.http_limits) if opts.metrics_addr else None
    )
    stop = asyncio.Event()  # both kopf operators stop on it: the caller's flag, a signal, or one of them ending
    reconciling, admitting = asyncio.Event(), asyncio.Event()  # kopf's ready flags
    health = (
        await serve_health(opts.liveness, lambda: not stop.is_set(), _ready(opts, admitting), opts.http_limits)
        if opts.liveness
        else None
    )
    helpers = [
        asyncio.create_task(_set_when(stop_flag, stop), name="stop-flag"),
        asyncio.create_task(_relay(reconciling, ready_flag), name="ready-flag"),
        asyncio.create_task(_take_signals(stop, (admitting, reconciling)), name="signals"),
    ]
    admission = (
        asyncio.create_task(
            serve_admission(
                opts.webhooks,
                build_options(opts),
                kubeconfig=opts.kubeconfig,
                namespaces=opts.namespaces,
                stop=stop,
                ready=admitting,
                metrics=ctx.metrics,
                limits=opts.http_limits,
            ),
            name="admission",
        )
        if opts.webhooks is not None
        else None
    )
    main = asyncio.create_task(_run(opts, ctx, registry, stop, reconciling), name="reconcile")
    try:
        await asyncio.wait({main, *([admission] if admission else [])}, return_when=asyncio.FIRST_COMPLETED)
        failed = admission is not None and admission.done() and not stop.is_set()
        stop.set()  # whichever ended, the other stops gracefully (the reconciler releases its Lease)
        await main
        if admission is not None:
            await admission  # its error (no certificate, port taken) is the process's: the pod restarts, saying why
            if failed:
                raise RuntimeError("the admission webhook server stopped")
    finally:
        stop.set()
        ctx.metrics.leader.set(0)
        for task in (*helpers, *([admission] if admission else []), main):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if health is not None:
            await health.cleanup()
        if metrics_server is not None:
            await metrics_server.cleanup()


def _ready(opts: OperatorOptions, admitting: asyncio.Event) -> Callable[[], Awaitable[bool]]:
    """Readiness: with webhooks, once their server accepts connections; without, at once."""

    async def ready() -> bool:
        hooks = opts.webhooks
        if hooks is None:
            return True
        host = "127.0.0.1" if hooks.addr in (None, "", "0.0.0.0", "::") else hooks.addr
        return admitting.is_set() and await accepts(host, hooks.port)

    return ready


async def _set_when(flag: asyncio.Event | threading.Event | None, event: asyncio.Event) -> None:
    await _wait(flag)
    event.set()


async def _relay(event: asyncio.Event, flag: asyncio.Event | threading.Event | None) -> None:
    await event.wait()
    if flag is not None:
        flag.set()


async def _take_signals(stop: asyncio.Event, started: tuple[asyncio.Event, ...]) -> None:
    """SIGINT/SIGTERM stop both kopf operators. Each kopf operator installs its own handlers when it starts (the
    last one wins, stopping only itself), so ours are installed again after each start."""
    if threading.current_thread() is not threading.main_thread():
        return  # no signals outside the main thread (tests run the operator in a thread)
    loop = asyncio.get_running_loop()
    pending = set(started)
    while pending:
        waits = {asyncio.create_task(e.wait()): e for e in pending}
        done, rest = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in rest:
            task.cancel()
        pending -= {waits[t] for t in done}
        await asyncio.sleep(0.1)  # kopf adds its handlers just after it says it is ready
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)


async def _run(
    opts: OperatorOptions,
    ctx: Context,
    registry: kopf.OperatorRegistry,
    stop_flag: asyncio.Event | threading.Event | None,
    ready_flag: asyncio.Event | threading.Event | None,
) -> None:

    def operator(stop: asyncio.Event | threading.Event | None) -> Coroutine[Any, Any, None]:
        return kopf.operator(
            registry=registry,
            clusterwide=not opts.namespaces,
            namespaces=list(opts.namespaces),
            standalone=opts.peering is None,
            peering_name=opts.peering,
            stop_flag=stop,
            ready_flag=ready_flag,
        )

    if not opts.leader_election:
        ctx.metrics.leader.set(1)
        await operator(stop_flag)
        return
    api = await api_client(opts.kubeconfig)
    namespace = opts.leader_election_namespace or os.environ.get("POD_NAMESPACE") or "default"
    elector = LeaderElector(Kube(api), namespace, opts.leader_election_id)
    try:
        await _until_stopped(elector.acquire(), stop_flag)
        if _is_set(stop_flag):
            return
        stop = asyncio.Event()
        ctx.metrics.leader.set(1)
        keeping = asyncio.create_task(elector.keep())
        running = asyncio.create_task(operator(stop))
        watching = asyncio.create_task(_wait(stop_flag))
        done, _ = await asyncio.wait({keeping, running, watching}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()  # whatever ended first, kopf stops now
        await running
        keeping.cancel()
        watching.cancel()
        if keeping in done:
            keeping.result()  # LeadershipLost: the caller (the process) ends, a new candidate starts
        await elector.release()
    finally:
        await api.close()


def _is_set(flag: asyncio.Event | threading.Event | None) -> bool:
    return flag is not None and flag.is_set()


async def _wait(flag: asyncio.Event | threading.Event | None) -> None:
    while not _is_set(flag):
        if isinstance(flag, asyncio.Event):
            await flag.wait()
            return
        await asyncio.sleep(0.2)  # a threading.Event (set from another thread): poll it
    return


async def _until_stopped(work: Coroutine[Any, Any, None], flag: asyncio.Event | threading.Event | None) -> None:
    """Run `work` until it ends or `flag` is set."""
    task = asyncio.create_task(work)
    watcher = asyncio.create_task(_wait(flag))
    await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for t in (task, watcher):
        t.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
