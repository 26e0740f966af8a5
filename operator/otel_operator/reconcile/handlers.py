"""kopf handlers for OpenTelemetryCollector.

Thin on purpose: they read the event, call `reconcile.collector` (which calls the pure builders), and write the
status back. Registration goes into a registry the caller owns, so an operator (or a test) can build its own
without module-level state.

Triggers: the resource's create/update/resume; any event on one of its children (drift: a child edited or deleted
by hand, or a workload's pods becoming ready), found through the owner-uid label; and a slow timer as a safety net.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import kopf
import orjson

from otel_operator.manifests import BuildOptions
from otel_operator.manifests.labels import TARGET_ALLOCATOR_LABEL
from otel_operator.reconcile.collector import REFUSED, Locks, Outcome, reconcile
from otel_operator.reconcile.desired import OWNER_UID_LABEL, status_changed
from otel_operator.reconcile.discovery import ClusterFacts
from otel_operator.reconcile.kube import KINDS, Kube, KubeError
from otel_operator.reconcile.login import api_client
from otel_operator.reconcile.metrics import OperatorMetrics

GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
TA_VERSION, TA_PLURAL = "v1alpha1", "targetallocators"  # the standalone TargetAllocator resource
OWNED = ((VERSION, PLURAL), (TA_VERSION, TA_PLURAL))
# kopf keeps its bookkeeping in annotations under our own prefix: our status schema is closed, so the API server
# would prune a `status.kopf` stanza and kopf would lose track of what it had handled.
STORAGE_PREFIX = "otel-operator.opentelemetry.io"
SAFETY_NET_INTERVAL = 300.0  # seconds between reconciles of an otherwise quiet resource

log = logging.getLogger("otel_operator.reconcile")


DIFF_BASE_LIMIT = 32 * 1024  # bytes of kopf's diff base kept whole; a bigger one is kept as its digest


class CompactDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's last-handled configuration in an annotation, as a digest when the resource is big: a whole copy of a
    spec near 1 MiB exceeds the API's 256 KiB for all annotations, and every write of it would be refused (422).
    Our reconciles are level-triggered and never read the diff; kopf needs only to tell a change from none."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        essence = super().build(body=body, extra_fields=extra_fields)
        annotations = (essence.get("metadata") or {}).get("annotations") or {}
        ours = {k: v for k, v in annotations.items() if not k.startswith(STORAGE_PREFIX)}  # kopf's own come and go
        whole = orjson.dumps({**essence, "metadata": {**(essence.get("metadata") or {}), "annotations": ours}},
                             option=orjson.OPT_SORT_KEYS)  # fmt: skip
        if len(whole) <= DIFF_BASE_LIMIT:
            return essence
        return {"digest": "sha256:" + hashlib.sha256(whole).hexdigest()}


API_RETRY_DELAYS: Final = (0.5, 1.0, 1.0, *(2.0,) * 27)


def configure(settings: kopf.OperatorSettings) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=STORAGE_PREFIX)
    settings.persistence.diffbase_storage = CompactDiffBaseStorage(
        prefix=STORAGE_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events say what matters; kopf's INFO chatter would flood
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # retries of a failed API request, a watch's included: kopf's default (1, 1, 2, 3, 5, 8, 13, 21 s) can leave a
    # watch asleep for 13 s after a 20 s apiserver outage; a server that is down costs nothing to ask again. The
    # same total (about a minute) before kopf gives the request up.
    settings.networking.error_backoffs = API_RETRY_DELAYS


@dataclass
class Context:
    """What the handlers share: the API client (made at start-up), per-owner locks, and which uid is which."""

    options: BuildOptions
    kubeconfig: str | None = None
    kube: Kube | None = None
    locks: Locks = field(default_factory=Locks)
    owners: dict[str, str] = field(default_factory=dict)  # uid → the resource's API path
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    cluster: ClusterFacts = field(default_factory=ClusterFacts)

    async def build_options(self) -> BuildOptions:
        """The operator's options with what the cluster serves filled in (cached for a short while)."""
        facts = await self.cluster.refresh(self.client())
        return dataclasses.replace(self.options, apis=facts.apis, api_server_endpoints=facts.endpoints)

    async def reconcile(self, owner: Mapping[str, Any]) -> Outcome:
        """One reconcile, counted and timed."""
        kind = str(owner.get("kind"))
        try:
            with self.metrics.timed(kind):
                outcome = await reconcile(self.client(), owner, await self.build_options())
        except Exception:
            self.metrics.reconciles.labels(kind, "error").inc()
            raise
        self.metrics.reconciles.labels(kind, _result(outcome)).inc()
        if outcome.sync is not None:
            for verb, keys in (("create", outcome.sync.created), ("update", outcome.sync.updated)):
                for key in keys:
                    self.metrics.writes.labels(key[0], verb).inc()
            for key in outcome.sync.deleted:
                self.metrics.writes.labels(key[0], "delete").inc()
        return outcome

    def client(self) -> Kube:
        if self.kube is None:
            raise kopf.TemporaryError("the Kubernetes client is not ready yet", delay=1)
        return self.kube


