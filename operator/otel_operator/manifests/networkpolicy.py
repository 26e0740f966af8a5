"""NetworkPolicies of the collector and the target allocator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams
from otel_operator.manifests.problems import Problems


def collector_network_policy(p: CollectorParams) -> Object | list[Object] | None:
    return None


def allocator_network_policy(a: AllocatorParams) -> Object | list[Object] | None:
    return None


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern this module's objects."""


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded)."""
