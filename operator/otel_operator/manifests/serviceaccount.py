"""ServiceAccounts, created only when the resource does not name an existing one."""

from __future__ import annotations

from otel_operator.manifests import naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams


def _service_account(metadata: dict[str, object]) -> Object:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def collector_service_account(p: CollectorParams) -> Object | None:
    if p.spec.get("serviceAccount"):
        return None
    name = naming.collector_service_account(p.name)
    return _service_account(p.resource.metadata(name, p.labels(naming.collector(p.name))))


def allocator_service_account(a: AllocatorParams) -> Object | None:
    if a.spec.get("serviceAccount"):
        return None
    return _service_account(a.resource.metadata(a.object_name, a.labels))
