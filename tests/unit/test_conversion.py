"""OpenTelemetryCollector v1alpha1 → v1beta1, as upstream's conversion webhook converts it (reference §1.3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from otel_operator.api.conversion import ConversionError, is_v1alpha1_collector, to_v1beta1
from otel_operator.api.validation import validate

CONFIG = """\
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"""
PARSED = {
    "receivers": {"otlp": {"protocols": {"grpc": None}}},
    "exporters": {"debug": {}},
    "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}},
}


def v1alpha1(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "c", "namespace": "ns", "labels": {"team": "a"}},
        "spec": {"config": CONFIG, **spec},
    }


def converted_spec(**spec: Any) -> dict[str, Any]:
    result = to_v1beta1(v1alpha1(**spec))
    out: dict[str, Any] = result.resource["spec"]
    return out


def test_the_simplest_collector() -> None:
    result = to_v1beta1(v1alpha1())
    assert result.resource == {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "c", "namespace": "ns", "labels": {"team": "a"}},
        "spec": {"config": PARSED},
    }
    assert result.warnings == ()
    assert validate(result.resource) == []


def test_the_input_is_not_changed() -> None:
    resource = v1alpha1(minReplicas=1, targetAllocator={"prometheusCR": {"serviceMonitorSelector": {"a": "b"}}})
    before = copy.deepcopy(resource)
    to_v1beta1(resource)
    assert resource == before


@pytest.mark.parametrize(
    ("spec", "autoscaler"),
    [
        ({}, None),
        ({"maxReplicas": 5}, {"maxReplicas": 5}),
        ({"minReplicas": 2, "maxReplicas": 5}, {"minReplicas": 2, "maxReplicas": 5}),
        # the autoscaler's own values win over the deprecated top-level ones
        (
            {"minReplicas": 2, "maxReplicas": 5, "autoscaler": {"maxReplicas": 9, "targetCPUUtilization": 80}},
            {"minReplicas": 2, "maxReplicas": 9, "targetCPUUtilization": 80},
        ),
        (
            {
                "autoscaler": {
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}},
                    "metrics": [{"type": "Pods", "pods": {"metric": {"name": "m"}}, "resource": {"name": "cpu"}}],
                    "targetMemoryUtilization": 70,
                }
            },
            {
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}},
                "metrics": [{"type": "Pods", "pods": {"metric": {"name": "m"}}}],
                "targetMemoryUtilization": 70,
            },
        ),
    ],
)
def test_min_and_max_replicas_fold_into_the_autoscaler(spec: dict[str, Any], autoscaler: dict[str, Any] | None) -> None:
    out = converted_spec(**spec)
    assert out.get("autoscaler") == autoscaler
    assert "minReplicas" not in out
    assert "maxReplicas" not in out


def test_an_hpa_metric_upstream_does_not_carry_is_reported() -> None:
    result = to_v1beta1(v1alpha1(autoscaler={"metrics": [{"type": "Resource", "resource": {"name": "cpu"}}]}))
    assert result.resource["spec"]["autoscaler"] == {"metrics": [{"type": "Resource"}]}
    assert any(w.startswith("spec.autoscaler.metrics[0].resource:") for w in result.warnings)


def test_renamed_and_restructured_fields() -> None:
    out = converted_spec(
        updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
        deploymentUpdateStrategy={"type": "Recreate"},
        observability={"metrics": {"enableMetrics": True, "DisablePrometheusAnnotations": True}},
        ingress={"type": "route", "hostname": "example.com", "route": {"termination": "edge"}},
        livenessProbe={"initialDelaySeconds": 5, "periodSeconds": 3},
        podDisruptionBudget={"maxUnavailable": 1},
        ports=[{"name": "extra", "port": 9999, "targetPort": 9999, "protocol": "TCP", "hostPort": 9999}],
        configmaps=[{"name": "cm", "mountpath": "/etc/cm"}],
    )
    assert out["daemonSetUpdateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}
    assert "updateStrategy" not in out
    assert out["deploymentUpdateStrategy"] == {"type": "Recreate"}
    assert out["observability"] == {"metrics": {"enableMetrics": True, "disablePrometheusAnnotations": True}}
    assert out["ingress"] == {"type": "route", "hostname": "example.com", "route": {"termination": "edge"}}
    assert out["livenessProbe"] == {"initialDelaySeconds": 5, "periodSeconds": 3}
    assert out["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert out["ports"] == [{"name": "extra", "port": 9999, "targetPort": 9999, "protocol": "TCP", "hostPort": 9999}]
    assert out["configmaps"] == [{"name": "cm", "mountpath": "/etc/cm"}]


AS_IS: dict[str, Any] = {
    "managementState": "unmanaged",
    "mode": "daemonset",
    "image": "otel/col:1",
    "imagePullPolicy": "Always",
    "replicas": 3,
    "args": {"feature-gates": "x"},
    "env": [{"name": "A", "value": "1"}],
    "envFrom": [{"configMapRef": {"name": "e"}}],
    "resources": {"limits": {"memory": "1Gi"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"operator": "Exists"}],
    "affinity": {"nodeAffinity": {}},
    "volumes": [{"name": "v", "emptyDir": {}}],
    "volumeMounts": [{"name": "v", "mountPath": "/v"}],
    "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
    "securityContext": {"runAsNonRoot": True},
    "podSecurityContext": {"fsGroup": 1},
    "podAnnotations": {"a": "b"},
    "serviceAccount": "sa",
    "upgradeStrategy": "none",
    "hostNetwork": True,
    "shareProcessNamespace": True,
    "priorityClassName": "high",
    "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
    "terminationGracePeriodSeconds": 30,
    "initContainers": [{"name": "init", "image": "busybox"}],
    "additionalContainers": [{"name": "side", "image": "busybox"}],
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}],
    "trafficDistribution": "PreferClose",
}


def test_fields_that_move_unchanged() -> None:
    result = to_v1beta1(v1alpha1(**AS_IS))
    assert result.resource["spec"] == {"config": PARSED, **AS_IS}
    assert result.warnings == ()


def test_the_embedded_allocator() -> None:
    out = converted_spec(
        targetAllocator={
            "enabled": True,
            "replicas": 2,
            "image": "ta:1",
            "allocationStrategy": "per-node",
            "filterStrategy": "relabel-config",
            "serviceAccount": "ta",
            "env": [{"name": "A", "value": "1"}],
            "observability": {"metrics": {"enableMetrics": True}},
            "podDisruptionBudget": {"minAvailable": 1},
            "prometheusCR": {
                "enabled": True,
                "scrapeInterval": "1m",
                "serviceMonitorSelector": {"team": "obs"},
            },
        }
    )
    assert out["targetAllocator"] == {
        "enabled": True,
        "replicas": 2,
        "image": "ta:1",
        "allocationStrategy": "per-node",
        "filterStrategy": "relabel-config",
        "serviceAccount": "ta",
        "env": [{"name": "A", "value": "1"}],
        "observability": {"metrics": {"enableMetrics": True}},
        "podDisruptionBudget": {"minAvailable": 1},
        "prometheusCR": {
            "enabled": True,
            "scrapeInterval": "1m",
            # the label maps become selectors; a missing one selects every monitor, as in v1alpha1
            "serviceMonitorSelector": {"matchLabels": {"team": "obs"}},
            "podMonitorSelector": {},
        },
    }


@pytest.mark.parametrize(("given", "selector"), [(None, {}), ({}, {}), ({"a": "b"}, {"matchLabels": {"a": "b"}})])
def test_monitor_selector_maps(given: dict[str, str] | None, selector: dict[str, Any]) -> None:
    cr: dict[str, Any] = {"enabled": True}
    if given is not None:
        cr["podMonitorSelector"] = given
    out = converted_spec(targetAllocator={"enabled": True, "prometheusCR": cr})
    assert out["targetAllocator"]["prometheusCR"]["podMonitorSelector"] == selector


def test_a_monitor_selector_that_is_not_a_map_cannot_be_converted() -> None:
    with pytest.raises(ConversionError) as err:
        to_v1beta1(v1alpha1(targetAllocator={"prometheusCR": {"serviceMonitorSelector": ["a"]}}))
    assert err.value.field == "spec.targetAllocator.prometheusCR.serviceMonitorSelector"


@pytest.mark.parametrize(
    ("allocator", "kept", "warned"),
    [
        ({"allocationStrategy": "least-weighted"}, {"allocationStrategy": "least-weighted"}, None),
        ({"allocationStrategy": "round-robin"}, {}, "spec.targetAllocator.allocationStrategy"),
        ({"filterStrategy": "none"}, {}, "spec.targetAllocator.filterStrategy"),
        ({"filterStrategy": ""}, {}, None),
        ({"mtls": {"enabled": True}}, {}, "spec.targetAllocator.mtls"),  # not a v1alpha1 field
    ],
)
def test_what_upstream_drops_from_the_allocator_is_reported(
    allocator: dict[str, Any], kept: dict[str, Any], warned: str | None
) -> None:
    result = to_v1beta1(v1alpha1(targetAllocator=allocator))
    ta = result.resource["spec"]["targetAllocator"]
    assert {k: v for k, v in ta.items() if k != "prometheusCR"} == kept
    assert [w.split(":")[0] for w in result.warnings] == ([warned] if warned else [])


def test_fields_v1alpha1_does_not_have_are_dropped_with_a_warning() -> None:
    result = to_v1beta1(v1alpha1(networkPolicy={"enabled": False}, mode="deployment"))
    assert result.resource["spec"] == {"config": PARSED, "mode": "deployment"}
    assert result.warnings == (
        "spec.networkPolicy: not a v1alpha1 field; dropped, as the API server prunes unknown fields",
    )


@pytest.mark.parametrize(
    ("text", "config"),
    [
        ("", {"receivers": {}, "exporters": {}, "service": {"pipelines": {}}}),  # upstream writes these always
        ("# only a comment\n", {"receivers": {}, "exporters": {}, "service": {"pipelines": {}}}),
        (
            "receivers: {otlp: {}}\nprocessors: {batch: {}}\nconnectors: {}\nextensions: {health_check: {}}\n"
            "exporters: {debug: {}}\nservice: {extensions: [health_check], telemetry: {logs: {level: debug}}, "
            "pipelines: {}}\n",
            {
                "receivers": {"otlp": {}},
                "exporters": {"debug": {}},
                "processors": {"batch": {}},
                "connectors": {},
                "extensions": {"health_check": {}},
                "service": {"extensions": ["health_check"], "telemetry": {"logs": {"level": "debug"}}, "pipelines": {}},
            },
        ),
    ],
)
def test_the_config_string_becomes_the_structured_config(text: str, config: dict[str, Any]) -> None:
    assert converted_spec(config=text)["config"] == config


def test_a_missing_config_becomes_the_empty_config() -> None:
    resource = v1alpha1()
    del resource["spec"]["config"]
    assert to_v1beta1(resource).resource["spec"]["config"] == {
        "receivers": {},
        "exporters": {},
        "service": {"pipelines": {}},
    }


def test_config_parts_v1beta1_has_no_field_for_are_dropped_with_a_warning() -> None:
    text = CONFIG + "extra: 1\n"
    text = text.replace("exporters: [debug]\n", "exporters: [debug]\n      extra: x\n")
    result = to_v1beta1(v1alpha1(config=text))
    assert result.resource["spec"]["config"] == PARSED
    assert [w.split(":")[0] for w in result.warnings] == [
        "spec.config.service.pipelines.traces.extra",
        "spec.config.extra",
    ]


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("receivers: [unclosed\n", "is not valid YAML (while parsing a flow sequence"),
        ("receivers:\n  otlp: {}\n bad-indent: 1\n", "is not valid YAML"),
        ("- a\n- b\n", "must be a YAML mapping of receivers, exporters"),
        ({"receivers": {}}, f"set apiVersion: {'opentelemetry.io/v1beta1'} instead"),
        (42, "must be a YAML string"),
    ],
)
def test_a_config_that_cannot_be_converted_names_spec_config(config: Any, says: str) -> None:
    # upstream would silently store an empty config; the collector would then run without pipelines
    with pytest.raises(ConversionError) as err:
        to_v1beta1(v1alpha1(config=config))
    assert err.value.field == "spec.config"
    assert says in err.value.message
    assert "\n" not in err.value.message


def test_status_keeps_what_v1beta1_has() -> None:
    resource = v1alpha1()
    resource["status"] = {
        "scale": {"selector": "a=b", "replicas": 2, "statusReplicas": "2/2"},
        "version": "0.100.0",
        "image": "otel/col:0.100.0",
        "messages": ["old"],
        "replicas": 2,
    }
    assert to_v1beta1(resource).resource["status"] == {
        "scale": {"selector": "a=b", "replicas": 2, "statusReplicas": "2/2"},
        "version": "0.100.0",
        "image": "otel/col:0.100.0",
    }


def test_only_v1alpha1_collectors_convert() -> None:
    assert is_v1alpha1_collector(v1alpha1())
    other = {**v1alpha1(), "apiVersion": "opentelemetry.io/v1beta1"}
    assert not is_v1alpha1_collector(other)
    with pytest.raises(ConversionError) as err:
        to_v1beta1(other)
    assert err.value.field == "apiVersion"


def test_a_typical_upstream_manifest_converts_to_a_valid_v1beta1_one() -> None:
    resource = v1alpha1(
        mode="statefulset",
        minReplicas=2,
        maxReplicas=4,
        ports=[{"name": "extra", "port": 9999}],
        targetAllocator={"enabled": True, "prometheusCR": {"enabled": True, "serviceMonitorSelector": {"t": "a"}}},
    )
    result = to_v1beta1(resource)
    assert validate(result.resource) == []
