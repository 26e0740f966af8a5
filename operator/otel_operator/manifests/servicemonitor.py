"""ServiceMonitors for the collector's and the allocator's own metrics (observability.metrics.enableMetrics).

As upstream (0.158), built only when the cluster serves monitoring.coreos.com/v1 (prometheus-operator's CRDs); when
it does not, the checks below warn instead:

- `<name>-monitoring-collector`: the collector's own metrics, port `monitoring` of the `-collector-monitoring`
  Service (selected by `collector-service-type: monitoring`).
- `<name>-collector`: the ports of the config's prometheus exporters (those whose port name contains "prometheus")
  on the base Service (`collector-service-type: base`); none without such a port.
- `<name>-targetallocator`: the allocator's `targetallocation` port, when the allocator's own enableMetrics is on.

A sidecar gets a PodMonitor instead (podmonitor.py). The objects carry the object labels plus
`observability.metrics.extraLabels` (the operator's selector labels stay the operator's) and, as upstream, no
annotations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from otel_operator.manifests import components, labels, naming
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams
from otel_operator.manifests.problems import Problems

MONITORING_API: Final = "monitoring.coreos.com/v1"
PROMETHEUS_EXPORTER: Final = "prometheus"


def _metrics(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return (spec.get("observability") or {}).get("metrics") or {}


def metrics_enabled(spec: Mapping[str, Any]) -> bool:
    return bool(_metrics(spec).get("enableMetrics"))


def _with_extra_labels(object_labels: Mapping[str, str], spec: Mapping[str, Any], component: str) -> dict[str, str]:
    reserved = labels.selector_labels("", "", component).keys()
    extra = {str(k): str(v) for k, v in (_metrics(spec).get("extraLabels") or {}).items() if k not in reserved}
    return dict(sorted({**object_labels, **extra}.items()))


def _monitor(
    name: str, namespace: str, object_labels: dict[str, str], endpoints: list[dict[str, Any]], selector: dict[str, str]
) -> Object:
    return {
        "apiVersion": MONITORING_API,
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": namespace, "labels": object_labels},
        "spec": {
            "endpoints": endpoints,
            "namespaceSelector": {"matchNames": [namespace]},
            "selector": {"matchLabels": selector},
        },
    }


def _wanted(p: CollectorParams) -> bool:
    return p.mode != "sidecar" and metrics_enabled(p.spec) and p.options.serves(MONITORING_API)


def _collector_monitor(p: CollectorParams, name: str, service_type: str, endpoints: list[dict[str, Any]]) -> Object:
    object_labels = _with_extra_labels(p.labels(name), p.spec, labels.COLLECTOR_COMPONENT)
    selector = dict(sorted({**p.selector_labels, labels.SERVICE_TYPE: service_type}.items()))
    return _monitor(name, p.namespace, object_labels, endpoints, selector)


def collector_monitoring_service_monitor(p: CollectorParams) -> Object | list[Object] | None:
    if not _wanted(p):
        return None
    endpoints = [{"port": naming.MONITORING_PORT_NAME}]
    return _collector_monitor(p, naming.monitoring_service_monitor(p.name), "monitoring", endpoints)


def exporter_port_names(config: Mapping[str, Any]) -> list[str]:
    """The port names of the exporters the service uses that contain "prometheus" (upstream's rule), as the base
    Service's ports are named."""
    used = components.enabled(config)["exporters"]
    only_exporters = {
        "exporters": config.get("exporters") or {},
        "service": {"pipelines": {"all": {"exporters": used}}},
    }
    listening, _ = components.ports(only_exporters)
    return [port.name for port in listening if PROMETHEUS_EXPORTER in port.name]


def collector_exporter_service_monitor(p: CollectorParams) -> Object | list[Object] | None:
    if not _wanted(p):
        return None
    endpoints = [{"port": name} for name in exporter_port_names(p.config)]
    if not endpoints:
        return None
    return _collector_monitor(p, naming.collector(p.name), "base", endpoints)


def allocator_service_monitor(a: AllocatorParams) -> Object | list[Object] | None:
    if not metrics_enabled(a.spec) or not a.options.serves(MONITORING_API):
        return None
    object_labels = _with_extra_labels(a.labels, a.spec, labels.ALLOCATOR_COMPONENT)
    endpoints = [{"port": naming.ALLOCATOR_SERVICE_PORT_NAME}]
    return _monitor(a.object_name, a.namespace, object_labels, endpoints, a.selector_labels)


def _check(spec: Mapping[str, Any], prefix: str, what: str, options: BuildOptions, found: Problems) -> None:
    if metrics_enabled(spec) and not options.serves(MONITORING_API):
        found.warn(
            f"{prefix}.observability.metrics.enableMetrics",
            f"Cannot enable ServiceMonitor when prometheus CRDs are unavailable: the cluster does not serve "
            f"{MONITORING_API}, so no ServiceMonitor is created for {what}; install prometheus-operator's CRDs "
            "(monitoring.coreos.com), or unset enableMetrics",
        )


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern this module's objects."""
    if spec.get("mode") == "sidecar":
        return  # a sidecar gets a PodMonitor instead, and podmonitor.check_collector its warning
    _check(spec, "spec", "the collector's metrics", options, found)


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded)."""
    _check(spec, prefix, "the target allocator's metrics", options, found)