def _result(outcome: Outcome) -> str:
    if outcome.problems:
        return "refused" if outcome.reason == REFUSED else "invalid"
    if outcome.sync is None:
        return "unmanaged"
    return "applied" if outcome.sync.writes else "unchanged"


def _report(body: kopf.Body, outcome: Outcome) -> None:
    if outcome.problems:
        # in the log too, not only in status and an Event: nothing is applied until the spec changes
        meta = body.get("metadata") or {}
        log.warning(
            "%s %s/%s not applied (%s): %s",
            body.get("kind"),
            meta.get("namespace"),
            meta.get("name"),
            outcome.reason,
            "; ".join(outcome.problems),
        )
        kopf.warn(body, reason=outcome.reason, message="; ".join(outcome.problems)[:1000])
    for warning in outcome.warnings:
        kopf.warn(body, reason="ConfigurationWarning", message=warning[:1000])
    if outcome.sync is not None and outcome.sync.writes:
        s = outcome.sync
        kopf.info(
            body,
            reason="Reconciled",
            message=f"created {len(s.created)}, updated {len(s.updated)}, deleted {len(s.deleted)} object(s)",
        )


TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_RETRY_SECONDS = 2.0


@contextlib.contextmanager
def transient_retried_soon() -> Iterator[None]:
    """An API answer that says "later" (429: busy, or a new CRD's storage still initializing; 5xx) is retried in
    seconds, not after kopf's 60 s for an error: right after prometheus-operator's CRDs are installed, the first
    reconcile of every collector meets one."""
    try:
        yield
    except KubeError as err:
        if err.status in TRANSIENT_STATUSES:
            raise kopf.TemporaryError(f"{err}; retrying", delay=TRANSIENT_RETRY_SECONDS) from err
        raise


