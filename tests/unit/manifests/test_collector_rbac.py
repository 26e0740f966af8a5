"""The collector's ClusterRole and binding: exactly the rules upstream generates for the components the service uses,
upstream's names and labels, the inferred receiver environment, and the checks."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import BuildOptions, build, naming
from otel_operator.manifests.collector_rbac import (
    receiver_env,
    rules,
)
from tests.unit.manifests.common import collector

READ = ["get", "list", "watch"]
ATTR = ["get", "watch", "list"]


def rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def config_with(kind: str, name: str, conf: Any, *, pipeline: bool = True) -> dict[str, Any]:
    """A config whose traces pipeline (or service.extensions) uses component `name` of `kind`."""
    config: dict[str, Any] = {
        "receivers": {"otlp": {"protocols": {"grpc": {}}}},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}},
    }
    config.setdefault(kind, {})[name] = conf
    if not pipeline:
        return config
    if kind == "extensions":
        config["service"]["extensions"] = [name]
    else:
        config["service"]["pipelines"]["traces"].setdefault(kind, []).append(name)
    return config


CLUSTER_READS = [
    rule(
        "",
        [
            "events",
            "namespaces",
            "namespaces/status",
            "nodes",
            "nodes/spec",
            "persistentvolumeclaims",
            "persistentvolumes",
            "pods",
            "pods/status",
            "replicationcontrollers",
            "replicationcontrollers/status",
            "resourcequotas",
            "services",
        ],
        READ,
    ),
    rule("apps", ["daemonsets", "deployments", "replicasets", "statefulsets"], READ),
    rule("extensions", ["daemonsets", "deployments", "replicasets"], READ),
    rule("batch", ["jobs", "cronjobs"], READ),
    rule("autoscaling", ["horizontalpodautoscalers"], READ),
]
PODS = rule("", ["pods", "namespaces"], ATTR)
REPLICASETS = rule("apps", ["replicasets"], ATTR)
JOBS = rule("batch", ["jobs"], ATTR)
CRONJOBS = rule("batch", ["cronjobs"], ATTR)
NODES = rule("", ["nodes"], ATTR)
STATS = rule("", ["nodes/stats"], ["get"])
PROXY = rule("", ["nodes/proxy"], ["get"])


@pytest.mark.parametrize(
    ("kind", "name", "conf", "expected"),
    [
        # k8sattributes: pods and namespaces always; the default metadata includes the deployment (replicasets)
        ("processors", "k8sattributes", {}, [PODS, REPLICASETS]),
        ("processors", "k8sattributes", None, [PODS, REPLICASETS]),
        ("processors", "k8s_attributes", {}, [PODS, REPLICASETS]),  # the newer name
        ("processors", "k8sattributes", {"extract": {"metadata": ["k8s.pod.name"]}}, [PODS]),
        ("processors", "k8sattributes", {"extract": {"metadata": ["service.name"]}}, [PODS, REPLICASETS]),
        ("processors", "k8sattributes/x", {"extract": {"metadata": ["k8s.deployment.uid"]}}, [PODS, REPLICASETS]),
        ("processors", "k8sattributes", {"extract": {"metadata": ["k8s.node.name", "k8s.node.uid"]}}, [PODS, NODES]),
        ("processors", "k8sattributes", {"extract": {"metadata": ["k8s.cronjob.uid"]}}, [PODS, JOBS]),
        (
            "processors",
            "k8sattributes",
            {"extract": {"metadata": ["k8s.pod.uid"], "labels": [{"key": "a", "from": "job"}]}},
            [PODS, JOBS],
        ),
        (
            "processors",
            "k8sattributes",
            {"extract": {"metadata": ["k8s.pod.uid"], "annotations": [{"key": "a", "from": "cronjob"}]}},
            [PODS, JOBS, CRONJOBS],
        ),
        (
            "processors",
            "k8sattributes",
            {"extract": {"metadata": ["k8s.pod.uid"], "labels": [{"key": "a", "from": "pod"}]}},
            [PODS],
        ),
        # kubeletstats: stats always; the kubelet's /pods (nodes/proxy) for metadata labels or utilization metrics
        ("receivers", "kubeletstats", {}, [STATS]),
        ("receivers", "kubeletstats", {"extra_metadata_labels": ["container.id"]}, [STATS, PROXY]),
        (
            "receivers",
            "kubeletstats",
            {"metrics": {"k8s.pod.memory_limit_utilization": {"enabled": True}}},
            [STATS, PROXY],
        ),
        (
            "receivers",
            "kubeletstats",
            {"metrics": {"k8s.container.cpu_request_utilization": {"enabled": False}}},
            [STATS],
        ),
        ("receivers", "k8s_cluster", {}, CLUSTER_READS),
        (
            "receivers",
            "k8s_cluster",
            {"distribution": "openshift"},
            [*CLUSTER_READS, rule("quota.openshift.io", ["clusterresourcequotas"], READ)],
        ),
        # upstream's receivers/k8sevents.go (e2e-automatic-rbac/receiver-k8sevents): the events only
        ("receivers", "k8s_events", {"namespaces": ["a"]}, [rule("", ["events"], READ)]),
        (
            "receivers",
            "k8sobjects",
            {
                "objects": [
                    {"name": "pods", "mode": "pull"},
                    {"name": "events", "mode": "pull"},
                    {"name": "events", "mode": "watch", "group": "events.k8s.io"},
                    {"name": "deployments", "group": "apps"},
                ]
            },
            [
                rule("", ["pods"], ["list", "get"]),
                rule("", ["events"], ["list"]),
                rule("events.k8s.io", ["events"], ["list", "watch"]),
                rule("apps", ["deployments"], ["list"]),
            ],
        ),
        ("receivers", "k8sobjects", {"objects": [{"mode": "pull"}]}, []),  # no name: no rule (a warning)
        ("processors", "resourcedetection", {"detectors": ["env", "system"]}, []),
        ("processors", "resourcedetection", {"detectors": ["k8snode"]}, [rule("", ["nodes"], ["get", "list"])]),
        (
            "processors",
            "resource_detection",
            {"detectors": ["openshift"]},
            [rule("config.openshift.io", ["infrastructures", "infrastructures/status"], ATTR)],
        ),
        ("extensions", "k8s_observer", {}, []),
        (
            "extensions",
            "k8s_observer",
            {"observe_pods": True, "observe_nodes": True},
            [rule("", ["pods"], ["list", "watch"]), rule("", ["nodes"], ["list", "watch"])],
        ),
        (
            "extensions",
            "k8s_leader_elector",
            {},
            [
                rule(
                    "coordination.k8s.io",
                    ["leases"],
                    ["get", "list", "watch", "create", "update", "patch", "delete"],
                )
            ],
        ),
        ("processors", "batch", {}, []),
    ],
)
def test_rules_per_component(kind: str, name: str, conf: Any, expected: list[dict[str, Any]]) -> None:
    assert rules(config_with(kind, name, conf)) == expected


@pytest.mark.parametrize(
    ("kind", "name", "conf"),
    [
        ("processors", "k8sattributes", {}),
        ("receivers", "kubeletstats", {}),
        ("extensions", "k8s_leader_elector", {}),
    ],
)
def test_unused_components_grant_nothing(kind: str, name: str, conf: Any) -> None:
    assert rules(config_with(kind, name, conf, pipeline=False)) == []


def test_order_is_receivers_exporters_processors_extensions_and_duplicates_are_dropped() -> None:
    config = config_with("processors", "k8sattributes", {})
    config["processors"]["k8sattributes/again"] = {}
    config["service"]["pipelines"]["traces"]["processors"].append("k8sattributes/again")
    config["receivers"]["kubeletstats"] = {}
    config["service"]["pipelines"]["metrics"] = {"receivers": ["kubeletstats"], "exporters": ["debug"]}
    config["extensions"] = {"k8s_observer": {"observe_services": True}}
    config["service"]["extensions"] = ["k8s_observer"]
    assert rules(config) == [STATS, PODS, REPLICASETS, rule("", ["services"], ["list", "watch"])]


def test_names_are_upstreams() -> None:
    assert naming.collector_cluster_role("otelcol", "obs") == "otelcol-obs-cluster-role"
    assert naming.collector_cluster_role_binding("otelcol", "obs") == "otelcol-obs-collector"
    long = "a" * 60
    assert naming.collector_cluster_role(long, "obs") == "a" * 46 + "-obs-cluster-role"  # the name is cut first, to 63
    assert len(naming.collector_cluster_role_binding(long, "observability")) == 63


def objects(resource: dict[str, Any], options: BuildOptions | None = None) -> dict[str, dict[str, Any]]:
    result = build(resource, options)
    assert result.ok, result.problems
    return {o["kind"]: o for o in result.objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")}


def test_built_role_and_binding() -> None:
    resource = collector(
        "agent",
        "obs",
        config=config_with("processors", "k8sattributes", {}),
        labels={"team": "a"},
        annotations={"note": "x"},
        serviceAccount="mine",
    )
    found = objects(resource)
    role, binding = found["ClusterRole"], found["ClusterRoleBinding"]
    assert role["apiVersion"] == binding["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert role["metadata"]["name"] == "agent-obs-cluster-role"
    assert "namespace" not in role["metadata"]
    assert "namespace" not in binding["metadata"]
    assert role["metadata"]["annotations"] == {"note": "x"}
    assert role["metadata"]["labels"] == {
        "app.kubernetes.io/component": "opentelemetry-collector",
        "app.kubernetes.io/instance": "obs.agent",
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/name": "agent-obs-cluster-role",
        "app.kubernetes.io/part-of": "opentelemetry",
        "app.kubernetes.io/version": "latest",
        "team": "a",
    }
    assert role["rules"] == [PODS, REPLICASETS]
    assert binding["metadata"]["name"] == "agent-obs-collector"
    assert binding["metadata"]["labels"]["app.kubernetes.io/name"] == "agent-obs-collector"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "agent-obs-cluster-role",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mine", "namespace": "obs"}]


def test_default_service_account_is_bound() -> None:
    found = objects(collector("agent", "obs", config=config_with("receivers", "kubeletstats", {})))
    assert found["ClusterRoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "agent-collector", "namespace": "obs"}
    ]


@pytest.mark.parametrize("mode", ["deployment", "daemonset", "statefulset"])
def test_every_mode_gets_them(mode: str) -> None:
    found = objects(collector(config=config_with("processors", "k8sattributes", {}), mode=mode))
    assert sorted(found) == ["ClusterRole", "ClusterRoleBinding"]


def test_none_without_rules_or_when_disabled() -> None:
    assert objects(collector()) == {}
    needing = collector(config=config_with("processors", "k8sattributes", {}))
    assert objects(needing, BuildOptions(collector_rbac=False)) == {}


def test_disabled_rbac_warns_what_to_bind() -> None:
    result = build(collector(config=config_with("receivers", "kubeletstats", {})), BuildOptions(collector_rbac=False))
    assert result.ok
    assert any("get nodes/stats" in w and "bind them to the collector's service account" in w for w in result.warnings)
    assert not build(collector(), BuildOptions(collector_rbac=False)).warnings


def test_k8sobjects_entry_without_name_warns() -> None:
    config = config_with("receivers", "k8sobjects", {"objects": [{"name": "pods"}, {"mode": "watch"}]})
    result = build(collector(config=config))
    assert result.ok
    assert any("spec.config.receivers.k8sobjects.objects[1].name" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("receivers", "expected"),
    [
        ({"otlp": {"protocols": {"grpc": {}}}}, []),
        (
            {"kubeletstats": {}},
            [{"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        ),
        (  # two kubeletstats receivers: the variable once
            {"kubeletstats": {}, "kubeletstats/2": {}},
            [{"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        ),
    ],
)
def test_receiver_env(receivers: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    config = {
        "receivers": receivers,
        "exporters": {"debug": {}},
        "service": {"pipelines": {"metrics": {"receivers": list(receivers), "exporters": ["debug"]}}},
    }
    assert receiver_env(config) == expected


def test_receiver_env_only_for_used_receivers() -> None:
    config = config_with("receivers", "kubeletstats", {}, pipeline=False)
    assert receiver_env(config) == []
