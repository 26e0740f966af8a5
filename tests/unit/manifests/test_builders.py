"""The builders, one object kind at a time, and the table of what each mode consists of."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from otel_operator.manifests import (
    DEFAULT_ALLOCATOR_IMAGE,
    DEFAULT_COLLECTOR_IMAGE,
    BuildOptions,
    build,
    cluster_scoped,
    featuregates,
)
from otel_operator.manifests.rbac import rules

from .common import SCRAPING_CONFIG, allocating, built, collector, everything, find, kinds

CR = {"enabled": True, "serviceMonitorSelector": {}, "podMonitorSelector": {}}


# --- what each mode consists of -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            collector(mode="statefulset"),
            [
                ("ServiceAccount", "c-collector"),
                ("ConfigMap", "c-collector-"),
                ("Service", "c-collector"),
                ("Service", "c-collector-headless"),
                ("Service", "c-collector-monitoring"),
                ("StatefulSet", "c-collector"),
                ("PodDisruptionBudget", "c-collector"),
                ("NetworkPolicy", "c-collector-networkpolicy"),
            ],
        ),
        (
            collector(),  # mode deployment by default
            [
                ("ServiceAccount", "c-collector"),
                ("ConfigMap", "c-collector-"),
                ("Service", "c-collector"),
                ("Service", "c-collector-headless"),
                ("Service", "c-collector-monitoring"),
                ("Deployment", "c-collector"),
                ("PodDisruptionBudget", "c-collector"),
                ("NetworkPolicy", "c-collector-networkpolicy"),
            ],
        ),
        (
            collector(mode="daemonset", serviceAccount="mine"),  # a named ServiceAccount is not created
            [
                ("ConfigMap", "c-collector-"),
                ("Service", "c-collector"),
                ("Service", "c-collector-headless"),
                ("Service", "c-collector-monitoring"),
                ("DaemonSet", "c-collector"),
                ("NetworkPolicy", "c-collector-networkpolicy"),
            ],
        ),
        (
            allocating(),  # only a prometheus receiver: no ports, so no base or headless Service
            [
                ("ServiceAccount", "c-collector"),
                ("ConfigMap", "c-collector-"),
                ("Service", "c-collector-monitoring"),
                ("StatefulSet", "c-collector"),
                ("TargetAllocator", "c"),  # it owns what follows (upstream 0.127+)
                ("PodDisruptionBudget", "c-collector"),
                ("NetworkPolicy", "c-collector-networkpolicy"),
                ("ServiceAccount", "c-targetallocator"),
                ("ClusterRole", "otel-operator:targetallocator:ns:c"),
                ("ClusterRoleBinding", "otel-operator:targetallocator:ns:c"),
                ("ConfigMap", "c-targetallocator"),
                ("Service", "c-targetallocator"),
                ("Deployment", "c-targetallocator"),
                ("PodDisruptionBudget", "c-targetallocator"),
                ("NetworkPolicy", "c-targetallocator-networkpolicy"),
            ],
        ),
    ],
)
def test_objects_per_mode_in_apply_order(resource: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    found = kinds(built(resource))
    assert [(k, n[: len(e)]) for (k, n), (_, e) in zip(found, expected, strict=True)] == expected


def test_objects_are_complete_deterministic_and_unowned() -> None:
    resource = allocating(prometheusCR=CR)
    before = copy.deepcopy(resource)
    first, second = build(resource), build(resource)
    assert resource == before  # the input is not changed
    assert first == second
    for obj in everything(first):
        assert obj["apiVersion"]
        assert obj["kind"]
        assert obj["metadata"]["name"]
        assert "ownerReferences" not in obj["metadata"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "opentelemetry-operator"
        assert ("namespace" in obj["metadata"]) != cluster_scoped(obj)


def test_status_information() -> None:
    result = built(collector(mode="statefulset", image="otel/collector:1.2.3", labels={"team": "a"}))
    assert result.image == "otel/collector:1.2.3"
    assert result.version == "0.158.0"
    assert result.selector == (
        "app.kubernetes.io/component=opentelemetry-collector,app.kubernetes.io/instance=ns.c,"
        "app.kubernetes.io/managed-by=opentelemetry-operator,app.kubernetes.io/name=c-collector,"
        "app.kubernetes.io/part-of=opentelemetry,app.kubernetes.io/version=1.2.3,team=a"
    )
    assert built(collector()).image == DEFAULT_COLLECTOR_IMAGE
    # the cluster-scoped objects' stable labels, also known when the allocator is off (to prune what it left)
    assert built(collector()).cluster_labels == {
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/instance": "ns.c",
        "app.kubernetes.io/part-of": "opentelemetry",
        "app.kubernetes.io/component": "opentelemetry-targetallocator",
    }


# --- ConfigMap and rollouts -----------------------------------------------------------------------------------------


def pod_annotations(result: Any, kind: str = "StatefulSet") -> dict[str, str]:
    return dict(find(result, kind)["spec"]["template"]["metadata"]["annotations"])


def test_a_config_change_gives_a_new_configmap_and_rolls_the_pods() -> None:
    before = built(allocating())
    changed = allocating()
    changed["spec"]["config"]["exporters"]["debug"] = {"verbosity": "detailed"}
    after = built(changed)
    old_map = next(n for k, n in kinds(before) if k == "ConfigMap" and n.startswith("c-collector-"))
    new_map = next(n for k, n in kinds(after) if k == "ConfigMap" and n.startswith("c-collector-"))
    assert old_map != new_map
    config_hash = pod_annotations(after)["opentelemetry-operator-config/sha256"]
    assert new_map == f"c-collector-{config_hash[:8]}"
    volume = find(after, "StatefulSet")["spec"]["template"]["spec"]["volumes"][0]
    assert volume == {
        "name": "otc-internal",
        "configMap": {"name": new_map, "items": [{"key": "collector.yaml", "path": "collector.yaml"}]},
    }


def test_an_allocator_only_change_keeps_the_configmap_name() -> None:
    """As upstream: the hash covers spec.config only, so the reload interval updates the data in place."""
    slow = built(allocating(collectorTargetReloadInterval="1m"))
    fast = built(allocating())
    name = next(n for k, n in kinds(fast) if k == "ConfigMap" and n.startswith("c-collector-"))
    assert find(slow, "ConfigMap", name)["data"] != find(fast, "ConfigMap", name)["data"]
    assert "interval: 1m0s" in find(slow, "ConfigMap", name)["data"]["collector.yaml"]


def test_an_allocator_config_change_rolls_the_allocator() -> None:
    def hash_of(resource: dict[str, Any]) -> str:
        deployment = find(built(resource), "Deployment", "c-targetallocator")
        return str(
            deployment["spec"]["template"]["metadata"]["annotations"]["opentelemetry-targetallocator-config/hash"]
        )

    assert hash_of(allocating(prometheusCR=CR)) != hash_of(allocating(prometheusCR={**CR, "scrapeInterval": "1m"}))


# --- pod template ---------------------------------------------------------------------------------------------------


def test_pod_annotations_precedence() -> None:
    resource = collector(
        mode="statefulset",
        annotations={
            "a": "from-resource",
            "b": "from-resource",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        },
        podAnnotations={"a": "from-pod-annotations", "prometheus.io/port": "9999"},
    )
    annotations = pod_annotations(built(resource))
    assert annotations["a"] == "from-pod-annotations"
    assert annotations["b"] == "from-resource"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations
    assert annotations["prometheus.io/port"] == "9999"  # only missing hints are added
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["operator.opentelemetry.io/prometheus-annotations-added"] == "true"
    disabled = collector(mode="statefulset", observability={"metrics": {"disablePrometheusAnnotations": True}})
    assert set(pod_annotations(built(disabled))) == {"opentelemetry-operator-config/sha256"}


def container(result: Any, kind: str = "StatefulSet") -> dict[str, Any]:
    return dict(find(result, kind)["spec"]["template"]["spec"]["containers"][0])


def test_collector_container() -> None:
    resource = collector(
        mode="statefulset",
        args={"b": "2", "a": "1", "config": "ignored"},
        env=[{"name": "POD_NAME", "value": "mine"}, {"name": "X", "value": "y"}],
        ports=[{"name": "otlp-grpc", "port": 5317, "hostPort": 5317}, {"name": "extra", "port": 9000}],
        volumeMounts=[{"name": "data", "mountPath": "/data"}],
        configmaps=[{"name": "extra-cm", "mountpath": "extra"}],
        command=["/otelcol-contrib"],
    )
    made = container(built(resource))
    assert made["name"] == "otc-container"
    assert made["command"] == ["/otelcol-contrib"]
    assert made["args"] == ["--config=/conf/collector.yaml", "--a=1", "--b=2"]
    assert [e["name"] for e in made["env"]] == ["POD_NAME", "X", "GOMEMLIMIT", "GOMAXPROCS"]  # the user's POD_NAME kept
    assert made["env"][0] == {"name": "POD_NAME", "value": "mine"}
    assert made["ports"] == [  # sorted by name; a declared name replaces the inferred port
        {"name": "extra", "containerPort": 9000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 8888, "protocol": "TCP"},
        {"name": "otlp-grpc", "containerPort": 5317, "protocol": "TCP", "hostPort": 5317},
        {"name": "otlp-http", "containerPort": 4318, "protocol": "TCP"},
    ]
    assert made["volumeMounts"] == [
        {"name": "otc-internal", "mountPath": "/conf"},
        {"name": "data", "mountPath": "/data"},
        {"name": "configmap-extra-cm", "mountPath": "/var/conf/extra/configmap-extra-cm"},
    ]
    volumes = find(built(resource), "StatefulSet")["spec"]["template"]["spec"]["volumes"]
    assert volumes[-1] == {"name": "configmap-extra-cm", "configMap": {"name": "extra-cm"}}


def test_pod_spec_fields() -> None:
    resource = collector(
        mode="daemonset",
        hostNetwork=True,
        tolerations=[{"operator": "Exists"}],
        podSecurityContext={"runAsNonRoot": True},
        priorityClassName="high",
        additionalContainers=[{"name": "sidecar", "image": "busybox"}],
        initContainers=[{"name": "init", "image": "busybox"}],
    )
    pod = find(built(resource), "DaemonSet")["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["hostNetwork"] is True
    assert pod["securityContext"] == {"runAsNonRoot": True}
    assert pod["priorityClassName"] == "high"
    assert [c["name"] for c in pod["containers"]] == ["otc-container", "sidecar"]
    assert [c["name"] for c in pod["initContainers"]] == ["init"]
    assert pod["serviceAccountName"] == "c-collector"


def test_health_check_probes() -> None:
    config = copy.deepcopy(SCRAPING_CONFIG)
    config["extensions"] = {"health_check": {}}
    config["service"]["extensions"] = ["health_check"]
    resource = collector(config=config, livenessProbe={"initialDelaySeconds": 10})
    made = container(built(resource), "Deployment")
    assert made["livenessProbe"] == {"httpGet": {"path": "/", "port": 13133}, "initialDelaySeconds": 10}
    assert made["readinessProbe"] == {"httpGet": {"path": "/", "port": 13133}}
    assert "livenessProbe" not in container(built(collector()), "Deployment")


# --- workloads ------------------------------------------------------------------------------------------------------


def test_statefulset() -> None:
    resource = collector(
        mode="statefulset",
        replicas=2,
        autoscaler={"minReplicas": 3, "maxReplicas": 5},
        volumeClaimTemplates=[{"metadata": {"name": "q"}}],
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"},
    )
    spec = find(built(resource), "StatefulSet")["spec"]
    assert spec["serviceName"] == "c-collector-headless"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["replicas"] == 3  # raised to the autoscaler's minimum
    assert spec["volumeClaimTemplates"] == [{"metadata": {"name": "q"}}]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete"}
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/component": "opentelemetry-collector",
        "app.kubernetes.io/instance": "ns.c",
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/part-of": "opentelemetry",
    }
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    explicit = collector(mode="statefulset", podManagementPolicy="OrderedReady", serviceName="custom")
    spec = find(built(explicit), "StatefulSet")["spec"]
    assert (spec["podManagementPolicy"], spec["serviceName"]) == ("OrderedReady", "custom")


def test_deployment_and_daemonset_strategies() -> None:
    deployment = find(built(collector(deploymentUpdateStrategy={"type": "Recreate"})), "Deployment")["spec"]
    assert deployment["strategy"] == {"type": "Recreate"}
    assert deployment["replicas"] == 1
    daemonset = find(built(collector(mode="daemonset", daemonSetUpdateStrategy={"type": "OnDelete"})), "DaemonSet")
    assert daemonset["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert "replicas" not in daemonset["spec"]


# --- Services -------------------------------------------------------------------------------------------------------


def test_service_ports_merge_declared_and_inferred() -> None:
    resource = collector(
        ports=[
            {"name": "otlp-http", "port": 9999},  # takes the inferred port's name: the inferred one is renamed
            {"name": "custom", "port": 4317},  # takes the inferred port's number: the inferred one is dropped
        ]
    )
    service = find(built(resource), "Service", "c-collector")
    assert service["spec"]["ports"] == [
        {"name": "otlp-http", "port": 9999, "protocol": "TCP"},
        {"name": "custom", "port": 4317, "protocol": "TCP"},
        {"name": "port-4318", "port": 4318, "appProtocol": "http", "targetPort": 4318},
    ]
    assert service["metadata"]["labels"]["operator.opentelemetry.io/collector-service-type"] == "base"
    assert service["spec"]["internalTrafficPolicy"] == "Cluster"


def test_headless_and_monitoring_services() -> None:
    result = built(
        collector(
            mode="daemonset",
            config={
                **SCRAPING_CONFIG,
                "receivers": {"prometheus": {}, "zipkin": {}},
                "service": {
                    "pipelines": {"m": {"receivers": ["prometheus", "zipkin"], "exporters": ["debug"]}},
                    "telemetry": {"metrics": {"address": "0.0.0.0:9090"}},
                },
            },
        )
    )
    base = find(result, "Service", "c-collector")
    assert base["spec"]["internalTrafficPolicy"] == "Local"
    headless = find(result, "Service", "c-collector-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["ports"] == base["spec"]["ports"]
    assert headless["metadata"]["labels"]["operator.opentelemetry.io/collector-headless-service"] == "Exists"
    assert headless["metadata"]["labels"]["operator.opentelemetry.io/collector-service-type"] == "headless"
    assert headless["metadata"]["annotations"] == {
        "service.beta.openshift.io/serving-cert-secret-name": "c-collector-headless-tls"
    }
    monitoring = find(result, "Service", "c-collector-monitoring")
    assert monitoring["spec"]["ports"] == [{"name": "monitoring", "port": 9090}]
    assert monitoring["metadata"]["labels"]["app.kubernetes.io/name"] == "c-collector-monitoring"
    assert monitoring["spec"]["selector"] == base["spec"]["selector"]


# --- the target allocator -------------------------------------------------------------------------------------------


def test_allocator_deployment() -> None:
    result = built(allocating(prometheusCR=CR, env=[{"name": "X", "value": "1"}], replicas=2))
    deployment = find(result, "Deployment", "c-targetallocator")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "c-targetallocator"
    assert (
        deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "opentelemetry-targetallocator"
    )
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "c-targetallocator"
    made = pod["containers"][0]
    assert made["name"] == "ta-container"
    assert made["image"] == DEFAULT_ALLOCATOR_IMAGE
    assert made["args"] == ["allocator", "--config", "/conf/targetallocator.yaml"]
    assert made["env"] == [
        {"name": "X", "value": "1"},
        {"name": "OTELCOL_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        # upstream's e2e targetallocator-features asserts this list exactly
        {
            "name": "GOMEMLIMIT",
            "valueFrom": {"resourceFieldRef": {"containerName": "ta-container", "resource": "limits.memory"}},
        },
        {
            "name": "GOMAXPROCS",
            "valueFrom": {"resourceFieldRef": {"containerName": "ta-container", "resource": "limits.cpu"}},
        },
    ]
    assert made["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert made["livenessProbe"] == {"httpGet": {"path": "/livez", "port": 8080}}
    assert made["readinessProbe"] == {"httpGet": {"path": "/readyz", "port": 8080}}
    assert made["volumeMounts"] == [{"name": "ta-internal", "mountPath": "/conf"}]
    assert pod["volumes"] == [
        {
            "name": "ta-internal",
            "configMap": {
                "name": "c-targetallocator",
                "items": [{"key": "targetallocator.yaml", "path": "targetallocator.yaml"}],
            },
        }
    ]


def test_allocator_image() -> None:
    def image(resource: dict[str, Any], options: BuildOptions | None = None) -> str:
        deployment = find(built(resource, options=options), "Deployment", "c-targetallocator")
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    assert image(allocating(), BuildOptions(allocator_image="registry.local/otel-operator:dev")) == (
        "registry.local/otel-operator:dev"
    )
    assert image(allocating(image="mine:2")) == "mine:2"
    labels = find(built(allocating(image="mine:2")), "Deployment", "c-targetallocator")["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == "2"


def test_allocator_service() -> None:
    service = find(built(allocating()), "Service", "c-targetallocator")
    assert service["spec"]["ports"] == [{"name": "targetallocation", "port": 80, "targetPort": "http"}]
    assert (
        service["spec"]["selector"]
        == find(built(allocating()), "Deployment", "c-targetallocator")["spec"]["selector"]["matchLabels"]
    )


@pytest.mark.parametrize(
    ("resource", "account"),
    [
        (allocating(serviceAccount="c-targetallocator"), "c-targetallocator"),
        (collector(serviceAccount="c-collector"), "c-collector"),
    ],
    ids=["allocator", "collector"],
)
def test_naming_the_account_the_operator_makes_keeps_it_made(resource: dict[str, Any], account: str) -> None:
    """Upstream's e2e targetallocator-cr sets spec.serviceAccount to the generated name and asserts the account still
    exists: not made any more, it was pruned from under the pods that run as it."""
    assert ("ServiceAccount", account) in kinds(built(resource))


def test_named_allocator_service_account_is_bound_not_created() -> None:
    result = built(allocating(serviceAccount="ta"))
    assert ("ServiceAccount", "c-targetallocator") not in kinds(result)
    binding = find(result, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ta", "namespace": "ns"}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "otel-operator:targetallocator:ns:c",
    }


def test_rbac_can_be_left_to_the_user() -> None:
    found = {k for k, _ in kinds(built(allocating(), options=BuildOptions(allocator_rbac=False)))}
    assert not found & {"ClusterRole", "ClusterRoleBinding"}


READ = ["get", "list", "watch"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"config": {"scrape_configs": [{"job_name": "static"}]}},
            [{"apiGroups": [""], "resources": ["pods"], "verbs": READ}],
        ),
        (
            {
                "config": {
                    "scrape_configs": [
                        {
                            "job_name": "k",
                            "kubernetes_sd_configs": [{"role": "endpointslice", "attach_metadata": {"node": True}}],
                        }
                    ]
                }
            },
            [
                {"apiGroups": [""], "resources": ["nodes", "pods", "services"], "verbs": READ},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
            ],
        ),
        (
            {
                "config": {
                    "scrape_configs": [
                        {
                            "job_name": "k",
                            "kubernetes_sd_configs": [
                                {"role": "pod", "attach_metadata": {"deployment": True, "namespace": True}}
                            ],
                        }
                    ]
                }
            },
            [
                {"apiGroups": [""], "resources": ["namespaces", "pods"], "verbs": READ},
                {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": READ},
            ],
        ),
        (
            {"prometheus_cr": {"enabled": True}},
            [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps", "endpoints", "namespaces", "nodes", "pods", "secrets", "services"],
                    "verbs": READ,
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
                # a Probe's or a ScrapeConfig's role ingress
                {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": READ},
                {
                    "apiGroups": ["monitoring.coreos.com"],
                    "resources": ["podmonitors", "probes", "scrapeconfigs", "servicemonitors"],
                    "verbs": READ,
                },
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
                # its Accepted condition on a monitor it skips
                {
                    "apiGroups": ["monitoring.coreos.com"],
                    "resources": [
                        "servicemonitors/status",
                        "podmonitors/status",
                        "probes/status",
                        "scrapeconfigs/status",
                    ],
                    "verbs": ["patch"],
                },
            ],
        ),
    ],
)
def test_allocator_rbac_is_what_the_config_needs(config: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    assert rules(config) == expected


def test_allocator_cluster_role_from_a_build() -> None:
    role = find(built(allocating(prometheusCR=CR)), "ClusterRole")
    assert "namespace" not in role["metadata"]
    assert {
        "apiGroups": ["monitoring.coreos.com"],
        "resources": ["podmonitors", "probes", "scrapeconfigs", "servicemonitors"],
        "verbs": READ,
    } in role["rules"]
    plain = find(built(allocating()), "ClusterRole")
    assert plain["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": READ}]


# --- linking a collector to a TargetAllocator -----------------------------------------------------------------------


def target_allocator(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {"name": "shared", "namespace": "ns", "labels": {"team": "a"}},
        "spec": spec,
    }


def test_a_labelled_collector_uses_the_named_allocator() -> None:
    resource = collector(
        mode="statefulset", config=SCRAPING_CONFIG, labels={"opentelemetry.io/target-allocator": "shared"}
    )
    result = built(resource)
    assert not [n for _, n in kinds(result) if "targetallocator" in n]
    config_map = next(o for o in result.objects if o["kind"] == "ConfigMap")
    receiver = yaml.safe_load(config_map["data"]["collector.yaml"])["receivers"]["prometheus"]
    assert receiver == {
        "config": {},
        "target_allocator": {
            "endpoint": "http://shared-targetallocator:80",
            "interval": "30s",
            "collector_id": "${POD_NAME}",
        },
    }


def test_a_target_allocator_with_its_collector() -> None:
    linked = collector(
        "scrapers", mode="statefulset", config=SCRAPING_CONFIG, labels={"opentelemetry.io/target-allocator": "shared"}
    )
    result = built(
        target_allocator(
            prometheusCR=CR, livenessProbe={"httpGet": {"path": "/livez", "port": 8080}, "periodSeconds": 5}
        ),
        collector=linked,
    )
    assert kinds(result) == [
        ("ServiceAccount", "shared-targetallocator"),
        ("ClusterRole", "otel-operator:targetallocator:ns:shared"),
        ("ClusterRoleBinding", "otel-operator:targetallocator:ns:shared"),
        ("ConfigMap", "shared-targetallocator"),
        ("Service", "shared-targetallocator"),
        ("Deployment", "shared-targetallocator"),
        ("PodDisruptionBudget", "shared-targetallocator"),
        ("NetworkPolicy", "shared-targetallocator-networkpolicy"),
    ]
    assert result.warnings == ()
    assert result.selector == ""
    text = find(result, "ConfigMap")["data"]["targetallocator.yaml"]
    assert "app.kubernetes.io/instance: ns.scrapers" in text
    assert "job_name: app" in text
    made = find(result, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert made["livenessProbe"]["periodSeconds"] == 5
    assert find(result, "Deployment")["metadata"]["labels"]["team"] == "a"


def test_a_target_allocator_without_a_collector() -> None:
    result = build(target_allocator(scrapeConfigs=[{"job_name": "j", "static_configs": [{"targets": ["a:1"]}]}]))
    assert result.ok
    assert "collector_selector: null" in find(result, "ConfigMap")["data"]["targetallocator.yaml"]
    assert any("no collector uses this allocator" in w for w in result.warnings)
    nothing = build(target_allocator())  # built as upstream builds it (e2e targetallocator-cr), with a warning
    assert nothing.ok
    assert "collector_selector: null" in find(nothing, "ConfigMap")["data"]["targetallocator.yaml"]
    assert any("nothing to allocate" in w and "spec.scrapeConfigs" in w for w in nothing.warnings)


def test_the_embedded_allocator_is_a_target_allocator_the_collector_owns() -> None:
    result = built(allocating())
    [ta] = [o for o in result.objects if o["kind"] == "TargetAllocator"]
    assert (ta["apiVersion"], ta["metadata"]["name"], ta["metadata"]["namespace"]) == (
        "opentelemetry.io/v1alpha1",
        "c",
        "ns",
    )
    assert ta["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "opentelemetry-operator"
    assert {o["kind"] for o in result.allocator_objects} >= {"Deployment", "ConfigMap", "Service"}
    assert not [o for o in result.objects if o["metadata"]["name"] == "c-targetallocator"]


def test_without_the_gate_the_collector_owns_its_allocator_directly() -> None:
    """`--feature-gates=-operator.collector.targetallocatorcr`: the layout before upstream 0.127."""
    options = BuildOptions(feature_gates=featuregates.DEFAULT_ENABLED - {featuregates.TARGET_ALLOCATOR_CR})
    result = built(allocating(), options=options)
    assert not result.allocator_objects
    found = {k for k, _ in kinds(result)}
    assert "TargetAllocator" not in found
    assert "Deployment" in found
