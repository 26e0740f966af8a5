"""NetworkPolicies: when they exist (spec.networkPolicy.enabled, else the gate operand.networkpolicy), the collector's
ingress ports with their protocols, the allocator's ingress and its egress to the API server only."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import BuildOptions, defaults, featuregates, naming
from otel_operator.manifests.build import collector_params
from otel_operator.manifests.model import Object
from otel_operator.manifests.networkpolicy import (
    allocator_network_policy,
    api_server_egress,
    collector_network_policy,
)
from otel_operator.manifests.params import AllocatorParams, Resource
from tests.unit.manifests.common import allocating, built, collector, everything

GATE_OFF = BuildOptions(feature_gates=featuregates.DEFAULT_ENABLED - {featuregates.OPERAND_NETWORK_POLICY})
SELECTOR = {
    "app.kubernetes.io/component": "opentelemetry-collector",
    "app.kubernetes.io/instance": "ns.c",
    "app.kubernetes.io/managed-by": "opentelemetry-operator",
    "app.kubernetes.io/part-of": "opentelemetry",
}
ALLOCATOR_SELECTOR = SELECTOR | {"app.kubernetes.io/component": "opentelemetry-targetallocator"}


def policies(resource: dict[str, Any], options: BuildOptions | None = None) -> dict[str, Object]:
    result = built(resource, options=options or BuildOptions())
    return {o["metadata"]["name"]: o for o in everything(result) if o["kind"] == "NetworkPolicy"}


@pytest.mark.parametrize(
    ("network_policy", "options", "expected"),
    [
        (None, BuildOptions(), ["c-collector-networkpolicy", "c-targetallocator-networkpolicy"]),  # gate on in 0.158
        ({}, BuildOptions(), ["c-collector-networkpolicy", "c-targetallocator-networkpolicy"]),
        ({"enabled": True}, BuildOptions(), ["c-collector-networkpolicy", "c-targetallocator-networkpolicy"]),
        ({"enabled": False}, BuildOptions(), []),  # the embedded allocator copies the collector's setting
        (None, GATE_OFF, []),
        ({"enabled": True}, GATE_OFF, ["c-collector-networkpolicy", "c-targetallocator-networkpolicy"]),
    ],
)
def test_when_there_are_policies(
    network_policy: dict[str, Any] | None, options: BuildOptions, expected: list[str]
) -> None:
    resource = allocating()
    if network_policy is not None:
        resource["spec"]["networkPolicy"] = network_policy
    assert sorted(policies(resource, options)) == expected


def test_collector_policy() -> None:
    config = {
        "receivers": {
            "otlp": {"protocols": {"grpc": {}, "http": {}}},
            "statsd": {},
            "jaeger": {"protocols": {"thrift_compact": {}}},
        },
        "exporters": {"prometheus": {"endpoint": "0.0.0.0:9464"}},
        "extensions": {"jaeger_query": {}},
        "service": {
            "extensions": ["jaeger_query"],
            "pipelines": {
                "traces": {"receivers": ["otlp", "jaeger"], "exporters": ["prometheus"]},
                "metrics": {"receivers": ["statsd"], "exporters": ["prometheus"]},
            },
        },
    }
    resource = collector(
        config=config,
        labels={"team": "a"},
        annotations={"note": "kept"},
        ports=[{"name": "extra", "port": 9999}, {"name": "again", "port": 4317}],
    )
    policy = policies(resource)["c-collector-networkpolicy"]
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["metadata"]["namespace"] == "ns"
    assert policy["metadata"]["labels"]["app.kubernetes.io/name"] == "c-collector-networkpolicy"
    assert policy["metadata"]["labels"]["team"] == "a"
    assert policy["metadata"]["annotations"] == {"note": "kept"}
    assert policy["spec"]["podSelector"] == {"matchLabels": SELECTOR}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert "egress" not in policy["spec"]  # exporters send anywhere
    [rule] = policy["spec"]["ingress"]
    assert "from" not in rule
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [
        ("TCP", 4317),  # otlp-grpc and the declared "again": once
        ("TCP", 4318),
        ("TCP", 8888),  # metrics
        ("TCP", 9464),  # the prometheus exporter
        ("TCP", 9999),
        ("TCP", 16686),  # jaeger_query
        ("UDP", 6831),  # a UDP receiver stays UDP (upstream writes TCP)
        ("UDP", 8125),
    ]


def test_no_policy_for_a_sidecar() -> None:
    resource = defaults.collector(collector(mode="sidecar"))
    assert collector_network_policy(collector_params(resource, BuildOptions())) is None


def allocator(spec: dict[str, Any], options: BuildOptions | None = None, **resource_labels: str) -> AllocatorParams:
    resource = Resource("TargetAllocator", "c", "ns", resource_labels, {"note": "kept"})
    return AllocatorParams(resource, spec, None, {}, "", options or BuildOptions())


ENDPOINTS = (("10.0.0.2", 6443), ("10.0.0.1", 6443), ("10.96.0.1", 443), ("10.0.0.1", 6443))


def test_allocator_policy() -> None:
    policy = allocator_network_policy(allocator({}, BuildOptions(api_server_endpoints=ENDPOINTS), team="a"))
    assert isinstance(policy, dict)
    meta = policy["metadata"]
    assert (meta["name"], meta["namespace"], meta["annotations"]) == (
        "c-targetallocator-networkpolicy",
        "ns",
        {"note": "kept"},
    )
    assert meta["labels"]["app.kubernetes.io/name"] == "c-targetallocator-networkpolicy"
    assert meta["labels"]["team"] == "a"
    # the version of the image the allocator runs (upstream: its status.image)
    assert meta["labels"]["app.kubernetes.io/version"] == BuildOptions().allocator_image.rpartition(":")[2]
    # all of the allocator's pods: the selector labels without app.kubernetes.io/name
    assert policy["spec"]["podSelector"] == {"matchLabels": ALLOCATOR_SELECTOR}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]
    assert policy["spec"]["egress"] == [
        {"ports": [{"protocol": "TCP", "port": 443}], "to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}]},
        {
            "ports": [{"protocol": "TCP", "port": 6443}],
            "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}, {"ipBlock": {"cidr": "10.0.0.2/32"}}],
        },
    ]


def test_allocator_ingress_ports() -> None:
    spec = {
        "mtls": {"enabled": True},
        "ports": [{"name": "debug", "port": 6060}, {"name": "dns", "port": 53, "protocol": "UDP"}],
    }
    policy = allocator_network_policy(allocator(spec))
    assert isinstance(policy, dict)
    assert policy["spec"]["ingress"] == [
        {
            "ports": [
                {"protocol": "TCP", "port": 8080},
                {"protocol": "TCP", "port": 8443},
                {"protocol": "TCP", "port": 6060},
                {"protocol": "UDP", "port": 53},
            ]
        }
    ]


def test_allocator_without_known_api_server_restricts_ingress_only() -> None:
    # render (no cluster), or EndpointSlices not readable: never a policy that cuts the allocator off
    policy = allocator_network_policy(allocator({}))
    assert isinstance(policy, dict)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert "egress" not in policy["spec"]


@pytest.mark.parametrize(
    ("endpoints", "expected"),
    [
        ((), []),
        ((("not-an-ip", 443), ("10.0.0.1", 0)), []),
        (
            (("fd00::1", 6443), ("10.0.0.1", 6443)),
            [
                {
                    "ports": [{"protocol": "TCP", "port": 6443}],
                    "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}, {"ipBlock": {"cidr": "fd00::1/128"}}],
                }
            ],
        ),
    ],
)
def test_api_server_egress(endpoints: tuple[tuple[str, int], ...], expected: list[dict[str, Any]]) -> None:
    assert api_server_egress(endpoints) == expected


@pytest.mark.parametrize(
    ("spec", "options", "wanted"),
    [
        ({}, BuildOptions(), True),
        ({"networkPolicy": {"enabled": False}}, BuildOptions(), False),
        ({}, GATE_OFF, False),
        ({"networkPolicy": {"enabled": True}}, GATE_OFF, True),
    ],
)
def test_standalone_allocator_policy_switch(spec: dict[str, Any], options: BuildOptions, wanted: bool) -> None:
    assert (allocator_network_policy(allocator(spec, options)) is not None) is wanted


def test_a_target_allocator_resource_gets_its_policy() -> None:
    resource = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {"name": "shared", "namespace": "ns"},
        "spec": {"scrapeConfigs": [{"job_name": "j", "static_configs": [{"targets": ["a:1"]}]}]},
    }
    result = built(resource, options=BuildOptions(api_server_endpoints=(("10.0.0.1", 6443),)))
    [policy] = [o for o in result.objects if o["kind"] == "NetworkPolicy"]
    assert policy["metadata"]["name"] == "shared-targetallocator-networkpolicy"
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_names_are_truncated_like_upstreams() -> None:
    long = "a" * 60
    assert (
        naming.collector_network_policy(long) == "a" * 39 + "-collector-networkpolicy"
    )  # the name is cut, never the suffix
    assert naming.allocator_network_policy(long) == "a" * 33 + "-targetallocator-networkpolicy"
    assert naming.collector_network_policy("My.Collector") == "my-collector-collector-networkpolicy"
