"""Jobs' service-discovery configs → shared discovery indexes → (job, group) updates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from otel_operator.allocator.discovery import (
    DiscoveryConfigError,
    DiscoveryRouter,
    JobDiscovery,
    KubernetesSD,
    job_discovery,
)
from otel_operator.prom.discovery.common import AttachMetadata, Role
from otel_operator.prom.discovery.index import DiscoveryIndex
from otel_operator.prom.model import TargetGroup

M = "__meta_kubernetes_"


# --------------------------------------------------------------------------------------------------- API objects


def pod(ns: str, name: str, ip: str, node: str = "node-1", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}", "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "hostIP": "192.168.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def service(ns: str, name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def endpoint_slice(ns: str, name: str, svc: str, pods: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {
                "kubernetes.io/service-name": svc,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": svc, "controller": True}],
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "name": p, "namespace": ns, "uid": f"uid-{ns}-{p}"},
            }
            for p, ip in pods.items()
        ],
    }


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


class Cluster:
    """The shell's object caches, by kind; records which kinds the router asked for."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {
            "Pod": [
                pod("shop", "web-0", "10.0.0.1", app="web"),
                pod("shop", "web-1", "10.0.0.2", app="web"),
                pod("bank", "api-0", "10.0.1.1", app="api"),
            ],
            "Service": [service("shop", "web", tier="front"), service("bank", "api", tier="back")],
            "EndpointSlice": [
                endpoint_slice("shop", "web-x1", "web", {"web-0": "10.0.0.1", "web-1": "10.0.0.2"}),
                endpoint_slice("bank", "api-x1", "api", {"api-0": "10.0.1.1"}),
            ],
            "Node": [node("node-1", zone="a")],
        }
        self.asked: list[str] = []

    def __call__(self, kind: str) -> Iterable[dict[str, Any]]:
        self.asked.append(kind)
        return list(self.objects.get(kind, []))


