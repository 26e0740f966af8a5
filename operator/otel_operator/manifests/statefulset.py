"""The collector's StatefulSet (mode statefulset): stable pod names, which the target allocator's consistent
hashing keys targets on."""

from __future__ import annotations

import copy

from otel_operator.manifests import naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.params import CollectorParams, prune_empty
from otel_operator.manifests.podspec import collector_pod_template
from otel_operator.manifests.workload import replicas


def collector_statefulset(p: CollectorParams) -> Object:
    spec = p.spec
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": p.resource.metadata(naming.collector(p.name), p.labels(naming.collector(p.name))),
        "spec": prune_empty(
            {
                # Upstream names its headless Service even when it creates none (no ports): so do we.
                "serviceName": spec.get("serviceName") or naming.headless_service(p.name),
                "podManagementPolicy": spec.get("podManagementPolicy") or "Parallel",
                "replicas": replicas(spec),
                "selector": {"matchLabels": p.selector_labels},
                "template": collector_pod_template(p),
                "volumeClaimTemplates": copy.deepcopy(spec.get("volumeClaimTemplates")) or None,
                "persistentVolumeClaimRetentionPolicy": copy.deepcopy(spec.get("persistentVolumeClaimRetentionPolicy"))
                or None,
            }
        ),
    }
