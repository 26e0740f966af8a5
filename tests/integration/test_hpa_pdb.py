"""spec.autoscaler and PodDisruptionBudgets on a real kube-apiserver with kube-controller-manager (all controllers,
the HPA controller among them):

- the HorizontalPodAutoscaler `<name>-collector` is accepted and targets the OpenTelemetryCollector; raising
  minReplicas makes the HPA controller write the collector's spec.replicas through the scale subresource, and the
  StatefulSet follows; lowering minReplicas again leaves the replicas the HPA set (the operator never fights it);
  removing spec.autoscaler prunes the HPA;
- a statefulset collector gets the default PDB (maxUnavailable 1), a given one replaces it, a daemonset gets none;
- deleting the collector garbage-collects its HPA and PDB.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from tests.integration.conftest import collectors_in, wait_for

pytestmark = pytest.mark.integration

NS = "hpa-pdb-test"
GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
MERGE = "application/merge-patch+json"
HPA_SYNC = 90  # the HPA controller syncs every 15 s; leave room for a slow, shared machine

CONFIG: dict[str, Any] = {
    "receivers": {"otlp": {"protocols": {"grpc": {}}}},
    "exporters": {"debug": {}},
    "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}},
}


def collector(name: str, mode: str = "statefulset", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"mode": mode, "config": copy.deepcopy(CONFIG), **spec},
    }


@pytest.fixture
async def objects(api: ApiClient, operator: None) -> AsyncIterator[client.CustomObjectsApi]:
    async with collectors_in(api, NS) as custom:
        yield custom


async def absent_or(read: Callable[[], Awaitable[Any]]) -> Any:
    """What `read` returns, or None for a 404."""
    try:
        return await read()
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def hpa_reader(api: ApiClient, name: str) -> Callable[[], Awaitable[Any]]:
    return lambda: absent_or(lambda: client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler(name, NS))


def pdb_reader(api: ApiClient, name: str) -> Callable[[], Awaitable[Any]]:
    return lambda: absent_or(lambda: client.PolicyV1Api(api).read_namespaced_pod_disruption_budget(name, NS))


async def statefulset_replicas(api: ApiClient, name: str) -> int | None:
    sts = await absent_or(lambda: client.AppsV1Api(api).read_namespaced_stateful_set(name, NS))
    return None if sts is None else int(sts.spec.replicas)


async def reconciled(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    """The collector once the operator has reconciled its current generation."""

    async def done() -> dict[str, Any] | None:
        obj: dict[str, Any] = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
        status = obj.get("status") or {}
        ready = any(c["type"] == "Ready" for c in status.get("conditions") or [])
        return obj if ready and status.get("observedGeneration") == obj["metadata"]["generation"] else None

    found: dict[str, Any] = await wait_for(done, within=30, what=f"{name} reconciled")
    return found


async def patch(custom: client.CustomObjectsApi, name: str, spec: dict[str, Any]) -> None:
    await custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name, {"spec": spec}, _content_type=MERGE)


async def spec_replicas(custom: client.CustomObjectsApi, name: str) -> int:
    obj = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
    return int(obj["spec"]["replicas"])


async def test_the_hpa_scales_the_collector_and_the_operator_follows(
    api: ApiClient, objects: client.CustomObjectsApi
) -> None:
    await objects.create_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, collector("scaled", replicas=1, autoscaler={"minReplicas": 1, "maxReplicas": 5})
    )
    owner = await reconciled(objects, "scaled")
    hpa = await wait_for(hpa_reader(api, "scaled-collector"), within=20, what="the HPA")
    target = hpa.spec.scale_target_ref
    assert (target.api_version, target.kind, target.name) == (
        "opentelemetry.io/v1beta1",
        "OpenTelemetryCollector",
        "scaled",
    )
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 5)
    assert [(m.type, m.resource.name, m.resource.target.average_utilization) for m in hpa.spec.metrics] == [
        ("Resource", "cpu", 90)  # the webhook's default target
    ]
    [ref] = hpa.metadata.owner_references
    assert (ref.kind, ref.name, ref.uid) == ("OpenTelemetryCollector", "scaled", owner["metadata"]["uid"])

    # the HPA controller reads the collector's scale subresource
    async def able_to_scale() -> bool:
        current = await hpa_reader(api, "scaled-collector")()
        conditions = {c.type: c.status for c in (current.status.conditions or [])} if current else {}
        return conditions.get("AbleToScale") == "True"

    await wait_for(able_to_scale, within=HPA_SYNC, interval=1, what="the HPA able to scale the collector")

    # a minimum above spec.replicas: the HPA controller (not the operator) raises the collector's spec.replicas
    await patch(objects, "scaled", {"autoscaler": {"minReplicas": 3}})

    async def scaled_up() -> bool:
        return await spec_replicas(objects, "scaled") == 3 and await statefulset_replicas(api, "scaled-collector") == 3

    await wait_for(scaled_up, within=HPA_SYNC, interval=1, what="spec.replicas 3 (by the HPA) and the StatefulSet")

    # a lower minimum: the HPA (without metrics) keeps 3, and the operator keeps the StatefulSet at what it set
    await patch(objects, "scaled", {"autoscaler": {"minReplicas": 1}})
    await reconciled(objects, "scaled")
    await wait_for(
        lambda: _min_replicas(api, "scaled-collector", 1), within=20, what="the HPA's minReplicas lowered to 1"
    )
    await asyncio.sleep(5)  # a reconcile that reset the StatefulSet would have done so by now
    assert await spec_replicas(objects, "scaled") == 3
    assert await statefulset_replicas(api, "scaled-collector") == 3

    # no autoscaler: the HPA is pruned, the StatefulSet keeps spec.replicas
    await patch(objects, "scaled", {"autoscaler": None})
    await wait_for(lambda: _gone(hpa_reader(api, "scaled-collector")), within=30, what="the HPA pruned")
    assert await statefulset_replicas(api, "scaled-collector") == 3


async def _min_replicas(api: ApiClient, name: str, wanted: int) -> bool:
    current = await hpa_reader(api, name)()
    return current is not None and current.spec.min_replicas == wanted


async def _gone(read: Callable[[], Awaitable[Any]]) -> bool:
    return await read() is None


async def test_pod_disruption_budgets(api: ApiClient, objects: client.CustomObjectsApi) -> None:
    await objects.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, collector("budget"))
    await objects.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, collector("nodes", mode="daemonset"))
    await reconciled(objects, "budget")
    pdb = await wait_for(pdb_reader(api, "budget-collector"), within=20, what="the default PDB")
    assert (pdb.spec.max_unavailable, pdb.spec.min_available) == (1, None)
    sts = await client.AppsV1Api(api).read_namespaced_stateful_set("budget-collector", NS)
    # it selects the collector's pods
    assert pdb.spec.selector.match_labels.items() <= sts.spec.template.metadata.labels.items()

    # a given budget replaces the default (the API server would refuse both fields at once)
    await patch(objects, "budget", {"podDisruptionBudget": {"minAvailable": "50%"}})

    async def replaced() -> bool:
        current = await pdb_reader(api, "budget-collector")()
        return current is not None and (current.spec.min_available, current.spec.max_unavailable) == ("50%", None)

    await wait_for(replaced, within=20, what="minAvailable 50% instead of maxUnavailable 1")

    await reconciled(objects, "nodes")
    assert await absent_or(lambda: client.AppsV1Api(api).read_namespaced_daemon_set("nodes-collector", NS))
    assert await pdb_reader(api, "nodes-collector")() is None


async def test_deleting_the_collector_collects_its_hpa_and_pdb(
    api: ApiClient, objects: client.CustomObjectsApi
) -> None:
    await objects.create_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, collector("doomed", autoscaler={"maxReplicas": 2})
    )
    await wait_for(hpa_reader(api, "doomed-collector"), within=30, what="the HPA")
    await wait_for(pdb_reader(api, "doomed-collector"), within=30, what="the PDB")
    await objects.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "doomed")

    async def collected() -> bool:
        return (
            await hpa_reader(api, "doomed-collector")() is None and await pdb_reader(api, "doomed-collector")() is None
        )

    await wait_for(collected, within=60, interval=1, what="the HPA and PDB garbage-collected")
