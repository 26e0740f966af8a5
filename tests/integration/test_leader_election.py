"""Several operator replicas are safe: one holds the Lease and reconciles, the others wait; a clean stop hands over at
once, a crashed leader is replaced once its Lease expires, and only the leader writes anything."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.reconcile.kube import Kube
from otel_operator.reconcile.leader import LeaderElector
from otel_operator.reconcile.runner import OperatorOptions, run_operator
from tests.integration.conftest import ROOT, ensure_namespace, wait_for

pytestmark = pytest.mark.integration

NS = "leader-test"


@pytest.fixture
async def kube(api: ApiClient) -> AsyncIterator[Kube]:
    await ensure_namespace(api, NS)
    yield Kube(api)
    with contextlib.suppress(ApiException):
        await client.CoordinationV1Api(api).delete_collection_namespaced_lease(NS)


def elector(kube: Kube, identity: str, name: str) -> LeaderElector:
    return LeaderElector(kube, NS, name, identity, duration=2.0, renew_deadline=1.5, retry=0.2)


async def test_one_leader_at_a_time(kube: Kube) -> None:
    a, b = elector(kube, "a", "one"), elector(kube, "b", "one")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert await a.try_acquire_or_renew()  # renewing
    lease = await kube.get(a.path)
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "a"


async def test_a_clean_stop_hands_over_at_once(kube: Kube) -> None:
    a, b = elector(kube, "a", "handover"), elector(kube, "b", "handover")
    await a.acquire()
    await a.release()
    await asyncio.wait_for(b.acquire(), timeout=1.0)  # well before the 2 s duration


async def test_a_crashed_leader_is_replaced_when_its_lease_expires(kube: Kube) -> None:
    a, b = elector(kube, "a", "crash"), elector(kube, "b", "crash")
    await a.acquire()
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(b.acquire(), timeout=10)  # a never renews: it "crashed"
    assert asyncio.get_running_loop().time() - started >= 1.5
    lease = await kube.get(b.path)
    assert lease is not None
    assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("b", 1)
    # the old leader notices at its next renewal that it lost
    with pytest.raises(Exception, match="held by another replica"):
        await asyncio.wait_for(a.keep(), timeout=5)


@contextlib.contextmanager
def operator_replica(
    kubeconfig: str, health_port: int | None = None
) -> Iterator[tuple[threading.Event, threading.Event]]:
    stop, ready = threading.Event(), threading.Event()
    opts = OperatorOptions(
        kubeconfig=kubeconfig,
        namespaces=(NS,),
        leader_election=True,
        leader_election_namespace=NS,
        liveness=f"http://127.0.0.1:{health_port}/healthz" if health_port else None,
    )
    thread = threading.Thread(target=lambda: asyncio.run(run_operator(opts, stop_flag=stop, ready_flag=ready)))
    thread.start()
    try:
        yield stop, ready
    finally:
        stop.set()
        thread.join(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_of(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status) == 200
    except OSError:
        return False


async def test_only_the_leading_operator_reconciles(api: ApiClient, kube: Kube, kubeconfig: str, crds: Any) -> None:
    docs = yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text())
    collector = next(d for d in docs if d["kind"] == "OpenTelemetryCollector")
    collector["metadata"] = {"name": "led", "namespace": NS}
    collector["spec"]["targetAllocator"] = {"enabled": False}
    custom = client.CustomObjectsApi(api)
    apps = client.AppsV1Api(api)

    async def statefulset() -> Any:
        try:
            return await apps.read_namespaced_stateful_set("led-collector", NS)
        except ApiException:
            return None

    with operator_replica(kubeconfig) as (first_stop, first_ready):
        await wait_for(lambda: asyncio.sleep(0, first_ready.is_set()), what="the first replica leads")
        standby = free_port()
        with operator_replica(kubeconfig, standby) as (_, second_ready):
            # the standby replica is alive and ready (its probes do not depend on the Lease): the kubelet keeps it
            for path in ("/healthz", "/readyz"):
                url = f"http://127.0.0.1:{standby}{path}"
                await wait_for(lambda u=url: asyncio.to_thread(status_of, u), what=f"the standby replica{path}")
            await custom.create_namespaced_custom_object(
                "opentelemetry.io", "v1beta1", NS, "opentelemetrycollectors", collector
            )
            try:
                await wait_for(statefulset, within=30, what="the leader reconciled")
                await asyncio.sleep(2)
                assert not second_ready.is_set(), "the second replica runs while the first leads"
                first_stop.set()  # a clean stop: the Lease is released, the second replica takes over
                await wait_for(lambda: asyncio.sleep(0, second_ready.is_set()), within=15, what="the other took over")
                await apps.delete_namespaced_stateful_set("led-collector", NS)
                await wait_for(statefulset, within=30, what="the new leader repaired the deleted StatefulSet")
            finally:
                with contextlib.suppress(ApiException):
                    await custom.delete_namespaced_custom_object(
                        "opentelemetry.io", "v1beta1", NS, "opentelemetrycollectors", "led"
                    )
