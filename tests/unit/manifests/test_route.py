"""OpenShift Routes (spec.ingress type route): one per exposed port, only where the Route API is served."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import BuildOptions, build, naming
from otel_operator.manifests.route import ROUTE_API

from .common import built, collector, find, kinds

SERVED = BuildOptions(apis=frozenset({ROUTE_API}))
NOT_SERVED = BuildOptions(apis=frozenset({"monitoring.coreos.com/v1"}))


def routes(resource: dict[str, Any], options: BuildOptions = SERVED) -> list[dict[str, Any]]:
    return [o for o in built(resource, options=options).objects if o["kind"] == "Route"]


def routed(**ingress: Any) -> dict[str, Any]:
    return collector(ingress={"type": "route", **ingress})


def test_one_route_per_receiver_port() -> None:
    made = routes(routed(hostname="apps.example.com", annotations={"a": "b"}))
    assert [r["metadata"]["name"] for r in made] == ["otlp-grpc-c-route", "otlp-http-c-route"]
    first = made[0]
    assert first["apiVersion"] == "route.openshift.io/v1"
    assert first["metadata"]["annotations"] == {"a": "b"}
    assert first["spec"] == {
        "host": "otlp-grpc.apps.example.com",
        "port": {"targetPort": "otlp-grpc"},
        "to": {"kind": "Service", "name": "c-collector"},
        "tls": {"termination": "edge"},  # upstream's webhook default
        "wildcardPolicy": "None",
    }


def test_route_labels_are_upstreams_four() -> None:
    made = routes(collector(labels={"team": "a"}, annotations={"x": "y"}, ingress={"type": "route"}))
    assert made[0]["metadata"]["labels"] == {
        "app.kubernetes.io/component": "opentelemetry-collector",
        "app.kubernetes.io/instance": "ns.c",
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/name": "otlp-grpc-c-route",
    }
    assert "annotations" not in made[0]["metadata"]  # the collector's annotations are not copied


@pytest.mark.parametrize(
    ("termination", "tls"),
    [
        ("edge", {"termination": "edge"}),
        ("passthrough", {"termination": "passthrough"}),
        ("reencrypt", {"termination": "reencrypt"}),
        ("insecure", None),
    ],
)
def test_termination(termination: str, tls: dict[str, str] | None) -> None:
    made = routes(routed(route={"termination": termination}))
    assert made[0]["spec"].get("tls") == tls


def test_no_hostname_leaves_the_host_to_openshift() -> None:
    assert "host" not in routes(routed())[0]["spec"]


def test_grpc_service_port_becomes_h2c_with_routes() -> None:
    result = built(routed(), options=SERVED)
    for name in ("c-collector", "c-collector-headless"):
        ports = {p["name"]: p.get("appProtocol") for p in find(result, "Service", name)["spec"]["ports"]}
        assert ports == {"otlp-grpc": "h2c", "otlp-http": "http"}
    plain = built(collector())
    assert find(plain, "Service", "c-collector")["spec"]["ports"][0]["appProtocol"] == "grpc"


def test_without_the_route_api_no_route_and_a_warning() -> None:
    result = built(routed(), options=NOT_SERVED)
    assert not [k for k in kinds(result) if k[0] == "Route"]
    assert any(
        "spec.ingress.type: route: this cluster does not serve route.openshift.io/v1" in w for w in result.warnings
    ), result.warnings


def test_render_without_a_cluster_builds_routes() -> None:
    assert routes(routed(), options=BuildOptions()) != []


def test_bad_termination_is_an_error() -> None:
    found = [str(p) for p in build(routed(route={"termination": "tls"})).problems]
    assert any('spec.ingress.route.termination: "tls" is not a TLS termination' in p for p in found), found


def test_route_name_shortens_the_port_name_first() -> None:
    name = naming.route("collector", "p" * 60)
    assert len(name) == 63
    assert name.endswith("-collector-route")
