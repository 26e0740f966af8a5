"""Conditions on the monitors the allocator skips, where `kubectl get servicemonitor x -o yaml` shows them.

prometheus-operator (v0.80 and later) reports on each monitor, in `status.bindings`, whether each workload that
selects it accepted it: one entry per workload (group, resource, name, namespace) holding an `Accepted`
condition. The allocator keeps an entry of its own the same way, for the collector it serves
(opentelemetry.io/opentelemetrycollectors): `Accepted=False` with the reason of its Warning Event
(InvalidScrapeResource, TargetLimitExceeded) and the same message while the monitor is skipped; the entry is
removed once the monitor is served again, so a healthy monitor carries nothing of ours.

Each write is a JSON patch of the status subresource that touches only our entry and tests the resourceVersion it
was planned from: prometheus-operator's entries are never rewritten, and a patch that lost a race is planned again
from the next version the watch delivers. A CRD without the status subresource (prometheus-operator before
v0.80) answers 404: the Events alone report there, and the allocator says so once.

`plan_patches` is pure (monitor objects and problems in, patches out); `StatusWriter` is the thin part that sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from otel_operator.allocator.config import LabelSelector
from otel_operator.allocator.kubeclient import ApiError, send
from otel_operator.allocator.monitors import MonitorKey
from otel_operator.allocator.watch import Resource

log = logging.getLogger("otel_operator.allocator.monitor_status")

ACCEPTED: Final = "Accepted"
INSTANCE_LABEL: Final = "app.kubernetes.io/instance"  # "<namespace>.<name>" of the collector, as the operator sets it


@dataclass(frozen=True, slots=True)
class Binding:
    """The workload an entry of `status.bindings` speaks for."""

    group: str
    resource: str
    name: str
    namespace: str

    def matches(self, entry: Any) -> bool:
        return isinstance(entry, Mapping) and all(
            entry.get(k) == v
            for k, v in (
                ("group", self.group),
                ("resource", self.resource),
                ("name", self.name),
                ("namespace", self.namespace),
            )
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a monitor is skipped: the reason and message of its Warning Event."""

    reason: str
    message: str


def collector_binding(selector: LabelSelector | None) -> Binding | None:
    """The collector this allocator serves, from its collector selector's instance label ("<namespace>.<name>", as
    the operator writes it); None when the selector does not name one (a hand-written config)."""
    if selector is None:
        return None
    instance = dict(selector.match_labels).get(INSTANCE_LABEL, "")
    ns, sep, name = instance.partition(".")
    if not sep or not name:
        return None
    return Binding("opentelemetry.io", "opentelemetrycollectors", name, ns)


def _bindings(obj: Mapping[str, Any]) -> list[Any] | None:
    status = obj.get("status")
    if not isinstance(status, Mapping):
        return None
    bindings = status.get("bindings")
    return bindings if isinstance(bindings, list) else None


def _our_entry(obj: Mapping[str, Any], binding: Binding) -> tuple[int, Mapping[str, Any]] | None:
    """Our entry in the monitor's status, with its index; None when there is none."""
    for index, entry in enumerate(_bindings(obj) or ()):
        if binding.matches(entry):
            return index, entry
    return None


def _accepted(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    for condition in entry.get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == ACCEPTED:
            return condition
    return {}


def observed(obj: Mapping[str, Any], binding: Binding) -> Problem | None:
    """The problem our entry's Accepted condition states; None when there is no entry of ours or it accepts."""
    found = _our_entry(obj, binding)
    if found is None:
        return None
    condition = _accepted(found[1])
    if condition.get("status") != "False":
        return None
    return Problem(str(condition.get("reason") or ""), str(condition.get("message") or ""))


def _entry(binding: Binding, problem: Problem, generation: Any, now: str) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": ACCEPTED,
        "status": "False",
        "reason": problem.reason,
        "message": problem.message[:32768],
        "lastTransitionTime": now,
    }
    if isinstance(generation, int):
        condition["observedGeneration"] = generation
    return {
        "group": binding.group,
        "resource": binding.resource,
        "name": binding.name,
        "namespace": binding.namespace,
        "conditions": [condition],
    }


