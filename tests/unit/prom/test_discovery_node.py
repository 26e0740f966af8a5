"""Role node: one group per Node, its kubelet as the one target; and the index keeping node groups current."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.prom.discovery.common import AttachMetadata, Role
from otel_operator.prom.discovery.index import DiscoveryIndex
from otel_operator.prom.discovery.node import build_node, node_source, preferred_address
from otel_operator.prom.model import TargetGroup

M = "__meta_kubernetes_"
N = M + "node_"


def make_node(
    name: str = "worker-1",
    addresses: list[tuple[str, str]] | None = None,
    port: int | None = 10250,
    *,
    provider_id: str | None = None,
    conditions: list[dict[str, str]] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "addresses": [
            {"type": t, "address": a} for t, a in (addresses if addresses is not None else [("InternalIP", "10.1.0.5")])
        ]
    }
    if port is not None:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
    if conditions is not None:
        status["conditions"] = conditions
    spec = {"providerID": provider_id} if provider_id is not None else {}
    return {"kind": "Node", "metadata": {"name": name, **meta}, "spec": spec, "status": status}


def test_a_node_is_one_target_at_its_kubelet() -> None:
    node = make_node(
        provider_id="aws:///eu-west-1a/i-0abc",
        labels={"topology.kubernetes.io/zone": "eu-west-1a", "Unschedulable": "true"},
        annotations={"node.alpha.kubernetes.io/ttl": "0"},
        conditions=[{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}],
    )
    assert build_node(node) == TargetGroup(
        "node/worker-1",
        ({"__address__": "10.1.0.5:10250", "instance": "worker-1", N + "address_InternalIP": "10.1.0.5"},),
        {
            N + "name": "worker-1",
            N + "provider_id": "aws:///eu-west-1a/i-0abc",
            N + "condition_ready": "true",
            N + "condition_memorypressure": "false",
            N + "label_topology_kubernetes_io_zone": "eu-west-1a",
            N + "labelpresent_topology_kubernetes_io_zone": "true",
            N + "label_Unschedulable": "true",  # label keys keep their case; condition types are lower-cased
            N + "labelpresent_Unschedulable": "true",
            N + "annotation_node_alpha_kubernetes_io_ttl": "0",
            N + "annotationpresent_node_alpha_kubernetes_io_ttl": "true",
        },
    )


def test_the_provider_id_label_is_there_even_when_empty() -> None:
    assert build_node(make_node()).labels == {N + "name": "worker-1", N + "provider_id": ""}


@pytest.mark.parametrize(
    ("addresses", "address"),
    [
        ([("Hostname", "w1"), ("ExternalIP", "203.0.113.9"), ("InternalIP", "10.1.0.5")], "10.1.0.5"),
        ([("Hostname", "w1"), ("ExternalDNS", "w1.example.com"), ("InternalDNS", "w1.internal")], "w1.internal"),
        ([("Hostname", "w1"), ("ExternalDNS", "w1.example.com"), ("ExternalIP", "203.0.113.9")], "203.0.113.9"),
        ([("Hostname", "w1"), ("ExternalDNS", "w1.example.com")], "w1.example.com"),
        ([("Hostname", "w1"), ("LegacyHostIP", "192.0.2.1")], "192.0.2.1"),
        ([("Hostname", "w1")], "w1"),
        ([("InternalIP", "10.1.0.5"), ("InternalIP", "10.1.0.6")], "10.1.0.5"),  # the first of a type
        ([("SomethingElse", "x")], None),
        ([], None),
    ],
)
def test_address_preference(addresses: list[tuple[str, str]], address: str | None) -> None:
    first: dict[str, str] = {}
    for kind, value in addresses:
        first.setdefault(kind, value)
    assert preferred_address(first) == address
    group = build_node(make_node(addresses=addresses))
    if address is None:  # Prometheus sends no group for it: a fresh Prometheus has none
        assert group == TargetGroup("node/worker-1")
    else:
        assert group.targets[0]["__address__"] == f"{address}:10250"


def test_a_node_without_status_has_an_empty_group() -> None:
    assert build_node({"metadata": {"name": "worker-1"}}) == TargetGroup("node/worker-1")


def test_one_address_label_per_type_with_the_first_address_of_each() -> None:
    node = make_node(
        addresses=[("InternalIP", "10.1.0.5"), ("InternalIP", "fd00::5"), ("Hostname", "w1"), ("Weird-Type", "z")]
    )
    (target,) = build_node(node).targets
    assert target == {
        "__address__": "10.1.0.5:10250",
        "instance": "worker-1",
        N + "address_InternalIP": "10.1.0.5",
        N + "address_Hostname": "w1",
        N + "address_Weird_Type": "z",  # the type is sanitised into the label name
    }


@pytest.mark.parametrize(
    ("addresses", "port", "address"),
    [
        ([("InternalIP", "fd00::5")], 10250, "[fd00::5]:10250"),  # IPv6 is bracketed
        ([("InternalIP", "10.1.0.5")], None, "10.1.0.5:0"),  # no kubelet endpoint: port 0, as in Prometheus
        ([("InternalIP", "10.1.0.5")], 10255, "10.1.0.5:10255"),
    ],
)
def test_kubelet_port(addresses: list[tuple[str, str]], port: int | None, address: str) -> None:
    assert build_node(make_node(addresses=addresses, port=port)).targets[0]["__address__"] == address


@pytest.mark.parametrize(
    ("conditions", "labels"),
    [
        ([{"type": "Ready", "status": "Unknown"}], {N + "condition_ready": "unknown"}),
        ([{"type": "NetworkUnavailable", "status": "False"}], {N + "condition_networkunavailable": "false"}),
        ([{"type": "example.com/Custom-Thing", "status": "True"}], {N + "condition_example_com_custom_thing": "true"}),
        ([{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}], {N + "condition_ready": "false"}),
        ([], {}),
    ],
)
def test_condition_labels(conditions: list[dict[str, str]], labels: dict[str, str]) -> None:
    group = build_node(make_node(conditions=conditions))
    assert {k: v for k, v in group.labels.items() if k.startswith(N + "condition_")} == labels


def test_node_source() -> None:
    assert node_source("worker-1") == "node/worker-1"


# --------------------------------------------------------------------------- the index


def test_the_index_reads_only_nodes_whatever_is_attached() -> None:
    attach = AttachMetadata(node=True, namespace=True, deployment=True, job=True, cronjob=True)
    assert DiscoveryIndex(Role.NODE, attach).kinds == {"Node"}
    assert DiscoveryIndex("node").kinds == {"Node"}


def test_index_upsert_update_delete() -> None:
    index = DiscoveryIndex(Role.NODE)
    (group,) = index.upsert(make_node())
    assert group == build_node(make_node())
    assert index.upsert(make_node()) == []  # unchanged
    heartbeat = make_node(conditions=[{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}])
    (group,) = index.upsert(heartbeat)
    later = make_node(conditions=[{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:01:00Z"}])
    assert index.upsert(later) == []  # a heartbeat changes no label
    assert index.group("node/worker-1") == group
    assert index.delete("Node", "", "worker-1") == [TargetGroup("node/worker-1")]
    assert index.group("node/worker-1") is None
    assert index.delete("Node", "", "worker-1") == []


def test_a_node_that_loses_its_addresses_loses_its_group() -> None:
    index = DiscoveryIndex(Role.NODE)
    index.upsert(make_node())
    assert index.upsert(make_node(addresses=[])) == [TargetGroup("node/worker-1")]
    assert index.groups() == []
    assert index.upsert(make_node()) == [build_node(make_node())]


def test_index_replace() -> None:
    index = DiscoveryIndex(Role.NODE)
    index.replace("Node", [make_node("a"), make_node("b")])
    assert sorted(g.source for g in index.groups()) == ["node/a", "node/b"]
    changed = index.replace("Node", [make_node("b", addresses=[("InternalIP", "10.9.9.9")]), make_node("c")])
    assert sorted(g.source for g in changed) == ["node/a", "node/b", "node/c"]
    assert sorted(g.source for g in index.groups()) == ["node/b", "node/c"]


def test_objects_of_other_kinds_are_ignored() -> None:
    index = DiscoveryIndex(Role.NODE, AttachMetadata(namespace=True))
    assert index.upsert({"kind": "Namespace", "metadata": {"name": "shop"}}) == []
    assert index.upsert({"kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}}) == []