def sd(role: str, *names: str, own: bool = False, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": role, **extra}
    if names or own:
        entry["namespaces"] = {"names": list(names), "own_namespace": own}
    return entry


def discovery(job: str, *entries: dict[str, Any], own_namespace: str = "default", **config: Any) -> JobDiscovery:
    return job_discovery(job, {"job_name": job, "kubernetes_sd_configs": list(entries), **config}, own_namespace)


def sources(updates: Iterable[tuple[str, TargetGroup]]) -> set[tuple[str, str]]:
    return {(job, g.source) for job, g in updates}


def indexed(role: Role, cluster: Cluster, attach: AttachMetadata | None = None) -> dict[str, TargetGroup]:
    """What a standalone index, fed the same objects in dependency order, holds: the expected groups."""
    index = DiscoveryIndex(role, attach)
    for kind in ("Node", "Service", "Pod", "EndpointSlice"):
        for obj in cluster.objects[kind]:
            index.upsert(obj, kind)
    return {g.source: g for g in index.groups()}


# --------------------------------------------------------------------------------------------------- job_discovery


@pytest.mark.parametrize(
    ("namespaces", "own", "expected"),
    [
        (None, False, None),
        ({"names": ["shop", "bank"]}, False, {"shop", "bank"}),
        ({"names": []}, False, None),  # empty: every namespace, as in Prometheus
        ({}, False, None),
        ({"own_namespace": True}, False, {"observability"}),
        ({"names": ["shop"], "own_namespace": True}, False, {"shop", "observability"}),
        ({"names": ["shop"], "own_namespace": False}, False, {"shop"}),
        ({"names": ["shop", "shop"]}, False, {"shop"}),
    ],
)
def test_namespaces_of_an_entry(namespaces: dict[str, Any] | None, own: bool, expected: set[str] | None) -> None:
    entry: dict[str, Any] = {"role": "endpointslice"}
    if namespaces is not None:
        entry["namespaces"] = namespaces
    (k8s,) = discovery("j", entry, own_namespace="observability").kubernetes
    assert k8s.namespaces == (frozenset(expected) if expected is not None else None)


@pytest.mark.parametrize("role", ["pod", "service", "endpoints", "endpointslice"])
def test_supported_roles(role: str) -> None:
    (k8s,) = discovery("j", {"role": role}).kubernetes
    assert k8s.role == Role(role)
    assert k8s.position == 0
    assert k8s.attach == AttachMetadata()


def test_attach_metadata_and_ignored_connection_fields() -> None:
    entry = {
        "role": "pod",
        "attach_metadata": {"node": True, "namespace": "true"},
        "api_server": "https://elsewhere:6443",
        "kubeconfig_file": "",
        "follow_redirects": True,
        "enable_http2": True,
        "tls_config": {"insecure_skip_verify": True},
    }
    (k8s,) = discovery("j", entry).kubernetes
    assert k8s.attach == AttachMetadata(node=True, namespace=True)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"kubernetes_sd_configs": [{"role": "nodes"}]}, "kubernetes_sd_configs[0].role"),
        # a metadata prefix, not a role Prometheus discovers
        ({"kubernetes_sd_configs": [{"role": "pod"}, {"role": "namespace"}]}, "kubernetes_sd_configs[1].role"),
        ({"kubernetes_sd_configs": [{}]}, "kubernetes_sd_configs[0].role"),
        ({"kubernetes_sd_configs": [{"role": "Pod"}]}, "kubernetes_sd_configs[0].role"),
        (  # role pod takes pod and node selectors only (Prometheus's rule)
            {"kubernetes_sd_configs": [{"role": "pod", "selectors": [{"role": "service", "label": "app=web"}]}]},
            "kubernetes_sd_configs[0].selectors[0].role",
        ),
        (
            {"kubernetes_sd_configs": [{"role": "pod", "selectors": [{"role": "pod", "label": "app in web"}]}]},
            "kubernetes_sd_configs[0].selectors[0].label",
        ),
        (
            {"kubernetes_sd_configs": [{"role": "pod", "selectors": [{"role": "pod", "field": "spec.image=x"}]}]},
            "kubernetes_sd_configs[0].selectors[0].field",
        ),
        ({"kubernetes_sd_configs": [{"role": "pod", "namespace": {"names": ["a"]}}]}, "namespace"),
        ({"kubernetes_sd_configs": [{"role": "pod", "attach_metadata": {"nodes": True}}]}, "attach_metadata"),
        ({"kubernetes_sd_configs": [{"role": "pod", "attach_metadata": {"node": "yes"}}]}, "attach_metadata.node"),
        ({"kubernetes_sd_configs": [{"role": "pod", "attach_metadata": ["node"]}]}, "attach_metadata"),
        ({"kubernetes_sd_configs": [{"role": "pod", "namespaces": ["shop"]}]}, "kubernetes_sd_configs[0].namespaces"),
        ({"kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": "shop"}}]}, "namespaces.names"),
        ({"kubernetes_sd_configs": [{"role": "pod", "namespaces": {"own_namespace": 1}}]}, "namespaces.own_namespace"),
        ({"kubernetes_sd_configs": ["pod"]}, "kubernetes_sd_configs[0]"),
        ({"kubernetes_sd_configs": {"role": "pod"}}, "kubernetes_sd_configs"),
        ({"file_sd_configs": [{"files": ["/etc/targets.txt"]}]}, "file_sd_configs[0].files[0]"),
        ({"http_sd_configs": [{"url": "ftp://sd"}]}, "http_sd_configs[0].url"),
        ({"http_sd_configs": [{"url": "http://sd", "oauth2": {}}]}, "http_sd_configs[0].oauth2"),
        ({"consul_sd_configs": [{"server": "consul:8500"}]}, "consul_sd_configs"),
        ({"ec2_sd_configs": [{"region": "eu"}], "static_configs": [{"targets": ["h:1"]}]}, "ec2_sd_configs"),
        ({"dns_sd_configs": [{"names": ["x"], "type": "A"}]}, "dns_sd_configs[0].port"),
        ({"static_configs": [{"targets": ["http://h:1/metrics"]}]}, "static_configs"),
        ({"static_configs": [{"targets": ["h:1"], "labels": {"": "x"}}]}, "static_configs"),
        ({"static_configs": [{"target": ["h:1"]}]}, "static_configs"),
    ],
)
def test_what_cannot_be_discovered_is_an_error_naming_job_and_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(DiscoveryConfigError) as err:
        job_discovery("serviceMonitor/shop/web/0", {"job_name": "serviceMonitor/shop/web/0", **config})
    message = str(err.value)
    assert "serviceMonitor/shop/web/0" in message
    assert field in message


