"""The PodMonitor of a sidecar-mode collector (observability.metrics.enableMetrics): a sidecar has no Service for a
ServiceMonitor to select, so upstream (0.158) makes a PodMonitor instead.

`<name>-collector`, built only when the cluster serves monitoring.coreos.com/v1 (else a warning, as for the
ServiceMonitors): endpoints port `monitoring`, then the ports of the config's prometheus exporters (whose port name
contains "prometheus"); `namespaceSelector` the collector's namespace, `selector` its selector labels,
`jobLabel: app.kubernetes.io/instance`, `podTargetLabels` name, instance and managed-by. As upstream: the object
labels without `extraLabels` (those are documented for the ServiceMonitor) and no annotations.

Upstream's selector matches the collector's selector labels, which injection does not put on application pods, and
the injected container names its metrics port `metrics`, not `monitoring`: the object is upstream's, for tooling
that expects it, not a guarantee that Prometheus scrapes the sidecars.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from otel_operator.manifests import labels, naming
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import CollectorParams
from otel_operator.manifests.problems import Problems
from otel_operator.manifests.servicemonitor import MONITORING_API, exporter_port_names, metrics_enabled

JOB_LABEL: Final = labels.INSTANCE
POD_TARGET_LABELS: Final = (labels.NAME, labels.INSTANCE, labels.MANAGED_BY)


def collector_pod_monitor(p: CollectorParams) -> Object | None:
    if p.mode != "sidecar" or not metrics_enabled(p.spec) or not p.options.serves(MONITORING_API):
        return None
    name = naming.collector(p.name)  # upstream's naming.PodMonitor: `<name>-collector`
    endpoints = [{"port": port} for port in (naming.MONITORING_PORT_NAME, *exporter_port_names(p.config))]
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": {"name": name, "namespace": p.namespace, "labels": p.labels(name)},
        "spec": {
            "jobLabel": JOB_LABEL,
            "podTargetLabels": list(POD_TARGET_LABELS),
            "namespaceSelector": {"matchNames": [p.namespace]},
            "selector": {"matchLabels": p.selector_labels},
            "podMetricsEndpoints": endpoints,
        },
    }


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern the PodMonitor."""
    if spec.get("mode") == "sidecar" and metrics_enabled(spec) and not options.serves(MONITORING_API):
        found.warn(
            "spec.observability.metrics.enableMetrics",
            f"Cannot enable PodMonitor when prometheus CRDs are unavailable: the cluster does not serve "
            f"{MONITORING_API}, so no PodMonitor is created for the sidecar's metrics; install prometheus-operator's "
            "CRDs (monitoring.coreos.com), or unset enableMetrics",
        )


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """A target allocator gets no PodMonitor (its metrics have a ServiceMonitor): nothing to check."""
