"""NetworkPolicies and ServiceMonitors on a real API server (the stand-in monitoring.coreos.com CRDs are installed):
a collector with enableMetrics, a prometheus exporter and its allocator gets both NetworkPolicies (the allocator's
egress only to the addresses EndpointSlice default/kubernetes lists) and three ServiceMonitors; turning
enableMetrics off prunes the ServiceMonitors, networkPolicy.enabled: false prunes the NetworkPolicies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from tests.integration.conftest import collectors_in, wait_for

pytestmark = pytest.mark.integration

NS = "netpol-servicemonitor-test"
GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
MONITORING = ("monitoring.coreos.com", "v1", "servicemonitors")
MERGE = "application/merge-patch+json"
NAME = "watched"
POLICIES = (f"{NAME}-collector-networkpolicy", f"{NAME}-targetallocator-networkpolicy")
MONITORS = (f"{NAME}-monitoring-collector", f"{NAME}-collector", f"{NAME}-targetallocator")


def watched_collector() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "mode": "statefulset",
            "observability": {"metrics": {"enableMetrics": True, "extraLabels": {"release": "kube-prometheus"}}},
            "config": {
                "receivers": {
                    "prometheus": {
                        "config": {
                            "scrape_configs": [{"job_name": "app", "static_configs": [{"targets": ["10.0.0.1:8080"]}]}]
                        }
                    }
                },
                "exporters": {"prometheus": {"endpoint": "0.0.0.0:9464"}},
                "service": {"pipelines": {"metrics": {"receivers": ["prometheus"], "exporters": ["prometheus"]}}},
            },
            "targetAllocator": {"enabled": True, "observability": {"metrics": {"enableMetrics": True}}},
        },
    }


@pytest.fixture
async def custom(api: ApiClient, operator: None) -> AsyncIterator[client.CustomObjectsApi]:
    async with collectors_in(api, NS) as custom:
        yield custom


async def policies(api: ApiClient) -> dict[str, Any]:
    listed = await client.NetworkingV1Api(api).list_namespaced_network_policy(NS)
    return {p.metadata.name: api.sanitize_for_serialization(p) for p in listed.items}


async def monitors(custom: client.CustomObjectsApi) -> dict[str, Any]:
    listed = await custom.list_namespaced_custom_object(*MONITORING[:2], NS, MONITORING[2])
    return {m["metadata"]["name"]: m for m in listed["items"]}


# The local control plane runs without the endpoint reconciler (it cannot publish 127.0.0.1), so the test publishes
# the API server's EndpointSlice itself, with documentation addresses (nothing is ever sent to them).
PUBLISHED = {("192.0.2.20", 6443), ("192.0.2.21", 6443)}
PROBE_SLICE = "kubernetes-netpol-probe"
FACTS_CACHE_SECONDS = 30  # how long the operator remembers the API server's addresses (reconcile/discovery.py)


@pytest.fixture
async def api_server_slice(api: ApiClient) -> AsyncIterator[float]:
    discovery = client.DiscoveryV1Api(api)
    await discovery.create_namespaced_endpoint_slice(
        "default",
        {
            "metadata": {"name": PROBE_SLICE, "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip]} for ip, _ in sorted(PUBLISHED)],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        },
    )
    yield time.monotonic()
    await discovery.delete_namespaced_endpoint_slice(PROBE_SLICE, "default")


async def api_server_addresses(api: ApiClient) -> set[tuple[str, int]]:
    slices = await client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=kubernetes"
    )
    endpoints = {
        (address, port.port)
        for item in slices.items
        for port in item.ports or []
        for endpoint in item.endpoints or []
        for address in endpoint.addresses or []
    }
    # and the Service's own cluster IPs: some network plugins check egress before translating the Service address
    service = await client.CoreV1Api(api).read_namespaced_service("kubernetes", "default")
    ips = service.spec.cluster_ips or [service.spec.cluster_ip]
    return endpoints | {(ip, port.port) for ip in ips for port in service.spec.ports or []}


def egress_allowed(policy: dict[str, Any]) -> set[tuple[str, int]]:
    return {
        (peer["ipBlock"]["cidr"].partition("/")[0], port["port"])
        for rule in policy["spec"].get("egress") or []
        for port in rule["ports"]
        for peer in rule["to"]
    }


async def test_policies_and_monitors_follow_the_spec(
    api: ApiClient, custom: client.CustomObjectsApi, api_server_slice: float
) -> None:
    await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, watched_collector())

    async def all_there() -> tuple[dict[str, Any], dict[str, Any]] | None:
        found_policies, found_monitors = await policies(api), await monitors(custom)
        if set(POLICIES) <= set(found_policies) and set(MONITORS) <= set(found_monitors):
            return found_policies, found_monitors
        return None

    found_policies, found_monitors = await wait_for(all_there, within=60, what="NetworkPolicies and ServiceMonitors")

    collector_policy = found_policies[POLICIES[0]]
    assert collector_policy["spec"]["policyTypes"] == ["Ingress"]
    assert {(p["protocol"], p["port"]) for p in collector_policy["spec"]["ingress"][0]["ports"]} == {
        ("TCP", 8888),
        ("TCP", 9464),
    }
    allocator_policy = found_policies[POLICIES[1]]
    assert allocator_policy["spec"]["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
    # egress only to the kubernetes Service: its cluster IPs and its EndpointSlices' addresses (TCP, <ip>/32)
    expected = await api_server_addresses(api)
    assert expected >= PUBLISHED
    if egress_allowed(allocator_policy) != expected:
        # the operator learnt the addresses before the slice was published (an earlier test): once its memory of
        # them expires, a deleted policy comes back (drift repair) built from the current ones
        await asyncio.sleep(max(0.0, api_server_slice + FACTS_CACHE_SECONDS + 1 - time.monotonic()))
        await client.NetworkingV1Api(api).delete_namespaced_network_policy(POLICIES[1], NS)

        async def rebuilt() -> dict[str, Any] | None:
            policy = (await policies(api)).get(POLICIES[1])
            return policy if policy and egress_allowed(policy) == expected else None

        allocator_policy = await wait_for(rebuilt, within=30, what="the allocator's policy with the API server")
    assert allocator_policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert {p["protocol"] for rule in allocator_policy["spec"]["egress"] for p in rule["ports"]} == {"TCP"}

    assert found_monitors[MONITORS[0]]["spec"]["endpoints"] == [{"port": "monitoring"}]
    assert found_monitors[MONITORS[0]]["metadata"]["labels"]["release"] == "kube-prometheus"
    assert found_monitors[MONITORS[1]]["spec"]["endpoints"] == [{"port": "prometheus"}]
    assert found_monitors[MONITORS[2]]["spec"]["endpoints"] == [{"port": "targetallocation"}]
    # each selects an existing Service of the collector or allocator
    services = await client.CoreV1Api(api).list_namespaced_service(NS)
    for name in MONITORS:
        wanted = found_monitors[name]["spec"]["selector"]["matchLabels"].items()
        assert [s.metadata.name for s in services.items if wanted <= (s.metadata.labels or {}).items()], name

    # enableMetrics off (collector and allocator): the ServiceMonitors are pruned, the policies stay
    off = {"observability": {"metrics": {"enableMetrics": False}}}
    await custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, NAME, {"spec": {**off, "targetAllocator": off}}, _content_type=MERGE
    )

    async def monitors_pruned() -> bool:
        return not set(MONITORS) & set(await monitors(custom))

    await wait_for(monitors_pruned, within=60, what="ServiceMonitors pruned")
    assert set(POLICIES) <= set(await policies(api))

    # networkPolicy disabled: both policies are pruned (the allocator copies the collector's setting)
    await custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, NAME, {"spec": {"networkPolicy": {"enabled": False}}}, _content_type=MERGE
    )

    async def policies_pruned() -> bool:
        return not set(POLICIES) & set(await policies(api))

    await wait_for(policies_pruned, within=60, what="NetworkPolicies pruned")
