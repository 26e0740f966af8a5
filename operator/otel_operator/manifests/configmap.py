"""ConfigMaps: the collector's versioned `<name>-collector-<hash8>` and the allocator's `<name>-targetallocator`."""

from __future__ import annotations

from otel_operator.manifests import naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams


def collector_config_map(p: CollectorParams) -> Object:
    """`collector.yaml`. The name changes with the config, so pods roll and old versions stay for a rollback."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": p.resource.metadata(p.config_map_name, p.labels(naming.collector(p.name))),
        "data": {naming.COLLECTOR_CONFIG_KEY: p.config_text},
    }


def allocator_config_map(a: AllocatorParams) -> Object:
    """`targetallocator.yaml`, under a fixed name; the Deployment's hash annotation rolls the allocator."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": a.resource.metadata(a.object_name, a.labels),
        "data": {naming.ALLOCATOR_CONFIG_KEY: a.config_text},
    }
