"""The collector's HorizontalPodAutoscaler and upstream's autoscaler rules, and the workload's replicas."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from otel_operator.manifests import build
from otel_operator.manifests.hpa import quantity
from otel_operator.manifests.workload import replicas

from .common import built, collector, find


def hpa(resource: dict[str, Any]) -> dict[str, Any] | None:
    found = [o for o in built(resource).objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert len(found) <= 1
    return found[0] if found else None


def pods_metric(target: dict[str, Any], name: str = "otelcol_queue_size") -> dict[str, Any]:
    return {"type": "Pods", "pods": {"metric": {"name": name}, "target": target}}


CPU_90 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 90}}}


# --- the object -----------------------------------------------------------------------------------------------------


def test_the_hpa_scales_the_collector_through_its_scale_subresource() -> None:
    made = hpa(
        collector(
            "c", mode="statefulset", labels={"team": "a"}, annotations={"note": "x"}, autoscaler={"maxReplicas": 4}
        )
    )
    assert made is not None
    assert made["apiVersion"] == "autoscaling/v2"
    assert made["metadata"]["name"] == "c-collector"
    assert made["metadata"]["namespace"] == "ns"
    assert made["metadata"]["annotations"] == {"note": "x"}
    labels = made["metadata"]["labels"]
    assert labels["team"] == "a"  # the resource's own labels, as on every collector object
    assert labels["app.kubernetes.io/name"] == "c-collector"
    assert labels["app.kubernetes.io/component"] == "opentelemetry-collector"
    spec = made["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "name": "c",
    }
    # the webhook's defaults: minReplicas = replicas (1), CPU 90 when no target is set
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 4)
    assert spec["metrics"] == [CPU_90]
    assert "behavior" not in spec


@pytest.mark.parametrize(
    ("autoscaler", "metrics"),
    [
        (
            {"maxReplicas": 3, "targetCPUUtilization": 50},
            [{**CPU_90, "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
        ),
        (
            {"maxReplicas": 3, "targetMemoryUtilization": 70},  # a memory target alone: no CPU default
            [
                {
                    "type": "Resource",
                    "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        ),
        (
            # upstream's order: memory, CPU, then the Pods metrics as given
            {
                "maxReplicas": 3,
                "targetCPUUtilization": 60,
                "targetMemoryUtilization": 80,
                "metrics": [
                    pods_metric({"type": "AverageValue", "averageValue": "100"}),
                    pods_metric({"type": "Value", "value": 5}, "b"),
                ],
            },
            [
                {
                    "type": "Resource",
                    "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}},
                },
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
                },
                pods_metric({"type": "AverageValue", "averageValue": "100"}),
                pods_metric({"type": "Value", "value": 5}, "b"),
            ],
        ),
    ],
)
def test_metrics_in_upstreams_order(autoscaler: dict[str, Any], metrics: list[dict[str, Any]]) -> None:
    made = hpa(collector(mode="deployment", autoscaler=autoscaler))
    assert made is not None
    assert made["spec"]["metrics"] == metrics


def test_behavior_is_copied() -> None:
    behavior = {
        "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Min"},
    }
    made = hpa(collector(mode="statefulset", autoscaler={"maxReplicas": 5, "behavior": behavior}))
    assert made is not None
    assert made["spec"]["behavior"] == behavior


@pytest.mark.parametrize(
    ("resource", "wanted"),
    [
        (collector(mode="deployment"), False),  # no spec.autoscaler
        (collector(mode="deployment", autoscaler={"targetCPUUtilization": 50}), False),  # no maxReplicas
        (collector(mode="deployment", autoscaler={"maxReplicas": 2}), True),
        (collector(mode="statefulset", autoscaler={"maxReplicas": 2}), True),
        (collector(mode="daemonset", autoscaler={"maxReplicas": 2}), True),  # as upstream (and a warning)
    ],
)
def test_which_collectors_get_an_hpa(resource: dict[str, Any], wanted: bool) -> None:
    assert (hpa(resource) is not None) == wanted


def test_a_daemonset_gets_its_hpa_with_a_warning_that_it_cannot_scale() -> None:
    result = built(collector(mode="daemonset", autoscaler={"maxReplicas": 2}))
    assert find(result, "HorizontalPodAutoscaler")
    assert any("spec.autoscaler" in w and "DaemonSet" in w for w in result.warnings), result.warnings


def test_an_autoscaler_without_max_replicas_is_a_warning() -> None:
    result = built(collector(autoscaler={"targetCPUUtilization": 50}))
    assert any("spec.autoscaler" in w and "maxReplicas" in w for w in result.warnings), result.warnings


# --- the checks -----------------------------------------------------------------------------------------------------

ERRORS = [
    ({"minReplicas": 2}, {}, "spec.autoscaler.maxReplicas", "spec.maxReplica must be set when spec.minReplica is set"),
    ({"maxReplicas": 0}, {}, "spec.autoscaler.maxReplicas", "should be greater than or equal to 1"),
    (
        {"maxReplicas": 3, "minReplicas": 0},
        {"replicas": 1},
        "spec.autoscaler.minReplicas",
        "greater than or equal to 1",
    ),
    ({"maxReplicas": 3}, {"replicas": 5}, "spec.replicas", "replicas must not be greater than maxReplicas"),
    ({"maxReplicas": 3, "minReplicas": 4}, {}, "spec.autoscaler.minReplicas", "minReplicas must not be greater than"),
    ({"maxReplicas": 3, "targetCPUUtilization": 0}, {}, "spec.autoscaler.targetCPUUtilization", "equal to 1"),
    ({"maxReplicas": 3, "targetMemoryUtilization": -5}, {}, "spec.autoscaler.targetMemoryUtilization", "equal to 1"),
    (
        {"maxReplicas": 3, "behavior": {"scaleUp": {"stabilizationWindowSeconds": 3601}}},
        {},
        "spec.autoscaler.behavior.scaleUp.stabilizationWindowSeconds",
        "scaleUp.stabilizationWindowSeconds should be >=0 and <=3600",
    ),
    (
        {"maxReplicas": 3, "behavior": {"scaleDown": {"stabilizationWindowSeconds": -1}}},
        {},
        "spec.autoscaler.behavior.scaleDown.stabilizationWindowSeconds",
        "scaleDown.stabilizationWindowSeconds should be >=0 and <=3600",
    ),
    (
        {"maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {"name": "cpu"}}]},
        {},
        "spec.autoscaler.metrics[0].type",
        "metric type unsupported. Expected metric of source type Pod",
    ),
    (
        {"maxReplicas": 3, "metrics": [pods_metric({"type": "AverageValue", "averageValue": "0"})]},
        {},
        "spec.autoscaler.metrics[0].pods.target.averageValue",
        "average value should be greater than 0",
    ),
    (
        # upstream's Quantity.AsInt64 refuses fractions: 500m is not a whole number
        {"maxReplicas": 3, "metrics": [pods_metric({"type": "AverageValue", "averageValue": "500m"})]},
        {},
        "spec.autoscaler.metrics[0].pods.target.averageValue",
        "average value should be greater than 0",
    ),
    (
        {"maxReplicas": 3, "metrics": [pods_metric({"type": "Value", "value": 0})]},
        {},
        "spec.autoscaler.metrics[0].pods.target.value",
        "value should be greater than 0",
    ),
    (
        {"maxReplicas": 3, "metrics": [pods_metric({"type": "Utilization", "averageUtilization": 50})]},
        {},
        "spec.autoscaler.metrics[0].pods.target.type",
        "invalid pods target type",
    ),
]


@pytest.mark.parametrize(("autoscaler", "spec", "field", "message"), ERRORS)
def test_autoscaler_errors_name_the_field(
    autoscaler: dict[str, Any], spec: dict[str, Any], field: str, message: str
) -> None:
    result = build(collector(mode="statefulset", autoscaler=autoscaler, **spec))
    assert not result.objects
    found = {p.field: p.message for p in result.problems}
    assert field in found, [str(p) for p in result.problems]
    assert message in found[field]


@pytest.mark.parametrize(
    "autoscaler",
    [
        {"maxReplicas": 1},
        {"maxReplicas": 10, "minReplicas": 10, "targetCPUUtilization": 150},  # over 100% is allowed (upstream #3260)
        {
            "maxReplicas": 3,
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0},
                "scaleDown": {"stabilizationWindowSeconds": 3600},
            },
        },
        {
            "maxReplicas": 3,
            "metrics": [
                pods_metric({"type": "AverageValue", "averageValue": "1k"}),
                pods_metric({"type": "Value", "value": 1}),
            ],
        },
        # without maxReplicas nothing is built, so upstream checks nothing else either
        {"metrics": [{"type": "External"}]},
    ],
)
def test_valid_autoscalers(autoscaler: dict[str, Any]) -> None:
    assert not build(collector(mode="statefulset", autoscaler=autoscaler)).problems


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Fraction(1)),
        ("500m", Fraction(1, 2)),
        ("1k", Fraction(1000)),
        ("1Ki", Fraction(1024)),
        ("1e3", Fraction(1000)),
        ("1E", Fraction(10**18)),
        ("2.5", Fraction(5, 2)),
        (7, Fraction(7)),
        ("abc", None),
        ("1x", None),
        (True, None),
    ],
)
def test_quantities(text: Any, value: Fraction | None) -> None:
    assert quantity(text) == value


# --- the workload follows the collector's spec.replicas, which the HPA writes ------------------------------------


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        ({}, 1),
        ({"replicas": 3}, 3),
        ({"replicas": 0}, 0),  # zero is a choice, not "unset"
        ({"replicas": 1, "autoscaler": {"minReplicas": 3, "maxReplicas": 5}}, 3),  # raised to the minimum
        # the HPA scaled up to 4 (spec.replicas), then minReplicas was lowered: the workload keeps the HPA's 4
        ({"replicas": 4, "autoscaler": {"minReplicas": 2, "maxReplicas": 5}}, 4),
        ({"replicas": 2, "autoscaler": {"maxReplicas": 5}}, 2),
    ],
)
def test_workload_replicas(spec: dict[str, Any], count: int) -> None:
    assert replicas(spec) == count


def test_the_statefulset_follows_the_replicas_the_hpa_set() -> None:
    result = built(collector(mode="statefulset", replicas=4, autoscaler={"minReplicas": 2, "maxReplicas": 6}))
    assert find(result, "StatefulSet")["spec"]["replicas"] == 4
    assert find(result, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2
