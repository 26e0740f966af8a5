"""The embedded target allocator as a TargetAllocator resource (upstream 0.127+), on a real API server: an upgrade
from an operator that owned the allocator's objects directly adopts them in place (same Deployment, no restart);
what the operator learns of the cluster (optional APIs, the API server's addresses); a DaemonSet collector's READY
column."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.manifests import BuildOptions, build, featuregates
from otel_operator.reconcile.collector import sync
from otel_operator.reconcile.discovery import api_server_endpoints, served_apis
from otel_operator.reconcile.kube import Kube
from tests.integration.conftest import collectors_in, wait_for
from tests.integration.test_reconcile import guide_collector

pytestmark = pytest.mark.integration

NS = "allocator-resource-test"
GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
MERGE = "application/merge-patch+json"


@pytest.fixture
async def custom(api: ApiClient, operator: None) -> AsyncIterator[client.CustomObjectsApi]:
    async with collectors_in(api, NS) as custom:
        yield custom


def in_namespace(body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["metadata"]["namespace"] = NS
    return body


async def test_an_upgrade_adopts_the_allocator_objects_an_older_operator_owned(
    api: ApiClient, custom: client.CustomObjectsApi
) -> None:
    apps = client.AppsV1Api(api)
    body = in_namespace(guide_collector("upgraded"))
    body["spec"]["managementState"] = "unmanaged"  # the running operator keeps off while we play the old one
    owner = await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    old = BuildOptions(feature_gates=featuregates.DEFAULT_ENABLED - {featuregates.TARGET_ALLOCATOR_CR})
    managed = copy.deepcopy(owner)
    managed["spec"]["managementState"] = "managed"
    built = build(managed, old)
    assert not built.allocator_objects  # before 0.127: the collector owns the allocator's objects itself
    await sync(Kube(api), owner, built.objects, versioned_prefix="upgraded-collector-")
    before = await apps.read_namespaced_deployment("upgraded-targetallocator", NS)
    assert [r.kind for r in before.metadata.owner_references] == ["OpenTelemetryCollector"]

    await custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "upgraded", {"spec": {"managementState": "managed"}}, _content_type=MERGE
    )

    async def adopted() -> Any:
        found = await apps.read_namespaced_deployment("upgraded-targetallocator", NS)
        refs = found.metadata.owner_references or []
        return found if [r.kind for r in refs] == ["TargetAllocator"] else None

    after = await wait_for(adopted, within=30, what="the allocator Deployment adopted by the TargetAllocator")
    assert after.metadata.uid == before.metadata.uid  # the same object: never deleted, so no allocator downtime
    assert after.spec.template.metadata.annotations == before.spec.template.metadata.annotations  # no rollout
    allocator = await custom.get_namespaced_custom_object(GROUP, "v1alpha1", NS, "targetallocators", "upgraded")
    assert after.metadata.owner_references[0].uid == allocator["metadata"]["uid"]


async def test_the_operator_learns_what_the_cluster_serves(api: ApiClient, crds: list[str]) -> None:
    kube = Kube(api)
    apis = await served_apis(kube)
    assert "monitoring.coreos.com/v1" in apis  # the stand-in CRDs the tests install
    assert "route.openshift.io/v1" not in apis  # not OpenShift
    # The local control plane runs without the endpoint reconciler (it cannot publish 127.0.0.1), so publish an
    # EndpointSlice as kube-apiserver would (a documentation address: nothing is ever sent to it).
    published = set(await api_server_endpoints(kube))  # empty here; a real cluster's own addresses elsewhere
    discovery = client.DiscoveryV1Api(api)
    await discovery.create_namespaced_endpoint_slice(
        "default",
        {
            "metadata": {"name": "kubernetes-probe", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["192.0.2.10"]}, {"addresses": ["192.0.2.11"]}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        },
    )
    try:
        found = await api_server_endpoints(kube)
        assert set(found) == published | {("192.0.2.10", 6443), ("192.0.2.11", 6443)}
        assert list(found) == sorted(found)  # deterministic: the NetworkPolicy built from it does not flap
    finally:
        await discovery.delete_namespaced_endpoint_slice("kubernetes-probe", "default")


async def test_a_daemonset_collector_reports_its_scale(api: ApiClient, custom: client.CustomObjectsApi) -> None:
    body = in_namespace(guide_collector("nodes"))
    body["spec"]["mode"] = "daemonset"
    body["spec"].pop("targetAllocator")
    await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)

    async def scaled() -> Any:
        obj = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "nodes")
        return (obj.get("status") or {}).get("scale")

    scale = await wait_for(scaled, within=30, what="status.scale of a daemonset collector")
    # no node runs here: nothing is scheduled, and kubectl's READY column says so
    assert scale["statusReplicas"] == "0/0"
    assert "app.kubernetes.io/instance=allocator-resource-test.nodes" in scale["selector"]


async def test_a_selector_change_replaces_the_allocator_deployment_instead_of_failing_forever(
    api: ApiClient, custom: client.CustomObjectsApi
) -> None:
    """Upstream's e2e targetallocator-features step 02: a collector label app.kubernetes.io/name changes the
    allocator's selector, which a Deployment cannot change in place (422): it is replaced, once."""
    apps = client.AppsV1Api(api)
    await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, in_namespace(guide_collector("renamed")))
    before = await wait_for(
        lambda: _deployment(apps, "renamed-targetallocator"), within=30, what="the allocator Deployment"
    )
    await custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "renamed",
        {"metadata": {"labels": {"app.kubernetes.io/name": "test"}}},
        _content_type=MERGE,
    )

    async def replaced() -> Any:
        found = await _deployment(apps, "renamed-targetallocator")
        if found is None or found.metadata.uid == before.metadata.uid:
            return None
        return found if found.spec.selector.match_labels.get("app.kubernetes.io/name") == "test" else None

    after = await wait_for(replaced, within=30, what="the allocator Deployment replaced with the new selector")
    assert after.metadata.labels["app.kubernetes.io/name"] == "test"
    await asyncio.sleep(3)  # and then it stays: no loop of replacements
    final = await _deployment(apps, "renamed-targetallocator")
    assert final is not None
    assert final.metadata.uid == after.metadata.uid


async def _deployment(apps: client.AppsV1Api, name: str) -> Any:
    try:
        return await apps.read_namespaced_deployment(name, NS)
    except ApiException as err:
        if err.status == 404:
            return None
        raise
