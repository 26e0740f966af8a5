"""Ports inferred from the config, and the endpoint defaults upstream's webhook writes (reference §3.4, §4.2)."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import components
from otel_operator.manifests.components import ComponentError, Port


def config(receivers: dict[str, Any], used: list[str] | None = None, **more: Any) -> dict[str, Any]:
    pipelines = {"p": {"receivers": used if used is not None else list(receivers), "exporters": ["debug"]}}
    pipelines["p"]["exporters"] += more.pop("used_exporters", [])
    return {
        "receivers": receivers,
        "exporters": {"debug": {}, **more.pop("exporters", {})},
        "service": {"pipelines": pipelines, **more.pop("service", {})},
        **more,
    }


@pytest.mark.parametrize(
    ("receivers", "expected"),
    [
        (
            {"otlp": {"protocols": {"grpc": {}, "http": {}}}},
            [
                Port("otlp-grpc", 4317, app_protocol="grpc", target_port=4317),
                Port("otlp-http", 4318, app_protocol="http", target_port=4318),
            ],
        ),
        (
            {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:14317"}}}},
            [
                Port("otlp-grpc", 14317, app_protocol="grpc", target_port=14317),
            ],
        ),
        ({"otlp": {"protocols": {"grpc": None}}}, [Port("otlp-grpc", 4317, app_protocol="grpc", target_port=4317)]),
        (
            {"otlp/internal": {"protocols": {"grpc": {}}}},
            [
                Port("port-4317", 4317, app_protocol="grpc", target_port=4317),
            ],
        ),
        ({"jaeger": {"protocols": {"thrift_binary": {}}}}, [Port("port-6832", 6832, "UDP", target_port=6832)]),
        ({"zipkin": {}}, [Port("zipkin", 9411, "TCP", "http", 9411)]),
        ({"statsd": {"endpoint": "0.0.0.0:9125"}}, [Port("statsd", 9125, "UDP", target_port=9125)]),
        ({"mything": {"endpoint": "${env:MY_POD_IP}:7777"}}, [Port("mything", 7777)]),  # unknown, with a port
        ({"hostmetrics": {"collection_interval": "10s"}}, []),  # unknown, no port
        ({"prometheus": {"config": {}}}, []),
        ({"filelog": {"include": ["/var/log/*.log"]}}, []),
    ],
)
def test_receiver_ports(receivers: dict[str, Any], expected: list[Port]) -> None:
    listening, extensions = components.ports(config(receivers))
    assert listening == expected
    assert extensions == []


def test_only_components_the_service_uses_count() -> None:
    receivers = {"otlp": {"protocols": {"grpc": {}}}, "zipkin": {}}
    listening, _ = components.ports(config(receivers, used=["otlp"]))
    assert [p.name for p in listening] == ["otlp-grpc"]
    defaulted = components.apply_defaults(config(receivers, used=["otlp"]))
    assert defaulted["receivers"]["zipkin"] == {}  # not defaulted either


def test_exporter_and_extension_ports() -> None:
    cfg = config(
        {"otlp": {"protocols": {"http": {}}}},
        exporters={"prometheus": {"endpoint": "0.0.0.0:9464"}},
        used_exporters=["prometheus"],
        extensions={"health_check": {}, "jaeger_query": {}, "pprof": {}},
        service={"extensions": ["health_check", "jaeger_query", "pprof"]},
    )
    listening, extensions = components.ports(cfg)
    assert [(p.name, p.port) for p in listening] == [("otlp-http", 4318), ("prometheus", 9464)]
    assert [(p.name, p.port) for p in extensions] == [("health-check", 13133), ("jaeger-query", 16686)]


@pytest.mark.parametrize(
    ("receivers", "path", "message"),
    [
        ({"otlp": {"protocols": {"grcp": {}}}}, "receivers.otlp.protocols.grcp", "otlp has no protocol 'grcp'"),
        ({"tcplog": {}}, "receivers.tcplog", "tcplog has no default port"),
    ],
)
def test_ports_that_cannot_be_derived(receivers: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ComponentError) as info:
        components.ports(config(receivers))
    assert info.value.path == path
    assert message in info.value.message


@pytest.mark.parametrize(
    ("receiver", "expected"),
    [
        (
            {"protocols": {"grpc": {}, "http": None}},
            {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}},
        ),
        (
            {"protocols": {"grpc": {"endpoint": ":5555", "max_recv_msg_size_mib": 8}}},
            {"protocols": {"grpc": {"endpoint": "0.0.0.0:5555", "max_recv_msg_size_mib": 8}}},
        ),
        ({"protocols": {"grpc": {"endpoint": "4444"}}}, {"protocols": {"grpc": {"endpoint": "0.0.0.0:4444"}}}),
        (
            {"protocols": {"grpc": {"endpoint": "${env:POD_IP}:4317"}}},
            {"protocols": {"grpc": {"endpoint": "${env:POD_IP}:4317"}}},
        ),
    ],
)
def test_endpoint_defaults(receiver: dict[str, Any], expected: dict[str, Any]) -> None:
    assert components.apply_defaults(config({"otlp": receiver}))["receivers"]["otlp"] == expected


def test_telemetry_and_extension_defaults() -> None:
    defaulted = components.apply_defaults(
        config(
            {"otlp": {"protocols": {"grpc": {}}}},
            extensions={"health_check": None},
            service={"extensions": ["health_check"], "telemetry": {"logs": {"level": "debug"}}},
        )
    )
    assert defaulted["extensions"]["health_check"] == {"endpoint": "0.0.0.0:13133", "path": "/"}
    assert defaulted["service"]["telemetry"] == {
        "logs": {"level": "debug"},
        "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": "0.0.0.0", "port": 8888}}}}]},
    }
    kept = components.apply_defaults(config({}, service={"telemetry": {"metrics": {"address": "0.0.0.0:9999"}}}))
    assert kept["service"]["telemetry"] == {"metrics": {"address": "0.0.0.0:9999"}}


@pytest.mark.parametrize(
    ("telemetry", "port"),
    [
        (None, 8888),
        ({"metrics": {"address": "0.0.0.0:9999"}}, 9999),
        ({"metrics": {"readers": [{"periodic": {}}, {"pull": {"exporter": {"prometheus": {"port": 9090}}}}]}}, 9090),
        ({"metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": "0.0.0.0"}}}}]}}, 8888),
    ],
)
def test_metrics_port(telemetry: Any, port: int) -> None:
    assert components.metrics_port(config({}, service={"telemetry": telemetry} if telemetry else {})) == port


def test_health_probe() -> None:
    cfg = config({}, extensions={"health_check/x": {"endpoint": "0.0.0.0:8081", "path": "/health"}})
    assert components.health_probe(cfg) is None  # not in service.extensions
    cfg["service"]["extensions"] = ["health_check/x"]
    assert components.health_probe(cfg) == {"httpGet": {"path": "/health", "port": 8081}}


def test_jaeger_query_serves_http_and_grpc_as_upstream() -> None:
    """Upstream's e2e extension test: `grpc.endpoint: 0.0.0.0:16685` adds `jaeger-query-2`; the defaults go to
    `http.endpoint` (jaeger_query has no top-level endpoint)."""
    config = {
        "receivers": {"otlp": {"protocols": {"grpc": {}}}},
        "exporters": {"debug": {}},
        "extensions": {"jaeger_query": {"storage": {"traces": "memstore"}, "grpc": {"endpoint": ":16685"}}},
        "service": {
            "extensions": ["jaeger_query"],
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}},
        },
    }
    _, extensions = components.ports(config)
    assert [(p.name, p.port) for p in extensions] == [("jaeger-query", 16686), ("jaeger-query-2", 16685)]
    defaulted = components.apply_defaults(config)["extensions"]["jaeger_query"]
    assert defaulted == {
        "storage": {"traces": "memstore"},
        "http": {"endpoint": "0.0.0.0:16686"},
        "grpc": {"endpoint": "0.0.0.0:16685"},
    }
    same = {**config, "extensions": {"jaeger_query": {"grpc": {"endpoint": "0.0.0.0:16686"}}}}
    assert [p.name for p in components.ports(same)[1]] == ["jaeger-query"]
