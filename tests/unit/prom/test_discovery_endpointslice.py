"""Role endpointslice: every corner of Prometheus v3's buildEndpointSlice, on slices as the API returns them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from otel_operator.prom.discovery.common import namespace_metadata_labels, node_metadata_labels
from otel_operator.prom.discovery.endpointslice import build_endpointslice
from otel_operator.prom.discovery.pod import PodInfo, pod_info
from otel_operator.prom.discovery.service import service_info
from otel_operator.prom.model import Labels

M = "__meta_kubernetes_"
ES = M + "endpointslice_"
READY = {"ready": True, "serving": True, "terminating": False}


def make_slice(
    endpoints: list[dict[str, Any]],
    ports: list[dict[str, Any]] | None = None,
    address_type: str = "IPv4",
    service: str | None = "web",
    api_version: str = "discovery.k8s.io/v1",
) -> dict[str, Any]:
    labels = {"kubernetes.io/service-name": service} if service is not None else {}
    return {
        "apiVersion": api_version,
        "kind": "EndpointSlice",
        "metadata": {"name": "web-x1", "namespace": "shop", "labels": labels},
        "addressType": address_type,
        "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints,
    }


def make_pod(
    name: str = "web-0",
    ip: str = "10.0.0.1",
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
) -> PodInfo:
    spec: dict[str, Any] = {
        "nodeName": "node-1",
        "containers": containers
        if containers is not None
        else [
            {
                "name": "app",
                "image": "app:1",
                "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
                ],
            }
        ],
    }
    if init is not None:
        spec["initContainers"] = init
    status = {"podIP": ip, "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]} if ip else {}
    return pod_info(
        {"metadata": {"name": name, "namespace": "shop", "uid": "u-" + name}, "spec": spec, "status": status}
    )


def pod_ref(name: str = "web-0", namespace: str | None = "shop") -> dict[str, str]:
    ref = {"kind": "Pod", "name": name}
    if namespace is not None:
        ref["namespace"] = namespace
    return ref


def targets(eps: dict[str, Any], pods: Sequence[PodInfo] = (), **kwargs: Any) -> list[Labels]:
    return [dict(t) for t in build_endpointslice(eps, pods={p.key: p for p in pods}, **kwargs).targets]


def only(labels: Mapping[str, str], prefix: str) -> Labels:
    return {k[len(M) :]: v for k, v in labels.items() if k.startswith(prefix)}


# --------------------------------------------------------------------------- group labels


def test_group_labels_name_the_slice_its_namespace_address_type_labels_and_annotations() -> None:
    eps = make_slice([])
    eps["metadata"]["annotations"] = {"example.com/note": "hi"}
    group = build_endpointslice(eps)
    assert group.source == "endpointslice/shop/web-x1"
    assert group.targets == ()
    assert group.labels == {
        M + "namespace": "shop",
        ES + "address_type": "IPv4",
        ES + "name": "web-x1",
        ES + "label_kubernetes_io_service_name": "web",
        ES + "labelpresent_kubernetes_io_service_name": "true",
        ES + "annotation_example_com_note": "hi",
        ES + "annotationpresent_example_com_note": "true",
    }


def test_service_labels_join_the_group_when_the_service_is_known() -> None:
    svc = service_info({"metadata": {"name": "web", "namespace": "shop", "labels": {"tier": "front"}}})
    labels = build_endpointslice(make_slice([]), service=svc).labels
    assert only(labels, M + "service_") == {
        "service_name": "web",
        "service_label_tier": "front",
        "service_labelpresent_tier": "true",
    }


def test_attach_namespace_adds_namespace_labels_to_the_group() -> None:
    ns = namespace_metadata_labels({"metadata": {"name": "shop", "annotations": {"owner": "me"}}})
    labels = build_endpointslice(make_slice([]), namespace_labels=ns).labels
    assert labels[M + "namespace_annotation_owner"] == "me"


# --------------------------------------------------------------------------- endpoint-level labels


def test_full_endpoint_label_set() -> None:
    ep = {
        "addresses": ["10.0.0.9"],
        "conditions": READY,
        "hostname": "web-9",
        "targetRef": {"kind": "Node", "name": "node-2"},
        "nodeName": "node-2",
        "zone": "eu-1a",
        "deprecatedTopology": {"topology.kubernetes.io/region": "eu"},
    }
    port = {"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"}
    assert targets(make_slice([ep], ports=[port])) == [
        {
            "__address__": "10.0.0.9:8080",
            ES + "port_name": "http",
            ES + "port_protocol": "TCP",
            ES + "port": "8080",
            ES + "port_app_protocol": "kubernetes.io/h2c",
            ES + "endpoint_conditions_ready": "true",
            ES + "endpoint_conditions_serving": "true",
            ES + "endpoint_conditions_terminating": "false",
            ES + "endpoint_hostname": "web-9",
            ES + "address_target_kind": "Node",
            ES + "address_target_name": "node-2",
            ES + "endpoint_node_name": "node-2",
            ES + "endpoint_zone": "eu-1a",
            ES + "endpoint_topology_topology_kubernetes_io_region": "eu",
            ES + "endpoint_topology_present_topology_kubernetes_io_region": "true",
        }
    ]


def test_absent_fields_mean_absent_labels() -> None:
    # nil pointers in Go: no conditions, no hostname, no targetRef, no node, no zone, no port name/protocol
    (target,) = targets(make_slice([{"addresses": ["10.0.0.9"]}], ports=[{"port": 80}]))
    assert target == {"__address__": "10.0.0.9:80", ES + "port": "80"}


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        pytest.param({}, {}, id="none-set"),
        pytest.param({"ready": False}, {"ready": "false"}, id="not-ready-is-still-a-target"),
        pytest.param(
            {"ready": False, "serving": True, "terminating": True},
            {"ready": "false", "serving": "true", "terminating": "true"},
            id="terminating-but-serving",
        ),
        pytest.param({"serving": False}, {"serving": "false"}, id="only-serving"),
    ],
)
def test_conditions_are_labels_and_never_filter(conditions: dict[str, bool], expected: dict[str, str]) -> None:
    (target,) = targets(make_slice([{"addresses": ["10.0.0.9"], "conditions": conditions}]))
    assert {k[len(ES + "endpoint_conditions_") :]: v for k, v in target.items() if "conditions" in k} == expected


def test_empty_target_ref_yields_empty_kind_and_name() -> None:
    (target,) = targets(make_slice([{"addresses": ["10.0.0.9"], "targetRef": {}}]))
    assert target[ES + "address_target_kind"] == ""
    assert target[ES + "address_target_name"] == ""


def test_missing_target_ref_yields_no_target_labels() -> None:
    (target,) = targets(make_slice([{"addresses": ["10.0.0.9"]}]))
    assert ES + "address_target_kind" not in target
    assert ES + "address_target_name" not in target


@pytest.mark.parametrize(
    ("address_type", "address", "expected"),
    [
        pytest.param("IPv4", "10.0.0.9", "10.0.0.9:8080", id="ipv4"),
        pytest.param("IPv6", "fd00::9", "[fd00::9]:8080", id="ipv6-bracketed"),
        pytest.param("FQDN", "db.example.internal", "db.example.internal:8080", id="fqdn"),
    ],
)
def test_address_by_type(address_type: str, address: str, expected: str) -> None:
    (target,) = targets(make_slice([{"addresses": [address]}], address_type=address_type))
    assert target["__address__"] == expected


def test_port_without_a_number_leaves_the_address_bare() -> None:
    (target,) = targets(make_slice([{"addresses": ["fd00::9"]}], ports=[{"name": "any", "protocol": "TCP"}]))
    assert target == {"__address__": "fd00::9", ES + "port_name": "any", ES + "port_protocol": "TCP"}


def test_targets_are_endpoint_by_port_by_address() -> None:
    eps = make_slice(
        [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3"]}],
        ports=[{"name": "a", "port": 1}, {"name": "b", "port": 2}],
    )
    assert [t["__address__"] for t in targets(eps)] == [
        "10.0.0.1:1",
        "10.0.0.2:1",
        "10.0.0.1:2",
        "10.0.0.2:2",
        "10.0.0.3:1",
        "10.0.0.3:2",
    ]


def test_no_ports_or_no_addresses_means_no_targets() -> None:
    assert targets(make_slice([{"addresses": ["10.0.0.1"]}], ports=[])) == []
    assert targets(make_slice([{"addresses": []}, {"conditions": READY}])) == []


# --------------------------------------------------------------------------- v1beta1


def test_v1beta1_topology_becomes_topology_labels_and_there_is_no_zone() -> None:
    ep = {
        "addresses": ["10.0.0.9"],
        "conditions": {"ready": True},
        "nodeName": "node-1",
        "topology": {"kubernetes.io/hostname": "node-1", "topology.kubernetes.io/zone": "eu-1a"},
    }
    (target,) = targets(make_slice([ep], api_version="discovery.k8s.io/v1beta1"))
    assert only(target, ES + "endpoint_") == {
        "endpointslice_endpoint_conditions_ready": "true",
        "endpointslice_endpoint_node_name": "node-1",
        "endpointslice_endpoint_topology_kubernetes_io_hostname": "node-1",
        "endpointslice_endpoint_topology_present_kubernetes_io_hostname": "true",
        "endpointslice_endpoint_topology_topology_kubernetes_io_zone": "eu-1a",
        "endpointslice_endpoint_topology_present_topology_kubernetes_io_zone": "true",
    }


@pytest.mark.parametrize("api_version", ["discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"])
def test_hints_yield_no_labels(api_version: str) -> None:
    ep = {"addresses": ["10.0.0.9"], "hints": {"forZones": [{"name": "eu-1a"}]}}
    (target,) = targets(make_slice([ep], api_version=api_version))
    assert not any("hint" in k or "zone" in k for k in target)


# --------------------------------------------------------------------------- pods behind endpoints


def test_pod_target_gets_pod_labels_and_the_matching_container_port() -> None:
    pod = make_pod()
    (target, *_) = targets(make_slice([{"addresses": ["10.0.0.1"], "targetRef": pod_ref()}]), [pod])
    assert {k: v for k, v in target.items() if k.startswith(M + "pod_") and "container" not in k} == pod.labels
    assert only(target, M + "pod_container") == {
        "pod_container_name": "app",
        "pod_container_image": "app:1",
        "pod_container_port_name": "http",
        "pod_container_port_number": "8080",
        "pod_container_port_protocol": "TCP",
        "pod_container_init": "false",
    }
    assert M + "pod_container_id" not in target  # role pod only


def test_container_ports_no_endpoint_port_covers_become_extra_targets() -> None:
    pod = make_pod(
        containers=[
            {"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]},
            {"name": "side", "image": "side:1", "ports": [{"containerPort": 9901, "protocol": "UDP"}]},
        ],
        init=[{"name": "setup", "image": "setup:1", "ports": [{"name": "s", "containerPort": 7000}]}],
    )
    eps = make_slice([{"addresses": ["10.0.0.1"], "targetRef": pod_ref(), "conditions": READY}])
    service = service_info({"metadata": {"name": "web", "namespace": "shop"}})
    group = build_endpointslice(eps, pods={pod.key: pod}, service=service)
    _, side, setup = group.targets
    # only pod and container labels: no endpointslice port, condition or target labels
    assert dict(side) == {
        "__address__": "10.0.0.1:9901",
        M + "pod_container_name": "side",
        M + "pod_container_image": "side:1",
        M + "pod_container_port_name": "",
        M + "pod_container_port_number": "9901",
        M + "pod_container_port_protocol": "UDP",
        M + "pod_container_init": "false",
        **pod.labels,
    }
    assert setup[M + "pod_container_init"] == "true"
    assert setup[M + "pod_container_port_protocol"] == ""  # unset in the object: no API defaulting here
    assert group.labels[M + "service_name"] == "web"  # group labels still apply to extra targets


def test_endpoint_port_without_a_container_port_keeps_pod_labels_but_no_container_labels() -> None:
    pod = make_pod()
    eps = make_slice([{"addresses": ["10.0.0.1"], "targetRef": pod_ref()}], ports=[{"name": "x", "port": 7777}])
    first, *extras = targets(eps, [pod])
    assert first["__address__"] == "10.0.0.1:7777"
    assert first[M + "pod_name"] == "web-0"
    assert not only(first, M + "pod_container")
    assert [t["__address__"] for t in extras] == ["10.0.0.1:8080", "10.0.0.1:9090"]


def test_a_port_without_a_number_covers_no_container_port() -> None:
    pod = make_pod()
    eps = make_slice([{"addresses": ["10.0.0.1"], "targetRef": pod_ref()}], ports=[{"name": "any"}])
    assert [t["__address__"] for t in targets(eps, [pod])] == ["10.0.0.1", "10.0.0.1:8080", "10.0.0.1:9090"]


def test_the_last_container_with_a_matching_port_wins_and_its_first_matching_port() -> None:
    pod = make_pod(
        containers=[
            {"name": "first", "image": "1", "ports": [{"name": "a", "containerPort": 8080, "protocol": "TCP"}]},
            {
                "name": "second",
                "image": "2",
                "ports": [
                    {"name": "b", "containerPort": 8080, "protocol": "UDP"},
                    {"name": "c", "containerPort": 8080, "protocol": "SCTP"},
                ],
            },
        ]
    )
    (target, *_) = targets(make_slice([{"addresses": ["10.0.0.1"], "targetRef": pod_ref()}]), [pod])
    assert (target[M + "pod_container_name"], target[M + "pod_container_port_name"]) == ("second", "b")
    assert target[M + "pod_container_port_protocol"] == "UDP"  # from the container port, not the slice port


def test_an_init_container_port_matches_too() -> None:
    pod = make_pod(
        containers=[{"name": "app", "image": "a"}],
        init=[{"name": "sidecar", "image": "s", "ports": [{"name": "http", "containerPort": 8080}]}],
    )
    (target,) = targets(make_slice([{"addresses": ["10.0.0.1"], "targetRef": pod_ref()}]), [pod])
    assert (target[M + "pod_container_name"], target[M + "pod_container_init"]) == ("sidecar", "true")


def test_pod_not_known_or_not_a_pod_gives_endpoint_labels_only() -> None:
    eps = make_slice(
        [
            {"addresses": ["10.0.0.1"], "targetRef": pod_ref("unknown")},
            {"addresses": ["10.0.0.2"], "targetRef": {"kind": "Node", "name": "web-0", "namespace": "shop"}},
        ]
    )
    for target in targets(eps, [make_pod()]):
        assert not only(target, M + "pod_")


def test_pods_are_looked_up_by_the_namespace_in_the_target_ref() -> None:
    pod = make_pod()
    no_ns = make_slice([{"addresses": ["10.0.0.1"], "targetRef": pod_ref(namespace=None)}])
    other_ns = make_slice([{"addresses": ["10.0.0.1"], "targetRef": pod_ref(namespace="elsewhere")}])
    assert not only(targets(no_ns, [pod])[0], M + "pod_")
    assert not only(targets(other_ns, [pod])[0], M + "pod_")


def test_a_pod_without_ip_gets_no_extra_targets() -> None:
    pod = make_pod(ip="")
    eps = make_slice([{"addresses": ["10.0.0.1"], "targetRef": pod_ref()}])
    (target,) = targets(eps, [pod])
    assert target[M + "pod_ip"] == ""
    assert target[M + "pod_ready"] == "unknown"


def test_extra_targets_follow_all_endpoint_targets_once_per_pod() -> None:
    pods = [make_pod("a", "10.0.0.1"), make_pod("b", "10.0.0.2")]
    eps = make_slice(
        [
            {"addresses": ["10.0.0.1"], "targetRef": pod_ref("a")},
            {"addresses": ["10.0.0.2"], "targetRef": pod_ref("b")},
            {"addresses": ["10.0.0.1"], "targetRef": pod_ref("a")},  # the same pod twice: still one set of extras
        ]
    )
    assert [t["__address__"] for t in targets(eps, pods)] == [
        "10.0.0.1:8080",
        "10.0.0.2:8080",
        "10.0.0.1:8080",
        "10.0.0.1:9090",
        "10.0.0.2:9090",
    ]


# --------------------------------------------------------------------------- attach_metadata.node


def test_attach_node_uses_the_node_target_ref_else_the_node_name() -> None:
    nodes = {
        name: node_metadata_labels({"metadata": {"name": name, "labels": {"zone": zone}}})
        for name, zone in (("node-1", "a"), ("node-2", "b"))
    }
    eps = make_slice(
        [
            {"addresses": ["10.0.0.1"], "nodeName": "node-1"},
            {"addresses": ["10.0.0.2"], "nodeName": "node-1", "targetRef": {"kind": "Node", "name": "node-2"}},
            {"addresses": ["10.0.0.3"], "nodeName": "node-9"},  # unknown node: no node labels
            {"addresses": ["10.0.0.4"]},
        ]
    )
    assert [t.get(M + "node_label_zone") for t in targets(eps, nodes=nodes)] == ["a", "b", None, None]
    assert M + "node_name" not in targets(eps)[0]  # not attached unless asked


# --------------------------------------------------------------------------- dual stack (v3.11+)


@pytest.mark.parametrize(
    ("policy", "families", "address_type", "has_targets"),
    [
        pytest.param("PreferDualStack", ["IPv4", "IPv6"], "IPv6", False, id="secondary-family-dropped"),
        pytest.param("RequireDualStack", ["IPv6", "IPv4"], "IPv4", False, id="secondary-ipv4-dropped"),
        pytest.param("PreferDualStack", ["IPv4", "IPv6"], "IPv4", True, id="primary-family-kept"),
        pytest.param("SingleStack", ["IPv4"], "IPv6", True, id="single-stack-never-dropped"),
        pytest.param(None, ["IPv4"], "IPv6", True, id="no-policy-never-dropped"),
        pytest.param("PreferDualStack", [], "IPv6", True, id="no-families-never-dropped"),
    ],
)
def test_dual_stack_secondary_slices_keep_labels_but_lose_targets(
    policy: str | None, families: list[str], address_type: str, has_targets: bool
) -> None:
    spec: dict[str, Any] = {"ipFamilies": families}
    if policy is not None:
        spec["ipFamilyPolicy"] = policy
    svc = service_info({"metadata": {"name": "web", "namespace": "shop"}, "spec": spec})
    address = "fd00::1" if address_type == "IPv6" else "10.0.0.1"
    group = build_endpointslice(make_slice([{"addresses": [address]}], address_type=address_type), service=svc)
    assert bool(group.targets) is has_targets
    assert group.labels[M + "service_name"] == "web"
