"""Role endpoints (core/v1 Endpoints): where it differs from endpointslice, and what it shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otel_operator.prom.discovery.common import namespace_metadata_labels, node_metadata_labels
from otel_operator.prom.discovery.endpoints import build_endpoints
from otel_operator.prom.discovery.pod import PodInfo, pod_info
from otel_operator.prom.discovery.service import service_info
from otel_operator.prom.model import Labels

M = "__meta_kubernetes_"
EP = M + "endpoint_"


def make_endpoints(subsets: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "shop", **meta}, "subsets": subsets}


def make_pod(name: str = "web-0", ip: str = "10.0.0.1") -> PodInfo:
    containers = [
        {
            "name": "app",
            "image": "app:1",
            "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
            ],
        }
    ]
    return pod_info(
        {
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"nodeName": "node-1", "containers": containers},
            "status": {"podIP": ip, "phase": "Running"},
        }
    )


def targets(eps: dict[str, Any], pods: Sequence[PodInfo] = (), **kwargs: Any) -> list[Labels]:
    return [dict(t) for t in build_endpoints(eps, pods={p.key: p for p in pods}, **kwargs).targets]


POD_REF = {"kind": "Pod", "name": "web-0", "namespace": "shop"}


def test_group_labels_service_then_endpoints_metadata() -> None:
    svc = service_info({"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}}})
    group = build_endpoints(make_endpoints([], labels={"app": "web"}), service=svc)
    assert group.source == "endpoints/shop/web"
    assert group.labels == {
        M + "namespace": "shop",
        M + "service_name": "web",
        M + "service_label_app": "web",
        M + "service_labelpresent_app": "true",
        M + "endpoints_name": "web",
        M + "endpoints_label_app": "web",
        M + "endpoints_labelpresent_app": "true",
    }


def test_ready_then_not_ready_addresses_for_each_port() -> None:
    eps = make_endpoints(
        [
            {
                "addresses": [{"ip": "10.0.0.1"}],
                "notReadyAddresses": [{"ip": "10.0.0.2"}],
                "ports": [{"name": "a", "port": 1, "protocol": "TCP"}, {"name": "b", "port": 2, "protocol": "TCP"}],
            }
        ]
    )
    assert [(t["__address__"], t[EP + "ready"]) for t in targets(eps)] == [
        ("10.0.0.1:1", "true"),
        ("10.0.0.2:1", "false"),
        ("10.0.0.1:2", "true"),
        ("10.0.0.2:2", "false"),
    ]


def test_port_name_and_protocol_are_always_set_even_empty() -> None:
    (target,) = targets(make_endpoints([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]))
    assert target == {
        "__address__": "10.0.0.1:80",
        EP + "port_name": "",
        EP + "port_protocol": "",
        EP + "ready": "true",
    }


def test_address_labels_target_ref_node_name_and_non_empty_hostname() -> None:
    eps = make_endpoints(
        [
            {
                "addresses": [
                    {"ip": "fd00::1", "hostname": "web-1", "nodeName": "node-1", "targetRef": {"kind": "Node"}},
                    {"ip": "fd00::2", "hostname": ""},
                ],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ]
    )
    first, second = targets(eps)
    assert first["__address__"] == "[fd00::1]:8080"
    assert {k: v for k, v in first.items() if k.startswith(EP) and "port" not in k and "ready" not in k} == {
        EP + "hostname": "web-1",
        EP + "node_name": "node-1",
        EP + "address_target_kind": "Node",
        EP + "address_target_name": "",
    }
    assert set(second) == {"__address__", EP + "port_name", EP + "port_protocol", EP + "ready"}


def test_matched_container_port_protocol_comes_from_the_endpoint_port() -> None:
    eps = make_endpoints(
        [{"addresses": [{"ip": "10.0.0.1", "targetRef": POD_REF}], "ports": [{"port": 8080, "protocol": "UDP"}]}]
    )
    first, *_ = targets(eps, [make_pod()])
    assert first[M + "pod_container_port_name"] == "http"
    assert first[M + "pod_container_port_protocol"] == "UDP"  # the container port says TCP
    assert first[M + "pod_container_init"] == "false"


def test_not_ready_pod_addresses_resolve_pods_and_extras_too() -> None:
    eps = make_endpoints(
        [
            {
                "notReadyAddresses": [{"ip": "10.0.0.1", "targetRef": POD_REF}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ]
    )
    first, extra = targets(eps, [make_pod()])
    assert (first[EP + "ready"], first[M + "pod_name"]) == ("false", "web-0")
    assert extra["__address__"] == "10.0.0.1:9090"
    assert EP + "ready" not in extra
    assert extra[M + "pod_container_port_protocol"] == "TCP"  # extras take the container port's protocol


def test_seen_ports_are_per_subset_port() -> None:
    eps = make_endpoints(
        [
            {"addresses": [{"ip": "10.0.0.1", "targetRef": POD_REF}], "ports": [{"port": 8080, "protocol": "TCP"}]},
            {"addresses": [{"ip": "10.0.0.1", "targetRef": POD_REF}], "ports": [{"port": 9090, "protocol": "TCP"}]},
        ]
    )
    assert [t["__address__"] for t in targets(eps, [make_pod()])] == ["10.0.0.1:8080", "10.0.0.1:9090"]


def test_attach_node_prefers_node_name_over_a_node_target_ref() -> None:
    nodes = {
        name: node_metadata_labels({"metadata": {"name": name, "labels": {"zone": name[-1]}}})
        for name in ("node-1", "node-2")
    }
    eps = make_endpoints(
        [
            {
                "addresses": [
                    {"ip": "10.0.0.1", "nodeName": "node-1", "targetRef": {"kind": "Node", "name": "node-2"}},
                    {"ip": "10.0.0.2", "targetRef": {"kind": "Node", "name": "node-2"}},
                    {"ip": "10.0.0.3"},
                ],
                "ports": [{"port": 80}],
            }
        ]
    )
    assert [t.get(M + "node_label_zone") for t in targets(eps, nodes=nodes)] == ["1", "2", None]


def test_attach_namespace_and_no_subsets() -> None:
    ns = namespace_metadata_labels({"metadata": {"name": "shop", "labels": {"env": "prod"}}})
    group = build_endpoints(make_endpoints([]), namespace_labels=ns)
    assert group.targets == ()
    assert group.labels[M + "namespace_label_env"] == "prod"


def test_over_capacity_endpoints_are_not_special() -> None:
    eps = make_endpoints(
        [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}],
        annotations={"endpoints.kubernetes.io/over-capacity": "truncated"},
    )
    assert len(targets(eps)) == 1
