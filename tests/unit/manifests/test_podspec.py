"""The pod templates' derived parts as upstream 0.158 builds them: the probes from the health_check extension, the
inferred environment of both containers (its order, the golang-flags gate, names the user defines), and the
mount paths of spec.configmaps (Go's path.Join)."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import featuregates
from otel_operator.manifests.model import BuildOptions
from otel_operator.manifests.podspec import join_path

from .common import allocating, built, collector, find

HEALTH_CONFIG: dict[str, Any] = {
    "receivers": {"otlp": {"protocols": {"grpc": {}}}},
    "exporters": {"debug": {}},
    "extensions": {"health_check": {"endpoint": "0.0.0.0:13134", "path": "/health"}},
    "service": {
        "extensions": ["health_check"],
        "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}},
    },
}
KUBELET_CONFIG: dict[str, Any] = {
    "receivers": {"kubeletstats": {"auth_type": "serviceAccount", "endpoint": "https://${env:K8S_NODE_NAME}:10250"}},
    "exporters": {"debug": {}},
    "service": {"pipelines": {"metrics": {"receivers": ["kubeletstats"], "exporters": ["debug"]}}},
}
NO_GOLANG_FLAGS = BuildOptions(feature_gates=featuregates.DEFAULT_ENABLED - {featuregates.GOLANG_FLAGS})

POD_NAME = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
NODE_NAME = {"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
NAMESPACE = {"name": "OTELCOL_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}


def limit(name: str, container: str, resource: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"resourceFieldRef": {"containerName": container, "resource": resource}}}


def collector_container(resource: dict[str, Any], options: BuildOptions | None = None) -> dict[str, Any]:
    workload = find(built(resource, options=options), "Deployment")
    made: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    assert made["name"] == "otc-container"
    return made


def allocator_container(resource: dict[str, Any], options: BuildOptions | None = None) -> dict[str, Any]:
    workload = find(built(resource, options=options), "Deployment", "c-targetallocator")
    made: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][-1]
    assert made["name"] == "ta-container"
    return made


# --- probes ---------------------------------------------------------------------------------------------------------

HANDLER = {"httpGet": {"path": "/health", "port": 13134}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, {"livenessProbe": HANDLER, "readinessProbe": HANDLER, "startupProbe": HANDLER}),
        (  # each kind takes only its own timing
            {"startupProbe": {"failureThreshold": 30, "periodSeconds": 10}, "livenessProbe": {"timeoutSeconds": 5}},
            {
                "livenessProbe": {**HANDLER, "timeoutSeconds": 5},
                "readinessProbe": HANDLER,
                "startupProbe": {**HANDLER, "failureThreshold": 30, "periodSeconds": 10},
            },
        ),
        (
            {
                "startupProbe": {
                    "initialDelaySeconds": 1,
                    "timeoutSeconds": 2,
                    "periodSeconds": 3,
                    "successThreshold": 1,
                    "failureThreshold": 60,
                    "terminationGracePeriodSeconds": 15,
                }
            },
            {
                "livenessProbe": HANDLER,
                "readinessProbe": HANDLER,
                "startupProbe": {
                    **HANDLER,
                    "initialDelaySeconds": 1,
                    "timeoutSeconds": 2,
                    "periodSeconds": 3,
                    "successThreshold": 1,
                    "failureThreshold": 60,
                    "terminationGracePeriodSeconds": 15,
                },
            },
        ),
    ],
)
def test_probes_from_the_health_check_extension(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    made = collector_container(collector(config=HEALTH_CONFIG, **spec))
    assert {k: made.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    "config",
    [
        None,  # no extension at all
        {**HEALTH_CONFIG, "service": {**HEALTH_CONFIG["service"], "extensions": []}},  # declared, not used
    ],
)
def test_no_probes_without_a_used_health_check(config: dict[str, Any] | None) -> None:
    # The timing alone does not make a probe: there is no handler to probe.
    made = collector_container(collector(config=config, startupProbe={"failureThreshold": 30}))
    assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(made)


def test_default_health_check_probe() -> None:
    config = {**HEALTH_CONFIG, "extensions": {"health_check": {}}}
    made = collector_container(collector(config=config))
    assert made["startupProbe"] == {"httpGet": {"path": "/", "port": 13133}}


# --- environment ----------------------------------------------------------------------------------------------------

COLLECTOR_LIMITS = [
    limit("GOMEMLIMIT", "otc-container", "limits.memory"),
    limit("GOMAXPROCS", "otc-container", "limits.cpu"),
]
ALLOCATOR_LIMITS = [
    limit("GOMEMLIMIT", "ta-container", "limits.memory"),
    limit("GOMAXPROCS", "ta-container", "limits.cpu"),
]
TEST_ENV = {"name": "TEST_ENV", "value": "test"}


@pytest.mark.parametrize(
    ("config", "spec", "options", "expected"),
    [
        (None, {}, None, [POD_NAME, *COLLECTOR_LIMITS]),
        (KUBELET_CONFIG, {}, None, [POD_NAME, *COLLECTOR_LIMITS, NODE_NAME]),
        (KUBELET_CONFIG, {"env": [TEST_ENV]}, None, [TEST_ENV, POD_NAME, *COLLECTOR_LIMITS, NODE_NAME]),
        (KUBELET_CONFIG, {}, NO_GOLANG_FLAGS, [POD_NAME, NODE_NAME]),
        (  # a name the user defines is theirs, wherever it would have gone
            KUBELET_CONFIG,
            {"env": [{"name": "K8S_NODE_NAME", "value": "n1"}, {"name": "GOMEMLIMIT", "value": "100MiB"}]},
            None,
            [
                {"name": "K8S_NODE_NAME", "value": "n1"},
                {"name": "GOMEMLIMIT", "value": "100MiB"},
                POD_NAME,
                COLLECTOR_LIMITS[1],
            ],
        ),
    ],
)
def test_collector_env(
    config: dict[str, Any] | None, spec: dict[str, Any], options: BuildOptions | None, expected: list[dict[str, Any]]
) -> None:
    assert collector_container(collector(config=config, **spec), options)["env"] == expected


def test_snake_case_kubelet_stats_gets_the_node_name() -> None:
    config = {
        **KUBELET_CONFIG,
        "receivers": {"kubelet_stats": KUBELET_CONFIG["receivers"]["kubeletstats"]},
        "service": {"pipelines": {"metrics": {"receivers": ["kubelet_stats"], "exporters": ["debug"]}}},
    }
    made = collector_container(collector(config=config))
    assert made["env"][-1] == NODE_NAME
    assert [p["name"] for p in made["ports"]] == ["metrics"]  # its endpoint is the kubelet's, not a listener


@pytest.mark.parametrize(
    ("spec", "options", "expected"),
    [
        ({}, None, [NAMESPACE, *ALLOCATOR_LIMITS]),
        # upstream's e2e targetallocator-features asserts exactly this list
        ({"env": [TEST_ENV]}, None, [TEST_ENV, NAMESPACE, *ALLOCATOR_LIMITS]),
        ({"env": [TEST_ENV]}, NO_GOLANG_FLAGS, [TEST_ENV, NAMESPACE]),
        (
            {"env": [{"name": "GOMAXPROCS", "value": "2"}, {"name": "OTELCOL_NAMESPACE", "value": "other"}]},
            None,
            [
                {"name": "GOMAXPROCS", "value": "2"},
                {"name": "OTELCOL_NAMESPACE", "value": "other"},
                ALLOCATOR_LIMITS[0],
            ],
        ),
    ],
)
def test_allocator_env(spec: dict[str, Any], options: BuildOptions | None, expected: list[dict[str, Any]]) -> None:
    assert allocator_container(allocating(mode="statefulset", **spec), options)["env"] == expected


# --- spec.configmaps ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("/var/conf", "/", "configmap-a"), "/var/conf/configmap-a"),
        (("/var/conf", "", "configmap-a"), "/var/conf/configmap-a"),
        (("/var/conf", "extra", "configmap-a"), "/var/conf/extra/configmap-a"),
        (("/var/conf", "/a//b/", "configmap-a"), "/var/conf/a/b/configmap-a"),
        (("/var/conf", "./a/./b", "configmap-a"), "/var/conf/a/b/configmap-a"),
        (("/var/conf", "a/../b", "configmap-a"), "/var/conf/b/configmap-a"),
        (("/var/conf", "../../..", "configmap-a"), "/configmap-a"),  # `..` stops at the root
        (("a", "..", ".."), ".."),
        (("", ""), ""),
        (("a", ""), "a"),
        (("a/..",), "."),
        (("//a",), "/a"),
    ],
)
def test_join_path_is_go_path_join(parts: tuple[str, ...], expected: str) -> None:
    assert join_path(*parts) == expected


@pytest.mark.parametrize(
    ("mountpath", "expected"),
    [
        ("/", "/var/conf/configmap-mount-test1"),  # upstream e2e; not /var/conf///configmap-mount-test1
        ("", "/var/conf/configmap-mount-test1"),
        ("sub/dir/", "/var/conf/sub/dir/configmap-mount-test1"),
        ("/abs", "/var/conf/abs/configmap-mount-test1"),
    ],
)
def test_config_map_mount_path(mountpath: str, expected: str) -> None:
    resource = collector(configmaps=[{"name": "mount-test1", "mountpath": mountpath}])
    made = collector_container(resource)
    assert made["volumeMounts"][-1] == {"name": "configmap-mount-test1", "mountPath": expected}