def test_an_empty_list_of_another_sd_kind_is_no_discovery_at_all() -> None:
    assert job_discovery("j", {"job_name": "j", "file_sd_configs": [], "kubernetes_sd_configs": None}) == JobDiscovery()


def test_static_configs_become_groups() -> None:
    config = {
        "job_name": "otel-collector",
        "static_configs": [
            {"targets": ["0.0.0.0:8888", "0.0.0.0:9999"], "labels": {"env": "prod"}},
            {"targets": ["collector:8888"]},
        ],
    }
    assert job_discovery("otel-collector", config).static == (
        TargetGroup(
            "static_configs/0", ({"__address__": "0.0.0.0:8888"}, {"__address__": "0.0.0.0:9999"}), {"env": "prod"}
        ),
        TargetGroup("static_configs/1", ({"__address__": "collector:8888"},), {}),
    )


def test_a_url_like_static_target_is_accepted_when_relabel_rules_may_fix_it() -> None:
    config = {
        "job_name": "probe",
        "static_configs": [{"targets": ["https://example.com/health"]}],
        "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"}],
    }
    (g,) = job_discovery("probe", config).static
    assert g.targets == ({"__address__": "https://example.com/health"},)


def test_entries_keep_their_positions() -> None:
    d = discovery("j", sd("endpointslice", "shop"), sd("pod"), sd("endpointslice", "bank"))
    assert [(k.position, k.role, k.namespaces) for k in d.kubernetes] == [
        (0, Role.ENDPOINTSLICE, frozenset({"shop"})),
        (1, Role.POD, None),
        (2, Role.ENDPOINTSLICE, frozenset({"bank"})),
    ]
    assert d.kubernetes[0].index_key == d.kubernetes[2].index_key


def test_an_entry_keeps_groups_of_its_namespaces_and_wraps_their_source() -> None:
    k8s = KubernetesSD(3, Role.POD, AttachMetadata(), frozenset({"shop"}))
    assert k8s.keeps(TargetGroup("pod/shop/web-0"))
    assert not k8s.keeps(TargetGroup("pod/bank/api-0"))
    assert not k8s.keeps(TargetGroup("pod/shopping/x"))
    g = TargetGroup("pod/shop/web-0", ({"__address__": "h:1"},), {"a": "b"})
    assert k8s.wrap(g) == TargetGroup("kubernetes_sd_configs/3/pod/shop/web-0", g.targets, g.labels)


# --------------------------------------------------------------------------------------------------- the router


def test_a_new_job_gets_the_groups_of_the_objects_already_listed() -> None:
    cluster = Cluster()
    router = DiscoveryRouter(cluster)
    out = router.set_jobs({"web": discovery("web", sd("endpointslice", "shop"))})
    expected = indexed(Role.ENDPOINTSLICE, cluster)["endpointslice/shop/web-x1"]
    assert out == {
        "web": [TargetGroup("kubernetes_sd_configs/0/endpointslice/shop/web-x1", expected.targets, expected.labels)]
    }
    (g,) = out["web"]
    assert [t["__address__"] for t in g.targets] == ["10.0.0.1:8080", "10.0.0.2:8080"]
    assert all(t[M + "pod_label_app"] == "web" for t in g.targets)  # from the Pods
    assert g.labels[M + "service_label_tier"] == "front"  # from the Service
    assert g.labels[M + "namespace"] == "shop"


