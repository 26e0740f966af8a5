"""The one entry point: a resource in, every object it should consist of out (or the problems that prevent it).

The reconciler and `otel-operator render` both call `build`, so what `render` prints is what the operator applies.
What each mode consists of is the table below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_operator import __version__
from otel_operator.allocator.config import ConfigError, load_config
from otel_operator.api.validation import FieldError, describe
from otel_operator.manifests import (
    collector_config,
    components,
    defaults,
    featuregates,
    labels,
    mtls,
    naming,
    validation,
)
from otel_operator.manifests.allocator_config import allocator_config, allocator_yaml, go_duration
from otel_operator.manifests.collector_config import AllocatorLink, config_hash, plain_yaml, prometheus_config
from otel_operator.manifests.collector_rbac import collector_cluster_role, collector_cluster_role_binding
from otel_operator.manifests.configmap import allocator_config_map, collector_config_map
from otel_operator.manifests.daemonset import collector_daemonset
from otel_operator.manifests.deployment import allocator_deployment, collector_deployment
from otel_operator.manifests.hpa import collector_hpa
from otel_operator.manifests.httproute import collector_http_routes
from otel_operator.manifests.ingress import collector_ingress
from otel_operator.manifests.model import Build, BuildOptions, Object
from otel_operator.manifests.networkpolicy import allocator_network_policy, collector_network_policy
from otel_operator.manifests.params import AllocatorParams, CollectorParams, Resource
from otel_operator.manifests.pdb import allocator_pdb, collector_pdb
from otel_operator.manifests.podmonitor import collector_pod_monitor
from otel_operator.manifests.rbac import allocator_cluster_role, allocator_cluster_role_binding
from otel_operator.manifests.route import collector_routes
from otel_operator.manifests.service import (
    allocator_service,
    collector_service,
    extension_service,
    headless_service,
    monitoring_service,
)
from otel_operator.manifests.serviceaccount import allocator_service_account, collector_service_account
from otel_operator.manifests.servicemonitor import (
    allocator_service_monitor,
    collector_exporter_service_monitor,
    collector_monitoring_service_monitor,
)
from otel_operator.manifests.statefulset import collector_statefulset

# A builder returns its object, several of one kind (Routes: one per port), or None when none is wanted.
Built = Object | list[Object] | None
CollectorBuilder = Callable[[CollectorParams], Built]
AllocatorBuilder = Callable[[AllocatorParams], Built]

_COLLECTOR_BEFORE: Final[tuple[CollectorBuilder, ...]] = (
    collector_service_account,
    collector_cluster_role,
    collector_cluster_role_binding,
    collector_config_map,
    collector_service,
    headless_service,
    monitoring_service,
    extension_service,
)
_COLLECTOR_AFTER: Final[tuple[CollectorBuilder, ...]] = (
    collector_pdb,
    collector_hpa,
    collector_network_policy,
    collector_monitoring_service_monitor,
    collector_exporter_service_monitor,
    collector_ingress,
    collector_routes,
    collector_http_routes,
)
# A sidecar's pods are the application's: no workload, Service, PDB, HPA, NetworkPolicy, Ingress or Route, only what
# the injected container refers to (ServiceAccount, RBAC, the ConfigMap upstream keeps) and a PodMonitor instead of
# the ServiceMonitors. The container itself is injected by the pod webhook (manifests.sidecar).
_SIDECAR: Final[tuple[CollectorBuilder, ...]] = (
    collector_service_account,
    collector_cluster_role,
    collector_cluster_role_binding,
    collector_config_map,
    collector_pod_monitor,
)
# What a collector consists of, per mode. Builders decide themselves what their object needs (a PDB is not built
# for a daemonset, a Route only for spec.ingress.type route, ...).
COLLECTOR_BUILDERS: Final[Mapping[str, tuple[CollectorBuilder, ...]]] = {
    "statefulset": (*_COLLECTOR_BEFORE, collector_statefulset, *_COLLECTOR_AFTER),
    "deployment": (*_COLLECTOR_BEFORE, collector_deployment, *_COLLECTOR_AFTER),
    "daemonset": (*_COLLECTOR_BEFORE, collector_daemonset, *_COLLECTOR_AFTER),
    "sidecar": _SIDECAR,
}


def allocator_cert_manager(a: AllocatorParams) -> list[Object] | None:
    """mTLS through cert-manager: its Issuers and Certificates (the operator issues the Secrets itself otherwise,
    see manifests.mtls)."""
    if not a.mtls or mtls.certificate_source(a.spec.get("mtls") or {}, a.options) != "cert-manager":
        return None
    # the client certificate is named after the collector, which is the embedded allocator's namesake
    return mtls.cert_manager_objects(a.name, a.name, a.namespace, a.labels)


# What a target allocator consists of (a TargetAllocator resource, embedded in a collector or standalone).
ALLOCATOR_BUILDERS: Final[tuple[AllocatorBuilder, ...]] = (
    allocator_service_account,
    allocator_cluster_role,
    allocator_cluster_role_binding,
    allocator_config_map,
    allocator_cert_manager,
    allocator_service,
    allocator_deployment,
    allocator_pdb,
    allocator_network_policy,
    allocator_service_monitor,
)
# Apply order: what others refer to first.
APPLY_ORDER: Final = (
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "Issuer",
    "Certificate",
    "Service",
    "StatefulSet",
    "Deployment",
    "DaemonSet",
    "TargetAllocator",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
    "ServiceMonitor",
    "PodMonitor",
    "Ingress",
    "Route",
    "HTTPRoute",
)


def _run(builders: tuple[Callable[[Any], Built], ...], params: Any) -> list[Object]:
    out: list[Object] = []
    for builder in builders:
        made = builder(params)
        if isinstance(made, list):
            out += made
        elif made is not None:
            out.append(made)
    return out


COLLECTOR_API: Final = validation.COLLECTOR_API
ALLOCATOR_API: Final = validation.ALLOCATOR_API


def _ordered(objects: list[Object]) -> tuple[Object, ...]:
    rank = {kind: i for i, kind in enumerate(APPLY_ORDER)}
    return tuple(sorted(objects, key=lambda o: rank.get(o["kind"], len(rank))))


def _identity(resource: Mapping[str, Any], options: BuildOptions) -> Resource:
    meta = resource.get("metadata") or {}
    return Resource(
        kind=str(resource.get("kind")),
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        annotations=labels.filter_annotations(meta.get("annotations") or {}, options.annotation_filters),
    )


def _failed(problems: list[FieldError], warnings: list[str]) -> Build:
    return Build(problems=tuple(problems), warnings=tuple(warnings))


def allocator_cluster_labels(namespace: str, name: str) -> dict[str, str]:
    """The labels on an allocator's cluster-scoped objects that stay the same for the resource's lifetime (find and
    prune them with these, also after the allocator was disabled)."""
    return labels.selector_labels(namespace, name, labels.ALLOCATOR_COMPONENT)


# --- the allocator --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where the settings in targetallocator.yaml come from, to report its problems in the resource's terms."""

    who: str  # the resource the problems are reported on
    allocator: str  # where the allocator's own settings are: "spec.targetAllocator" (embedded) or "spec"
    collector: str  # where the collector's prometheus config is, seen from `who` ("" without a collector)
    own_scrape_configs: int  # the allocator's own scrape configs, listed before the collector's

    def field(self, path: str) -> str:
        listed = re.fullmatch(r"config\.scrape_configs\[(\d+)\](.*)", path)
        if listed:
            index, rest = int(listed.group(1)), listed.group(2)
            if index < self.own_scrape_configs or not self.collector:
                return f"{self.allocator}.scrapeConfigs[{index}]{rest}"
            return f"{self.collector}.scrape_configs[{index - self.own_scrape_configs}]{rest}"
        if path.startswith("config."):
            rest = path.removeprefix("config.")
            own = self.allocator == "spec"
            if rest == "scrape_configs":
                return f"{self.allocator}.scrapeConfigs" if own or not self.collector else f"{self.collector}.{rest}"
            return f"{self.collector}.{rest}" if self.collector and not own else f"{self.allocator}.{rest}"
        if path.startswith("prometheus_cr"):
            return f"{self.allocator}.prometheusCR" + "".join(f".{_camel(s)}" for s in path.split(".")[1:])
        return self.allocator