def patch_for(
    obj: Mapping[str, Any], binding: Binding, problem: Problem | None, now: str
) -> list[dict[str, Any]] | None:
    """The JSON patch that makes the monitor's status say `problem` (None: remove our entry); None when it already
    does."""
    meta = obj.get("metadata") or {}
    found = _our_entry(obj, binding)
    if problem is None:
        if found is None:
            return None
        ops: list[dict[str, Any]] = [{"op": "remove", "path": f"/status/bindings/{found[0]}"}]
    else:
        if found is not None and observed(obj, binding) == problem:
            return None
        entry = _entry(binding, problem, meta.get("generation"), now)
        if found is not None:
            before = _accepted(found[1])
            if before.get("status") == "False" and before.get("lastTransitionTime"):  # still not accepted
                entry["conditions"][0]["lastTransitionTime"] = before["lastTransitionTime"]
            ops = [{"op": "replace", "path": f"/status/bindings/{found[0]}", "value": entry}]
        elif _bindings(obj) is not None:
            ops = [{"op": "add", "path": "/status/bindings/-", "value": entry}]
        elif isinstance(obj.get("status"), Mapping):
            ops = [{"op": "add", "path": "/status/bindings", "value": [entry]}]
        else:
            ops = [{"op": "add", "path": "/status", "value": {"bindings": [entry]}}]
    # planned from this version: a patch that lost a race fails (422) instead of removing someone else's entry
    return [{"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}, *ops]


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_patches(
    monitors: Iterable[tuple[MonitorKey, Mapping[str, Any]]],
    problems: Mapping[MonitorKey, Problem],
    binding: Binding,
    now: str,
) -> dict[MonitorKey, list[dict[str, Any]]]:
    """Every monitor whose status must change: a skipped one gets (or updates) our entry, a served one loses it."""
    out: dict[MonitorKey, list[dict[str, Any]]] = {}
    for key, obj in monitors:
        patch = patch_for(obj, binding, problems.get(key), now)
        if patch is not None:
            out[key] = patch
    return out


class StatusWriter:
    """Sends planned patches one at a time from one task (latest plan per monitor wins); a kind whose CRD has no
    status subresource, or that RBAC does not let us patch, is given up after one log line."""

    def __init__(self, api: Any, resources: Mapping[str, Resource]) -> None:
        self._api = api
        self._targets = dict(resources)  # kind → the resource whose /status is patched
        self._pending: dict[MonitorKey, list[dict[str, Any]]] = {}
        self._wake = asyncio.Event()
        self._given_up: set[str] = set()

    def submit(self, patches: Mapping[MonitorKey, list[dict[str, Any]]]) -> None:
        for key, patch in patches.items():
            if key[0] in self._targets and key[0] not in self._given_up:
                self._pending[key] = patch
        if self._pending:
            self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                key = next(iter(self._pending))
                patch = self._pending.pop(key)
                kind, namespace, name = key
                if kind in self._given_up:
                    continue
                t = self._targets[kind]
                path = f"/apis/{t.group}/{t.version}/namespaces/{quote(namespace)}/{t.plural}/{quote(name)}/status"
                try:
                    await send(self._api, "PATCH", path, patch, content_type="application/json-patch+json")
                except ApiError as err:
                    self._failed(key, err.status, err.reason, err.body)
                except Exception as err:  # the next change plans it again; never end the task
                    log.warning("could not write the status of %s %s/%s: %s", kind, namespace, name, err)

    def _failed(self, key: MonitorKey, status: int | None, reason: str, body: Any) -> None:
        kind, namespace, name = key
        if status == 404 and _names(body) == name:  # deleted meanwhile: nothing to report on
            return
        if status == 404:  # /status of an object that exists: the CRD has no status subresource
            self._given_up.add(kind)
            log.info(
                "%s has no status subresource here (prometheus-operator before v0.80, or a CRD without it): skipped "
                "%ss are reported by Warning Events only",
                kind,
                kind,
            )
        elif status == 403:
            self._given_up.add(kind)
            log.warning(
                "may not patch %ss/status (RBAC): skipped %ss are reported by Warning Events only; grant patch on "
                "%s/status to the allocator's service account",
                kind.lower(),
                kind,
                self._targets[kind].plural,
            )
        elif status in (409, 422):  # lost a race with another writer: planned again from the next version
            log.debug("status of %s %s/%s changed meanwhile (%s); planned again", kind, namespace, name, reason)
        else:
            log.warning("could not write the status of %s %s/%s: %s %s", kind, namespace, name, status, reason)


def _names(body: Any) -> str:
    """The object name a metav1.Status's details give (a 404 for a missing object names it)."""
    try:
        status = json.loads(body) if isinstance(body, str | bytes) else body
    except ValueError:
        return ""
    details = status.get("details") if isinstance(status, Mapping) else None
    return str(details.get("name") or "") if isinstance(details, Mapping) else ""
