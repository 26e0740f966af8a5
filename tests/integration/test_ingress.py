"""Exposing a collector on a real kube-apiserver: spec.ingress type ingress creates `<name>-ingress`, a changed
hostname changes it, removing spec.ingress prunes it; the extension Service and the Service fields are accepted by
the API server; and where the Route and Gateway APIs are not served (as here) a route or httpRoute is a warning
condition and an Event, not a failure."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from tests.integration.conftest import collectors_in, wait_for

pytestmark = pytest.mark.integration

NS = "ingress-test"
GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"

CONFIG: dict[str, Any] = {
    "receivers": {"otlp": {"protocols": {"grpc": {}, "http": {}}}},
    "exporters": {"debug": {}},
    "extensions": {"health_check": {}},
    "service": {
        "extensions": ["health_check"],
        "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}},
    },
}


def collector(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"mode": "deployment", "config": copy.deepcopy(CONFIG), **spec},
    }


@pytest.fixture
async def objects(api: ApiClient, operator: None) -> AsyncIterator[client.CustomObjectsApi]:
    async with collectors_in(api, NS) as custom:
        yield custom


async def reconciled(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        obj: dict[str, Any] = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
        status = obj.get("status") or {}
        conditions = {c["type"] for c in status.get("conditions") or []}
        return (
            obj if status.get("observedGeneration") == obj["metadata"]["generation"] and "Ready" in conditions else None
        )

    found: dict[str, Any] = await wait_for(done, within=30, what=f"{name} reconciled")
    return found


async def edited(custom: client.CustomObjectsApi, name: str, change: Callable[[dict[str, Any]], Any]) -> None:
    """`change` applied to the collector's spec, written back whole (a conflict means try again)."""
    for _ in range(5):
        obj = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
        change(obj["spec"])
        try:
            await custom.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, obj)
            return
        except ApiException as err:
            if err.status != 409:
                raise
    raise AssertionError(f"could not update {name}")


async def read_ingress(api: ApiClient, name: str) -> Any:
    try:
        return await client.NetworkingV1Api(api).read_namespaced_ingress(name, NS)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


async def test_ingress_is_created_changed_and_pruned(api: ApiClient, objects: client.CustomObjectsApi) -> None:
    body = collector(
        "exposed",
        ingress={"type": "ingress", "hostname": "a.example.com", "annotations": {"example.com/x": "1"}},
        sessionAffinity="ClientIP",
        trafficDistribution="PreferClose",
    )
    await objects.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    owner = await reconciled(objects, "exposed")
    ingress = await wait_for(lambda: read_ingress(api, "exposed-ingress"), within=20, what="the Ingress")
    refs = ingress.metadata.owner_references or []
    assert [(r.kind, r.name, r.uid, r.controller) for r in refs] == [
        ("OpenTelemetryCollector", "exposed", owner["metadata"]["uid"], True)
    ]
    assert ingress.metadata.annotations["example.com/x"] == "1"
    [rule] = ingress.spec.rules
    assert rule.host == "a.example.com"
    assert [(p.path, p.backend.service.name, p.backend.service.port.name) for p in rule.http.paths] == [
        ("/otlp-grpc", "exposed-collector", "otlp-grpc"),
        ("/otlp-http", "exposed-collector", "otlp-http"),
    ]

    core = client.CoreV1Api(api)
    extension = await wait_for(
        lambda: core.read_namespaced_service("exposed-collector-extension", NS), within=20, what="extension Service"
    )
    assert [(p.name, p.port) for p in extension.spec.ports] == [("health-check", 13133)]
    assert extension.metadata.labels["operator.opentelemetry.io/collector-service-type"] == "extension"
    monitoring = await core.read_namespaced_service("exposed-collector-monitoring", NS)
    assert monitoring.spec.session_affinity == "ClientIP"
    assert monitoring.spec.traffic_distribution == "PreferClose"

    await edited(objects, "exposed", lambda spec: spec["ingress"].update(hostname="b.example.com"))

    async def rehosted() -> bool:
        current = await read_ingress(api, "exposed-ingress")
        return current is not None and current.spec.rules[0].host == "b.example.com"

    await wait_for(rehosted, within=20, what="the Ingress on the new hostname")

    await edited(objects, "exposed", lambda spec: spec.pop("ingress"))

    async def pruned() -> bool:
        return await read_ingress(api, "exposed-ingress") is None

    await wait_for(pruned, within=20, what="the Ingress pruned")
    # the rest of the collector stays
    assert await core.read_namespaced_service("exposed-collector", NS) is not None


async def test_route_and_http_route_without_their_apis_are_warnings(
    api: ApiClient, objects: client.CustomObjectsApi
) -> None:
    body = collector(
        "openshiftless",
        ingress={"type": "route", "hostname": "apps.example.com"},
        httpRoute={"enabled": True, "gateway": "public"},
    )
    await objects.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    owner = await reconciled(objects, "openshiftless")
    conditions = {c["type"]: c for c in owner["status"]["conditions"]}
    warning = conditions["ConfigurationWarning"]
    assert warning["status"] == "True"
    assert "spec.ingress.type: route: this cluster does not serve route.openshift.io/v1" in warning["message"]
    assert "spec.httpRoute.enabled: this cluster does not serve gateway.networking.k8s.io/v1" in warning["message"]
    # built all the same: no failure, the collector's objects exist
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    await wait_for(
        lambda: apps.read_namespaced_deployment("openshiftless-collector", NS), within=20, what="the Deployment"
    )
    service = await wait_for(
        lambda: core.read_namespaced_service("openshiftless-collector", NS), within=20, what="the Service"
    )
    # upstream sets h2c for gRPC by the ingress type, whether or not Routes are served
    assert {p.name: p.app_protocol for p in service.spec.ports}["otlp-grpc"] == "h2c"

    async def warned() -> bool:
        events = await core.list_namespaced_event(NS, field_selector="involvedObject.name=openshiftless")
        return any(e.reason == "ConfigurationWarning" and "route.openshift.io/v1" in e.message for e in events.items)

    await wait_for(warned, within=20, what="a ConfigurationWarning Event")
