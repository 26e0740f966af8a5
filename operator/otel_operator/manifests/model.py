"""What a build takes (`BuildOptions`) and what it returns (`Build`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from otel_operator import __version__
from otel_operator.api.validation import FieldError
from otel_operator.manifests.featuregates import DEFAULT_ENABLED
from otel_operator.manifests.labels import DEFAULT_ANNOTATION_FILTERS

# The collector version the operator deploys by default, as upstream 0.158.0 does (`versions.txt`). It is also what
# `status.version` reports, like upstream.
COLLECTOR_VERSION: Final = "0.158.0"
# Upstream's built-in default is the core distribution (its Helm chart overrides it with the -k8s one).
DEFAULT_COLLECTOR_IMAGE: Final = (
    f"ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector:{COLLECTOR_VERSION}"
)
# The target allocator is this project's own program (`otel-operator allocator`), so its image is ours.
DEFAULT_ALLOCATOR_IMAGE: Final = f"ghcr.io/otel-operator/otel-operator:{__version__}"
ALLOCATOR_ARGS: Final = ("allocator", "--config", "/conf/targetallocator.yaml")

Object = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """The operator's settings that shape what it builds (upstream's command-line flags of the same purpose)."""

    collector_image: str = DEFAULT_COLLECTOR_IMAGE  # when spec.image is empty
    allocator_image: str = DEFAULT_ALLOCATOR_IMAGE  # when the allocator's image is empty
    collector_version: str = COLLECTOR_VERSION  # status.version
    # Regular expressions: resource labels / annotations matching any are not copied to the objects.
    label_filters: tuple[str, ...] = ()
    annotation_filters: tuple[str, ...] = DEFAULT_ANNOTATION_FILTERS
    # Create the allocator's ClusterRole and ClusterRoleBinding (upstream leaves that to the user). Turn off when
    # the operator may not grant those permissions, or RBAC is managed elsewhere.
    allocator_rbac: bool = True
    # Upstream's feature gates that are on (`--feature-gates`; see featuregates.py).
    feature_gates: frozenset[str] = DEFAULT_ENABLED
    # The optional APIs the cluster serves, as "group/version" (monitoring.coreos.com/v1, route.openshift.io/v1,
    # gateway.networking.k8s.io/v1): objects of an API not served are not built, and a warning says why. None means
    # "not known" (`render` without a cluster): everything is built.
    apis: frozenset[str] | None = None
    # Create the ClusterRole and binding the collector's components need (k8sattributes, kubeletstats, ...), as
    # upstream does when it may create RBAC.
    collector_rbac: bool = True
    # Addresses (ip, port) of the API server (EndpointSlice default/kubernetes): the allocator's NetworkPolicy lets
    # it reach only these. Empty: not known (`render`).
    api_server_endpoints: tuple[tuple[str, int], ...] = ()

    def gate(self, name: str) -> bool:
        return name in self.feature_gates

    def serves(self, group_version: str) -> bool:
        return self.apis is None or group_version in self.apis


@dataclass(frozen=True, slots=True)
class Build:
    """Everything one resource should consist of, or why it cannot be built.

    `objects` are complete objects (apiVersion, kind, metadata with namespace and labels) in apply order
    (`build.APPLY_ORDER`): ServiceAccounts, RBAC, ConfigMaps, Services, workloads, then what refers to them. They
    carry no ownerReferences: the caller adds them (namespaced objects only; the ClusterRole and ClusterRoleBinding
    are cluster-scoped and are found by their labels instead, see `cluster_scoped`). When `problems` is not empty,
    `objects` is empty: nothing is half-applied.
    """

    objects: tuple[Object, ...] = ()
    # The objects of the TargetAllocator resource among `objects` (a collector's embedded allocator): its own
    # reconcile applies them, owned by it. `render` prints them after the collector's.
    allocator_objects: tuple[Object, ...] = ()
    problems: tuple[FieldError, ...] = ()
    warnings: tuple[str, ...] = ()
    image: str = ""  # the workload's main container image (status.image)
    version: str = ""  # status.version
    selector: str = ""  # status.scale.selector: the collector pods' labels, "k=v,..." ("" for a TargetAllocator)
    # The labels the cluster-scoped objects carry, to find (and prune) them without owner references.
    cluster_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


CLUSTER_SCOPED_KINDS: Final = frozenset({"ClusterRole", "ClusterRoleBinding"})


def cluster_scoped(obj: Mapping[str, Any]) -> bool:
    """Whether a built object is cluster-scoped (it has no namespace and must not get an ownerReference)."""
    return obj.get("kind") in CLUSTER_SCOPED_KINDS
