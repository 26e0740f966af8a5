"""Reconcile one OpenTelemetryCollector (or TargetAllocator): desired objects from the pure builders, then make the
cluster match — create what is missing, re-apply what drifted, prune what is no longer wanted — and compute the
status. Level-triggered and idempotent: when everything is already as desired, nothing is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from otel_operator import yamlsafe
from otel_operator.api.validation import FieldError
from otel_operator.manifests import BuildOptions, build, rbac
from otel_operator.manifests.labels import ALLOCATOR_COMPONENT, COMPONENT, TARGET_ALLOCATOR_LABEL
from otel_operator.manifests.mtls import issued_certificates
from otel_operator.reconcile import mtls, permissions
from otel_operator.reconcile.desired import (
    OWNER_UID_LABEL,
    ObjKey,
    condition,
    covers,
    key_of,
    owned,
    ready_condition,
    replicas_of,
    to_prune,
)
from otel_operator.reconcile.kube import KINDS, Kube, KubeError, item_path

log = logging.getLogger("otel_operator.reconcile")

WORKLOAD_KINDS = ("StatefulSet", "Deployment", "DaemonSet")
REFUSED = "WriteRefused"  # the Ready condition's and the Event's reason when the API server refuses an object
UNMANAGED = "managementState is unmanaged: the operator changes nothing"
SIDECAR_READY = (
    "mode sidecar: injected into the pods annotated sidecar.opentelemetry.io/inject when they are created "
    "(needs the operator's admission webhooks)"
)


@dataclass(slots=True)
class SyncResult:
    created: list[ObjKey] = field(default_factory=list)
    updated: list[ObjKey] = field(default_factory=list)
    unchanged: list[ObjKey] = field(default_factory=list)
    deleted: list[ObjKey] = field(default_factory=list)
    live: dict[ObjKey, dict[str, Any]] = field(default_factory=dict)  # after the sync, what the API returned

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)


async def children(kube: Kube, owner: Mapping[str, Any], apis: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Every object carrying the owner's uid label, of every kind the operator writes (of the optional kinds, those
    whose API `apis` says the cluster serves; all when None)."""
    meta = owner["metadata"]
    selector = f"{OWNER_UID_LABEL}={meta['uid']}"
    found: list[dict[str, Any]] = []
    for kind_name, kind in KINDS.items():
        if kind.optional and apis is not None and kind.api_version not in apis:
            continue
        try:
            items = await kube.list(kind.collection(meta.get("namespace")), selector)
        except KubeError as err:
            if kind.optional and err.status == 404:  # not installed in this cluster: nothing of it can be ours
                continue
            raise
        for item in items:
            found.append({**item, "kind": kind_name, "apiVersion": kind.api_version})
    return found


async def sync(
    kube: Kube,
    owner: Mapping[str, Any],
    objects: Sequence[Mapping[str, Any]],
    *,
    versioned_prefix: str | None,
    apis: frozenset[str] | None = None,
) -> SyncResult:
    """Make the owner's children exactly `objects` (in their order), writing only where something differs.

    One list per kind (by the owner-uid label) serves both questions: what is there to compare, and what to prune;
    a desired object not among them (absent, or not ours yet) is applied."""
    result = SyncResult()
    desired = [owned(obj, owner) for obj in objects]
    live_children = await children(kube, owner, apis)
    live_by_key = {key_of(obj): obj for obj in live_children}
    changing = [(obj, live_by_key.get(key_of(obj))) for obj in desired]
    changing = [(obj, live) for obj, live in changing if live is None or not covers(live, obj)]
    await _dry_run(kube, changing)
    for obj in desired:
        key = key_of(obj)
        live = live_by_key.get(key)
        if live is not None and covers(live, obj):
            result.unchanged.append(key)
            result.live[key] = live
            continue
        try:
            result.live[key] = await kube.apply(obj)
        except KubeError as err:
            if not (live is not None and _immutable(err, obj)):
                if _refusal(err):  # admitted in the dry run, refused now (a webhook that changed its mind)
                    raise WriteRefused([_refusal_text(obj, err)]) from None
                raise
            # A selector, a volumeClaimTemplate or a serviceName cannot change in place: replace the object, as
            # upstream does (its pods are recreated; retrying the patch would fail forever)
            log.info("replacing %s %s/%s: %s", *key, err)
            await kube.delete(live)  # background: the old pods go with it, after the new object takes over
            await _wait_gone(kube, live)
            result.live[key] = await kube.apply(obj)
            result.deleted.append(key)
        (result.created if live is None else result.updated).append(key)
    versions = int(((owner.get("spec") or {}).get("configVersions")) or 3)
    adopting = any(o.get("kind") == "TargetAllocator" for o in desired)
    for stale in to_prune(
        live_children,
        desired,
        versioned_prefix=versioned_prefix,
        config_versions=versions,
        # allocator objects a collector owned before its TargetAllocator resource existed: that resource adopts
        # them (same names), so the allocator keeps running through the upgrade
        keep=_allocator_object if adopting else None,
    ):
        await kube.delete(stale)
        result.deleted.append(key_of(stale))
    return result


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _problem_text(problem: FieldError) -> str:
    return f"{problem.field}: {problem.message}" if problem.field else problem.message