@pytest.mark.parametrize(
    ("entry", "role", "attach", "wanted"),
    [
        (sd("pod"), Role.POD, None, ["pod/bank/api-0", "pod/shop/web-0", "pod/shop/web-1"]),
        (sd("pod", "bank"), Role.POD, None, ["pod/bank/api-0"]),
        (sd("service"), Role.SERVICE, None, ["svc/bank/api", "svc/shop/web"]),
        (
            sd("endpointslice", "bank", "shop"),
            Role.ENDPOINTSLICE,
            None,
            ["endpointslice/bank/api-x1", "endpointslice/shop/web-x1"],
        ),
        (
            sd("endpointslice", attach_metadata={"node": True}),
            Role.ENDPOINTSLICE,
            AttachMetadata(node=True),
            ["endpointslice/bank/api-x1", "endpointslice/shop/web-x1"],
        ),
    ],
)
def test_initial_groups_equal_a_standalone_index_over_the_same_objects(
    entry: dict[str, Any], role: Role, attach: AttachMetadata | None, wanted: list[str]
) -> None:
    cluster = Cluster()
    out = DiscoveryRouter(cluster).set_jobs({"j": discovery("j", entry)})
    expected = indexed(role, cluster, attach)
    got = {g.source.removeprefix("kubernetes_sd_configs/0/"): g for g in out["j"]}
    assert sorted(got) == wanted
    for source, g in got.items():
        assert (g.targets, dict(g.labels)) == (expected[source].targets, dict(expected[source].labels))
    if attach is not None and attach.node:
        assert all(t[M + "node_label_zone"] == "a" for g in out["j"] for t in g.targets)


def test_two_entries_of_one_job_do_not_clash() -> None:
    cluster = Cluster()
    router = DiscoveryRouter(cluster)
    out = router.set_jobs({"j": discovery("j", sd("endpointslice", "shop"), sd("endpointslice", "shop", "bank"))})
    assert sorted(g.source for g in out["j"]) == [
        "kubernetes_sd_configs/0/endpointslice/shop/web-x1",
        "kubernetes_sd_configs/1/endpointslice/bank/api-x1",
        "kubernetes_sd_configs/1/endpointslice/shop/web-x1",
    ]
    updates = router.upsert("Pod", pod("shop", "web-0", "10.0.0.1", app="web", version="2"))
    assert sources(updates) == {
        ("j", "kubernetes_sd_configs/0/endpointslice/shop/web-x1"),
        ("j", "kubernetes_sd_configs/1/endpointslice/shop/web-x1"),
    }
    first, second = (g for _, g in updates)
    assert first.targets == second.targets


def test_static_groups_come_with_the_job() -> None:
    router = DiscoveryRouter(Cluster())
    d = discovery("j", sd("pod", "bank"), static_configs=[{"targets": ["h:1"], "labels": {"env": "x"}}])
    out = router.set_jobs({"j": d})
    assert [g.source for g in out["j"]] == ["static_configs/0", "kubernetes_sd_configs/0/pod/bank/api-0"]
    assert out["j"][0] == TargetGroup("static_configs/0", ({"__address__": "h:1"},), {"env": "x"})


