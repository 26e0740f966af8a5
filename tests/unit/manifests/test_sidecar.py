"""Sidecar mode as upstream 0.158 (`pkg/sidecar`): the inject annotation's precedence between pod and namespace,
which collector a pod gets (or the warning why none), and the pod with the collector's `otc-container` injected:
its contents, its position (native sidecar or container), what the pod keeps, and idempotency."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from otel_operator.admission.names import INJECT_ANNOTATION
from otel_operator.manifests import defaults, featuregates
from otel_operator.manifests.build import collector_params
from otel_operator.manifests.configmap import collector_config_map
from otel_operator.manifests.model import BuildOptions
from otel_operator.manifests.params import CollectorParams
from otel_operator.manifests.podspec import collector_container
from otel_operator.manifests.sidecar import (
    INJECTED_LABEL,
    Choice,
    Owner,
    Owners,
    Target,
    annotation_value,
    choose,
    has_sidecar,
    inject,
    native_sidecars,
    owner_name,
    remove,
    resource_attributes_env,
    sidecar_container,
    target,
)

from .common import BASE_CONFIG, collector

HEALTH_CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "extensions": {"health_check": {}},
    "service": {**BASE_CONFIG["service"], "extensions": ["health_check"]},
}
NO_GOLANG_FLAGS = BuildOptions(feature_gates=featuregates.DEFAULT_ENABLED - {featuregates.GOLANG_FLAGS})


def namespace(name: str = "ns", value: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if value is not None:
        meta["annotations"] = {INJECT_ANNOTATION: value}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def pod(value: str | None = None, *, ns: str | None = "ns", **spec: Any) -> dict[str, Any]:
    """A pod as a ReplicaSet creates it: generateName, no name yet."""
    meta: dict[str, Any] = {"generateName": "app-7d9f-", "labels": {"app": "demo"}}
    if ns is not None:
        meta["namespace"] = ns
    if value is not None:
        meta["annotations"] = {INJECT_ANNOTATION: value}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "app", "image": "app:1"}], **spec},
    }


def params(resource: dict[str, Any], options: BuildOptions | None = None) -> CollectorParams:
    return collector_params(defaults.collector(resource), options or BuildOptions())


def sidecar(name: str = "c", ns: str = "ns", **spec: Any) -> dict[str, Any]:
    return collector(name, ns, mode="sidecar", **spec)


def env_names(container: dict[str, Any]) -> list[str]:
    return [e["name"] for e in container["env"]]


def injected(result: dict[str, Any]) -> dict[str, Any]:
    matches = [
        c
        for key in ("initContainers", "containers")
        for c in result["spec"].get(key) or []
        if c["name"] == "otc-container"
    ]
    assert len(matches) == 1, matches
    container: dict[str, Any] = matches[0]
    return container


# --- the annotation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_pod", "on_namespace", "expected"),
    [
        (None, None, ""),
        ("true", None, "true"),
        (None, "true", "true"),
        (None, "false", "false"),
        (None, "c", "c"),
        (None, "other/c", "other/c"),
        ("false", "true", "false"),  # the pod opts out of its namespace's sidecar
        ("false", "c", "false"),
        ("c", "true", "c"),  # the pod's collector wins
        ("c", "false", "c"),
        ("c", "d", "c"),
        ("true", "c", "c"),  # the pod's "true" takes the namespace's collector
        ("true", "other/c", "other/c"),
        ("true", "true", "true"),
        ("true", "false", "true"),  # the namespace's "false" does not override the pod's "true"
        ("TRUE", "c", "c"),  # "true" and "false" in any case
        ("True", "FALSE", "True"),
        ("", "c", "c"),  # an empty value is no value
    ],
)
def test_annotation_precedence(on_pod: str | None, on_namespace: str | None, expected: str) -> None:
    assert annotation_value(pod(on_pod), namespace("ns", on_namespace)) == expected


@pytest.mark.parametrize(
    ("on_pod", "on_namespace", "expected"),
    [
        (None, None, None),
        ("false", "true", None),
        ("FALSE", None, None),
        ("true", None, Target("ns")),
        (None, "true", Target("ns")),
        ("c", None, Target("ns", "c")),
        ("other/c", None, Target("other", "c")),
        ("true", "other/c", Target("other", "c")),
    ],
)
def test_target(on_pod: str | None, on_namespace: str | None, expected: Target | None) -> None:
    assert target(pod(on_pod), namespace("ns", on_namespace)) == expected


def test_target_namespace_of_a_pod_without_one_is_its_namespace_objects() -> None:
    assert target(pod("true", ns=None), namespace("apps")) == Target("apps")
    assert target(pod("c", ns=None), namespace("apps")) == Target("apps", "c")


# --- choosing the collector -----------------------------------------------------------------------------------------

A = sidecar("a")
B = sidecar("b")
DEPLOYED = collector("d", "ns", mode="deployment")
UNSET = collector("u", "ns")  # no mode: deployment
ELSEWHERE = sidecar("x", "other")


@pytest.mark.parametrize(
    ("on_pod", "on_namespace", "collectors", "expected"),
    [
        ("true", None, [A], A),
        ("true", None, [A, DEPLOYED, UNSET], A),  # only sidecar-mode collectors count
        (None, "true", [A], A),  # the namespace asks for every pod in it
        ("b", None, [A, B], B),
        ("ns/b", None, [A, B], B),  # a namespaced name in the pod's own namespace
        ("other/x", None, [A, ELSEWHERE], ELSEWHERE),  # another namespace, as upstream allows
        ("true", "b", [A, B], B),  # the pod's "true" takes the namespace's name
        ("a", "b", [A, B], A),  # the pod's name wins
        ("true", "false", [A], A),
    ],
)
def test_choose_injects(
    on_pod: str | None, on_namespace: str | None, collectors: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    assert choose(pod(on_pod), namespace("ns", on_namespace), collectors) == Choice(collector=expected)


@pytest.mark.parametrize(
    ("on_pod", "on_namespace", "expected"),
    [
        (None, None, Choice()),  # nobody asked: no warning either
        ("false", None, Choice(opt_out=True)),
        ("false", "true", Choice(opt_out=True)),
        (None, "false", Choice(opt_out=True)),
        ("False", "a", Choice(opt_out=True)),
    ],
)
def test_choose_without_asking(on_pod: str | None, on_namespace: str | None, expected: Choice) -> None:
    assert choose(pod(on_pod), namespace("ns", on_namespace), [A]) == expected


def test_choose_leaves_a_pod_that_has_the_sidecar_already() -> None:
    # upstream checks this before looking for the collector: no warning, even when none would fit
    has_it = pod("true", containers=[{"name": "app"}, {"name": "otc-container"}])
    native = pod("true", initContainers=[{"name": "otc-container", "restartPolicy": "Always"}])
    assert choose(has_it, namespace(), []) == Choice()
    assert choose(native, namespace(), [A, B]) == Choice()


@pytest.mark.parametrize(
    ("on_pod", "on_namespace", "collectors", "says"),
    [
        ("true", None, [], ['namespace "ns" has no OpenTelemetryCollector with mode sidecar', "spec.mode: sidecar"]),
        ("true", None, [DEPLOYED, UNSET], ["has no OpenTelemetryCollector with mode sidecar"]),
        ("true", None, [ELSEWHERE], ["has no OpenTelemetryCollector with mode sidecar", "<namespace>/<name>"]),
        ("true", None, [B, A], ["several OpenTelemetryCollectors with mode sidecar (a, b)", "the name of the one"]),
        ("missing", None, [A], ['no OpenTelemetryCollector "ns/missing"', "correct the annotation"]),
        ("x", None, [ELSEWHERE], ['no OpenTelemetryCollector "ns/x"']),  # a bare name is the pod's namespace
        ("other/a", None, [A], ['no OpenTelemetryCollector "other/a"']),
        ("d", None, [A, DEPLOYED], ['"ns/d" has mode deployment, not sidecar', "name a collector"]),
        ("u", None, [UNSET], ['"ns/u" has mode deployment, not sidecar']),
        ("true", "missing", [A], ['no OpenTelemetryCollector "ns/missing"', 'on namespace "ns"']),
        (None, "true", [], ['"true" on namespace "ns"']),
    ],
)
def test_choose_warns_when_nothing_fits(
    on_pod: str | None, on_namespace: str | None, collectors: list[dict[str, Any]], says: list[str]
) -> None:
    choice = choose(pod(on_pod), namespace("ns", on_namespace), collectors)
    assert choice.collector is None
    assert not choice.opt_out
    assert choice.warning is not None
    value = annotation_value(pod(on_pod), namespace("ns", on_namespace))
    # the pod, the annotation and its value, and that the pod is still created
    for part in ["pod ns/app-7d9f-*", f'{INJECT_ANNOTATION}: "{value}"', "created without a sidecar", *says]:
        assert part in choice.warning, (part, choice.warning)


def test_choose_warning_says_where_the_value_is_set() -> None:
    on_pod = choose(pod("missing"), namespace(), [])
    assert on_pod.warning is not None
    assert '"missing" on the pod' in on_pod.warning
    named = pod("true")
    named["metadata"]["name"] = "web-0"
    choice = choose(named, namespace("ns", "true"), [])
    assert choice.warning is not None
    assert "pod ns/web-0 " in choice.warning


# --- the injected container -----------------------------------------------------------------------------------------


def test_container_is_the_collectors_with_the_config_in_the_environment() -> None:
    p = params(sidecar(config=HEALTH_CONFIG, args={"feature-gates": "+a", "config": "ignored"}))
    workload = collector_container(p)
    container = sidecar_container(p, "ns")
    assert container["name"] == "otc-container"
    assert container["image"] == workload["image"] == p.image
    assert container["ports"] == workload["ports"]  # the same ports, `metrics` among them
    assert {"name": "metrics", "containerPort": 8888, "protocol": "TCP"} in container["ports"]
    # upstream appends the env config after the sorted spec.args; spec.args' own "config" stays out
    assert container["args"] == ["--feature-gates=+a", "--config=env:OTEL_CONFIG"]
    assert "volumeMounts" not in container  # no ConfigMap volume to mount
    assert {"name": "OTEL_CONFIG", "value": p.config_text} in container["env"]
    assert container["livenessProbe"] == container["readinessProbe"] == workload["readinessProbe"]


def test_config_in_the_environment_is_the_config_maps() -> None:
    p = params(sidecar(config=HEALTH_CONFIG))
    config_map = collector_config_map(p)
    container = sidecar_container(p, "ns")
    value = next(e["value"] for e in container["env"] if e["name"] == "OTEL_CONFIG")
    assert value == config_map["data"]["collector.yaml"]


@pytest.mark.parametrize(
    ("options", "user_env", "expected"),
    [
        (
            BuildOptions(),
            [],
            [
                "POD_NAME",
                "GOMEMLIMIT",
                "GOMAXPROCS",
                "OTEL_CONFIG",
                "OTEL_RESOURCE_ATTRIBUTES_POD_NAME",
                "OTEL_RESOURCE_ATTRIBUTES_POD_UID",
                "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME",
                "OTEL_RESOURCE_ATTRIBUTES",
            ],
        ),
        (  # upstream's e2e (create-pm-prometheus-exporters) without the golang flags
            NO_GOLANG_FLAGS,
            [],
            [
                "POD_NAME",
                "OTEL_CONFIG",
                "OTEL_RESOURCE_ATTRIBUTES_POD_NAME",
                "OTEL_RESOURCE_ATTRIBUTES_POD_UID",
                "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME",
                "OTEL_RESOURCE_ATTRIBUTES",
            ],
        ),
        (
            NO_GOLANG_FLAGS,
            [{"name": "A", "value": "1"}],
            ["A", "POD_NAME", "OTEL_CONFIG", "OTEL_RESOURCE_ATTRIBUTES_POD_NAME"],
        ),
        (  # the user's own resource attributes: upstream adds none of its own
            NO_GOLANG_FLAGS,
            [{"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "service.name=x"}],
            ["OTEL_RESOURCE_ATTRIBUTES", "POD_NAME", "OTEL_CONFIG"],
        ),
    ],
)
def test_container_env_order(options: BuildOptions, user_env: list[dict[str, Any]], expected: list[str]) -> None:
    container = sidecar_container(params(sidecar(env=user_env), options), "ns")
    assert env_names(container)[: len(expected)] == expected
    if user_env and user_env[0]["name"] == "OTEL_RESOURCE_ATTRIBUTES":
        assert env_names(container) == expected
        assert container["env"][0] == user_env[0]


@pytest.mark.parametrize(
    ("owners", "value"),
    [
        (
            Owners(),
            "k8s.namespace.name=my-ns,k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME),"
            "k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME),k8s.pod.uid=$(OTEL_RESOURCE_ATTRIBUTES_POD_UID)",
        ),
        (  # upstream's attributes_test values
            Owners(Owner("my-replicaset", "uuid-replicaset"), Owner("my-deployment", "uuid-dep")),
            "k8s.deployment.name=my-deployment,k8s.deployment.uid=uuid-dep,k8s.namespace.name=my-ns,"
            "k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME),k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME),"
            "k8s.pod.uid=$(OTEL_RESOURCE_ATTRIBUTES_POD_UID),k8s.replicaset.name=my-replicaset,"
            "k8s.replicaset.uid=uuid-replicaset",
        ),
        (
            Owners(replica_set=Owner("rs", "u1")),  # a bare ReplicaSet
            "k8s.namespace.name=my-ns,k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME),"
            "k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME),k8s.pod.uid=$(OTEL_RESOURCE_ATTRIBUTES_POD_UID),"
            "k8s.replicaset.name=rs,k8s.replicaset.uid=u1",
        ),
    ],
)
def test_resource_attributes(owners: Owners, value: str) -> None:
    assert resource_attributes_env("my-ns", owners) == [
        {"name": "OTEL_RESOURCE_ATTRIBUTES_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "OTEL_RESOURCE_ATTRIBUTES_POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": value},
    ]


def test_container_copies_the_collectors_container_fields() -> None:
    fields: dict[str, Any] = {
        "resources": {"limits": {"memory": "128Mi"}},
        "securityContext": {"runAsNonRoot": True},
        "imagePullPolicy": "Always",
        "image": "my/collector:1",
        "envFrom": [{"secretRef": {"name": "creds"}}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "ports": [{"name": "extra", "port": 9999}],
    }
    container = sidecar_container(params(sidecar(**fields)), "ns")
    for key in ("resources", "securityContext", "imagePullPolicy", "image", "envFrom", "volumeMounts"):
        assert container[key] == fields[key], key
    assert {"name": "extra", "containerPort": 9999, "protocol": "TCP"} in container["ports"]


@pytest.mark.parametrize(
    ("config", "startup"),
    [(HEALTH_CONFIG, {"httpGet": {"path": "/", "port": 13133}}), (BASE_CONFIG, None)],
)
def test_native_sidecar_starts_up_on_its_readiness(config: dict[str, Any], startup: dict[str, Any] | None) -> None:
    p = params(sidecar(config=config, startupProbe={"periodSeconds": 99}))
    native = sidecar_container(p, "ns")
    assert native["restartPolicy"] == "Always"
    assert native.get("startupProbe") == startup
    classic = sidecar_container(p, "ns", native=False)
    assert "restartPolicy" not in classic
    assert classic.get("startupProbe") == collector_container(p).get("startupProbe")


# --- the pod --------------------------------------------------------------------------------------------------------


def test_inject_native_sidecar() -> None:
    p = params(sidecar())
    before = pod("true", initContainers=[{"name": "my-init"}], volumes=[{"name": "cache", "emptyDir": {}}])
    after = inject(before, p)
    assert after["spec"]["containers"] == before["spec"]["containers"]
    assert [c["name"] for c in after["spec"]["initContainers"]] == ["my-init", "otc-container"]
    assert after["spec"]["initContainers"][-1] == sidecar_container(p, "ns")
    assert after["spec"]["volumes"] == [{"name": "cache", "emptyDir": {}}]  # no ConfigMap volume
    assert after["metadata"]["labels"] == {"app": "demo", INJECTED_LABEL: "ns.c"}
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]


def test_inject_classic_sidecar() -> None:
    p = params(sidecar())
    before = pod("true", initContainers=[{"name": "my-init"}])
    after = inject(before, p, native=False)
    assert [c["name"] for c in after["spec"]["containers"]] == ["app", "otc-container"]
    assert after["spec"]["containers"][-1] == sidecar_container(p, "ns", native=False)
    assert after["spec"]["initContainers"] == [{"name": "my-init"}]
    assert "volumes" not in after["spec"]


@pytest.mark.parametrize("native", [True, False])
def test_inject_adds_the_collectors_init_containers_and_volumes(native: bool) -> None:
    p = params(
        sidecar(
            initContainers=[{"name": "prepare", "image": "busybox"}],
            volumes=[{"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {"medium": "Memory"}}],
            volumeMounts=[{"name": "data", "mountPath": "/data"}],
            configmaps=[{"name": "extra", "mountpath": "x"}],
        )
    )
    before = pod("true", initContainers=[{"name": "my-init"}], volumes=[{"name": "cache", "emptyDir": {}}])
    after = inject(before, p, native=native)
    init = [c["name"] for c in after["spec"]["initContainers"]]
    assert init == (["my-init", "prepare", "otc-container"] if native else ["my-init", "prepare"])
    # the pod's volumes first; its "cache" stays the pod's (a second one would have the pod refused)
    assert after["spec"]["volumes"] == [
        {"name": "cache", "emptyDir": {}},
        {"name": "data", "emptyDir": {}},
        {"name": "configmap-extra", "configMap": {"name": "extra"}},
    ]
    mounts = injected(after)["volumeMounts"]
    assert mounts == [
        {"name": "data", "mountPath": "/data"},
        {"name": "configmap-extra", "mountPath": "/var/conf/x/configmap-extra"},
    ]
    volumes = {v["name"] for v in after["spec"]["volumes"]}
    assert {m["name"] for m in mounts} <= volumes  # every mount has its volume


def test_inject_uses_the_pods_namespace_and_owners() -> None:
    p = params(sidecar())
    owners = Owners(Owner("app-7d9f", "u-rs"), Owner("app", "u-dep"))
    after = inject(pod("true", ns=None), p, namespace="apps", owners=owners)
    value = next(e["value"] for e in injected(after)["env"] if e["name"] == "OTEL_RESOURCE_ATTRIBUTES")
    assert "k8s.namespace.name=apps" in value
    assert "k8s.deployment.name=app" in value
    assert "k8s.replicaset.uid=u-rs" in value
    from_pod = inject(pod("true", ns="web"), p)
    value = next(e["value"] for e in injected(from_pod)["env"] if e["name"] == "OTEL_RESOURCE_ATTRIBUTES")
    assert "k8s.namespace.name=web" in value


def test_injected_label_names_the_collector_in_63_characters() -> None:
    # upstream's pod_test: Truncate("%s.%s", 63, namespace, name) shortens the namespace first
    name = "otelcol-sample-with-a-name-that-is-longer-than-sixty-three-characters"
    after = inject(pod("true"), params(sidecar(name, "some-app")))
    assert (
        after["metadata"]["labels"][INJECTED_LABEL] == "otelcol-sample-with-a-name-that-is-longer-than-sixty-three-cha"
    )
    other = inject(pod("other/c"), params(sidecar("c", "other")))
    assert other["metadata"]["labels"][INJECTED_LABEL] == "other.c"


def _pods() -> list[dict[str, Any]]:
    return [
        pod("true"),
        pod("true", ns=None),
        pod("true", initContainers=[{"name": "my-init"}], volumes=[{"name": "v", "emptyDir": {}}]),
        {"metadata": {}, "spec": {"containers": [{"name": "app"}]}},
    ]


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("before", _pods())
def test_inject_is_idempotent_and_pure(before: dict[str, Any], native: bool) -> None:
    p = params(sidecar(volumes=[{"name": "data", "emptyDir": {}}], initContainers=[{"name": "prepare"}]))
    kept = copy.deepcopy(before)
    once = inject(before, p, native=native)
    assert before == kept  # the input is not changed
    assert has_sidecar(once)
    assert inject(once, p, native=native) == once
    # nor by the other kind of sidecar, nor by another collector
    assert inject(once, p, native=not native) == once
    assert inject(once, params(sidecar("other"))) == once


@pytest.mark.parametrize(
    "brought",
    [
        {"containers": [{"name": "app"}, {"name": "otc-container", "image": "mine"}]},
        {"containers": [{"name": "app"}], "initContainers": [{"name": "otc-container", "image": "mine"}]},
    ],
)
def test_inject_leaves_a_pod_with_its_own_otc_container(brought: dict[str, Any]) -> None:
    before = {"metadata": {"labels": {"app": "x"}}, "spec": brought}
    assert inject(before, params(sidecar())) == before


def test_remove_takes_out_every_otc_container() -> None:
    before = pod(
        "false",
        containers=[{"name": "app"}, {"name": "otc-container"}, {"name": "otc-container"}],
        initContainers=[{"name": "something"}, {"name": "otc-container"}],
    )
    after = remove(before)
    assert after["spec"]["containers"] == [{"name": "app"}]
    assert after["spec"]["initContainers"] == [{"name": "something"}]
    assert not has_sidecar(after)
    assert before["spec"]["containers"][1] == {"name": "otc-container"}  # the input is not changed
    plain = pod("false")
    assert remove(plain) == plain


def test_remove_undoes_inject() -> None:
    before = pod("true", initContainers=[{"name": "my-init"}])
    for native in (True, False):
        after = remove(inject(before, params(sidecar()), native=native))
        assert after["spec"]["containers"] == before["spec"]["containers"]
        assert after["spec"]["initContainers"] == before["spec"]["initContainers"]


@pytest.mark.parametrize(
    ("version", "native"),
    [((1, 27), False), ((1, 28), False), ((1, 29), True), ((1, 34), True), ((2, 0), True)],
)
def test_native_sidecars_from_kubernetes_1_29(version: tuple[int, int], native: bool) -> None:
    assert native_sidecars(version) is native


@pytest.mark.parametrize(
    ("obj", "kind", "expected"),
    [
        ({"metadata": {}}, "ReplicaSet", None),
        ({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "rs-1"}]}}, "ReplicaSet", "rs-1"),
        ({"metadata": {"ownerReferences": [{"kind": "Job", "name": "j"}]}}, "ReplicaSet", None),
        (
            {"metadata": {"ownerReferences": [{"kind": "Node", "name": "n"}, {"kind": "Deployment", "name": "d"}]}},
            "Deployment",
            "d",
        ),
    ],
)
def test_owner_name(obj: dict[str, Any], kind: str, expected: str | None) -> None:
    assert owner_name(obj, kind) == expected


def test_choose_then_inject_end_to_end() -> None:
    """What the handler does: the chosen collector's params, then inject."""
    choice = choose(pod(None), namespace("ns", "true"), [DEPLOYED, A])
    assert choice.collector is A
    after = inject(pod(None), params(dict(choice.collector)))
    assert injected(after)["restartPolicy"] == "Always"
    assert after["metadata"]["labels"][INJECTED_LABEL] == "ns.a"
