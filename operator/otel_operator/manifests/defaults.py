"""The defaults a resource is built with: the CRD's (what the API server stores) and those upstream's mutating
webhook would have written (operator reference §6.1, §4.2), which otel-operator applies in memory instead.

Names stay identical to upstream's: the ConfigMap hash is computed over this defaulted config, as upstream computes
it over the config its webhook stored.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from otel_operator.api.validation import apply_defaults
from otel_operator.manifests import components, labels

# The embedded allocator's fields that make up the TargetAllocator upstream generates from a collector (§5.1).
_EMBEDDED_FIELDS: Final = (
    "replicas",
    "nodeSelector",
    "resources",
    "serviceAccount",
    "image",
    "affinity",
    "securityContext",
    "podSecurityContext",
    "topologySpreadConstraints",
    "tolerations",
    "env",
    "podDisruptionBudget",
    "allocationStrategy",
    "filterStrategy",
    "prometheusCR",
    "observability",
    "allowInsecureAuthSecrets",
    "collectorNotReadyGracePeriod",
    "mtls",
)


def collector(resource: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenTelemetryCollector with the CRD's and the webhook's defaults applied (a copy)."""
    out = apply_defaults(resource)
    meta = out.setdefault("metadata", {})
    if meta.get("labels") is None:
        meta["labels"] = {}
    spec = out.setdefault("spec", {})
    spec["mode"] = spec.get("mode") or "deployment"
    spec["upgradeStrategy"] = spec.get("upgradeStrategy") or "automatic"
    spec["managementState"] = spec.get("managementState") or "managed"
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    allocator = spec.get("targetAllocator")
    if isinstance(allocator, dict) and allocator.get("enabled") and allocator.get("replicas") is None:
        allocator["replicas"] = 1
    autoscaler = spec.get("autoscaler")
    if isinstance(autoscaler, dict) and autoscaler.get("maxReplicas") is not None:
        if autoscaler.get("minReplicas") is None:
            autoscaler["minReplicas"] = spec["replicas"]
        if autoscaler.get("targetCPUUtilization") is None and autoscaler.get("targetMemoryUtilization") is None:
            autoscaler["targetCPUUtilization"] = 90
    if isinstance(spec.get("config"), Mapping):
        spec["config"] = components.apply_defaults(spec["config"])
    return out


def target_allocator(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A TargetAllocator with the CRD's defaults applied (upstream runs no webhook for it)."""
    out = apply_defaults(resource)
    meta = out.setdefault("metadata", {})
    if meta.get("labels") is None:
        meta["labels"] = {}
    out.setdefault("spec", {})
    return out


def embedded_allocator(
    collector_resource: Mapping[str, Any], annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The TargetAllocator upstream derives from a (defaulted) collector's `spec.targetAllocator`: same name and
    namespace, the collector's labels (plus managed-by) and annotations, the allocator fields, the collector's pod
    annotations and network policy."""
    meta = collector_resource.get("metadata") or {}
    spec = collector_resource.get("spec") or {}
    embedded = spec.get("targetAllocator") or {}
    ta_spec: dict[str, Any] = {k: embedded[k] for k in _EMBEDDED_FIELDS if embedded.get(k) is not None}
    if spec.get("podAnnotations"):
        ta_spec["podAnnotations"] = dict(spec["podAnnotations"])
    if spec.get("networkPolicy") is not None:
        ta_spec["networkPolicy"] = dict(spec["networkPolicy"])
    out: dict[str, Any] = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": {**(meta.get("labels") or {}), labels.MANAGED_BY: labels.OPERATOR},
        },
        "spec": copy.deepcopy(ta_spec),
    }
    # `annotations`: the collector's as filtered for its children (upstream copies them all, kubectl's
    # last-applied-configuration included, which would make the TargetAllocator look user-applied)
    kept = dict(annotations if annotations is not None else (meta.get("annotations") or {}))
    if kept:
        out["metadata"]["annotations"] = kept
    return out
