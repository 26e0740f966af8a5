"""The allocator process: watches feed the model, one flush task keeps the served bodies current, aiohttp serves.

The event loop only does bounded work: it answers requests, reads watches, keeps the monitors (small objects) and
queues every discovery event (EndpointSlices, Pods, ...; their cost grows with the targets they make). A watch event
wakes the flush task, which waits a short batch window so a burst of events (a rollout, a re-list) costs one
recomputation, regenerates the monitor jobs on the loop if monitors changed (bounded by the monitors), and then
hands the heavy part to a worker thread: applying the queued events to the discovery indexes and the model,
assembling and relabeling the targets, assigning and rendering the bodies. The loop keeps serving the last bodies
meanwhile (each job's are swapped in whole) and queues what arrives for the next round. Upstream batches for 5 s at
several stages; here the window is 20 ms.

The worker is a daemon thread; between slices (1,024 targets, a queued event) it checks a stop flag and, every
10 ms of work, leaves the interpreter to the loop for 2 ms, so requests are answered promptly during a large change
and SIGTERM ends the process within moments even in the middle of one (`stop` waits for the worker's next slice).
Target caps (`target_limits`) bound what one job and all jobs may cost; a job over its cap is skipped with a
WARNING, a metric and a Warning Event on its monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import gc
import logging
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from aiohttp import web

from otel_operator import serving
from otel_operator.allocator import kubeclient, watch
from otel_operator.allocator.collectors import collectors_of
from otel_operator.allocator.config import AllocatorConfig, LabelSelector
from otel_operator.allocator.discovery import DiscoveryConfigError, DiscoveryRouter, JobDiscovery, job_discovery
from otel_operator.allocator.events import EventRecorder
from otel_operator.allocator.kubeclient import Api
from otel_operator.allocator.metrics import AllocatorMetrics
from otel_operator.allocator.model import AllocationModel, Body, FlushAborted, FlushResult, OverCap
from otel_operator.allocator.monitor_status import (
    Problem,
    StatusWriter,
    collector_binding,
    now_text,
    plan_patches,
)
from otel_operator.allocator.monitors import MONITOR_KINDS, MonitorConfigs, MonitorKey, merge_jobs
from otel_operator.allocator.scoped_watch import ReflectorGroup
from otel_operator.allocator.scrape_configs import ScrapeConfigsError, ScrapeGlobals, render_scrape_configs
from otel_operator.allocator.sd.pollers import PolledSD, Pollers
from otel_operator.allocator.server import Served, make_app
from otel_operator.allocator.strategies import Collector, by_name
from otel_operator.diagnose.core import diagnose_allocator, diagnose_static
from otel_operator.diagnose.model import Inputs
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.targets import GlobalDefaults, ScrapeConfigError, ScrapeSettings
from otel_operator.serving_tls import TLSSite

log = logging.getLogger("otel_operator.allocator")

POLLED = "polled"  # the receive() tag of an http/file/dns SD refresh
BATCH_WINDOW = 0.02  # seconds: how long a burst of events may keep arriving before one recomputation
IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
TRIM_AFTER = 10_000  # targets gone in one flush after which freed memory is handed back to the system
WORKER_SWITCH_INTERVAL = 0.0005  # seconds: sys.setswitchinterval while a worker computes
WORKER_BURST, WORKER_PAUSE = 0.010, 0.002  # seconds: the worker pauses this long after this much work
STOP_GRACE = 10.0  # seconds `stop` waits for a worker in the middle of a flush to reach its next slice
FREEZE_AFTER = 20_000  # new targets after which a worker run freezes what survived it (see `_work`)
# seconds a selected monitor must stay without targets before its NoTargets Event: just after an edit or a
# start its new jobs may not have been discovered yet, and a warning that is false a second later misleads
EMPTY_MONITOR_GRACE = 5.0
T = TypeVar("T")

DISCOVERY_RESOURCES: dict[str, watch.Resource] = {
    "Pod": watch.PODS,
    "Service": watch.SERVICES,
    "EndpointSlice": watch.ENDPOINTSLICES,
    "Endpoints": watch.ENDPOINTS,
    "Namespace": watch.NAMESPACES,
    "Node": watch.NODES,
    "Ingress": watch.INGRESSES,
    "ReplicaSet": watch.Resource("apps", "v1", "replicasets", "ReplicaSet", namespaced=True),
    "Job": watch.Resource("batch", "v1", "jobs", "Job", namespaced=True),
}
MONITOR_RESOURCES: dict[str, watch.Resource] = {
    "ServiceMonitor": watch.SERVICEMONITORS,
    "PodMonitor": watch.PODMONITORS,
    "Probe": watch.PROBES,
    "ScrapeConfig": watch.SCRAPECONFIGS,
}
CREDENTIAL_RESOURCES: dict[str, watch.Resource] = {"Secret": watch.SECRETS, "ConfigMap": watch.CONFIGMAPS}


def watch_resource(kind: str) -> watch.Resource | None:
    """The API resource whose watch delivers objects of `kind`; None for a kind nothing here knows."""
    for table in (DISCOVERY_RESOURCES, MONITOR_RESOURCES, CREDENTIAL_RESOURCES):
        if kind in table:
            return table[kind]
    return None


def own_namespace() -> str:
    """The allocator's own namespace (for `own_namespace: true`): $POD_NAMESPACE, the service account's, or default."""
    if ns := os.environ.get("POD_NAMESPACE"):
        return ns
    with contextlib.suppress(OSError), open(IN_CLUSTER_NAMESPACE) as f:
        return f.read().strip() or "default"
    return "default"


async def kube_client(config: AllocatorConfig) -> Api:
    """A client from the configured kubeconfig when it exists, else as the operator finds one (in-cluster first)."""
    path = config.kube_config_file_path
    exists: bool = await asyncio.to_thread(Path(path).exists) if path else False
    return await kubeclient.kube_client(path if exists else None)


@dataclass(slots=True)
class _Tagged:
    """A reflector's sink that tells the allocator which watch the events come from."""

    owner: Allocator
    tag: str

    def on_replace(self, kind: str, objects: list[dict[str, Any]]) -> None:
        self.owner.receive(self.tag, kind, None, objects)

    def on_event(self, kind: str, type: str, obj: dict[str, Any]) -> None:
        self.owner.receive(self.tag, kind, type, obj)