# targetallocator.yaml's keys as the resource spells them (its loader matches keys case-insensitively, as Go's YAML)
_RESOURCE_KEYS: Final = {"matchexpressions": "matchExpressions", "matchlabels": "matchLabels"}


def _camel(segment: str) -> str:
    """`service_monitor_selector` → `serviceMonitorSelector`, `matchexpressions[0]` → `matchExpressions[0]`."""
    name, bracket, index = segment.partition("[")
    first, *rest = name.split("_")
    word = _RESOURCE_KEYS.get(name) or first + "".join(w[:1].upper() + w[1:] for w in rest)
    return word + bracket + index


def _allocator_params(
    ta: Mapping[str, Any],
    collector_selector: Mapping[str, str] | None,
    collector_config: Mapping[str, Any],
    options: BuildOptions,
    origin: _Origin,
) -> tuple[AllocatorParams | None, list[FieldError]]:
    """The allocator's inputs, and its config checked by the allocator's own loader: a config it would refuse to
    start with is a problem now, named in the resource's terms."""
    resource = _identity(ta, options)
    spec = ta.get("spec") or {}
    config = allocator_config(
        spec,
        collector_selector=collector_selector,
        collector_prometheus=prometheus_config(collector_config),
        fallback_strategy=options.gate(featuregates.ALLOCATOR_FALLBACK_STRATEGY),
    )
    text = allocator_yaml(config)
    try:
        # as the allocator's pod reads it: the namespace comes from OTELCOL_NAMESPACE (downward API), not the file
        load_config(text, naming.ALLOCATOR_CONFIG_KEY, env={"OTELCOL_NAMESPACE": resource.namespace})
    except ConfigError as err:
        problems = [
            FieldError(origin.who, origin.field(p.field), f"{p.message} (targetallocator.yaml: {p.field})")
            for p in err.problems
        ]
        return None, problems
    return AllocatorParams(resource, spec, collector_selector, config, text, options), []


