"""PodDisruptionBudgets of the collector and the target allocator.

As upstream (0.158): the collector's `<name>-collector` exists in modes deployment and statefulset, from
spec.podDisruptionBudget or else `maxUnavailable: 1` (which never blocks a node drain, even with one replica, yet
keeps a drain from taking several pods at once). The allocator's `<name>-targetallocator` is the same, except that
least-weighted gets none by default and may not have one (upstream refuses it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any, Final

from otel_operator.manifests import naming
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams
from otel_operator.manifests.problems import Problems

COLLECTOR_MODES: Final = ("deployment", "statefulset")
# the strategies upstream builds an allocator PDB for (consistent-hashing is the CRD's default)
ALLOCATOR_STRATEGIES: Final = ("consistent-hashing", "per-node")
DEFAULT_BUDGET: Final = {"maxUnavailable": 1}
_KEYS: Final = ("minAvailable", "maxUnavailable")
_PERCENT: Final = re.compile(r"^[0-9]+%$")


def _budget(given: Any) -> dict[str, Any]:
    """The PDB's minAvailable / maxUnavailable: the ones given, else upstream's default."""
    if isinstance(given, Mapping):
        chosen = {k: copy.deepcopy(given[k]) for k in _KEYS if given.get(k) is not None}
        if chosen:
            return chosen
    return dict(DEFAULT_BUDGET)


def _pdb(metadata: dict[str, Any], budget: dict[str, Any], selector: Mapping[str, str]) -> Object:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata,
        "spec": {**budget, "selector": {"matchLabels": dict(selector)}},
    }


def collector_pdb(p: CollectorParams) -> Object | list[Object] | None:
    if p.mode not in COLLECTOR_MODES:  # a DaemonSet's pods are one per node; a sidecar's belong to the app
        return None
    name = naming.collector(p.name)
    labels = p.labels(name)
    # upstream selects the pods by all of the object's labels (they are the pod template's labels too), not only
    # the workload's selector labels: e2e-pdb/pdb/01-assert.yaml expects name and version among matchLabels
    return _pdb(p.resource.metadata(name, labels), _budget(p.spec.get("podDisruptionBudget")), labels)


def allocator_pdb(a: AllocatorParams) -> Object | list[Object] | None:
    given = a.spec.get("podDisruptionBudget")
    strategy = a.spec.get("allocationStrategy") or "consistent-hashing"
    if strategy not in ALLOCATOR_STRATEGIES:  # least-weighted: none (one given is refused by check_allocator)
        return None
    # the TargetAllocator's own annotations (filtered), as upstream's ResourceAnnotations: not the pods' (upstream's
    # e2e targetallocator-annotations asserts a pod-only annotation stays off the PDB)
    metadata = a.resource.metadata(a.object_name, a.labels)
    return _pdb(metadata, _budget(given), a.selector_labels)


# --- checks ---------------------------------------------------------------------------------------------------------


def _check_budget(given: Any, field: str, found: Problems) -> None:
    """The rules the API server applies to a PodDisruptionBudget's spec, reported on the resource's field."""
    if not isinstance(given, Mapping):
        return
    if given.get("minAvailable") is not None and given.get("maxUnavailable") is not None:
        found.error(
            field,
            "minAvailable and maxUnavailable cannot be both set (the API server refuses such a "
            "PodDisruptionBudget): keep one of them",
        )
    for key in _KEYS:
        value = given.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | str):
            found.error(f"{field}.{key}", f"{value!r} is not a number or a percentage: use e.g. 1 or 25%")
        elif isinstance(value, int):
            if value < 0:
                found.error(f"{field}.{key}", f"{value} is negative: use 0 or more pods, or a percentage")
        elif not _PERCENT.match(value):
            found.error(
                f"{field}.{key}",
                f'"{value}" is not a valid percent string (digits followed by %): use e.g. 1 or "25%"',
            )
        elif int(value[:-1]) > 100:
            found.error(f"{field}.{key}", f'"{value}" is more than 100%: use 0% to 100%')


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern this module's objects."""
    given = spec.get("podDisruptionBudget")
    _check_budget(given, "spec.podDisruptionBudget", found)
    mode = spec.get("mode") or "deployment"
    if isinstance(given, Mapping) and any(given.get(k) is not None for k in _KEYS) and mode not in COLLECTOR_MODES:
        found.warn(
            "spec.podDisruptionBudget",
            f"ignored in mode {mode}: no PodDisruptionBudget is created for it (as upstream); remove it, or use "
            "mode deployment or statefulset",
        )


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded)."""
    given = spec.get("podDisruptionBudget")
    field = f"{prefix}.podDisruptionBudget"
    _check_budget(given, field, found)
    strategy = spec.get("allocationStrategy") or "consistent-hashing"
    if isinstance(given, Mapping) and strategy not in ALLOCATOR_STRATEGIES:
        found.error(
            field,
            "target allocator pdb has been configured but the allocation strategy isn't not compatible: upstream "
            f"builds no PodDisruptionBudget for allocationStrategy {strategy}; remove {field}, or set "
            f"{prefix}.allocationStrategy to consistent-hashing or per-node",
        )
