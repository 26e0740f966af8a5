"""The conversion webhook's pure part: v1beta1 → v1alpha1, round trips, and ConversionReview answers."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from otel_operator.api.conversion import config_text, convert_review, to_v1alpha1, to_v1beta1

V1BETA1_CONFIG: dict[str, Any] = {
    "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}}}},
    "processors": {"batch": {}},
    "exporters": {"debug": {"verbosity": "detailed"}},
    "service": {
        "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug"]}},
        "telemetry": {"logs": {"level": "debug"}},
    },
}


def v1beta1(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u-1", "resourceVersion": "7", "labels": {"a": "b"}},
        "spec": {"mode": "deployment", "config": copy.deepcopy(V1BETA1_CONFIG), **spec},
        "status": {
            "version": "0.158.0",
            "scale": {"replicas": 1, "selector": "app=x"},
            "conditions": [{"type": "Ready"}],
        },
    }


def test_the_config_is_written_as_upstreams_go_yaml() -> None:
    # upstream's e2e test conversion-webhook-invalid-config reads this string back byte for byte
    defaulted = {
        "receivers": {},
        "exporters": {},
        "service": {
            "pipelines": {},
            "telemetry": {
                "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"port": 8888, "host": "0.0.0.0"}}}}]}
            },
        },
    }
    assert config_text(defaulted) == (
        "receivers: {}\nexporters: {}\nservice:\n  telemetry:\n    metrics:\n      readers:\n        - pull:\n"
        "            exporter:\n              prometheus:\n                host: 0.0.0.0\n                port: 8888\n"
        "  pipelines: {}\n"
    )


def test_v1beta1_to_v1alpha1_renames_and_stringifies() -> None:
    resource = v1beta1(
        daemonSetUpdateStrategy={"type": "OnDelete"},
        autoscaler={"minReplicas": 1, "maxReplicas": 3},
        observability={"metrics": {"enableMetrics": True, "disablePrometheusAnnotations": True}},
        targetAllocator={
            "enabled": True,
            "prometheusCR": {
                "enabled": True,
                "serviceMonitorSelector": {"matchLabels": {"team": "a"}},
                "podMonitorSelector": {},
            },
        },
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"},  # v1beta1 only: carried
    )
    out = to_v1alpha1(resource)
    spec = out["spec"]
    assert out["apiVersion"] == "opentelemetry.io/v1alpha1"
    assert out["metadata"] == resource["metadata"]  # the API server refuses a conversion that changes metadata
    assert out["status"] == resource["status"]
    assert isinstance(spec["config"], str)
    assert yaml.safe_load(spec["config"]) == V1BETA1_CONFIG
    assert list(yaml.safe_load(spec["config"])) == ["receivers", "exporters", "processors", "service"]
    assert spec["updateStrategy"] == {"type": "OnDelete"}
    assert "daemonSetUpdateStrategy" not in spec
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
    assert spec["observability"] == {"metrics": {"enableMetrics": True, "DisablePrometheusAnnotations": True}}
    cr = spec["targetAllocator"]["prometheusCR"]
    assert cr["serviceMonitorSelector"] == {"team": "a"}
    assert cr["podMonitorSelector"] == {}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete"}
    assert resource["spec"]["config"] == V1BETA1_CONFIG  # the input is not changed


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"daemonSetUpdateStrategy": {"type": "OnDelete"}, "mode": "daemonset"},
        {"autoscaler": {"minReplicas": 2, "maxReplicas": 5, "targetCPUUtilization": 80}},
        {"observability": {"metrics": {"enableMetrics": True, "disablePrometheusAnnotations": True}}},
        {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain"}, "serviceName": "s", "ipFamilies": ["IPv4"]},
        {
            "targetAllocator": {
                "enabled": True,
                "allocationStrategy": "per-node",
                "prometheusCR": {
                    "enabled": True,
                    "scrapeInterval": "30s",
                    "serviceMonitorSelector": {"matchExpressions": [{"key": "t", "operator": "Exists"}]},
                    "podMonitorSelector": {"matchLabels": {"x": "y"}},
                },
            }
        },
    ],
)
def test_a_v1alpha1_round_trip_loses_nothing(spec: dict[str, Any]) -> None:
    original = v1beta1(**spec)
    back = to_v1beta1(to_v1alpha1(original), keep_unknown=True).resource
    assert back == original


def review(desired: str, *objects: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "r-1", "desiredAPIVersion": desired, "objects": list(objects)},
    }


def test_a_review_converts_every_object_both_ways() -> None:
    stored = v1beta1()
    answer = convert_review(review("opentelemetry.io/v1alpha1", stored, to_v1alpha1(stored)))
    response = answer["response"]
    assert answer["kind"] == "ConversionReview"
    assert response["uid"] == "r-1"
    assert response["result"] == {"status": "Success"}
    assert [o["apiVersion"] for o in response["convertedObjects"]] == ["opentelemetry.io/v1alpha1"] * 2
    up = convert_review(review("opentelemetry.io/v1beta1", *response["convertedObjects"]))["response"]
    assert up["convertedObjects"] == [stored, stored]


def test_upstreams_null_config_converts_to_an_empty_config() -> None:
    alpha = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "invalid-config-collector", "namespace": "ns"},
        "spec": {"mode": "deployment", "config": "null"},
    }
    [out] = convert_review(review("opentelemetry.io/v1beta1", alpha))["response"]["convertedObjects"]
    assert out["spec"]["config"] == {"receivers": {}, "exporters": {}, "service": {"pipelines": {}}}


@pytest.mark.parametrize(
    ("desired", "obj", "says"),
    [
        ("opentelemetry.io/v1beta1", {"apiVersion": "opentelemetry.io/v1alpha1", "kind": "OpenTelemetryCollector",
          "metadata": {"name": "bad", "namespace": "ns"}, "spec": {"config": "receivers: [unclosed"}},
         "spec.config: opentelemetry.io/v1alpha1 OpenTelemetryCollector ns/bad: is not valid YAML"),
        ("opentelemetry.io/v2", v1beta1(), "desiredAPIVersion: 'opentelemetry.io/v2' is neither"),
        ("opentelemetry.io/v1alpha1", {**v1beta1(), "apiVersion": "example.com/v1"}, "cannot convert"),
    ],
)  # fmt: skip
def test_what_cannot_be_converted_fails_the_review_naming_object_and_field(
    desired: str, obj: dict[str, Any], says: str
) -> None:
    response = convert_review(review(desired, obj))["response"]
    assert response["result"]["status"] == "Failure"
    assert says in response["result"]["message"]
    assert response["convertedObjects"] == []


def test_every_prometheus_cr_and_observability_field_survives_a_v1alpha1_round_trip() -> None:
    # what the first version of the webhook dropped (found in review): allocator fields v1alpha1 lacks
    original = v1beta1(
        observability={"metrics": {"enableMetrics": True, "extraLabels": {"team": "a"}}},
        targetAllocator={
            "enabled": True,
            "observability": {"metrics": {"enableMetrics": True, "extraLabels": {"x": "y"}}},
            "prometheusCR": {
                "enabled": True,
                "allowNamespaces": ["a"],
                "denyNamespaces": [],
                "scrapeInterval": "30s",
                "scrapeProtocols": ["PrometheusProto"],
                "serviceMonitorSelector": {"matchLabels": {"t": "1"}},
                "serviceMonitorNamespaceSelector": {"matchLabels": {"ns": "1"}},
                "probeSelector": {},
                "scrapeConfigSelector": {"matchLabels": {"s": "1"}},
                # podMonitorSelector absent: selects no PodMonitor, and must not come back as {} (select all)
            },
        },
    )
    alpha = to_v1alpha1(original)
    assert "podMonitorSelector" not in alpha["spec"]["targetAllocator"]["prometheusCR"]
    assert alpha["metadata"]["annotations"] == {
        "otel-operator.opentelemetry.io/v1beta1-absent-selectors": "podMonitorSelector"
    }
    back = to_v1beta1(alpha, keep_unknown=True).resource
    assert back == original


def test_a_handwritten_v1alpha1_without_selectors_selects_every_monitor_as_upstream() -> None:
    alpha = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {
            "mode": "statefulset",
            "config": "",
            "targetAllocator": {"enabled": True, "prometheusCR": {"enabled": True}},
        },
    }
    cr = to_v1beta1(alpha, keep_unknown=True).resource["spec"]["targetAllocator"]["prometheusCR"]
    assert cr["serviceMonitorSelector"] == {}
    assert cr["podMonitorSelector"] == {}
