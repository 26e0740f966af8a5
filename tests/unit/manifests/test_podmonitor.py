"""The sidecar's PodMonitor as upstream 0.158 builds it: only in sidecar mode, with enableMetrics, and when the
cluster serves monitoring.coreos.com/v1 (else a warning naming the field and the fix)."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import defaults
from otel_operator.manifests.build import collector_params
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.podmonitor import check_allocator, check_collector, collector_pod_monitor
from otel_operator.manifests.problems import Problems

from .common import collector

SERVED = BuildOptions(apis=frozenset({"monitoring.coreos.com/v1"}))
NOT_SERVED = BuildOptions(apis=frozenset({"route.openshift.io/v1"}))
UNKNOWN = BuildOptions()  # `render` without a cluster: everything is built
METRICS = {"metrics": {"enableMetrics": True}}
# upstream's e2e create-pm-prometheus-exporters
EXPORTING: dict[str, Any] = {
    "receivers": {"otlp": {"protocols": {"grpc": {}, "http": {}}}},
    "exporters": {"prometheus/prod": {"endpoint": "0.0.0.0:8884"}, "prometheus/dev": {"endpoint": "0.0.0.0:8885"}},
    "service": {"pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["prometheus/dev", "prometheus/prod"]}}},
}


def pod_monitor(resource: dict[str, Any], options: BuildOptions = SERVED) -> Object | None:
    return collector_pod_monitor(collector_params(defaults.collector(resource), options))


@pytest.mark.parametrize(
    ("resource", "options", "wanted"),
    [
        (collector(mode="sidecar", observability=METRICS), SERVED, True),
        (collector(mode="sidecar", observability=METRICS), UNKNOWN, True),
        (collector(mode="sidecar", observability=METRICS), NOT_SERVED, False),
        (collector(mode="sidecar"), SERVED, False),
        (collector(mode="sidecar", observability={"metrics": {"enableMetrics": False}}), SERVED, False),
        (collector(mode="deployment", observability=METRICS), SERVED, False),  # ServiceMonitors instead
        (collector(mode="statefulset", observability=METRICS), SERVED, False),
        (collector(observability=METRICS), SERVED, False),  # mode defaults to deployment
    ],
)
def test_built_only_for_a_sidecar_with_metrics_and_the_api(
    resource: dict[str, Any], options: BuildOptions, wanted: bool
) -> None:
    assert (pod_monitor(resource, options) is not None) is wanted


def test_upstream_shape() -> None:
    resource = collector("simplest", "create-pm-prometheus", mode="sidecar", observability=METRICS, config=EXPORTING)
    assert pod_monitor(resource) == {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": "simplest-collector",
            "namespace": "create-pm-prometheus",
            "labels": {
                "app.kubernetes.io/component": "opentelemetry-collector",
                "app.kubernetes.io/instance": "create-pm-prometheus.simplest",
                "app.kubernetes.io/managed-by": "opentelemetry-operator",
                "app.kubernetes.io/name": "simplest-collector",
                "app.kubernetes.io/part-of": "opentelemetry",
                "app.kubernetes.io/version": "latest",
            },
        },
        "spec": {
            "jobLabel": "app.kubernetes.io/instance",
            "podTargetLabels": [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/managed-by",
            ],
            "namespaceSelector": {"matchNames": ["create-pm-prometheus"]},
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/managed-by": "opentelemetry-operator",
                    "app.kubernetes.io/instance": "create-pm-prometheus.simplest",
                    "app.kubernetes.io/part-of": "opentelemetry",
                    "app.kubernetes.io/component": "opentelemetry-collector",
                }
            },
            "podMetricsEndpoints": [{"port": "monitoring"}, {"port": "prometheus-dev"}, {"port": "prometheus-prod"}],
        },
    }


@pytest.mark.parametrize(
    ("config", "endpoints"),
    [
        (None, ["monitoring"]),  # BASE_CONFIG: no prometheus exporter
        (EXPORTING, ["monitoring", "prometheus-dev", "prometheus-prod"]),
        (  # an exporter the pipelines do not use has no port
            {
                **EXPORTING,
                "service": {"pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["prometheus/prod"]}}},
            },
            ["monitoring", "prometheus-prod"],
        ),
    ],
)
def test_endpoints(config: dict[str, Any] | None, endpoints: list[str]) -> None:
    monitor = pod_monitor(collector(mode="sidecar", observability=METRICS, config=config))
    assert monitor is not None
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == endpoints


def test_labels_follow_the_collector_not_extra_labels() -> None:
    resource = collector(
        mode="sidecar",
        labels={"team": "a", "app.kubernetes.io/name": "mine"},
        annotations={"note": "x"},
        image="otel/col:0.1.0",
        observability={"metrics": {"enableMetrics": True, "extraLabels": {"release": "prom"}}},
    )
    monitor = pod_monitor(resource)
    assert monitor is not None
    meta = monitor["metadata"]
    assert meta["labels"]["team"] == "a"
    assert meta["labels"]["app.kubernetes.io/name"] == "mine"  # the resource's own name label wins
    assert meta["labels"]["app.kubernetes.io/version"] == "0.1.0"
    assert "release" not in meta["labels"]  # extraLabels are the ServiceMonitor's (upstream)
    assert "annotations" not in meta


def _warnings(resource: dict[str, Any], options: BuildOptions) -> list[str]:
    found = Problems(resource)
    check_collector(defaults.collector(resource)["spec"], options, found)
    assert not found.errors
    return found.warnings


@pytest.mark.parametrize(
    ("resource", "options", "warned"),
    [
        (collector(mode="sidecar", observability=METRICS), NOT_SERVED, True),
        (collector(mode="sidecar", observability=METRICS), SERVED, False),
        (collector(mode="sidecar", observability=METRICS), UNKNOWN, False),
        (collector(mode="sidecar"), NOT_SERVED, False),
        (collector(mode="deployment", observability=METRICS), NOT_SERVED, False),  # the ServiceMonitors' check
    ],
)
def test_check_warns_when_the_api_is_missing(resource: dict[str, Any], options: BuildOptions, warned: bool) -> None:
    warnings = _warnings(resource, options)
    assert bool(warnings) is warned
    if warned:
        (warning,) = warnings
        assert warning.startswith("OpenTelemetryCollector ns/c: spec.observability.metrics.enableMetrics: ")
        assert "Cannot enable PodMonitor when prometheus CRDs are unavailable" in warning
        assert "install prometheus-operator's CRDs" in warning
        assert "unset enableMetrics" in warning


def test_allocator_has_nothing_to_check() -> None:
    found = Problems(collector())
    check_allocator({"observability": METRICS}, "spec.targetAllocator", NOT_SERVED, found)
    assert not found.errors
    assert not found.warnings
