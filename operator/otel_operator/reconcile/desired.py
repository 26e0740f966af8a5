"""Pure rules of the reconcile loop: ownership, "is the live object already as desired", what to prune, status.

Every child carries the owner's uid in a label, so the children of one resource are found with one label
selector per kind, namespaced or not (a ClusterRole cannot have a namespaced owner reference, so garbage
collection alone would leak it). Namespaced children also get a controller owner reference, so deleting the
resource lets Kubernetes collect them even when the operator is down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

OWNER_UID_LABEL: Final = "otel-operator.opentelemetry.io/owner-uid"
Obj = Mapping[str, Any]
ObjKey = tuple[str, str, str]  # (kind, namespace, name)


def key_of(obj: Obj) -> ObjKey:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))


def owned(obj: Obj, owner: Obj) -> dict[str, Any]:
    """`obj` with the owner's uid label and, when it lives in the owner's namespace, a controller reference."""
    owner_meta = owner["metadata"]
    meta = dict(obj.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), OWNER_UID_LABEL: owner_meta["uid"]}
    if meta.get("namespace") == owner_meta.get("namespace"):
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner_meta["name"],
                "uid": owner_meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {**obj, "metadata": meta}


def covers(live: Any, desired: Any) -> bool:
    """Whether `live` already holds everything `desired` says (it may hold more: defaults, status, others' fields).

    Lists must match element by element (order matters in containers, ports, rules). Numbers and their string
    forms are not equal: the API server keeps what was written, so a difference is a real one.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(covers(live.get(k), v) for k, v in desired.items() if v is not None)
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(covers(a, b) for a, b in zip(live, desired, strict=True))
    return bool(live == desired)


def to_prune(
    live: Iterable[Obj],
    desired: Iterable[Obj],
    *,
    versioned_prefix: str | None = None,
    config_versions: int = 3,
    keep: Callable[[Obj], bool] | None = None,
) -> list[Obj]:
    """Live children that are no longer desired. ConfigMaps named `<versioned_prefix><hash>` are old versions of
    the collector's configuration: besides the desired one, the newest `max(config_versions, 1)` of them are kept, so
    a rollback finds its ConfigMap (upstream keeps `max(configVersions, 1) + 1` in all). `keep` spares others (the
    allocator objects a TargetAllocator resource is about to adopt)."""
    wanted = {key_of(o) for o in desired}
    stale = [o for o in live if key_of(o) not in wanted and not (keep is not None and keep(o))]
    if versioned_prefix is None:
        return stale
    versions = [o for o in stale if o.get("kind") == "ConfigMap" and key_of(o)[2].startswith(versioned_prefix)]
    versions.sort(key=lambda o: (str((o.get("metadata") or {}).get("creationTimestamp") or ""), key_of(o)[2]))
    kept = {key_of(o) for o in versions[len(versions) - max(1, config_versions) :]}
    return [o for o in stale if key_of(o) not in kept]


def condition(
    previous: Sequence[Obj], type_: str, status: str, reason: str, message: str, *, now: str, generation: int | None
) -> dict[str, Any]:
    """A status condition; `lastTransitionTime` moves only when the status changes."""
    before = next((c for c in previous if c.get("type") == type_), None)
    changed = before is None or before.get("status") != status
    out: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now if changed or not before else before.get("lastTransitionTime", now),
    }
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def ready_condition(
    previous: Sequence[Obj],
    problems: Sequence[str],
    workload: Obj | None,
    *,
    now: str,
    generation: int | None,
    reason: str = "InvalidSpec",
) -> dict[str, Any]:
    """Ready: False with the problems (for `reason`) when the spec cannot be built or applied; else whether the
    workload's pods are ready."""
    if problems:
        return condition(previous, "Ready", "False", reason, "; ".join(problems), now=now, generation=generation)
    if workload is None:
        return condition(
            previous,
            "Ready",
            "False",
            "Creating",
            "the collector workload does not exist yet",
            now=now,
            generation=generation,
        )
    want, ready = replicas_of(workload)
    if ready >= want:
        return condition(
            previous,
            "Ready",
            "True",
            "Available",
            f"{ready}/{want} collector pods ready",
            now=now,
            generation=generation,
        )
    return condition(
        previous,
        "Ready",
        "False",
        "Progressing",
        f"{ready}/{want} collector pods ready",
        now=now,
        generation=generation,
    )


def replicas_of(workload: Obj) -> tuple[int, int]:
    """(desired, ready) pods of a StatefulSet, Deployment or DaemonSet, from its status."""
    status = workload.get("status") or {}
    if workload.get("kind") == "DaemonSet":
        return int(status.get("desiredNumberScheduled") or 0), int(status.get("numberReady") or 0)
    spec = workload.get("spec") or {}
    want = spec.get("replicas")
    return (1 if want is None else int(want)), int(status.get("readyReplicas") or 0)


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether writing `new` would change anything (conditions compared without their timestamps)."""
    old = old or {}

    def strip(s: Mapping[str, Any]) -> Any:
        conds = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in s.get("conditions") or []]
        return {**s, "conditions": conds}

    return bool(strip({k: old.get(k) for k in new}) != strip(new))