def _allocator_objects(params: AllocatorParams) -> list[Object]:
    return _run(ALLOCATOR_BUILDERS, params)


# --- the collector --------------------------------------------------------------------------------------------------


def _link(resource: Mapping[str, Any]) -> AllocatorLink | None:
    """The allocator the collector's prometheus receiver should use: a TargetAllocator named by the
    `opentelemetry.io/target-allocator` label, else the embedded one when enabled."""
    meta = resource.get("metadata") or {}
    spec = resource.get("spec") or {}
    linked = (meta.get("labels") or {}).get(labels.TARGET_ALLOCATOR_LABEL)
    if linked:
        return AllocatorLink(str(linked))
    ta = spec.get("targetAllocator") or {}
    if not ta.get("enabled"):
        return None
    interval = go_duration(str(ta.get("collectorTargetReloadInterval") or "30s"))
    return AllocatorLink(str(meta.get("name")), interval=interval, https=bool((ta.get("mtls") or {}).get("enabled")))


def collector_params(resource: Mapping[str, Any], options: BuildOptions) -> CollectorParams:
    """The inputs of the collector's builders, from a checked, defaulted OpenTelemetryCollector."""
    spec = resource.get("spec") or {}
    config = spec.get("config") or {}
    link = _link(resource)
    listening, extension_ports = components.ports(config)
    return CollectorParams(
        resource=_identity(resource, options),
        spec=spec,
        config=config,
        config_hash=config_hash(config),
        config_text=collector_config.allocator_yaml(config, link) if link else plain_yaml(config),
        link=link,
        ports=tuple(listening),
        extension_ports=tuple(extension_ports),
        metrics_port=components.metrics_port(config),
        options=options,
    )


