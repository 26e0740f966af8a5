"""Role service: one target per service port, addressed by the service's cluster DNS name."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.prom.discovery.common import namespace_metadata_labels
from otel_operator.prom.discovery.service import build_service, service_info

M = "__meta_kubernetes_"
S = M + "service_"


def make_service(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "shop", **meta}, "spec": spec}


def test_cluster_ip_service() -> None:
    svc = make_service(
        {
            "type": "ClusterIP",
            "clusterIP": "10.0.0.10",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}],
        },
        labels={"app.kubernetes.io/name": "web"},
        annotations={"prometheus.io/scrape": "true"},
    )
    group = build_service(svc)
    assert group.source == "svc/shop/web"
    assert group.labels == {
        M + "namespace": "shop",
        S + "name": "web",
        S + "label_app_kubernetes_io_name": "web",
        S + "labelpresent_app_kubernetes_io_name": "true",
        S + "annotation_prometheus_io_scrape": "true",
        S + "annotationpresent_prometheus_io_scrape": "true",
    }
    assert list(group.targets) == [
        {
            "__address__": "web.shop.svc:80",
            S + "port_name": "http",
            S + "port_number": "80",
            S + "port_protocol": "TCP",
            S + "type": "ClusterIP",
            S + "cluster_ip": "10.0.0.10",
        },
        {
            "__address__": "web.shop.svc:53",
            S + "port_name": "dns",
            S + "port_number": "53",
            S + "port_protocol": "UDP",
            S + "type": "ClusterIP",
            S + "cluster_ip": "10.0.0.10",
        },
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {"type": "ClusterIP", "clusterIP": "None"}, {"type": "ClusterIP", "cluster_ip": "None"}, id="headless"
        ),
        pytest.param(
            {"type": "ExternalName", "externalName": "db.example.com"},
            {"type": "ExternalName", "external_name": "db.example.com"},
            id="external-name-has-no-cluster-ip",
        ),
        pytest.param(
            {"type": "LoadBalancer", "clusterIP": "10.0.0.10", "loadBalancerIP": "203.0.113.7"},
            {"type": "LoadBalancer", "cluster_ip": "10.0.0.10", "loadbalancer_ip": "203.0.113.7"},
            id="load-balancer-ip-from-the-spec",
        ),
        pytest.param(
            {
                "type": "LoadBalancer",
                "clusterIP": "10.0.0.10",
                "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}},
            },
            {"type": "LoadBalancer", "cluster_ip": "10.0.0.10", "loadbalancer_ip": ""},
            id="load-balancer-without-spec-ip-is-empty",  # v3.14 reads spec.loadBalancerIP only
        ),
        pytest.param(
            {"type": "NodePort", "clusterIP": "10.0.0.10"},
            {"type": "NodePort", "cluster_ip": "10.0.0.10"},
            id="node-port",
        ),
        pytest.param({}, {"type": "", "cluster_ip": ""}, id="nothing-set"),
    ],
)
def test_type_specific_labels(spec: dict[str, Any], expected: dict[str, str]) -> None:
    spec = {**spec, "ports": [{"name": "p", "port": 5432, "protocol": "TCP"}]}
    (target,) = build_service(make_service(spec)).targets
    rest = {k[len(S) :]: v for k, v in target.items() if k.startswith(S) and not k.startswith(S + "port")}
    assert rest == expected


def test_service_without_ports_has_labels_but_no_targets() -> None:
    group = build_service(make_service({"clusterIP": "None"}))
    assert group.targets == ()
    assert group.labels[S + "name"] == "web"


def test_unnamed_port_without_protocol_gives_empty_labels() -> None:
    (target,) = build_service(make_service({"ports": [{"port": 8080}]})).targets
    assert (target[S + "port_name"], target[S + "port_protocol"]) == ("", "")


def test_attach_namespace() -> None:
    ns = namespace_metadata_labels({"metadata": {"name": "shop", "labels": {"team": "a"}}})
    assert build_service(make_service({}), namespace_labels=ns).labels[M + "namespace_label_team"] == "a"


@pytest.mark.parametrize(
    ("spec", "primary"),
    [
        pytest.param({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6", "IPv4"]}, "IPv6", id="prefer"),
        pytest.param({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]}, "IPv4", id="require"),
        pytest.param({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}, None, id="single-stack"),
        pytest.param({"ipFamilyPolicy": "PreferDualStack"}, None, id="no-families"),
    ],
)
def test_service_info_primary_family_only_for_dual_stack(spec: dict[str, Any], primary: str | None) -> None:
    assert service_info(make_service(spec)).primary_family == primary
