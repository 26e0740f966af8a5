"""The troubleshooting guide end to end: apply its Service, ServiceMonitor and OpenTelemetryCollector; the operator
writes the collector and allocator objects; the StatefulSet's pod is bound and running (as a kubelet would report
it); the allocator runs with the configuration the operator wrote; `/jobs` lists the guide's ServiceMonitor job and
the app pod's target is `otelcol-collector-0`'s."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

import standin
from otel_operator.allocator.app import Allocator, serve
from otel_operator.allocator.config import load_config
from tests.integration.conftest import ROOT, ensure_namespace, wait_for

pytestmark = pytest.mark.integration

NS = "opentelemetry"
NODE = "guide-node"
JOB = "serviceMonitor/opentelemetry/sm-example/0"
APP_POD: dict[str, Any] = {
    "metadata": {
        "name": "py-prometheus-app-guide",
        "namespace": NS,
        "labels": {"app": "my-app", "app.kubernetes.io/name": "py-prometheus-app"},
    },
    "spec": {"containers": [{"name": "my-app", "image": "py-prometheus-app:0.1.0", "ports": [
        {"name": "prom", "containerPort": 8080}]}]},
}  # fmt: skip


def guide() -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text())
    return {d["kind"]: d for d in docs}


@pytest.fixture
async def applied(api: ApiClient, crds: list[str], operator: None) -> AsyncIterator[dict[str, dict[str, Any]]]:
    docs = guide()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    await ensure_namespace(api, NS)
    with contextlib.suppress(ApiException):
        await core.create_namespaced_service_account(NS, {"metadata": {"name": "opentelemetry-targetallocator-sa"}})
    await core.create_namespaced_service(NS, docs["Service"])
    monitor, collector = docs["ServiceMonitor"], docs["OpenTelemetryCollector"]
    await custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "servicemonitors", monitor)
    await custom.create_namespaced_custom_object(
        "opentelemetry.io", "v1beta1", NS, "opentelemetrycollectors", collector
    )
    try:
        yield docs
    finally:
        with contextlib.suppress(ApiException):
            await custom.delete_namespaced_custom_object(
                "opentelemetry.io", "v1beta1", NS, "opentelemetrycollectors", "otelcol"
            )
        with contextlib.suppress(ApiException):
            await custom.delete_namespaced_custom_object(
                "monitoring.coreos.com", "v1", NS, "servicemonitors", "sm-example"
            )
        with contextlib.suppress(ApiException):
            await core.delete_namespaced_service("py-prometheus-app", NS)
        for pod in ("py-prometheus-app-guide", "otelcol-collector-0"):
            with contextlib.suppress(ApiException):
                await core.delete_namespaced_pod(pod, NS, grace_period_seconds=0)

        async def gone() -> bool:  # the next tests use the guide's names again
            try:
                await custom.get_namespaced_custom_object(
                    "opentelemetry.io", "v1beta1", NS, "opentelemetrycollectors", "otelcol"
                )
            except ApiException as err:
                return err.status == 404
            return False

        await wait_for(gone, within=30, what="the guide's collector deleted")


async def test_the_guide_works_end_to_end(api: ApiClient, kubeconfig: str, applied: dict[str, Any]) -> None:
    core = client.CoreV1Api(api)

    async def allocator_config() -> str | None:
        try:
            cm = await core.read_namespaced_config_map("otelcol-targetallocator", NS)
        except ApiException:
            return None
        text: str = cm.data["targetallocator.yaml"]
        return text

    text = await wait_for(allocator_config, within=30, what="the allocator's ConfigMap written by the operator")

    async def collector_pod() -> Any:
        try:
            return await core.read_namespaced_pod("otelcol-collector-0", NS)
        except ApiException:
            return None

    pod = await wait_for(collector_pod, within=30, what="the StatefulSet's pod, created by kube-controller-manager")
    await standin.ready_node(api, NODE, "192.168.0.30")
    await standin.running_pod(
        api, {"metadata": {"name": pod.metadata.name, "namespace": NS}, "spec": {"containers": [
            {"name": "otc-container", "image": pod.spec.containers[0].image}]}}, NODE, "10.244.3.20",
    )  # fmt: skip
    await standin.running_pod(api, APP_POD, NODE, "10.244.3.11")

    # the allocator, with the operator's configuration (only where to listen and how to reach the API differ)
    config = yaml.safe_load(text)
    # the namespace as the pod's OTELCOL_NAMESPACE gives it (upstream's file does not carry it)
    config |= {"listen_addr": "127.0.0.1:0", "kube_config_file_path": kubeconfig, "collector_namespace": NS}
    cfg = client.Configuration()
    await kube_config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    allocator = Allocator(load_config(yaml.safe_dump(config)), ApiClient(configuration=cfg), namespace=NS)
    listeners = await serve(allocator)
    await allocator.start()
    base = f"http://127.0.0.1:{listeners.ports['http']}"
    try:
        async with aiohttp.ClientSession() as http:

            async def answer() -> Any:
                async with http.get(f"{base}/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets") as r:
                    if r.status == 503:  # not every first list seen yet: no assignment is served
                        return None
                    body = await r.json()
                groups = body.get("otelcol-collector-0", {}).get("targets", [])
                return body if any(g["targets"] == ["10.244.3.11:8080"] for g in groups) else None

            body = await wait_for(answer, within=60, what="the app pod's target under otelcol-collector-0")
            assert body["otelcol-collector-0"]["_link"] == (
                "/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets?collector_id=otelcol-collector-0"
            )
            async with http.get(f"{base}/jobs") as r:
                jobs = await r.json()
            assert jobs[JOB] == {"_link": "/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets"}
            assert jobs["otel-collector"] == {"_link": "/jobs/otel-collector/targets"}
    finally:
        await allocator.stop()
        await listeners.close()
        if allocator.api is not None:
            await allocator.api.close()