def build_collector(verdict: validation.Review, options: BuildOptions) -> Build:
    """The objects of a reviewed (allowed, defaulted) OpenTelemetryCollector."""
    defaulted, warnings = verdict.resource, list(verdict.warnings)
    params = collector_params(defaulted, options)
    objects = _run(COLLECTOR_BUILDERS[params.mode], params)
    allocator_objects: list[Object] = []
    if params.link is not None and params.link.allocator_name == params.name and not _label_linked(defaulted):
        ta = defaults.embedded_allocator(defaulted, params.resource.annotations)
        origin = _Origin(describe(defaulted), "spec.targetAllocator", "spec.config.receivers.prometheus.config", 0)
        allocator, problems = _allocator_params(ta, params.selector_labels, params.config, options, origin)
        if allocator is None:
            return _failed(problems, warnings)
        if options.gate(featuregates.TARGET_ALLOCATOR_CR):
            # upstream 0.127+: the collector owns a TargetAllocator resource, which owns the allocator's objects
            objects.append(ta)
            allocator_objects = _allocator_objects(allocator)
        else:
            objects += _allocator_objects(allocator)
    return Build(
        objects=_ordered(objects),
        allocator_objects=_ordered(allocator_objects),
        warnings=tuple(warnings),
        image=params.image,
        version=options.collector_version,
        selector=labels.selector_string(params.labels(naming.collector(params.name))),
        cluster_labels=allocator_cluster_labels(params.namespace, params.name),
    )


def _label_linked(resource: Mapping[str, Any]) -> bool:
    return bool(((resource.get("metadata") or {}).get("labels") or {}).get(labels.TARGET_ALLOCATOR_LABEL))


def build_target_allocator(
    verdict: validation.Review, options: BuildOptions, collector: Mapping[str, Any] | None = None
) -> Build:
    """The objects of a reviewed (allowed, defaulted) TargetAllocator."""
    ta, warnings = verdict.resource, list(verdict.warnings)
    selector: dict[str, str] | None = None
    collector_config: Mapping[str, Any] = {}
    if collector is not None:
        linked = defaults.collector(collector)
        meta = linked.get("metadata") or {}
        selector = labels.selector_labels(str(meta.get("namespace")), str(meta.get("name")), labels.COLLECTOR_COMPONENT)
        collector_config = (linked.get("spec") or {}).get("config") or {}
    origin = _Origin(
        describe(ta),
        "spec",
        f"{describe(collector)}: spec.config.receivers.prometheus.config" if collector is not None else "",
        len((ta.get("spec") or {}).get("scrapeConfigs") or []),
    )
    allocator, problems = _allocator_params(ta, selector, collector_config, options, origin)
    if allocator is None:
        return _failed(problems, warnings)
    return Build(
        objects=_ordered(_allocator_objects(allocator)),
        warnings=tuple(warnings),
        image=allocator.image,
        version=__version__,
        cluster_labels=allocator_cluster_labels(allocator.namespace, allocator.name),
    )


def build(
    resource: Mapping[str, Any], options: BuildOptions | None = None, *, collector: Mapping[str, Any] | None = None
) -> Build:
    """Every object `resource` (an OpenTelemetryCollector v1beta1 or a TargetAllocator v1alpha1, as the API returns
    it) should consist of; or, when it cannot be built, the problems, each naming the field and the fix.

    `collector` is for a TargetAllocator only: the OpenTelemetryCollector labelled
    `opentelemetry.io/target-allocator: <its name>` whose pods it serves and whose scrape configs it takes.
    """
    options = options or BuildOptions()
    is_allocator = (resource.get("apiVersion"), resource.get("kind")) == ALLOCATOR_API
    # the same review the admission webhook and `check resources` make; it builds, too
    verdict = validation.review(
        resource,
        options,
        has_collector=collector is not None if is_allocator else None,
        collector=collector if is_allocator else None,
    )
    if verdict.built is None:
        return _failed(list(verdict.errors), list(verdict.warnings))
    return verdict.built
