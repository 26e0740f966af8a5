"""The collector's DaemonSet (mode daemonset): one collector per node."""

from __future__ import annotations

import copy

from otel_operator.manifests import naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.params import CollectorParams, prune_empty
from otel_operator.manifests.podspec import collector_pod_template


def collector_daemonset(p: CollectorParams) -> Object:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": p.resource.metadata(naming.collector(p.name), p.labels(naming.collector(p.name))),
        "spec": prune_empty(
            {
                "selector": {"matchLabels": p.selector_labels},
                "template": collector_pod_template(p),
                "updateStrategy": copy.deepcopy(p.spec.get("daemonSetUpdateStrategy")) or None,
            }
        ),
    }
