"""Pure builders: from an OpenTelemetryCollector or a TargetAllocator to the Kubernetes objects it consists of.

    from otel_operator.manifests import BuildOptions, build

    result = build(resource, BuildOptions())
    if result.problems: ...        # nothing to apply; each problem names the field and the fix
    for obj in result.objects: ... # in apply order; add ownerReferences to the namespaced ones

One module per object kind (configmap, service, serviceaccount, rbac and collector_rbac, statefulset, deployment,
daemonset, pdb, hpa, networkpolicy, servicemonitor, ingress, route, httproute, with the pod templates in podspec),
each with the checks of its own fields; `naming` and `labels` hold every name and label rule; `build` has the table
of what each mode consists of. Nothing here talks to a cluster.
"""

from otel_operator.manifests.build import ALLOCATOR_BUILDERS, COLLECTOR_BUILDERS, allocator_cluster_labels, build
from otel_operator.manifests.model import (
    DEFAULT_ALLOCATOR_IMAGE,
    DEFAULT_COLLECTOR_IMAGE,
    Build,
    BuildOptions,
    cluster_scoped,
)
from otel_operator.manifests.validation import validate_update

__all__ = [
    "ALLOCATOR_BUILDERS",
    "COLLECTOR_BUILDERS",
    "DEFAULT_ALLOCATOR_IMAGE",
    "DEFAULT_COLLECTOR_IMAGE",
    "Build",
    "BuildOptions",
    "allocator_cluster_labels",
    "build",
    "cluster_scoped",
    "validate_update",
]
