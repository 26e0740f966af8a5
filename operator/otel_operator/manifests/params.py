"""The inputs every builder reads: a resource's identity, its defaulted spec and everything derived from it once
(the config and its hash, the inferred ports, the allocator's config). Builders are pure functions of these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_operator.manifests import labels, naming
from otel_operator.manifests.collector_config import AllocatorLink
from otel_operator.manifests.components import Port
from otel_operator.manifests.model import BuildOptions, Object

MODES: Final = ("deployment", "daemonset", "statefulset", "sidecar")


@dataclass(frozen=True, slots=True)
class Resource:
    """The OpenTelemetryCollector or TargetAllocator objects are built for."""

    kind: str
    name: str
    namespace: str
    labels: Mapping[str, str]  # the resource's own labels, as written
    annotations: Mapping[str, str]  # the resource's annotations, filtered: what children get

    def metadata(self, name: str, object_labels: Mapping[str, str], *, namespaced: bool = True) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if namespaced:
            meta["namespace"] = self.namespace
        meta["labels"] = dict(object_labels)
        if self.annotations:
            meta["annotations"] = dict(self.annotations)
        return meta


@dataclass(frozen=True, slots=True)
class CollectorParams:
    resource: Resource
    spec: Mapping[str, Any]  # defaulted
    config: Mapping[str, Any]  # defaulted, before any rewrite: what the hash covers
    config_hash: str
    config_text: str  # collector.yaml
    link: AllocatorLink | None  # the allocator its prometheus receiver uses, if any
    ports: tuple[Port, ...]  # receivers and exporters (the Services)
    extension_ports: tuple[Port, ...]
    metrics_port: int
    options: BuildOptions

    @property
    def name(self) -> str:
        return self.resource.name

    @property
    def namespace(self) -> str:
        return self.resource.namespace

    @property
    def mode(self) -> str:
        return str(self.spec.get("mode") or "deployment")

    @property
    def image(self) -> str:
        return str(self.spec.get("image") or self.options.collector_image)

    def labels(self, object_name: str) -> dict[str, str]:
        return labels.object_labels(
            self.resource.labels,
            namespace=self.namespace,
            name=self.name,
            object_name=object_name,
            image=str(self.spec.get("image") or ""),
            component=labels.COLLECTOR_COMPONENT,
            filters=self.options.label_filters,
        )

    @property
    def selector_labels(self) -> dict[str, str]:
        return labels.selector_labels(self.namespace, self.name, labels.COLLECTOR_COMPONENT)

    @property
    def config_map_name(self) -> str:
        return naming.collector_config_map(self.name, self.config_hash)

    @property
    def service_account(self) -> str:
        return str(self.spec.get("serviceAccount") or naming.collector_service_account(self.name))


@dataclass(frozen=True, slots=True)
class AllocatorParams:
    resource: Resource  # the TargetAllocator, or the collector that embeds it (same name either way)
    spec: Mapping[str, Any]  # in a TargetAllocator's spec shape
    collector_selector: Mapping[str, str] | None  # the collector pods' selector labels; None without a collector
    config: Mapping[str, Any]  # targetallocator.yaml as data
    config_text: str
    options: BuildOptions

    @property
    def name(self) -> str:
        return self.resource.name

    @property
    def namespace(self) -> str:
        return self.resource.namespace

    @property
    def object_name(self) -> str:
        return naming.allocator(self.name)

    @property
    def image(self) -> str:
        return str(self.spec.get("image") or self.options.allocator_image)

    @property
    def labels(self) -> dict[str, str]:
        return labels.object_labels(
            self.resource.labels,
            namespace=self.namespace,
            name=self.name,
            object_name=self.object_name,
            image=str(self.spec.get("image") or ""),
            component=labels.ALLOCATOR_COMPONENT,
            filters=self.options.label_filters,
        )

    @property
    def selector_labels(self) -> dict[str, str]:
        return labels.allocator_selector_labels(
            self.resource.labels, self.namespace, self.name, self.options.label_filters
        )

    @property
    def service_account(self) -> str:
        return str(self.spec.get("serviceAccount") or naming.allocator(self.name))

    @property
    def mtls(self) -> bool:
        return bool((self.spec.get("mtls") or {}).get("enabled"))


def prune_empty(obj: Object) -> Object:
    """`obj` without keys whose value is None (optional fields the resource does not set)."""
    return {k: v for k, v in obj.items() if v is not None}