@dataclass(slots=True)
class Outcome:
    """What a reconcile decided: the status to write, and what to tell the user."""

    status: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sync: SyncResult | None = None
    reason: str = "InvalidSpec"  # why `problems` stopped it: the spec (InvalidSpec) or the API server (WriteRefused)


class WriteRefused(Exception):
    """The API server refused objects the spec asks for (a bad quantity, a mount of a missing volume, a name too long
    for a label): nothing was written, and the spec must change. `refusals` name each object and the server's words."""

    def __init__(self, refusals: Sequence[str]) -> None:
        super().__init__("; ".join(refusals))
        self.refusals = list(refusals)


# Answers that say the object itself is wrong, as opposed to "later" (429, 5xx) or "not allowed here" (403, 404):
# 400 and 422 are validation; a 500 from server-side apply that could not convert the object or build its typed
# patch is a value of the wrong form (e.g. `memory: 1Gib`), which the API server reports as an internal error.
_MALFORMED: Final = ("failed to convert new object", "failed to create typed patch object")


def _refusal(err: KubeError) -> bool:
    return err.status in (400, 422) or (err.status == 500 and any(words in err.message for words in _MALFORMED))


def _refusal_text(obj: Mapping[str, Any], err: KubeError) -> str:
    return f"the API server refused {obj.get('kind')} {obj['metadata'].get('name')}: {err.message}"


async def _dry_run(kube: Kube, changing: Sequence[tuple[Mapping[str, Any], Mapping[str, Any] | None]]) -> None:
    """Every object about to be written, admitted without being stored: all of them are written, or none (the live
    ones stay as the last good spec left them)."""
    refusals = []
    for obj, live in changing:
        try:
            await kube.apply(obj, dry_run=True)
        except KubeError as err:
            if _refusal(err) and not (live is not None and _immutable(err, obj)):
                refusals.append(_refusal_text(obj, err))
            # anything else (403 for a binding to a role not made yet, 404 for a namespace) is for the real write
    if refusals:
        raise WriteRefused(refusals)


def _immutable(err: KubeError, obj: Mapping[str, Any]) -> bool:
    """The API server refused a change of a field that cannot change once set (422, "field is immutable")."""
    return err.status == 422 and "immutable" in str(err) and obj.get("kind") in (*WORKLOAD_KINDS, "Service")


async def _wait_gone(kube: Kube, obj: Mapping[str, Any], within: float = 60.0) -> None:
    """Until the object is gone, so that the new one can take its name."""
    path = item_path(obj)
    uid = (obj.get("metadata") or {}).get("uid")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        current = await kube.get(path)
        if current is None or current["metadata"].get("uid") != uid:
            return
        await asyncio.sleep(0.2)
    raise KubeError(0, "DELETE", path, f"still there after {within:.0f}s; it is replaced on the next reconcile")


