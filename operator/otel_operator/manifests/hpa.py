"""The collector's HorizontalPodAutoscaler (spec.autoscaler): it scales the OpenTelemetryCollector through its
scale subresource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import CollectorParams
from otel_operator.manifests.problems import Problems


def collector_hpa(p: CollectorParams) -> Object | list[Object] | None:
    return None


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern this module's objects."""
    autoscaler = spec.get("autoscaler")
    if not isinstance(autoscaler, Mapping):
        return
    low, high, replicas = autoscaler.get("minReplicas"), autoscaler.get("maxReplicas"), spec.get("replicas")
    if high is None and low is not None:
        found.error("spec.autoscaler.maxReplicas", "required when spec.autoscaler.minReplicas is set")
    if high is not None:
        if high < 1:
            found.error("spec.autoscaler.maxReplicas", "must be at least 1")
        if isinstance(replicas, int) and replicas > high:
            found.error("spec.replicas", f"{replicas} is more than spec.autoscaler.maxReplicas ({high})")
        if isinstance(low, int) and low > high:
            found.error("spec.autoscaler.minReplicas", f"{low} is more than spec.autoscaler.maxReplicas ({high})")


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded)."""
