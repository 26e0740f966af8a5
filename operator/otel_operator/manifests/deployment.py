"""Deployments: the collector's (mode deployment) and the target allocator's."""

from __future__ import annotations

import copy

from otel_operator.manifests import naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams, prune_empty
from otel_operator.manifests.podspec import allocator_pod_template, collector_pod_template
from otel_operator.manifests.workload import replicas


def collector_deployment(p: CollectorParams) -> Object:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": p.resource.metadata(naming.collector(p.name), p.labels(naming.collector(p.name))),
        "spec": prune_empty(
            {
                "replicas": replicas(p.spec),
                "selector": {"matchLabels": p.selector_labels},
                "template": collector_pod_template(p),
                "strategy": copy.deepcopy(p.spec.get("deploymentUpdateStrategy")) or None,
            }
        ),
    }


def allocator_deployment(a: AllocatorParams) -> Object:
    """Runs `otel-operator allocator` on the generated config; its hash annotation rolls it on every change."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": a.resource.metadata(a.object_name, a.labels),
        "spec": {
            "replicas": int(a.spec.get("replicas") or 1),
            "selector": {"matchLabels": a.selector_labels},
            "template": allocator_pod_template(a),
        },
    }
