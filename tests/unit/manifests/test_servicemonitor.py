"""ServiceMonitors: the collector's monitoring and prometheus-exporter monitors and the allocator's, only with
enableMetrics and only when monitoring.coreos.com/v1 is served (else a warning naming the field and the fix)."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import BuildOptions, build, naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.servicemonitor import exporter_port_names
from tests.unit.manifests.common import allocating, built, collector, everything

SERVED = BuildOptions(apis=frozenset({"monitoring.coreos.com/v1"}))
NOT_SERVED = BuildOptions(apis=frozenset())
SELECTOR = {
    "app.kubernetes.io/component": "opentelemetry-collector",
    "app.kubernetes.io/instance": "ns.c",
    "app.kubernetes.io/managed-by": "opentelemetry-operator",
    "app.kubernetes.io/part-of": "opentelemetry",
}
METRICS = {"metrics": {"enableMetrics": True}}


def prometheus_exporting(**exporters: Any) -> dict[str, Any]:
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {}}}},
        "exporters": {"debug": {}, **exporters},
        "service": {
            "pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["debug", *sorted(exporters)]}},
        },
    }


def both_metrics() -> dict[str, Any]:
    resource = allocating(observability=METRICS)
    resource["spec"]["observability"] = METRICS
    return resource


def monitors(resource: dict[str, Any], options: BuildOptions = SERVED) -> dict[str, Object]:
    result = built(resource, options=options)
    return {o["metadata"]["name"]: o for o in everything(result) if o["kind"] == "ServiceMonitor"}


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (collector(), []),
        (collector(observability={"metrics": {"enableMetrics": False}}), []),
        (collector(observability=METRICS), ["c-monitoring-collector"]),  # no prometheus exporter
        (
            collector(observability=METRICS, config=prometheus_exporting(prometheus={"endpoint": "0.0.0.0:9464"})),
            ["c-collector", "c-monitoring-collector"],
        ),
        (allocating(), []),
        (allocating(observability=METRICS), ["c-targetallocator"]),  # the allocator's own switch
        (both_metrics(), ["c-monitoring-collector", "c-targetallocator"]),
    ],
)
def test_which_monitors(resource: dict[str, Any], expected: list[str]) -> None:
    assert sorted(monitors(resource)) == expected
    assert monitors(resource, NOT_SERVED) == {}


def test_monitoring_monitor() -> None:
    resource = collector(
        observability={"metrics": {"enableMetrics": True, "extraLabels": {"release": "kube-prometheus"}}},
        labels={"team": "a"},
        annotations={"note": "not copied"},
    )
    monitor = monitors(resource)["c-monitoring-collector"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"] == {
        "name": "c-monitoring-collector",
        "namespace": "ns",
        "labels": SELECTOR
        | {
            "app.kubernetes.io/name": "c-monitoring-collector",
            "app.kubernetes.io/version": "latest",
            "release": "kube-prometheus",
            "team": "a",
        },
    }
    assert monitor["spec"] == {
        "endpoints": [{"port": "monitoring"}],
        "namespaceSelector": {"matchNames": ["ns"]},
        "selector": {"matchLabels": SELECTOR | {"operator.opentelemetry.io/collector-service-type": "monitoring"}},
    }
    result = built(resource, options=SERVED)
    service = next(o for o in result.objects if o["metadata"]["name"] == "c-collector-monitoring")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [p["name"] for p in service["spec"]["ports"]] == ["monitoring"]


def test_exporter_monitor_selects_the_base_service() -> None:
    config = prometheus_exporting(
        **{"prometheus/dev": {"endpoint": "0.0.0.0:9464"}, "prometheus/prod": {"endpoint": "0.0.0.0:9465"}}
    )
    result = built(collector(observability=METRICS, config=config), options=SERVED)
    monitor = next(
        o for o in everything(result) if o["kind"] == "ServiceMonitor" and o["metadata"]["name"] == "c-collector"
    )
    assert monitor["spec"]["endpoints"] == [{"port": "prometheus-dev"}, {"port": "prometheus-prod"}]
    assert monitor["spec"]["selector"]["matchLabels"] == SELECTOR | {
        "operator.opentelemetry.io/collector-service-type": "base"
    }
    assert monitor["metadata"]["labels"]["app.kubernetes.io/name"] == "c-collector"
    service = next(o for o in result.objects if o["kind"] == "Service" and o["metadata"]["name"] == "c-collector")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {"prometheus-dev", "prometheus-prod"} <= {p["name"] for p in service["spec"]["ports"]}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (prometheus_exporting(), []),
        (prometheus_exporting(prometheus={}), ["prometheus"]),  # default port 8888
        (prometheus_exporting(**{"prometheus/a": {"endpoint": ":9464"}}), ["prometheus-a"]),
        # a name too long for a port becomes port-<n>, which upstream's "contains prometheus" no longer matches
        (prometheus_exporting(**{"prometheus/averyveryverylongname": {"endpoint": ":9464"}}), []),
        # defined but in no pipeline: not listening
        ({**prometheus_exporting(), "exporters": {"debug": {}, "prometheus": {}}}, []),
    ],
)
def test_exporter_port_names(config: dict[str, Any], expected: list[str]) -> None:
    assert exporter_port_names(config) == expected


def test_allocator_monitor() -> None:
    resource = allocating(observability={"metrics": {"enableMetrics": True}})
    resource["metadata"]["labels"] = {"team": "a"}
    monitor = monitors(resource)["c-targetallocator"]
    allocator_selector = SELECTOR | {
        "app.kubernetes.io/component": "opentelemetry-targetallocator",
        "app.kubernetes.io/name": "c-targetallocator",
    }
    assert monitor["metadata"]["labels"] == allocator_selector | {"app.kubernetes.io/version": "latest", "team": "a"}
    assert monitor["spec"] == {
        "endpoints": [{"port": "targetallocation"}],
        "namespaceSelector": {"matchNames": ["ns"]},
        "selector": {"matchLabels": allocator_selector},
    }


def test_extra_labels_do_not_replace_the_operators_own() -> None:
    extra = {"app.kubernetes.io/managed-by": "someone", "app.kubernetes.io/name": "mine", "tier": "1"}
    resource = collector(observability={"metrics": {"enableMetrics": True, "extraLabels": extra}})
    found = monitors(resource)["c-monitoring-collector"]["metadata"]["labels"]
    assert found["app.kubernetes.io/managed-by"] == "opentelemetry-operator"
    assert (found["app.kubernetes.io/name"], found["tier"]) == ("mine", "1")


@pytest.mark.parametrize(
    ("resource", "field"),
    [
        (collector(observability=METRICS), "spec.observability.metrics.enableMetrics"),
        (allocating(observability=METRICS), "spec.targetAllocator.observability.metrics.enableMetrics"),
        (
            {
                "apiVersion": "opentelemetry.io/v1alpha1",
                "kind": "TargetAllocator",
                "metadata": {"name": "c", "namespace": "ns"},
                "spec": {"observability": METRICS, "scrapeConfigs": [{"job_name": "j", "static_configs": []}]},
            },
            "spec.observability.metrics.enableMetrics",
        ),
    ],
)
def test_warns_when_the_api_is_not_served(resource: dict[str, Any], field: str) -> None:
    result = build(resource, NOT_SERVED)
    assert result.ok
    [warning] = [w for w in result.warnings if "ServiceMonitor" in w]
    assert f": {field}: Cannot enable ServiceMonitor when prometheus CRDs are unavailable" in warning
    assert "install prometheus-operator's CRDs" in warning
    assert "unset enableMetrics" in warning
    assert not [w for w in build(resource, SERVED).warnings if "ServiceMonitor" in w]
    assert not [w for w in build(resource).warnings if "ServiceMonitor" in w]  # render: not known, so built


def test_long_names() -> None:
    assert naming.monitoring_service_monitor("c") == "c-monitoring-collector"
    # upstream formats "<name>-monitoring" first, so that is what gets cut
    assert naming.monitoring_service_monitor("a" * 60) == "a" * 53 + "-collector"
