"""Names: upstream's rules (suffix, 63 characters cut from the resource's name, DNS-safe) and our RBAC names."""

from __future__ import annotations

import pytest

from otel_operator.manifests import naming

LONG = "a" * 60


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("%s-collector", ("otelcol",), "otelcol-collector"),
        ("%s-collector", (LONG,), "a" * 53 + "-collector"),  # the name is cut, the suffix kept
        ("%s.%s", ("ns", "name"), "ns.name"),
        ("%s.%s", ("n" * 40, "m" * 40), "n" * 22 + "." + "m" * 40),  # the first value is cut first
        ("%s-collector", ("x-" * 30 + "y",), ("x-" * 30 + "y")[:53] + "-collector"),
        ("%s", ("-edge-",), "edge"),  # non-alphanumerics trimmed at both ends
    ],
)
def test_truncate(template: str, values: tuple[str, ...], expected: str) -> None:
    assert naming.truncate(template, *values) == expected
    assert len(naming.truncate(template, *values)) <= 63


@pytest.mark.parametrize(
    ("name", "expected"),
    [("otelcol", "otelcol"), ("My_Collector", "my-collector"), ("_x_", "axa"), ("a.b", "a-b")],
)
def test_dns_name(name: str, expected: str) -> None:
    assert naming.dns_name(name) == expected


def test_object_names() -> None:
    assert naming.collector("otelcol") == "otelcol-collector"
    assert naming.collector_config_map("otelcol", "650ef5404cdb0c23") == "otelcol-collector-650ef540"
    assert naming.headless_service("otelcol") == "otelcol-collector-headless"
    assert naming.monitoring_service("otelcol") == "otelcol-collector-monitoring"
    assert naming.collector_service_account("otelcol") == "otelcol-collector"
    assert naming.allocator("otelcol") == "otelcol-targetallocator"
    assert naming.allocator_endpoint("otelcol") == "http://otelcol-targetallocator:80"
    assert naming.allocator_endpoint("otelcol", https=True) == "https://otelcol-targetallocator:443"
    assert naming.extra_config_map_volume("my-cm") == "configmap-my-cm"


def test_long_names_fit_63_characters() -> None:
    name = "x" * 70
    for made in (
        naming.collector(name),
        naming.collector_config_map(name, "0123456789abcdef"),
        naming.headless_service(name),
        naming.monitoring_service(name),
        naming.allocator(name),
    ):
        assert len(made) <= 63
    assert naming.collector_config_map(name, "0123456789abcdef").endswith("-collector-01234567")
    # as upstream: the suffix is added to the (already 63-character) Service name, which is cut again
    assert naming.monitoring_service(name) == "x" * 52 + "-monitoring"


def test_cluster_role_names_do_not_collide_across_namespaces() -> None:
    assert naming.allocator_cluster_role("a-b", "c") != naming.allocator_cluster_role("a", "b-c")
    assert naming.allocator_cluster_role("obs", "otelcol") == "otel-operator:targetallocator:obs:otelcol"


@pytest.mark.parametrize(
    ("component", "port", "expected"),
    [
        ("otlp-grpc", 4317, "otlp-grpc"),
        ("otlp/internal-grpc", 4317, "port-4317"),  # longer than 15 characters
        ("otlp/2-grpc", 4317, "otlp-2-grpc"),
        ("splunk_hec", 8088, "splunk-hec"),
        ("jaeger-thrift_compact", 6831, "port-6831"),
        ("-bad", 1234, "port-1234"),
    ],
)
def test_port_name(component: str, port: int, expected: str) -> None:
    assert naming.port_name(component, port) == expected