def _release_memory() -> None:
    """Collect cycles and hand freed heap pages back to the system (glibc's malloc_trim; a no-op elsewhere), so RSS
    falls after a big job goes away instead of staying at its peak."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


async def in_worker(
    fn: Callable[[], T], name: str = "allocator worker", started: Callable[[threading.Thread], None] | None = None
) -> T:
    """`fn()` in a new daemon thread, awaited. Unlike asyncio.to_thread, a process that is stopping never waits for
    it (the default executor's threads are joined at exit): cancelling the await abandons the thread, and the
    caller's stop flag ends it at its next slice."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def run() -> None:
        try:
            outcome: tuple[bool, Any] = (True, fn())
        except BaseException as err:  # handed to the awaiting task, which logs or raises it
            outcome = (False, err)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(settle, *outcome)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if started is not None:
        started(thread)
    return await future


@dataclass(frozen=True, slots=True)
class _JobPlan:
    """What the loop computed of the jobs for the worker to apply: scrape settings and discovery per job."""

    settings: list[ScrapeSettings]
    discoveries: dict[str, JobDiscovery]
    objects: dict[str, list[Mapping[str, Any]]]  # the watched objects as of now, for indexes created by the plan


@dataclass(slots=True)
class _Dirty:
    monitors: bool = False
    secrets: bool = False
    collectors: bool = False
    since: float | None = None  # monotonic time of the first unprocessed event


@dataclass
class Allocator:
    """One allocator: config in, served bodies out. `api` None runs without Kubernetes (static collectors)."""

    config: AllocatorConfig
    api: Api | None = None
    namespace: str = field(default_factory=own_namespace)
    clock: Any = time.time

    def __post_init__(self) -> None:
        cfg = self.config
        # the fallback places targets that have no node: it means something to per-node only (upstream writes the
        # key for every strategy when its gate is on)
        fallback = cfg.allocation_fallback_strategy or None
        strategy = by_name(cfg.allocation_strategy, fallback if cfg.allocation_strategy == "per-node" else None)
        self.metrics = AllocatorMetrics(strategy.name)
        limits = cfg.target_limits
        self.model = AllocationModel(
            strategy,
            filtering=cfg.filter_strategy == "relabel-config",
            per_job_limit=limits.per_job,
            total_limit=limits.total,
        )
        self.metrics.target_cap.labels("per_job").set(limits.per_job)
        self.metrics.target_cap.labels("total").set(limits.total)
        self.metrics.set_over_cap({})
        self.served = Served(self.model, self.metrics, allow_insecure_secrets=cfg.allow_insecure_auth_secrets)
        # with Kubernetes, the guide's checks over what it watches; without, the relabel part (no cluster needed)
        self.served.diagnose = self.diagnose if self.api is not None else self.diagnose_static
        self._snapshot: dict[str, list[Mapping[str, Any]]] | None = None  # what the worker's router reads
        self.router = DiscoveryRouter(self._router_objects, max_group_targets=limits.per_job or limits.total)
        self.pollers = Pollers(self._on_polled)
        self.events = EventRecorder(self.api)
        self.monitors = MonitorConfigs(cfg.prometheus_cr) if cfg.prometheus_cr.enabled else None
        self._reflectors: dict[str, watch.Reflector | ReflectorGroup] = {}
        self._watch_tasks: dict[str, asyncio.Task[None]] = {}
        self._unwatchable: set[str] = set()  # kinds a job reads that have no known API resource (logged once)
        self._collector_reflector: watch.Reflector | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._dirty = _Dirty(monitors=True, collectors=True)
        self._timer: asyncio.TimerHandle | None = None
        self._job_errors: dict[str, str] = {}
        self._reported: dict[MonitorKey, str] = {}  # rejected monitors already logged, with the problem
        self._stopping = False
        self._worker: threading.Thread | None = None  # the last worker thread started
        self._frozen = False
        self._queued: list[tuple[str, str, str | None, Any]] = []  # discovery news for the worker
        self._over_reported: dict[str, OverCap] = {}  # over-cap jobs already logged, with how
        self._over_problems: dict[str, tuple[MonitorKey, str]] = {}  # over-cap jobs: their monitor, the message
        self._status_problems: dict[MonitorKey, Problem] = {}  # what the monitors' statuses were last planned from
        self._binding = collector_binding(cfg.collector_selector)
        self.status_writer = (
            StatusWriter(self.api, MONITOR_RESOURCES)  # each skipped monitor's Accepted condition (its /status)
            if self.api is not None and self.monitors is not None and self._binding is not None
            else None
        )
        self._empty_since: dict[MonitorKey, float] = {}  # monitors seen without targets, since when (monotonic)
        self._empty_timer: asyncio.TimerHandle | None = None
        self._last_pause = 0.0
        self.model.should_stop = self._checkpoint
        self.flushes = 0
        if cfg.collectors is not None:
            self.model.set_collectors(Collector(name) for name in cfg.collectors)
            self.metrics.collectors_discovered.set(len(cfg.collectors))
        self._cr_defaults = GlobalDefaults(
            scrape_interval=cfg.prometheus_cr.scrape_interval,
            scrape_timeout=min(cfg.prometheus_cr.scrape_interval, GlobalDefaults().scrape_timeout),
        )

    # ---------------------------------------------------------------------------------------------- watches

    def _objects(self, kind: str) -> Iterable[Mapping[str, Any]]:
        reflector = self._reflectors.get(kind)
        return list(reflector.objects.values()) if reflector is not None else ()

    def _router_objects(self, kind: str) -> Iterable[Mapping[str, Any]]:
        """The router's view of the watched objects: in the worker, the loop's snapshot (never the live dicts)."""
        if self._snapshot is not None:
            return self._snapshot.get(kind, ())
        return self._objects(kind)

    def _reflect(self, tag: str, resource: watch.Resource, **kwargs: Any) -> watch.Reflector:
        assert self.api is not None
        reflector = watch.Reflector(self.api, resource, sink=_Tagged(self, tag), **kwargs)
        self._tasks.append(asyncio.create_task(reflector.run(), name=f"watch {tag}"))
        return reflector

    def _watch_scopes(self, kind: str) -> list[str] | None:
        """Where to watch `kind`: None is one watch over the cluster (the default: one watch serves every job);
        a list is a watch per namespace (for Namespace objects, per name). Only with prometheusCR.allowNamespaces:
        there the service account may hold nothing but Roles in those namespaces (upstream's tests grant just
        that), and a cluster-wide list would be refused for ever."""
        allow = self.config.prometheus_cr.allow_namespaces if self.monitors is not None else ()
        resource = watch_resource(kind)
        if not allow or (resource is not None and not resource.namespaced and kind != "Namespace"):
            return None  # Nodes (attach_metadata.node, role node) are in no namespace: only a cluster-wide watch
        wanted: set[str] = set()
        if kind in (*MONITOR_KINDS, "Namespace", "Secret", "ConfigMap"):
            wanted |= set(allow)  # monitors are read only there, and the credentials they name are theirs
        if kind in self.router.kinds:
            read = self.router.namespaces(kind)
            if read is None:
                return None
            wanted |= read
        return sorted(wanted)

    def _ensure_discovery_watches(self) -> None:
        if self.api is None:
            return
        needed = set(self.router.kinds)
        if self.monitors is not None:
            needed |= {"Namespace", "Secret", "ConfigMap", *MONITOR_KINDS}
        for kind in sorted(needed):
            resource = watch_resource(kind)
            if resource is None:  # a discovery role reading a kind with no resource here: never watch a wrong one
                if kind not in self._unwatchable:
                    self._unwatchable.add(kind)
                    log.error("cannot watch %s objects: no API resource is known for that kind", kind)
                continue
            scopes = self._watch_scopes(kind)
            current = self._reflectors.get(kind)
            if isinstance(current, ReflectorGroup) and scopes is not None:
                current.set_scopes(scopes)
                continue
            if current is not None and (scopes is None) == isinstance(current, watch.Reflector):
                continue
            if (task := self._watch_tasks.pop(kind, None)) is not None:  # the scope changed: cluster <-> namespaces
                task.cancel()
            if scopes is None:
                reflector: watch.Reflector | ReflectorGroup = watch.Reflector(self.api, resource, _Tagged(self, kind))
            else:
                reflector = ReflectorGroup(self.api, resource, _Tagged(self, kind), scopes)
            self._reflectors[kind] = reflector
            task = asyncio.create_task(reflector.run(), name=f"watch {kind}")
            self._tasks.append(task)
            self._watch_tasks[kind] = task

    def receive(self, tag: str, kind: str, type_: str | None, payload: Any) -> None:
        """A watch's news (`type_` None: a re-list). Collector pods, monitors and credentials are noted here (small
        and bounded); discovery news is queued for the worker, whose cost grows with the targets it makes."""
        if tag == "collectors":
            self._mark(collectors=True)
        elif tag in MONITOR_KINDS:
            self._on_monitor(tag, type_, payload)
        elif tag in ("Secret", "ConfigMap"):
            self._mark(secrets=True)
        else:
            self._queued.append((tag, kind, type_, payload))
            self._mark(monitors=tag == "Namespace" and self.monitors is not None)

    def on_replace(self, tag: str, kind: str, objects: list[dict[str, Any]]) -> None:
        self.receive(tag, kind, None, objects)

    def on_event(self, tag: str, kind: str, type_: str, obj: dict[str, Any]) -> None:
        self.receive(tag, kind, type_, obj)

    def _on_monitor(self, tag: str, type_: str | None, payload: Any) -> None:
        assert self.monitors is not None
        self.metrics.events.labels("EventSourcePrometheusCR").inc()
        if type_ is None:
            self.monitors.replace(tag, payload)
        else:
            meta = payload.get("metadata") or {}
            if type_ == "DELETED":
                self.monitors.delete(tag, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
                self.events.forget(str(meta.get("uid")))
            else:
                self.monitors.upsert(tag, payload)
        self._mark(monitors=True)

    def _apply_discovery(self, tag: str, type_: str | None, payload: Any) -> None:
        """One queued discovery news into the router and the model (in the worker)."""
        if tag == POLLED:
            config, groups = cast("tuple[PolledSD, list[TargetGroup]]", payload)
            updates = self.router.polled(config, groups)
        elif type_ is None:
            updates = self.router.replace(tag, payload)
        elif type_ == "DELETED":
            meta = payload.get("metadata") or {}
            updates = self.router.delete(tag, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        else:
            updates = self.router.upsert(tag, payload)
        for job, group in updates:
            self.model.update_group(job, group, self.router.withheld(job, group))

    def _on_polled(self, config: PolledSD, groups: list[TargetGroup]) -> None:
        """An http/file/dns SD refresh: like a re-list, queued for the worker."""
        self.receive(POLLED, "", None, (config, groups))

    def _mark(self, *, monitors: bool = False, secrets: bool = False, collectors: bool = False) -> None:
        d = self._dirty
        d.monitors |= monitors or secrets
        d.secrets |= secrets
        d.collectors |= collectors
        if d.since is None:
            d.since = time.monotonic()
        self._wake.set()

    # ---------------------------------------------------------------------------------------------- recompute

    def _report(self, key: MonitorKey, message: str) -> None:
        """Log and post an Event for a rejected monitor, once per problem (every recompute finds it again)."""
        if self._reported.get(key) == message:
            return
        self._reported[key] = message
        log.warning("skipping %s %s/%s: %s", key[0], key[1], key[2], message)  # the user's to fix, not ours
        if self.monitors is not None and (obj := self.monitors.monitor(key)) is not None:
            self.events.warn(obj, key[0], "InvalidScrapeResource", message)

    def _recompute_jobs(self, secrets_changed: bool) -> _JobPlan:
        """Monitor jobs (if monitors changed) merged with the file's; re-render /scrape_configs. Returns what the
        worker must apply to the model and the discovery router (`_apply_plan`)."""
        cfg = self.config
        cr_configs: list[Mapping[str, Any]] = []
        errors = 0
        if self.monitors is not None:
            if secrets_changed:
                self.monitors.set_secrets([*self._objects("Secret"), *self._objects("ConfigMap")])
            labels = {
                str((ns.get("metadata") or {}).get("name")): (ns.get("metadata") or {}).get("labels") or {}
                for ns in self._objects("Namespace")
            }
            self.monitors.set_namespaces(labels)
            cr_configs, cr_errors = self.monitors.compute()
            failing = {key for key, _ in cr_errors}
            self._reported = {k: v for k, v in self._reported.items() if k in failing}  # fixed ones may fail again
            for key, error in cr_errors:
                self._report(key, f"{error.field}: {error.message}" if error.field else error.message)
            errors += len(cr_errors)
        merged, clashes = merge_jobs(cfg.config.scrape_configs, cr_configs)
        for name in clashes:
            log.error("job %r is defined in the config file and by a Prometheus CR; the config file's is used", name)
        settings: list[ScrapeSettings] = []
        discoveries: dict[str, JobDiscovery] = {}
        served: dict[str, Mapping[str, Any]] = {}
        file_jobs = {str(c["job_name"]) for c in cfg.config.scrape_configs}
        for name, raw in merged.items():
            defaults = cfg.config.defaults if name in file_jobs else self._cr_defaults
            try:
                job_settings = ScrapeSettings.from_config(raw, defaults)
                discoveries[name] = job_discovery(name, raw, self.namespace)
            except (ScrapeConfigError, DiscoveryConfigError, ValueError) as err:
                if self._job_errors.get(name) != str(err):
                    log.error("skipping job %r: %s", name, err)
                self._job_errors[name] = str(err)
                errors += 1
                continue
            self._job_errors.pop(name, None)
            settings.append(job_settings)
            served[name] = raw
        rejected: list[str] = []

        def refuse(err: ScrapeConfigsError) -> None:
            log.error("skipping job %r: %s", err.job, err)
            rejected.append(err.job)

        cr_jobs = {name: self._cr_defaults for name in served if name not in file_jobs}
        # Prometheus CR jobs: the generated global's scrape protocols are prometheus_cr.scrape_protocols
        cr_globals = ScrapeGlobals(scrape_protocols=cfg.prometheus_cr.scrape_protocols)
        rendered = render_scrape_configs(
            served,
            cfg.config.defaults,
            job_defaults=cr_jobs,
            on_error=refuse,
            globals_=ScrapeGlobals.from_config(cfg.config.global_config),
            job_globals=dict.fromkeys(cr_jobs, cr_globals),
        )
        settings = [s for s in settings if s.job_name not in rejected]
        for name in rejected:
            discoveries.pop(name, None)
        self.metrics.config_errors.set(errors + len(rejected))
        # before the monitors' first lists the file's jobs alone would look complete: a collector applies any body
        # it can parse and would drop its monitor jobs, so /scrape_configs keeps answering 503
        pending = self._monitor_lists_pending()
        self.served.scrape_configs_redacted = None if pending else Body(rendered.redacted, rendered.redacted_etag)
        self.served.scrape_configs_full = None if pending else Body(rendered.full, rendered.full_etag)
        objects: dict[str, list[Mapping[str, Any]]] = {k: list(r.objects.values()) for k, r in self._reflectors.items()}
        return _JobPlan(settings, discoveries, objects)

    def _apply_plan(self, plan: _JobPlan) -> None:
        """The jobs into the model, their discovery into the router (a new index reads the snapshot; in the
        worker)."""
        self.model.set_scrape_configs(plan.settings)
        self._snapshot = plan.objects
        try:
            routed = self.router.set_jobs(plan.discoveries)
        finally:
            self._snapshot = None
        for name, groups in routed.items():
            withheld = {g.source: n for g in groups if (n := self.router.withheld(name, g))}
            self.model.replace_groups(name, groups, withheld)

    def _work(self, queued: list[tuple[str, str, str | None, Any]], plan: _JobPlan | None) -> FlushResult:
        """The heavy part of a recompute, in the worker: queued discovery news, the new jobs, the flush.

        Full collections are held off meanwhile (young ones go on): CPython's collections stop every thread, and
        a change that builds 100k targets would otherwise run about ten full ones (up to 150 ms each at that size,
        measured), stalling the loop each time. Afterwards, when the change added many targets, what survived is
        frozen (no scan, so no pause): the long-lived model is then never scanned again, and its objects are still
        freed by reference counting when a job goes. After a change that removed many, freed memory is handed back
        to the system."""
        thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
        gc.set_threshold(thresholds[0], thresholds[1], 1 << 30)  # young collections only, meanwhile
        # the loop waits for the interpreter at each of a request's steps (accept, read, write): hand it over
        # sooner than the default 5 ms while this thread computes
        sys.setswitchinterval(WORKER_SWITCH_INTERVAL)
        try:
            for tag, _kind, type_, payload in queued:
                if self._checkpoint():
                    raise FlushAborted
                self._apply_discovery(tag, type_, payload)
            if plan is not None:
                self._apply_plan(plan)
            before = len(self.model.assignment())
            result = self.model.flush()
            after = len(self.model.assignment())
            if after - before >= FREEZE_AFTER:
                gc.freeze()  # cheap (no scan); what survived the young collections is long-lived
            elif before - after >= TRIM_AFTER:
                _release_memory()
            return result
        finally:
            gc.set_threshold(*thresholds)
            sys.setswitchinterval(interval)

    def _monitor_lists_pending(self) -> list[str]:
        """The watches the monitor jobs are computed from that have not delivered their first list yet."""
        if self.monitors is None or self.api is None:
            return []
        kinds = (*MONITOR_KINDS, "Namespace", "Secret", "ConfigMap")
        return [k for k in kinds if (r := self._reflectors.get(k)) is None or not r.synced.is_set()]

    def _recompute_collectors(self) -> None:
        if self.config.collectors is not None or self._collector_reflector is None:
            return
        grace = self.config.collector_not_ready_grace_period / 1000
        now = self.clock()
        collectors, wake = collectors_of(self._collector_reflector.objects.values(), now, grace)
        self.metrics.collectors_discovered.set(len(self._collector_reflector.objects))
        self.model.set_collectors(collectors)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if wake is not None:  # a grace period ends then: look again exactly at that moment
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, wake - now) + 0.01, self._mark_collectors)

    def _mark_collectors(self) -> None:
        self._mark(collectors=True)

    async def recompute(self) -> None:
        """Apply everything marked dirty, then flush the model: the served bodies are current afterwards.

        The jobs are computed here (bounded by the monitors); applying the queued discovery news, the jobs and the
        flush run in a worker thread, so the event loop keeps answering requests (from the bodies of the last
        flush, swapped in job by job) and keeps reading watches (queued for the next round) during a large one.
        """
        started = time.perf_counter()
        dirty, self._dirty = self._dirty, _Dirty()
        plan = self._recompute_jobs(dirty.secrets) if dirty.monitors else None
        if dirty.collectors:
            self._recompute_collectors()
        queued, self._queued = self._queued, []
        t0 = time.perf_counter()
        result = await in_worker(lambda: self._work(queued, plan), "allocator flush", self._set_worker)
        if plan is not None:  # the router's kinds and polled configs follow the jobs
            self._ensure_discovery_watches()
            self.pollers.sync(self.router.poll_configs)
        self._report_over_cap()
        self._write_monitor_statuses(dirty.monitors)
        if result.reassigned:
            self.metrics.time_to_allocate.labels("SetTargets", self.metrics.strategy).observe(time.perf_counter() - t0)
            per, unassigned, total = self.model.load()
            self.metrics.set_assignment(per, unassigned, total)
        self.metrics.set_job_counts(self.model.discovered_counts())
        self.metrics.process_targets.observe(time.perf_counter() - started)
        if dirty.since is not None:
            self.metrics.propagation.observe(time.monotonic() - dirty.since)
        self.flushes += 1
        self._update_readiness()
        if self.served.ready:
            self._report_empty_monitors()

    def _checkpoint(self) -> bool:
        """Between two slices of the worker's work: whether to stop; and every WORKER_BURST seconds of work, a
        WORKER_PAUSE with the interpreter free, in which the loop answers without waiting for it."""
        now = time.monotonic()
        if now - self._last_pause >= WORKER_BURST:
            time.sleep(WORKER_PAUSE)
            self._last_pause = time.monotonic()
        return self._stopping

    def _set_worker(self, thread: threading.Thread) -> None:
        self._worker = thread

    def _report_over_cap(self) -> None:
        """A WARNING, the metrics and a Warning Event on its monitor for each job that a target cap skips (once per
        cap it is over); an INFO line when it fits again."""
        over = self.model.over_cap()
        self.metrics.set_over_cap({job: (o.count, o.which) for job, o in over.items()})
        owners: dict[str, MonitorKey] = {}
        if self.monitors is not None:
            owners = {job: key for key, jobs in self.monitors.jobs_by_monitor().items() for job in jobs}
        for job in [j for j in self._over_reported if j not in over]:
            del self._over_reported[job]
            self._over_problems.pop(job, None)
            log.info("job %r fits its target caps again and is served", job)
        for job, o in over.items():
            seen = self._over_reported.get(job)
            if seen is not None and (seen.which, seen.cap) == (o.which, o.cap):
                continue
            self._over_reported[job] = o
            key = owners.get(job)
            what = f"{key[0]} {key[1]}/{key[2]} (job {job!r})" if key is not None else f"job {job!r}"
            fix = (
                "narrow what it selects (its selector, namespaces or endpoints/ports) or split the Service"
                if key is not None
                else "narrow its service discovery or relabel rules"
            )
            message = (
                f"{what} has {o.count} targets, over the allocator's {o.which} target cap of {o.cap} "
                f"(target_limits.{o.which}); none of its targets are served. Fix: {fix}, or raise "
                f"target_limits.{o.which} in the allocator's config"
            )
            log.warning("skipping %s", message)
            if key is not None and self.monitors is not None and (obj := self.monitors.monitor(key)) is not None:
                self.events.warn(obj, key[0], "TargetLimitExceeded", message)
                self._over_problems[job] = (key, message)

    def _write_monitor_statuses(self, monitors_changed: bool) -> None:
        """Our `Accepted=False` entry in the status of each monitor skipped as invalid or over a target cap, and
        none on the others (monitor_status.py); planned again only when the monitors or the problems changed."""
        if self.monitors is None or self.status_writer is None or self._binding is None:
            return
        problems = {key: Problem("InvalidScrapeResource", message) for key, message in self._reported.items()}
        for key, message in self._over_problems.values():
            problems.setdefault(key, Problem("TargetLimitExceeded", message))
        if not monitors_changed and problems == self._status_problems:
            return
        self._status_problems = problems
        self.status_writer.submit(plan_patches(self.monitors.items(), problems, self._binding, now_text()))

    def _report_empty_monitors(self) -> None:
        """A Warning Event on each selected monitor none of whose jobs has kept a target for EMPTY_MONITOR_GRACE
        seconds (once per version): the guide's most common complaint, answered where the user looks
        (`kubectl describe servicemonitor`)."""
        if self.monitors is None:
            return
        over = self.model.over_cap()
        now = time.monotonic()
        empty: dict[MonitorKey, float] = {}
        for key, jobs in self.monitors.jobs_by_monitor().items():
            if any(job in over for job in jobs):  # reported as over its cap instead
                continue
            # kept targets, not discovered ones: a ServiceMonitor's selector is a relabel rule, so every
            # EndpointSlice of its namespaces is discovered and the non-matching ones are dropped
            if any(self.model.targets(job) for job in jobs):
                continue
            empty[key] = self._empty_since.get(key, now)
        self._empty_since = empty
        waiting = [since + EMPTY_MONITOR_GRACE - now for since in empty.values() if now - since < EMPTY_MONITOR_GRACE]
        if self._empty_timer is not None:
            self._empty_timer.cancel()
            self._empty_timer = None
        if waiting:  # look again when the first grace ends (a flush with nothing dirty, so no propagation sample)
            self._empty_timer = asyncio.get_running_loop().call_later(min(waiting) + 0.01, self._wake.set)
        for key, since in empty.items():
            if now - since < EMPTY_MONITOR_GRACE or (obj := self.monitors.monitor(key)) is None:
                continue
            kind, namespace, name = key
            what = {"ServiceMonitor": "Service", "PodMonitor": "Pod"}.get(kind, "target")
            flag = {"ServiceMonitor": "--servicemonitor", "PodMonitor": "--podmonitor"}.get(kind)
            hint = f"; `otel-operator diagnose {flag} {namespace}/{name}` says why" if flag else ""
            message = (
                f"matches no {what}: none in its namespaces has the labels its selector asks for and a port named "
                f"as its endpoints ask{hint}"
            )
            self.events.warn(obj, kind, "NoTargets", message)

    def _update_readiness(self) -> None:
        s = self.served
        waiting = [kind for kind, r in self._reflectors.items() if not r.synced.is_set()]
        if self._collector_reflector is not None and not self._collector_reflector.synced.is_set():
            waiting.append("collector pods")
        if s.scrape_configs_redacted is None:
            pending = ", ".join(sorted(waiting))
            reason = f"waiting for the first list of {pending}" if waiting else "scrape configs not rendered yet"
            s.ready, s.not_ready_reason = False, reason
        elif waiting:
            s.ready, s.not_ready_reason = False, f"waiting for the first list of {', '.join(sorted(waiting))}"
        else:
            if not s.ready and not self._frozen:
                # the initial sync's objects live as long as the process: keep the collector from rescanning them
                # (it was 15-25 % of a flush at 10k-100k targets, bench/bench_allocator.py)
                gc.collect()
                gc.freeze()
                self._frozen = True
            s.ready, s.not_ready_reason = True, ""

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(BATCH_WINDOW)
            self._wake.clear()
            try:
                await self.recompute()
            except FlushAborted:
                return
            except Exception:  # one bad batch must not stop the allocator; the log has the traceback
                log.exception("recomputing the allocation failed; keeping the last served answers")

    async def diagnose(self) -> list[dict[str, Any]]:
        """`/debug/diagnose`: the guide's checks over what this allocator watches. The objects are copied on the
        loop (watches keep changing them); the diagnosis runs in a worker thread."""
        assignments = self.assignments()
        inputs = Inputs(
            namespaces=list(self._objects("Namespace")),
            service_monitors=list(self._objects("ServiceMonitor")),
            pod_monitors=list(self._objects("PodMonitor")),
            services=list(self._objects("Service")),
            endpoint_slices=list(self._objects("EndpointSlice")),
            endpoints=list(self._objects("Endpoints")),
            pods=list(self._objects("Pod")),
            secrets=[*self._objects("Secret"), *self._objects("ConfigMap")],
            assignments=assignments,
        )
        findings = await asyncio.to_thread(diagnose_allocator, inputs, self.config)
        return [f.to_dict() for f in findings]

    def assignments(self) -> dict[str, dict[str, str | None]]:
        """{job: {address: collector}} as the model has assigned them."""
        assignment = self.model.assignment()
        return {
            job: {t.ref.address: assignment.get(key) for key, t in self.model.targets(job).items()}
            for job in self.model.job_names
        }

    async def diagnose_static(self) -> list[dict[str, Any]]:
        """`/debug/diagnose` without Kubernetes: which rule dropped each static target, where each kept one went."""
        findings = await asyncio.to_thread(diagnose_static, self.config, self.assignments())
        return [f.to_dict() for f in findings]

    # ---------------------------------------------------------------------------------------------- running

    def start_watches(self) -> None:
        cfg = self.config
        if self.api is None:
            return
        if cfg.collectors is None:
            selector = cfg.collector_selector
            self._collector_reflector = self._reflect(
                "collectors",
                watch.PODS,
                namespace=cfg.collector_namespace,
                label_selector=selector.query() if isinstance(selector, LabelSelector) else None,
            )
        self._ensure_discovery_watches()

    async def start(self) -> None:
        """Start watches, the flush task and the event poster (not the HTTP server: see `serve`)."""
        self.start_watches()
        self.metrics.events.labels("EventSourceConfigMap").inc()  # the config file, read once
        self._tasks.append(asyncio.create_task(self._flush_loop(), name="flush"))
        self._tasks.append(asyncio.create_task(self.events.run(), name="events"))
        if self.status_writer is not None:
            self._tasks.append(asyncio.create_task(self.status_writer.run(), name="monitor statuses"))
        self._mark(monitors=True, collectors=True, secrets=self.monitors is not None)

    async def stop(self) -> None:
        self._stopping = True  # a worker in the middle of a flush stops at its next slice
        for timer in (self._timer, self._empty_timer):
            if timer is not None:
                timer.cancel()
        await self.pollers.stop()
        await watch.cancel_all(self._tasks)
        self._tasks.clear()
        worker = self._worker
        if worker is not None and worker.is_alive():
            # it stops at its next slice; the process must not finalise under a running thread (native code in
            # it would abort the exit). Bounded: past the grace the exit goes on regardless.
            await asyncio.to_thread(worker.join, STOP_GRACE)

    async def wait_ready(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while not self.served.ready:
            if time.monotonic() > deadline:
                raise TimeoutError(f"allocator not ready after {within}s: {self.served.not_ready_reason}")
            await asyncio.sleep(0.02)


def parse_listen_addr(addr: str) -> tuple[str | None, int]:
    """Go's listen address: ":8080" (every interface), "127.0.0.1:0", "[::1]:8080"."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    return (host or None), int(port)


class TLSSetupError(Exception):
    """The HTTPS listener's certificate, key or CA cannot be loaded; the message names the file."""


def server_ssl_context(cfg: AllocatorConfig) -> ssl.SSLContext:
    """Mutual TLS: a client certificate signed by the configured CA is required; TLS 1.2 or newer."""
    https = cfg.https
    try:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=https.ca_file_path)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_cert_chain(https.tls_cert_file_path, https.tls_key_file_path)
    except (OSError, ssl.SSLError) as err:
        files = f"ca {https.ca_file_path}, cert {https.tls_cert_file_path}, key {https.tls_key_file_path}"
        raise TLSSetupError(f"https: cannot load the TLS files ({files}): {err}") from None
    return ctx


def _mtimes(paths: Iterable[str]) -> tuple[float, ...]:
    return tuple(os.stat(p).st_mtime if os.path.exists(p) else 0.0 for p in paths)


CERT_RELOAD_INTERVAL = 10.0  # seconds between looks at the certificate files


async def reload_certificates(ctx: ssl.SSLContext, cfg: AllocatorConfig) -> None:
    """Load rotated certificate files into the live context (new handshakes use them), as cert-manager rotates them.
    A half-written file fails to load and is tried again at the next tick."""
    https = cfg.https
    paths = (https.ca_file_path, https.tls_cert_file_path, https.tls_key_file_path)
    seen = await asyncio.to_thread(_mtimes, paths)
    while True:
        await asyncio.sleep(CERT_RELOAD_INTERVAL)
        now = await asyncio.to_thread(_mtimes, paths)
        if now == seen:
            continue
        try:
            ctx.load_cert_chain(https.tls_cert_file_path, https.tls_key_file_path)
            ctx.load_verify_locations(cafile=https.ca_file_path)
        except (OSError, ssl.SSLError) as err:
            log.warning("could not reload the HTTPS certificate files yet: %s", err)
            continue
        seen = now
        log.info("reloaded the HTTPS certificate files")


@dataclass
class Listeners:
    runners: list[web.AppRunner]
    ports: dict[str, int]  # "http" / "https" → bound port
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for runner in self.runners:
            await runner.cleanup()


class ListenError(OSError):
    """A listener that cannot bind: the message names the config key and what to do."""


def listen_problem(key: str, addr: str, host: str | None, port: int, err: OSError) -> str:
    """Why `addr` cannot be listened on, as the config key and its fix (the OS error alone names neither)."""
    where = f'{key}: cannot listen on "{addr}"'
    if isinstance(err, socket.gaierror):
        return (
            f"{where}: the host {host!r} does not resolve ({err.strerror}); use an address of this machine, "
            f'e.g. ":{port}" for every interface or "127.0.0.1:{port}"'
        )
    if err.errno == errno.EADDRINUSE:
        return f"{where}: port {port} is in use by another process; stop that process or choose another port"
    if err.errno == errno.EADDRNOTAVAIL:
        return f'{where}: {host!r} is not an address of this machine; use one of its addresses, or ":{port}"'
    if err.errno == errno.EACCES:
        return f"{where}: ports below 1024 need privileges; use a port above 1023 (the default is 8080)"
    return f"{where}: {err.strerror or err}"


async def serve(allocator: Allocator) -> Listeners:
    """Bind the HTTP listener (and the mutual-TLS one if enabled); returns the bound ports."""
    cfg = allocator.config
    listeners = Listeners([], {})
    sites: list[tuple[str, str, ssl.SSLContext | None]] = [("http", cfg.listen_addr, None)]
    if cfg.https.enabled:
        ctx = server_ssl_context(cfg)
        sites.append(("https", cfg.https.listen_addr, ctx))
        listeners.tasks.append(asyncio.create_task(reload_certificates(ctx, cfg), name="reload certificates"))
    limits = cfg.http_server
    for name, addr, context in sites:
        runner = serving.runner(make_app(allocator.served, secure=context is not None), limits)
        await runner.setup()
        host, port = parse_listen_addr(addr)
        # the mTLS listener logs each refused client (peer and reason): plain aiohttp says nothing of them
        site_class = TLSSite if context is not None else serving.GuardedSite
        site = site_class(runner, host, port, limits=limits, name=name, ssl_context=context, reuse_address=True)
        listeners.runners.append(runner)
        try:
            await site.start()
        except OSError as err:
            await listeners.close()  # nothing half-started stays behind
            key = "listen_addr" if name == "http" else "https.listen_addr"
            raise ListenError(listen_problem(key, addr, host, port, err)) from None
        listeners.ports[name] = site.port
        log.info(
            "serving %s on %s (port %d; idle timeout %gs, at most %d connections)",
            name, addr, site.port, limits.idle_timeout, site.cap,
        )  # fmt: skip
    return listeners


async def run_allocator(config: AllocatorConfig, stop: asyncio.Event | None = None) -> None:
    """`otel-operator allocator`: run until `stop` is set (or forever)."""
    api = await kube_client(config) if config.uses_kubernetes else None
    allocator = Allocator(config, api)
    try:
        listeners = await serve(allocator)
    except BaseException:
        if api is not None:
            await api.close()
        raise
    try:
        await allocator.start()
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        await allocator.stop()
        await listeners.close()
        if api is not None:
            await api.close()
