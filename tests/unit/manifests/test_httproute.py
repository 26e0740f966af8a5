"""Gateway API HTTPRoutes (spec.httpRoute): one per exposed HTTP port, only where the Gateway API is served."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import BuildOptions, build, naming
from otel_operator.manifests.httproute import GATEWAY_API

from .common import built, collector, kinds

SERVED = BuildOptions(apis=frozenset({GATEWAY_API}))
NOT_SERVED = BuildOptions(apis=frozenset())

CONFIG: dict[str, Any] = {
    "receivers": {"otlp": {"protocols": {"grpc": {}, "http": {}}}, "zipkin": {}},
    "exporters": {"debug": {}},
    "service": {"pipelines": {"traces": {"receivers": ["otlp", "zipkin"], "exporters": ["debug"]}}},
}


def routes(http_route: dict[str, Any], options: BuildOptions = SERVED, **spec: Any) -> list[dict[str, Any]]:
    result = built(collector(config=CONFIG, httpRoute=http_route, **spec), options=options)
    return [o for o in result.objects if o["kind"] == "HTTPRoute"]


def test_one_route_per_http_port_grpc_left_out() -> None:
    made = routes({"enabled": True, "gateway": "public"})
    assert [r["metadata"]["name"] for r in made] == ["c-otlp-http-httproute", "c-zipkin-httproute"]
    assert made[0]["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert made[0]["spec"] == {
        # the Gateway is looked for in the collector's namespace unless gatewayNamespace says otherwise
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "ns"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/otlp-http"}}],
                "filters": [
                    {
                        "type": "URLRewrite",
                        "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
                    }
                ],
                "backendRefs": [{"name": "c-collector", "port": 4318}],
            }
        ],
    }


def test_gateway_namespace_hostnames_and_labels() -> None:
    made = routes(
        {
            "enabled": True,
            "gateway": "public",
            "gatewayNamespace": "gw",
            "hostnames": ["a.example.com", "b.example.com"],
        },
        labels={"team": "a"},
        annotations={"x": "y"},
    )
    spec, meta = made[0]["spec"], made[0]["metadata"]
    assert spec["parentRefs"][0]["namespace"] == "gw"
    assert spec["hostnames"] == ["a.example.com", "b.example.com"]
    assert meta["labels"]["team"] == "a"
    assert meta["labels"]["app.kubernetes.io/name"] == "c-otlp-http-httproute"
    assert "annotations" not in meta


def test_declared_grpc_port_is_left_out_too() -> None:
    made = routes(
        {"enabled": True, "gateway": "public"},
        ports=[{"name": "custom", "port": 9999}, {"name": "rpc", "port": 9000, "appProtocol": "h2c"}],
    )
    assert [r["metadata"]["name"] for r in made] == [
        "c-custom-httproute",
        "c-otlp-http-httproute",
        "c-zipkin-httproute",
    ]


@pytest.mark.parametrize("http_route", [{"enabled": False, "gateway": "public"}, {"gateway": "public"}])
def test_nothing_unless_enabled(http_route: dict[str, Any]) -> None:
    assert routes(http_route) == []


def test_enabled_without_gateway_warns() -> None:
    result = built(collector(config=CONFIG, httpRoute={"enabled": True}), options=SERVED)
    assert not [k for k in kinds(result) if k[0] == "HTTPRoute"]
    assert any(
        "spec.httpRoute.gateway: HTTPRoute is enabled but gateway name is not specified, skipping HTTPRoute" in w
        for w in result.warnings
    ), result.warnings


def test_without_the_gateway_api_no_route_and_a_warning() -> None:
    result = built(collector(config=CONFIG, httpRoute={"enabled": True, "gateway": "g"}), options=NOT_SERVED)
    assert not [k for k in kinds(result) if k[0] == "HTTPRoute"]
    assert any(
        "spec.httpRoute.enabled: this cluster does not serve gateway.networking.k8s.io/v1" in w for w in result.warnings
    )


def test_only_grpc_ports_warns() -> None:
    config = {**CONFIG, "receivers": {"otlp": {"protocols": {"grpc": {}}}}}
    config["service"] = {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}}
    result = built(collector(config=config, httpRoute={"enabled": True, "gateway": "g"}), options=SERVED)
    assert any("spec.httpRoute: the config has no HTTP receiver ports" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("http_route", "field"),
    [
        ({"enabled": "yes"}, "spec.httpRoute.enabled"),
        ({"enabled": True, "gateway": 3}, "spec.httpRoute.gateway"),
        ({"enabled": True, "gateway": "g", "gatewayNamespace": ["x"]}, "spec.httpRoute.gatewayNamespace"),
        ({"enabled": True, "gateway": "g", "hostnames": "a.example.com"}, "spec.httpRoute.hostnames"),
    ],
)
def test_field_errors(http_route: dict[str, Any], field: str) -> None:
    found = [str(p) for p in build(collector(httpRoute=http_route)).problems]
    assert any(f": {field}: " in p for p in found), found


def test_name_is_truncated_to_63() -> None:
    name = naming.http_route("n" * 70, "otlp-http")
    assert len(name) == 63
    assert name.endswith("-otlp-http-httproute")
