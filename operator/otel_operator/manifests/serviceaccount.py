"""ServiceAccounts, created only when the resource does not name an existing one."""

from __future__ import annotations

from otel_operator.manifests import naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams


def _service_account(metadata: dict[str, object]) -> Object:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def collector_service_account(p: CollectorParams) -> Object | None:
    name = naming.collector_service_account(p.name)
    if p.spec.get("serviceAccount") not in (None, "", name):  # the user's own: not ours to make (nor to delete)
        return None
    return _service_account(p.resource.metadata(name, p.labels(naming.collector(p.name))))


def allocator_service_account(a: AllocatorParams) -> Object | None:
    # naming the account the operator makes anyway keeps it made: it was pruned, under the Deployment that runs as
    # it (upstream's e2e targetallocator-cr sets spec.serviceAccount to that name and asserts it still exists)
    if a.spec.get("serviceAccount") not in (None, "", a.object_name):
        return None
    return _service_account(a.resource.metadata(a.object_name, a.labels))
