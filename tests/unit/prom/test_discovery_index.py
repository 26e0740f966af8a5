"""The incremental index: each event returns exactly the groups whose content changed, and nothing else."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from otel_operator.prom.discovery.common import AttachMetadata, Role, namespace_metadata_labels, node_metadata_labels
from otel_operator.prom.discovery.endpointslice import build_endpointslice
from otel_operator.prom.discovery.index import DiscoveryIndex
from otel_operator.prom.discovery.pod import pod_info
from otel_operator.prom.discovery.service import service_info
from otel_operator.prom.model import TargetGroup

M = "__meta_kubernetes_"
NS = "shop"


def pod(
    name: str, ip: str = "10.0.0.1", node: str = "node-1", owner: tuple[str, str] | None = None, **labels: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {"podIP": ip, "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def endpoint_slice(name: str, service: str, pods: dict[str, str], node: str = "node-1") -> dict[str, Any]:
    return {
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": NS, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": True},
                "nodeName": node,
                "targetRef": {"kind": "Pod", "name": pod_name, "namespace": NS},
            }
            for pod_name, ip in pods.items()
        ],
    }


def endpoints(name: str, pods: dict[str, str]) -> dict[str, Any]:
    addresses = [{"ip": ip, "targetRef": {"kind": "Pod", "name": p, "namespace": NS}} for p, ip in pods.items()]
    return {
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": NS},
        "subsets": [{"addresses": addresses, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}],
    }


def service(name: str, **labels: str) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    }


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"kind": "Node", "metadata": {"name": name, "labels": labels}}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def sources(groups: list[TargetGroup]) -> list[str]:
    return [g.source for g in groups]


@pytest.fixture
def slices() -> DiscoveryIndex:
    """Two services, a slice each; slice a refers to pods a0 and a1, slice b to b0."""
    index = DiscoveryIndex(Role.ENDPOINTSLICE)
    for obj in (
        service("a"),
        service("b"),
        pod("a0", "10.0.0.1"),
        pod("a1", "10.0.0.2"),
        pod("b0", "10.0.0.3"),
        endpoint_slice("a-1", "a", {"a0": "10.0.0.1", "a1": "10.0.0.2"}),
        endpoint_slice("b-1", "b", {"b0": "10.0.0.3"}),
    ):
        index.upsert(obj)
    return index


# --------------------------------------------------------------------------- what each event rebuilds


def test_a_pod_change_rebuilds_only_the_slices_that_refer_to_it(slices: DiscoveryIndex) -> None:
    (group,) = slices.upsert(pod("a1", "10.0.0.2", version="2"))
    assert group.source == "endpointslice/shop/a-1"
    assert group.targets[1][M + "pod_label_version"] == "2"


def test_the_returned_group_is_what_the_pure_builder_makes(slices: DiscoveryIndex) -> None:
    (group,) = slices.upsert(pod("a1", "10.0.0.2", version="2"))
    pods = {p.key: p for p in (pod_info(pod("a0", "10.0.0.1")), pod_info(pod("a1", "10.0.0.2", version="2")))}
    expected = build_endpointslice(
        endpoint_slice("a-1", "a", {"a0": "10.0.0.1", "a1": "10.0.0.2"}), service=service_info(service("a")), pods=pods
    )
    assert group == expected
    assert slices.group("endpointslice/shop/a-1") == expected


def test_a_pod_update_that_discovery_does_not_read_returns_nothing(slices: DiscoveryIndex) -> None:
    obj = pod("a0", "10.0.0.1")
    obj["metadata"]["resourceVersion"] = "999"
    obj["status"]["containerStatuses"] = [{"name": "app", "restartCount": 3, "ready": True}]
    obj["status"]["conditions"].append({"type": "ContainersReady", "status": "True"})
    assert slices.upsert(obj) == []


def test_a_slice_update_that_changes_nothing_returns_nothing(slices: DiscoveryIndex) -> None:
    obj = endpoint_slice("b-1", "b", {"b0": "10.0.0.3"})
    obj["metadata"]["resourceVersion"] = "5"
    assert slices.upsert(obj) == []


def test_a_service_change_rebuilds_only_its_slices(slices: DiscoveryIndex) -> None:
    (group,) = slices.upsert(service("b", tier="back"))
    assert group.source == "endpointslice/shop/b-1"
    assert group.labels[M + "service_label_tier"] == "back"
    assert slices.upsert(service("b", tier="back")) == []
    (group,) = slices.delete("Service", NS, "b")
    assert M + "service_name" not in group.labels


def test_a_slice_that_arrives_before_its_pod_is_completed_when_the_pod_arrives() -> None:
    index = DiscoveryIndex("endpointslice")
    (first,) = index.upsert(endpoint_slice("s", "svc", {"p": "10.0.0.9"}))
    assert M + "pod_name" not in first.targets[0]
    (second,) = index.upsert(pod("p", "10.0.0.9"))
    assert second.targets[0][M + "pod_name"] == "p"


def test_deleting_a_pod_rebuilds_its_slices_without_pod_labels(slices: DiscoveryIndex) -> None:
    (group,) = slices.delete("Pod", NS, "b0")
    assert M + "pod_name" not in group.targets[0]
    assert slices.delete("Pod", NS, "b0") == []


def test_deleting_a_slice_returns_an_empty_group_once(slices: DiscoveryIndex) -> None:
    assert slices.delete("EndpointSlice", NS, "a-1") == [TargetGroup("endpointslice/shop/a-1")]
    assert slices.delete("EndpointSlice", NS, "a-1") == []
    assert sources(slices.groups()) == ["endpointslice/shop/b-1"]
    assert slices.upsert(pod("a0", "10.0.0.1", changed="yes")) == []  # nobody reads a0 any more


def test_a_slice_that_drops_a_pod_stops_listening_to_it(slices: DiscoveryIndex) -> None:
    slices.upsert(endpoint_slice("a-1", "a", {"a0": "10.0.0.1"}))
    assert slices.upsert(pod("a1", "10.0.0.2", changed="yes")) == []
    assert sources(slices.upsert(pod("a0", "10.0.0.1", changed="yes"))) == ["endpointslice/shop/a-1"]


def test_a_slice_that_moves_to_another_service_follows_it(slices: DiscoveryIndex) -> None:
    slices.upsert(endpoint_slice("b-1", "a", {"b0": "10.0.0.3"}))
    assert sources(slices.upsert(service("a", x="1"))) == ["endpointslice/shop/a-1", "endpointslice/shop/b-1"]
    assert slices.upsert(service("b", x="1")) == []


def test_objects_of_kinds_the_role_does_not_read_are_ignored(slices: DiscoveryIndex) -> None:
    assert slices.upsert(node("node-1", zone="a")) == []
    assert slices.upsert(namespace(NS, team="x")) == []
    assert slices.upsert(endpoints("a", {"a0": "10.0.0.1"})) == []
    assert slices.delete("Node", "", "node-1") == []


def test_upsert_takes_the_kind_from_the_argument_when_the_object_has_none() -> None:
    index = DiscoveryIndex(Role.SERVICE)
    obj = service("web")
    del obj["kind"]
    with pytest.raises(ValueError, match="kind"):
        index.upsert(obj)
    assert sources(index.upsert(obj, "Service")) == ["svc/shop/web"]


def test_unknown_roles_are_refused() -> None:
    with pytest.raises(ValueError, match="role"):
        DiscoveryIndex("namespace")  # a metadata prefix, not a role


# --------------------------------------------------------------------------- attached metadata


def test_node_metadata_follows_node_changes_for_the_slices_on_it() -> None:
    index = DiscoveryIndex(Role.ENDPOINTSLICE, AttachMetadata(node=True))
    index.upsert(endpoint_slice("s1", "svc", {"p1": "10.0.0.1"}, node="node-1"))
    index.upsert(endpoint_slice("s2", "svc", {"p2": "10.0.0.2"}, node="node-2"))
    (group,) = index.upsert(node("node-1", zone="a"))
    assert group.source == "endpointslice/shop/s1"
    assert group.targets[0][M + "node_label_zone"] == "a"
    assert index.upsert(node("node-1", zone="a")) == []
    (group,) = index.delete("Node", "", "node-1")
    assert M + "node_name" not in group.targets[0]


def test_namespace_metadata_rebuilds_every_group_in_the_namespace() -> None:
    index = DiscoveryIndex(Role.SERVICE, AttachMetadata(namespace=True))
    index.upsert(service("a"))
    index.upsert(service("b"))
    other = service("c")
    other["metadata"]["namespace"] = "elsewhere"
    index.upsert(other)
    changed = index.upsert(namespace(NS, team="x"))
    assert sources(changed) == ["svc/shop/a", "svc/shop/b"]
    assert changed[0].labels[M + "namespace_label_team"] == "x"
    assert index.upsert(namespace(NS, team="x")) == []
    assert len(index.delete("Namespace", "", NS)) == 2


def test_role_pod_with_node_metadata_waits_for_the_node() -> None:
    index = DiscoveryIndex(Role.POD, AttachMetadata(node=True))
    assert index.upsert(pod("p", node="node-1")) == []  # its node is not known: no group yet
    (group,) = index.upsert(node("node-1", zone="a"))
    assert group.labels[M + "node_label_zone"] == "a"
    assert index.delete("Node", "", "node-1") == [TargetGroup("pod/shop/p")]


def test_replicaset_changes_relabel_its_pods_and_their_slices() -> None:
    index = DiscoveryIndex(Role.ENDPOINTSLICE, AttachMetadata(deployment=True))
    assert index.kinds == {"EndpointSlice", "Pod", "Service", "ReplicaSet"}
    index.upsert(pod("p", owner=("ReplicaSet", "web-abc")))
    index.upsert(endpoint_slice("s", "svc", {"p": "10.0.0.1"}))
    rs: dict[str, Any] = {"kind": "ReplicaSet", "metadata": {"name": "web-abc", "namespace": NS}}
    assert index.upsert(rs) == []  # a bare ReplicaSet names no Deployment
    rs["metadata"]["ownerReferences"] = [{"kind": "Deployment", "name": "web", "controller": True}]
    (group,) = index.upsert(rs)
    assert group.targets[0][M + "pod_deployment_name"] == "web"
    assert (
        index.upsert(pod("p", owner=("ReplicaSet", "web-abc"), v="2"))[0].targets[0][M + "pod_deployment_name"] == "web"
    )
    (group,) = index.delete("ReplicaSet", NS, "web-abc")
    assert M + "pod_deployment_name" not in group.targets[0]


def test_job_and_cronjob_names_in_role_pod() -> None:
    index = DiscoveryIndex(Role.POD, AttachMetadata(job=True, cronjob=True))
    (group,) = index.upsert(pod("p", owner=("Job", "nightly-1")))
    assert group.labels[M + "pod_job_name"] == "nightly-1"
    job: dict[str, Any] = {"kind": "Job", "metadata": {"name": "nightly-1", "namespace": NS}}
    job["metadata"]["ownerReferences"] = [{"kind": "CronJob", "name": "nightly", "controller": True}]
    (group,) = index.upsert(job)
    assert group.labels[M + "pod_cronjob_name"] == "nightly"


@pytest.mark.parametrize(
    ("role", "attach", "kinds"),
    [
        (Role.POD, AttachMetadata(), {"Pod"}),
        (Role.POD, AttachMetadata(node=True, namespace=True), {"Pod", "Node", "Namespace"}),
        (Role.SERVICE, AttachMetadata(node=True, deployment=True), {"Service"}),  # neither applies to services
        (Role.SERVICE, AttachMetadata(namespace=True), {"Service", "Namespace"}),
        (Role.ENDPOINTS, AttachMetadata(), {"Endpoints", "Service", "Pod"}),
        (Role.ENDPOINTSLICE, AttachMetadata(job=True), {"EndpointSlice", "Service", "Pod"}),
        (Role.ENDPOINTSLICE, AttachMetadata(cronjob=True), {"EndpointSlice", "Service", "Pod", "Job"}),
    ],
)
def test_kinds_a_role_reads(role: Role, attach: AttachMetadata, kinds: set[str]) -> None:
    assert DiscoveryIndex(role, attach).kinds == kinds


# --------------------------------------------------------------------------- roles endpoints, service, pod


def test_endpoints_role_reads_the_service_of_the_same_name_and_its_pods() -> None:
    index = DiscoveryIndex(Role.ENDPOINTS)
    index.upsert(endpoints("web", {"p": "10.0.0.1"}))
    (group,) = index.upsert(service("web", tier="front"))
    assert group.labels[M + "service_label_tier"] == "front"
    assert index.upsert(service("other")) == []
    (group,) = index.upsert(pod("p", "10.0.0.1"))
    assert group.targets[0][M + "pod_name"] == "p"


def test_service_role_upsert_and_delete() -> None:
    index = DiscoveryIndex(Role.SERVICE)
    (group,) = index.upsert(service("web"))
    assert group.targets[0]["__address__"] == "web.shop.svc:80"
    assert index.upsert(pod("p")) == []
    assert index.delete("Service", NS, "web") == [TargetGroup("svc/shop/web")]


def test_pod_role_without_ip_emits_nothing_until_it_gets_one() -> None:
    index = DiscoveryIndex(Role.POD)
    assert index.upsert(pod("p", ip="")) == []
    (group,) = index.upsert(pod("p"))
    assert group.targets[0]["__address__"] == "10.0.0.1:8080"
    assert index.upsert(pod("p", ip="")) == [TargetGroup("pod/shop/p")]  # evicted: the group goes away


# --------------------------------------------------------------------------- re-list, consistency, leaks


def test_replace_deletes_what_is_gone_and_reports_each_group_once(slices: DiscoveryIndex) -> None:
    changed = slices.replace("Pod", [pod("a0", "10.0.0.1", v="2"), pod("a1", "10.0.0.2", v="2")])
    assert sources(changed) == ["endpointslice/shop/a-1", "endpointslice/shop/b-1"]  # a-1 once; b-1 lost b0
    assert M + "pod_name" not in changed[1].targets[0]


def test_replace_of_cluster_scoped_kinds() -> None:
    index = DiscoveryIndex(Role.POD, AttachMetadata(node=True))
    index.upsert(pod("p", node="node-1"))
    assert sources(index.replace("Node", [node("node-1"), node("node-2")])) == ["pod/shop/p"]
    assert index.replace("Node", [node("node-2")]) == [TargetGroup("pod/shop/p")]


def scratch(objects: dict[tuple[str, str], dict[str, Any]], attach: AttachMetadata) -> dict[str, TargetGroup]:
    """The groups a fresh index builds from the final objects."""
    index = DiscoveryIndex(Role.ENDPOINTSLICE, attach)
    for obj in objects.values():
        index.upsert(obj)
    return {g.source: g for g in index.groups()}


def test_any_order_of_events_ends_where_a_fresh_index_starts() -> None:
    rng = random.Random(7)
    attach = AttachMetadata(node=True, namespace=True)
    index = DiscoveryIndex(Role.ENDPOINTSLICE, attach)
    current: dict[str, TargetGroup] = {}
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    pods = {f"p{i}": f"10.0.0.{i}" for i in range(6)}
    for step in range(400):
        choice = rng.randrange(6)
        if choice == 0:
            name = rng.choice(list(pods))
            obj = pod(name, pods[name], node=f"node-{rng.randrange(2)}", v=str(rng.randrange(3)))
        elif choice == 1:
            members = dict(rng.sample(sorted(pods.items()), rng.randrange(4)))
            obj = endpoint_slice(
                f"s{rng.randrange(4)}", f"svc{rng.randrange(2)}", members, node=f"node-{rng.randrange(3)}"
            )
        elif choice == 2:
            obj = service(f"svc{rng.randrange(2)}", v=str(rng.randrange(3)))
        elif choice == 3:
            obj = node(f"node-{rng.randrange(3)}", zone=str(rng.randrange(2)))
        elif choice == 4:
            obj = namespace(NS, v=str(rng.randrange(3)))
        else:
            kind, name = rng.choice(sorted(objects)) if objects else ("Pod", "p0")
            key = (kind, name)
            objects.pop(key, None)
            for group in index.delete(kind, "" if kind in ("Node", "Namespace") else NS, name):
                current[group.source] = group
            continue
        objects[(obj["kind"], obj["metadata"]["name"])] = copy.deepcopy(obj)
        for group in index.upsert(obj):
            current[group.source] = group
        if step % 50 == 49:
            # the groups returned so far, applied in order, are exactly what a fresh index builds
            assert {s: g for s, g in current.items() if g.targets or g.labels} == scratch(objects, attach)


def test_reverse_indexes_are_emptied_when_everything_is_deleted(slices: DiscoveryIndex) -> None:
    for kind, name in (("EndpointSlice", "a-1"), ("EndpointSlice", "b-1"), ("Pod", "a0"), ("Pod", "a1")):
        slices.delete(kind, NS, name)
    slices.delete("Pod", NS, "b0")
    slices.delete("Service", NS, "a")
    slices.delete("Service", NS, "b")
    # white-box: nothing may linger, or a long-running allocator leaks memory with every churned pod
    assert slices.groups() == []
    for index in (slices._by_pod, slices._by_service, slices._by_node, slices._by_namespace, slices._reads):
        assert not index
    assert not slices._pods
    assert not slices._services
    assert not slices._objects


def test_node_and_namespace_lookups_are_shared_not_copied() -> None:
    # the builders read node labels through the index's own maps, so one Node serves every slice on it
    index = DiscoveryIndex(Role.ENDPOINTSLICE, AttachMetadata(node=True, namespace=True))
    index.upsert(node("node-1", zone="a"))
    index.upsert(namespace(NS, team="x"))
    (group,) = index.upsert(endpoint_slice("s", "svc", {"p": "10.0.0.1"}))
    node_labels = node_metadata_labels(node("node-1", zone="a"))
    assert {k: v for k, v in group.targets[0].items() if k.startswith(M + "node_")} == node_labels
    assert {k: v for k, v in group.labels.items() if k.startswith(M + "namespace_")} == namespace_metadata_labels(
        namespace(NS, team="x")
    )
