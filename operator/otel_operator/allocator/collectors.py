"""Which collector pods may receive targets: upstream's readiness rules, plus the two cases it gets wrong.

A pod is a collector when it is scheduled (`spec.nodeName` set), not terminating, and not unhealthy. Unhealthy, with
a non-zero grace period, means "not Running for longer than the grace period since it started" or "not Ready for
longer than the grace period since its Ready condition last changed". A pod that turns unready therefore keeps its
targets for the grace period, so one failed probe does not reshuffle a fleet.

Upstream notices the end of a grace period only at the next informer event (often its 30 s resync). Here
`next_change` tells the caller exactly when a pod's verdict will flip, so it can re-evaluate then. Upstream also
keeps giving targets to terminating pods (#1048, fixed upstream in 2026-09 by PR #5594): a pod with a
`deletionTimestamp` is never a collector here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from otel_operator.allocator.strategies import Collector

Obj = Mapping[str, Any]


def _timestamp(value: object) -> float | None:
    """Seconds since the epoch of an RFC 3339 time as the API writes it ("2026-11-21T10:00:00Z"), None if absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _ready_condition(status: Obj) -> tuple[bool, float | None]:
    for condition in status.get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return condition.get("status") == "True", _timestamp(condition.get("lastTransitionTime"))
    return False, None


def _unhealthy_since(pod: Obj) -> float | None:
    """When the pod's current unhealthy spell began (the earlier of the two clocks that apply: either running past
    the grace period makes the pod unhealthy), None if healthy.

    A pod with no clock to measure (no startTime, no Ready condition yet) counts from 0: upstream treats a missing
    time as the zero time, i.e. long ago.
    """
    status = pod.get("status") or {}
    clocks: list[float] = []
    if status.get("phase") != "Running":
        clocks.append(_timestamp(status.get("startTime")) or 0.0)
    ready, since = _ready_condition(status)
    if not ready:
        clocks.append(since or 0.0)
    return min(clocks) if clocks else None


def collector_of(pod: Obj, now: float, grace_seconds: float) -> Collector | None:
    """The collector this pod is at time `now` (seconds since the epoch), or None if it may not receive targets."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    node = spec.get("nodeName")
    if not node or meta.get("deletionTimestamp"):
        return None
    if grace_seconds > 0:
        since = _unhealthy_since(pod)
        if since is not None and now - since > grace_seconds:
            return None
    return Collector(str(meta.get("name") or ""), str(node))


def next_change(pod: Obj, now: float, grace_seconds: float) -> float | None:
    """When `collector_of` will next change its answer without any new event (a grace period ending), or None."""
    if grace_seconds <= 0 or collector_of(pod, now, grace_seconds) is None:
        return None
    since = _unhealthy_since(pod)
    # the first instant at which `now - since > grace` holds
    return None if since is None else math.nextafter(since + grace_seconds, math.inf)


def collectors_of(pods: Iterable[Obj], now: float, grace_seconds: float) -> tuple[list[Collector], float | None]:
    """The collectors among `pods` (sorted by name) and the earliest time one of the verdicts will flip."""
    out: list[Collector] = []
    wake: float | None = None
    for pod in pods:
        collector = collector_of(pod, now, grace_seconds)
        if collector is not None:
            out.append(collector)
        at = next_change(pod, now, grace_seconds)
        if at is not None and (wake is None or at < wake):
            wake = at
    out.sort(key=lambda c: c.name)
    return out, wake