def register(registry: kopf.OperatorRegistry, ctx: Context | None = None) -> kopf.OperatorRegistry:
    ctx = ctx or Context(BuildOptions())

    @kopf.on.startup(registry=registry)
    async def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings)
        ctx.kube = Kube(await api_client(ctx.kubeconfig))

    @kopf.on.cleanup(registry=registry)
    async def _cleanup(**_: Any) -> None:
        if ctx.kube is not None:
            await ctx.kube.api.close()

    async def on_spec(body: kopf.Body, meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
        """The resource was created, changed, or found at start-up: reconcile it and record the status."""
        uid = str(meta["uid"])
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        plural = TA_PLURAL if body.get("kind") == "TargetAllocator" else PLURAL
        version = TA_VERSION if plural == TA_PLURAL else VERSION
        ctx.owners[uid] = f"/apis/{GROUP}/{version}/namespaces/{namespace}/{plural}/{name}"
        plain = orjson.loads(orjson.dumps(dict(body)))  # kopf's Body is a view; the builders take plain data
        with transient_retried_soon():
            async with ctx.locks.of(uid):
                outcome = await ctx.reconcile(plain)
        patch.status.update(outcome.status)
        _report(body, outcome)
        # The TargetAllocator it uses (labelled, or its own embedded one) takes its scrape configs and pod labels,
        # which are not in the TargetAllocator's spec: reconcile it too.
        linked = (meta.get("labels") or {}).get(TARGET_ALLOCATOR_LABEL)
        embedded = ((body.get("spec") or {}).get("targetAllocator") or {}).get("enabled")
        if plural == PLURAL and (linked or embedded) and not outcome.problems:
            with transient_retried_soon():
                await reconcile_path(f"/apis/{GROUP}/{TA_VERSION}/namespaces/{namespace}/{TA_PLURAL}/{linked or name}")

    async def _on_delete(body: kopf.Body, meta: kopf.Meta, **_: Any) -> None:
        """Namespaced children go with the resource (owner references); cluster-scoped ones must be deleted here.
        A TargetAllocator the collector was labelled to use falls back to its own configuration."""
        uid = str(meta["uid"])
        kube = ctx.client()
        ctx.owners.pop(uid, None)  # no drift repair from now on: it would recreate what is deleted here
        async with ctx.locks.of(uid):  # and none still running
            for kind in ("ClusterRoleBinding", "ClusterRole"):
                k = KINDS[kind]
                for item in await kube.list(k.collection(None), f"{OWNER_UID_LABEL}={uid}"):
                    await kube.delete({**item, "kind": kind})
        ctx.locks.forget(uid)
        linked = (meta.get("labels") or {}).get(TARGET_ALLOCATOR_LABEL)
        if body.get("kind") == "OpenTelemetryCollector" and linked:
            namespace = meta.get("namespace")
            await reconcile_path(f"/apis/{GROUP}/{TA_VERSION}/namespaces/{namespace}/{TA_PLURAL}/{linked}")

    async def again(uid: str) -> None:
        """Reconcile the owner of a child that changed, outside kopf's own handling of the owner."""
        path = ctx.owners.get(uid)
        if path is not None:  # None: not seen yet (the resume handler will get to it) or already gone
            await reconcile_path(path, uid)

    async def reconcile_path(path: str, uid: str | None = None) -> None:
        kube = ctx.client()
        owner = await kube.get(path)
        if owner is None:
            return
        uid = uid or str(owner["metadata"]["uid"])
        async with ctx.locks.of(uid):
            owner = await kube.get(path)  # read under the lock: a deletion may have begun meanwhile
            if uid not in ctx.owners or owner is None or owner["metadata"].get("deletionTimestamp"):
                return
            try:
                outcome = await ctx.reconcile(owner)
            except KubeError as err:  # a repair is retried by the next change or the safety net: one line, no trace
                log.warning("could not reconcile %s: %s", path, err)
                return
        if status_changed(owner.get("status"), outcome.status):
            try:
                await kube.request(
                    "PATCH",
                    f"{path}/status",
                    body={"status": outcome.status},
                    content_type="application/merge-patch+json",
                )
            except KubeError as err:
                if err.status != 404:  # 404: deleted meanwhile, nothing to report on
                    log.warning("could not write the status of %s: %s", path, err)
        if outcome.sync is not None and outcome.sync.writes:
            log.info("repaired %s: %s", path, outcome.sync)

    async def on_child(labels: Mapping[str, str], **_: Any) -> None:
        await again(labels[OWNER_UID_LABEL])

    for kind_name, kind in KINDS.items():
        kopf.on.event(
            kind.group,
            kind.version,
            kind.plural,
            id=f"drift-{kind_name}",
            labels={OWNER_UID_LABEL: kopf.PRESENT},
            registry=registry,
        )(on_child)

    async def _safety_net(meta: kopf.Meta, **_: Any) -> None:
        await again(str(meta["uid"]))

    for version, plural in OWNED:
        for decorator in (kopf.on.create, kopf.on.update, kopf.on.resume):
            decorator(GROUP, version, plural, id="reconcile", registry=registry)(on_spec)
        kopf.on.delete(GROUP, version, plural, id="cluster-scoped-children", registry=registry)(_on_delete)
        kopf.timer(
            GROUP,
            version,
            plural,
            id="safety-net",
            interval=SAFETY_NET_INTERVAL,
            idle=SAFETY_NET_INTERVAL,
            registry=registry,
        )(_safety_net)

    return registry
