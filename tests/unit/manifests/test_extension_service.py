"""The `<name>-collector-extension` Service, and the Service fields the base and monitoring Services copy."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import naming
from otel_operator.manifests.service import merged_ports

from .common import BASE_CONFIG, built, collector, find, kinds


def with_extensions(*names: str, **confs: Any) -> dict[str, Any]:
    return {
        **BASE_CONFIG,
        "extensions": {name: confs.get(name, {}) for name in names},
        "service": {**BASE_CONFIG["service"], "extensions": list(names)},
    }


def test_listening_extensions_get_the_extension_service() -> None:
    resource = collector(config=with_extensions("health_check", "jaeger_query"), annotations={"owner": "x"})
    service = find(built(resource), "Service", "c-collector-extension")
    assert service["spec"] == {
        "selector": {
            "app.kubernetes.io/component": "opentelemetry-collector",
            "app.kubernetes.io/instance": "ns.c",
            "app.kubernetes.io/managed-by": "opentelemetry-operator",
            "app.kubernetes.io/part-of": "opentelemetry",
        },
        "ports": [
            {"name": "health-check", "port": 13133},
            {"name": "jaeger-query", "port": 16686, "targetPort": 16686},
        ],
    }
    labels = service["metadata"]["labels"]
    assert labels["operator.opentelemetry.io/collector-service-type"] == "extension"
    assert labels["app.kubernetes.io/name"] == "c-collector-extension"
    assert service["metadata"]["annotations"] == {"owner": "x"}


def test_extension_ports_follow_their_endpoints() -> None:
    config = with_extensions(
        "jaeger_query", jaeger_query={"http": {"endpoint": "0.0.0.0:17000"}}
    )  # upstream reads http.endpoint
    ports = find(built(collector(config=config)), "Service", "c-collector-extension")["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("jaeger-query", 17000)]


@pytest.mark.parametrize(
    "config",
    [
        BASE_CONFIG,
        # defined but not in service.extensions: not running, nothing to reach
        {**BASE_CONFIG, "extensions": {"jaeger_query": {}}},
        # an extension without a port
        with_extensions("zpages_unknown"),
    ],
)
def test_no_extension_service_without_a_listening_extension(config: dict[str, Any]) -> None:
    assert ("Service", "c-collector-extension") not in kinds(built(collector(config=config)))


def test_extension_service_does_not_take_service_fields() -> None:
    resource = collector(config=with_extensions("jaeger_query"), sessionAffinity="ClientIP", ipFamilies=["IPv4"])
    spec = find(built(resource), "Service", "c-collector-extension")["spec"]
    assert set(spec) == {"selector", "ports"}


FIELDS: dict[str, Any] = {
    "sessionAffinity": "ClientIP",
    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
    "trafficDistribution": "PreferClose",
    "ipFamilies": ["IPv4"],
    "ipFamilyPolicy": "SingleStack",
}


@pytest.mark.parametrize("name", ["c-collector", "c-collector-headless", "c-collector-monitoring"])
def test_base_headless_and_monitoring_services_copy_the_service_fields(name: str) -> None:
    spec = find(built(collector(**FIELDS)), "Service", name)["spec"]
    assert {k: spec.get(k) for k in FIELDS} == FIELDS


def test_monitoring_service_without_the_fields() -> None:
    spec = find(built(collector()), "Service", "c-collector-monitoring")["spec"]
    assert not {"sessionAffinity", "sessionAffinityConfig", "trafficDistribution"} & set(spec)


def test_extension_service_name() -> None:
    assert naming.extension_service("otelcol") == "otelcol-collector-extension"
    long = naming.extension_service("x" * 70)
    # upstream's rule: "<base Service name>-extension", shortened from the base Service's name
    assert len(long) == 63
    assert long.endswith("x-extension")


@pytest.mark.parametrize(
    ("declared", "inferred", "expected"),
    [
        # same number: the inferred port is left out
        ([{"name": "a", "port": 4317}], [{"name": "otlp-grpc", "port": 4317}], [("a", 4317)]),
        # same number, another protocol: both are kept (upstream keys ports by number and protocol)
        (
            [{"name": "a", "port": 4317, "protocol": "UDP"}],
            [{"name": "otlp-grpc", "port": 4317}],
            [("a", 4317), ("otlp-grpc", 4317)],
        ),
        # same name: the inferred port is renamed port-<number>
        (
            [{"name": "otlp-grpc", "port": 9999}],
            [{"name": "otlp-grpc", "port": 4317}],
            [("otlp-grpc", 9999), ("port-4317", 4317)],
        ),
        # ... and left out when that name is taken too
        (
            [{"name": "otlp-grpc", "port": 9999}, {"name": "port-4317", "port": 1}],
            [{"name": "otlp-grpc", "port": 4317}],
            [("otlp-grpc", 9999), ("port-4317", 1)],
        ),
    ],
)
def test_merged_ports(
    declared: list[dict[str, Any]], inferred: list[dict[str, Any]], expected: list[tuple[str, int]]
) -> None:
    assert [(p["name"], p["port"]) for p in merged_ports(declared, inferred)] == expected