def make_router() -> tuple[Cluster, DiscoveryRouter]:
    cluster = Cluster()
    router = DiscoveryRouter(cluster)
    router.set_jobs(
        {
            "slices-shop": discovery("slices-shop", sd("endpointslice", "shop")),
            "slices-bank": discovery("slices-bank", sd("endpointslice", "bank")),
            "pods": discovery("pods", sd("pod")),
            "services": discovery("services", sd("service")),
            "static": job_discovery("static", {"job_name": "static", "static_configs": [{"targets": ["h:1"]}]}),
        }
    )
    return cluster, router


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        (
            "Pod",
            pod("shop", "web-0", "10.0.0.1", app="web", version="2"),
            {
                ("slices-shop", "kubernetes_sd_configs/0/endpointslice/shop/web-x1"),
                ("pods", "kubernetes_sd_configs/0/pod/shop/web-0"),
            },
        ),
        (
            "Pod",
            pod("bank", "api-0", "10.0.1.1", app="api", version="2"),
            {
                ("slices-bank", "kubernetes_sd_configs/0/endpointslice/bank/api-x1"),
                ("pods", "kubernetes_sd_configs/0/pod/bank/api-0"),
            },
        ),
        ("Pod", pod("bank", "lonely", "10.0.1.9"), {("pods", "kubernetes_sd_configs/0/pod/bank/lonely")}),
        ("Pod", pod("shop", "web-0", "10.0.0.1", app="web"), set()),  # nothing discovery reads changed
        (
            "EndpointSlice",
            endpoint_slice("bank", "api-x1", "api", {"api-0": "10.0.1.1", "web-0": "10.0.1.2"}),
            {("slices-bank", "kubernetes_sd_configs/0/endpointslice/bank/api-x1")},
        ),
        (
            "EndpointSlice",
            endpoint_slice("other", "x", "x", {"p": "10.9.0.1"}),
            set(),  # no job reads namespace "other" through endpointslices
        ),
        (
            "Service",
            service("shop", "web", tier="edge"),
            {
                ("slices-shop", "kubernetes_sd_configs/0/endpointslice/shop/web-x1"),
                ("services", "kubernetes_sd_configs/0/svc/shop/web"),
            },
        ),
        ("Node", node("node-1", zone="b"), set()),  # nobody attaches node metadata
        ("ConfigMap", {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}}, set()),
    ],
)
def test_an_upsert_reaches_exactly_the_jobs_that_read_it(
    kind: str, obj: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    _, router = make_router()
    assert sources(router.upsert(kind, obj)) == expected


def test_deletes_and_relists_are_routed_as_removals() -> None:
    cluster, router = make_router()
    updates = router.delete("EndpointSlice", "shop", "web-x1")
    assert updates == [("slices-shop", TargetGroup("kubernetes_sd_configs/0/endpointslice/shop/web-x1"))]
    assert router.delete("EndpointSlice", "shop", "web-x1") == []

    updates = router.delete("Pod", "bank", "api-0")
    assert sources(updates) == {
        ("slices-bank", "kubernetes_sd_configs/0/endpointslice/bank/api-x1"),
        ("pods", "kubernetes_sd_configs/0/pod/bank/api-0"),
    }
    pods_update = next(g for job, g in updates if job == "pods")
    assert pods_update.targets == ()

    # a re-list without web-1: its pod group goes, and the slice that referred to it is rebuilt
    cluster.objects["Pod"] = [p for p in cluster.objects["Pod"] if p["metadata"]["name"] != "web-1"]
    updates = router.replace("Pod", cluster.objects["Pod"])
    assert ("pods", "kubernetes_sd_configs/0/pod/shop/web-1") in sources(updates)
    assert ("pods", "kubernetes_sd_configs/0/pod/bank/api-0") in sources(updates)  # re-added
    assert all(job != "services" for job, _ in updates)


def test_the_watched_kinds_follow_the_jobs() -> None:
    cluster = Cluster()
    router = DiscoveryRouter(cluster)
    assert router.kinds == frozenset()
    router.set_jobs({"p": discovery("p", sd("pod"))})
    assert router.kinds == {"Pod"}
    router.set_jobs(
        {"p": discovery("p", sd("pod")), "e": discovery("e", sd("endpointslice", attach_metadata={"node": True}))}
    )
    assert router.kinds == {"Pod", "Service", "EndpointSlice", "Node"}
    router.set_jobs({"s": discovery("s", sd("service"))})
    assert router.kinds == {"Service"}
    assert router.upsert("Pod", pod("shop", "new", "10.0.0.9")) == []
    router.set_jobs({})
    assert router.kinds == frozenset()


def test_one_index_serves_every_job_with_the_same_role() -> None:
    cluster = Cluster()
    router = DiscoveryRouter(cluster)
    jobs = {f"serviceMonitor/shop/m{i}/0": discovery(f"m{i}", sd("endpointslice", "shop")) for i in range(20)}
    router.set_jobs(jobs)
    assert sorted(cluster.asked) == ["EndpointSlice", "Pod", "Service"]  # one list read per kind, not per job
    updates = router.upsert("Pod", pod("shop", "web-1", "10.0.0.2", app="web", version="3"))
    assert {job for job, _ in updates} == set(jobs)
    assert len(updates) == 20


def test_set_jobs_answers_only_new_and_changed_jobs() -> None:
    cluster = Cluster()
    router = DiscoveryRouter(cluster)
    a, b = discovery("a", sd("pod", "shop")), discovery("b", sd("pod", "bank"))
    assert set(router.set_jobs({"a": a, "b": b})) == {"a", "b"}
    assert router.set_jobs({"a": a, "b": b}) == {}
    assert router.set_jobs({"a": discovery("a", sd("pod", "shop")), "b": b}) == {}  # equal, not identical
    out = router.set_jobs({"a": discovery("a", sd("pod", "bank")), "b": b})
    assert list(out) == ["a"]
    assert [g.source for g in out["a"]] == ["kubernetes_sd_configs/0/pod/bank/api-0"]
    # a removed job is simply no longer routed
    router.set_jobs({"b": b})
    assert {job for job, _ in router.upsert("Pod", pod("bank", "api-0", "10.0.1.1", app="api", v="9"))} == {"b"}


def test_own_namespace_selects_the_allocators_namespace() -> None:
    cluster = Cluster()
    cluster.objects["Pod"].append(pod("observability", "collector-0", "10.0.9.1"))
    router = DiscoveryRouter(cluster)
    out = router.set_jobs({"self": discovery("self", sd("pod", own=True), own_namespace="observability")})
    assert [g.source for g in out["self"]] == ["kubernetes_sd_configs/0/pod/observability/collector-0"]
    assert router.upsert("Pod", pod("shop", "x", "10.0.0.99")) == []


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        # every entry names its namespaces: the union is where to watch
        ([{"role": "endpointslice", "namespaces": {"names": ["shop"]}}], {"EndpointSlice": {"shop"}}),
        (
            [
                {"role": "endpointslice", "namespaces": {"names": ["shop"]}},
                {"role": "endpointslice", "namespaces": {"names": ["bank"]}},
            ],
            {"EndpointSlice": {"shop", "bank"}, "Pod": {"shop", "bank"}, "Service": {"shop", "bank"}},
        ),
        # one entry reading every namespace makes the kind cluster-wide; another kind keeps its namespaces
        (
            [{"role": "pod", "namespaces": {"names": ["shop"]}}, {"role": "service"}],
            {"Pod": {"shop"}, "Service": None},
        ),
        # attach_metadata.namespace reads the Namespace objects of the namespaces read
        (
            [{"role": "pod", "namespaces": {"names": ["bank"]}, "attach_metadata": {"namespace": True}}],
            {"Pod": {"bank"}, "Namespace": {"bank"}},
        ),
        # nodes are in no namespace
        ([{"role": "node"}], {"Node": None}),
        # a kind nobody reads: no namespaces
        ([{"role": "service", "namespaces": {"names": ["shop"]}}], {"Pod": set()}),
    ],
)
def test_the_namespaces_each_kind_is_read_in(
    entries: list[dict[str, Any]], expected: dict[str, set[str] | None]
) -> None:
    router = DiscoveryRouter(Cluster())
    router.set_jobs({f"j{i}": discovery(f"j{i}", entry) for i, entry in enumerate(entries)})
    for kind, namespaces in expected.items():
        assert router.namespaces(kind) == (None if namespaces is None else frozenset(namespaces)), kind