def _allocator_object(obj: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(COMPONENT) == ALLOCATOR_COMPONENT and obj.get("kind") != "TargetAllocator"


async def linked_collector(kube: Kube, allocator: Mapping[str, Any]) -> dict[str, Any] | None:
    """The OpenTelemetryCollector a TargetAllocator serves: the one that owns it (an embedded allocator), else the
    one labelled with the allocator's name."""
    meta = allocator["metadata"]
    path = f"/apis/opentelemetry.io/v1beta1/namespaces/{meta['namespace']}/opentelemetrycollectors"
    owner_ref = next(
        (
            r
            for r in meta.get("ownerReferences") or []
            if r.get("kind") == "OpenTelemetryCollector" and r.get("controller")
        ),
        None,
    )
    if owner_ref is not None:
        owner = await kube.get(f"{path}/{owner_ref['name']}")
        if owner is not None and owner["metadata"].get("uid") == owner_ref.get("uid"):
            return {**owner, "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector"}
        return None  # its collector is gone: garbage collection takes the allocator next
    found = await kube.list(path, f"{TARGET_ALLOCATOR_LABEL}={meta['name']}")
    found = [c for c in found if not c["metadata"].get("deletionTimestamp")]  # a collector being deleted is gone
    if not found:
        return None
    first = sorted(found, key=lambda c: str(c["metadata"]["name"]))[0]  # several: the first by name, always
    return {**first, "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector"}


async def missing_allocator_permissions(kube: Kube, objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """When the operator does not grant the allocator its permissions (`--no-allocator-rbac`), what the allocator's
    service account lacks, asked of the API server one SubjectAccessReview per permission."""
    config_map = next(
        (o for o in objects if o.get("kind") == "ConfigMap" and "targetallocator.yaml" in (o.get("data") or {})), None
    )
    deployment = next(
        (o for o in objects if o.get("kind") == "Deployment" and o["metadata"]["name"].endswith("-targetallocator")),
        None,
    )
    if config_map is None or deployment is None:
        return []
    namespace = str(deployment["metadata"]["namespace"])
    account = str(deployment["spec"]["template"]["spec"].get("serviceAccountName") or "default")
    user = f"system:serviceaccount:{namespace}:{account}"
    missing = []
    # the operator's own output, but read with the same bounded loader as everything else
    for rule in rbac.rules(yamlsafe.safe_load(config_map["data"]["targetallocator.yaml"]) or {}):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    review = {
                        "apiVersion": "authorization.k8s.io/v1",
                        "kind": "SubjectAccessReview",
                        "spec": {
                            "user": user,
                            "groups": [
                                "system:serviceaccounts",
                                f"system:serviceaccounts:{namespace}",
                                "system:authenticated",
                            ],
                            "resourceAttributes": {"group": group, "resource": resource, "verb": verb},
                        },
                    }
                    answer = await kube.request(
                        "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=review
                    )
                    if not (answer.get("status") or {}).get("allowed"):
                        missing.append(f"{verb} {resource}" + (f".{group}" if group else ""))
    if not missing:
        return []
    return [
        f"the target allocator's service account {namespace}/{account} may not {', '.join(missing)} (cluster-wide); "
        "grant them with a ClusterRole and binding, or let the operator do it (drop --no-allocator-rbac)"
    ]


async def missing_service_accounts(
    kube: Kube, objects: Sequence[Mapping[str, Any]], *, standalone: bool = False
) -> list[str]:
    """Workloads told to run as a ServiceAccount that nobody made: the API server refuses their pods, which otherwise
    shows only as a FailedCreate Event on a ReplicaSet the user never looks at. `standalone`: the objects are a
    TargetAllocator resource's, whose field is `spec.serviceAccount`."""
    made = {
        (o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects if o.get("kind") == "ServiceAccount"
    }
    found = []
    for obj in objects:
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        namespace, name = str(obj["metadata"]["namespace"]), str(obj["metadata"]["name"])
        account = obj["spec"]["template"]["spec"].get("serviceAccountName")
        if not account or (namespace, account) in made:
            continue
        if await kube.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}") is not None:
            continue
        allocator = name.endswith("-targetallocator")
        field = "spec.serviceAccount" if standalone or not allocator else "spec.targetAllocator.serviceAccount"
        found.append(
            f"{field}: ServiceAccount {namespace}/{account} does not exist, so no pod of the "
            f"{'target allocator' if allocator else 'collector'} ({obj['kind']} {name}) can be created; create it "
            f"(kubectl -n {namespace} create serviceaccount {account}) or remove {field} to let the operator make one"
        )
    return found


async def reconcile(kube: Kube, owner: Mapping[str, Any], options: BuildOptions) -> Outcome:
    """Reconcile an OpenTelemetryCollector, or a TargetAllocator (with the collector labelled to use it)."""
    meta = owner["metadata"]
    spec = owner.get("spec") or {}
    previous = list(((owner.get("status") or {}).get("conditions")) or [])
    generation = meta.get("generation")
    stamp = now()
    status: dict[str, Any] = {"observedGeneration": generation}
    is_allocator = owner.get("kind") == "TargetAllocator"
    collector = await linked_collector(kube, owner) if is_allocator else None
    if spec.get("managementState") == "unmanaged" or _unmanaged_owner(owner, collector):
        status["conditions"] = [
            condition(previous, "Ready", "Unknown", "Unmanaged", UNMANAGED, now=stamp, generation=generation)
        ]  # fmt: skip
        return Outcome(status)
    built = build(owner, options, collector=collector)
    problems = [_problem_text(p) for p in built.problems]
    warnings = list(built.warnings)
    conditions: list[dict[str, Any]] = []
    if problems:  # nothing is applied: the children stay as the last valid spec left them
        conditions.append(ready_condition(previous, problems, None, now=stamp, generation=generation))
        status["conditions"] = [*conditions, *_warnings_condition(previous, warnings, now=stamp, generation=generation)]
        return Outcome(status, problems, warnings)
    if not options.allocator_rbac:
        try:
            warnings += await missing_allocator_permissions(kube, built.objects)
        except KubeError as err:  # the check is advice; it must never stop a reconcile
            log.warning("could not check the allocator's permissions: %s", err)
    try:  # advice again: the allocator's objects are checked here too, where the collector's owner looks
        every = [*built.objects, *([] if is_allocator else built.allocator_objects)]
        warnings += await missing_service_accounts(kube, every, standalone=is_allocator and collector is None)
    except KubeError as err:
        log.warning("could not check the workloads' service accounts: %s", err)
    objects: list[dict[str, Any]] = list(built.objects)
    if options.collector_rbac and not is_allocator:
        # the API server lets the operator grant only what it holds: leave out a ClusterRole it may not grant
        objects, lacking = await permissions.grantable(kube, objects)
        warnings += lacking
    if not is_allocator:
        # the mTLS certificates the operator issues itself exist before the pods that mount them
        await mtls.ensure(kube, owner, issued_certificates(owner, options))
    name = meta["name"]
    try:
        result = await sync(
            kube,
            owner,
            objects,
            versioned_prefix=None if is_allocator else f"{name}-collector-",
            apis=options.apis,
        )
    except WriteRefused as refused:  # nothing written; the spec must change (the safety net retries meanwhile)
        conditions.append(
            ready_condition(previous, refused.refusals, None, now=stamp, generation=generation, reason=REFUSED)
        )
        status["conditions"] = [*conditions, *_warnings_condition(previous, warnings, now=stamp, generation=generation)]
        return Outcome(status, refused.refusals, warnings, reason=REFUSED)
    workload = next((o for k, o in result.live.items() if k[0] in WORKLOAD_KINDS), None)
    sidecar = not is_allocator and (owner.get("spec") or {}).get("mode") == "sidecar"
    if sidecar:  # no workload of its own: it is ready as soon as pods can get it (its ConfigMap exists)
        conditions.append(
            condition(previous, "Ready", "True", "Sidecar", SIDECAR_READY, now=stamp, generation=generation)
        )
        status["scale"] = {"replicas": 0, "selector": "", "statusReplicas": "0/0"}  # upstream's, for a sidecar
    else:
        conditions.append(ready_condition(previous, [], workload, now=stamp, generation=generation))
    conditions += _warnings_condition(previous, warnings, now=stamp, generation=generation)
    status["conditions"] = conditions
    if workload is not None and not is_allocator:  # a DaemonSet's too: kubectl's READY column shows it
        want, ready = replicas_of(workload)
        status["scale"] = {
            "replicas": want,
            "selector": built.selector,
            "statusReplicas": f"{ready}/{want}",
        }
    if built.version:
        status["version"] = built.version
    if built.image:
        status["image"] = built.image
    return Outcome(status, problems, warnings, result)


def _unmanaged_owner(allocator: Mapping[str, Any], collector: Mapping[str, Any] | None) -> bool:
    """An embedded allocator whose collector is unmanaged is left alone too: hands off means everything below it
    (upstream's allocator controller would keep repairing it)."""
    if collector is None:
        return False
    owners = {r.get("uid") for r in (allocator.get("metadata") or {}).get("ownerReferences") or []}
    unmanaged = (collector.get("spec") or {}).get("managementState") == "unmanaged"
    return unmanaged and (collector.get("metadata") or {}).get("uid") in owners


def _warnings_condition(
    previous: Sequence[Mapping[str, Any]], warnings: Sequence[str], *, now: str, generation: int | None
) -> list[dict[str, Any]]:
    """`ConfigurationWarning` while there are warnings; none otherwise, so that a healthy collector has upstream's
    one condition (`Ready`). The conditions list is written whole, so a warning that is fixed disappears."""
    if not warnings:
        return []
    message = "; ".join(warnings)
    return [condition(previous, "ConfigurationWarning", "True", "SeeMessage", message, now=now, generation=generation)]


class Locks:
    """One lock per owner: a spec change and a drift event for the same resource never reconcile at once."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def of(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    def forget(self, uid: str) -> None:
        self._locks.pop(uid, None)
