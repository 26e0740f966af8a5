"""Faults under an allocator serving thousands of targets, on a control plane of this module's own (it is killed):

- kube-apiserver killed (SIGKILL) and started again on the same etcd: while it is down the allocator keeps serving
  every target (0 lost from the responses); after it is back, a change made then is served within 5 s, so no watch
  is stuck;
- and while it is down, etcd's history is compacted past the allocator's resourceVersion, so its watches resume into
  410 Gone: they re-list, and no target drops from the responses meanwhile;
- the operator stopped and started again with nothing changed: it resumes the collector and writes nothing (every
  object's resourceVersion, the collector's included, stays as it was).
The figures go to docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import ssl
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

import localcluster
from otel_operator.allocator.app import Allocator, Listeners, kube_client, serve
from otel_operator.allocator.config import load_config
from otel_operator.reconcile.login import api_client
from otel_operator.reconcile.runner import OperatorOptions, run_operator
from tests.integration.conftest import install_crds, wait_for

pytestmark = pytest.mark.integration

NS = "faults"
SLICES, PER_SLICE = 20, 100  # 2000 targets
COLLECTORS = ("collector-0", "collector-1")
JOB = "slices"
GUIDE_COLLECTOR = """
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: steady, namespace: faults-operator}
spec:
  mode: statefulset
  targetAllocator: {enabled: true, prometheusCR: {enabled: true, serviceMonitorSelector: {}, podMonitorSelector: {}}}
  config:
    receivers:
      prometheus: {config: {scrape_configs: [{job_name: self, static_configs: [{targets: ["0.0.0.0:8888"]}]}]}}
    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localcluster.Cluster]:
    folder = tmp_path_factory.mktemp("faults-cluster")
    # no controller manager: the test writes the EndpointSlices itself, and nothing else must touch them
    started = localcluster.up(folder, controller_manager=False)
    try:
        yield started
    finally:
        localcluster.down(folder)


def endpoint_slice(index: int, count: int = PER_SLICE) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"app-{index}", "namespace": NS, "labels": {"kubernetes.io/service-name": "app"}},
        "addressType": "IPv4",
        "ports": [{"name": "metrics", "port": 9100, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [f"10.{index // 250}.{index % 250}.{i}"], "conditions": {"ready": True}}
            for i in range(1, count + 1)
        ],
    }


@pytest.fixture(scope="module")
async def world(cluster: localcluster.Cluster) -> AsyncIterator[tuple[Allocator, Listeners, ApiClient]]:
    config = load_config(
        yaml.safe_dump(
            {
                "listen_addr": "127.0.0.1:0",
                "kube_config_file_path": cluster.kubeconfig,
                "collectors": list(COLLECTORS),
                "config": {
                    "scrape_configs": [
                        {
                            "job_name": JOB,
                            "kubernetes_sd_configs": [{"role": "endpointslice", "namespaces": {"names": [NS]}}],
                        }
                    ]
                },
            }
        )
    )
    api = await api_client(config.kube_config_file_path)  # the test's own (typed) client
    own = await kube_client(config)  # the allocator's, as it makes one
    core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    await core.create_namespace({"metadata": {"name": NS}})
    service = {"metadata": {"name": "app"}, "spec": {"ports": [{"name": "metrics", "port": 9100}]}}
    await core.create_namespaced_service(NS, service)
    for index in range(SLICES):
        await discovery.create_namespaced_endpoint_slice(NS, endpoint_slice(index))
    allocator = Allocator(config, own)
    listeners = await serve(allocator)
    await allocator.start()
    try:
        yield allocator, listeners, api
    finally:
        await allocator.stop()
        await listeners.close()
        await own.close()
        await api.close()


async def served(http: aiohttp.ClientSession, base: str) -> set[str]:
    """Every target address the allocator hands out, over all collectors."""
    out: set[str] = set()
    for collector in COLLECTORS:
        async with http.get(f"{base}/jobs/{JOB}/targets?collector_id={collector}") as resp:
            if resp.status == 503:  # not ready yet (first lists): nothing served
                return set()
            assert resp.status == 200
            for group in await resp.json():
                out.update(group["targets"])
    return out


def compact_history(etcd: str) -> None:
    """Move etcd's revision on (a key no apiserver reads) and compact everything before it, through etcd's JSON
    gateway: a watch resuming from an older resourceVersion then gets 410 Gone."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"{etcd}{path}", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as resp:
            return dict(json.loads(resp.read()))

    key = base64.b64encode(b"/otel-operator-test/compaction").decode()
    for _ in range(3):
        answer = post("/v3/kv/put", {"key": key, "value": base64.b64encode(b"x").decode()})
    post("/v3/kv/compaction", {"revision": answer["header"]["revision"], "physical": True})


def apiserver_ready(server: str) -> bool:
    try:
        request = urllib.request.Request(f"{server}/readyz", headers={"Authorization": f"Bearer {localcluster.TOKEN}"})
        context = ssl._create_unverified_context()  # the local apiserver's self-signed certificate
        with urllib.request.urlopen(request, context=context, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


async def test_the_apiserver_killed_and_restarted(
    cluster: localcluster.Cluster, world: tuple[Allocator, Listeners, ApiClient]
) -> None:
    allocator, listeners, api = world
    base = f"http://127.0.0.1:{listeners.ports['http']}"
    everything = {f"10.{i // 250}.{i % 250}.{n}:9100" for i in range(SLICES) for n in range(1, PER_SLICE + 1)}
    async with aiohttp.ClientSession() as http:
        await wait_for(lambda: _equal(http, base, everything), within=60, what=f"{len(everything)} targets served")

        pid = cluster.pids["kube-apiserver"]
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        lists_before = allocator._reflectors["EndpointSlice"].stats.lists
        etcd = next(c.decode().split("=", 1)[1] for c in command if c.startswith(b"--etcd-servers="))
        await asyncio.to_thread(compact_history, etcd)
        lost_at_worst = 0
        while time.monotonic() - killed < 6:  # down: every answer still complete
            lost_at_worst = max(lost_at_worst, len(everything - await served(http, base)))
            await asyncio.sleep(0.2)
        assert lost_at_worst == 0

        log = Path(cluster.dir, "kube-apiserver.log")
        proc = localcluster.spawn([c.decode() for c in command], log)
        cluster.pids["kube-apiserver"] = proc.pid
        cluster.save()  # so the module's teardown stops the new one
        await wait_for(lambda: _ready(cluster.server), within=60, what="kube-apiserver back")
        back = time.monotonic()
        await client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(NS, endpoint_slice(SLICES, 10))
        added = {f"10.0.{SLICES}.{n}:9100" for n in range(1, 11)}
        dropped_at_worst = 0

        async def converged() -> bool:
            nonlocal dropped_at_worst
            now = await served(http, base)
            dropped_at_worst = max(dropped_at_worst, len(everything - now))  # re-listing must not drop targets
            return now == everything | added

        await wait_for(converged, within=5, interval=0.05, what="a change made after the restart served within 5 s")
        print(f"reconverged {time.monotonic() - back:.2f}s after the apiserver's return")  # pytest -s shows it
        assert dropped_at_worst == 0
        # the resourceVersion it resumed from was compacted away: the watch said 410 and the reflector re-listed
        assert allocator._reflectors["EndpointSlice"].stats.lists > lists_before


async def _equal(http: aiohttp.ClientSession, base: str, expected: set[str]) -> bool:
    with contextlib.suppress(aiohttp.ClientError):
        return await served(http, base) == expected
    return False


async def _ready(server: str) -> bool:
    return await asyncio.to_thread(apiserver_ready, server)


OPERATOR_NS = "faults-operator"
LISTED = (
    ("apps/v1", "statefulsets"), ("apps/v1", "deployments"), ("v1", "services"), ("v1", "configmaps"),
    ("v1", "serviceaccounts"), ("policy/v1", "poddisruptionbudgets"), ("networking.k8s.io/v1", "networkpolicies"),
    ("opentelemetry.io/v1beta1", "opentelemetrycollectors"), ("opentelemetry.io/v1alpha1", "targetallocators"),
)  # fmt: skip


@contextlib.contextmanager
def operator_running(kubeconfig: str) -> Iterator[None]:
    """`otel-operator run` in a thread of this process, stopped (cleanly) on exit."""
    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(run_operator(OperatorOptions(kubeconfig=kubeconfig), stop_flag=stop, ready_flag=ready))
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=main, name="otel-operator-faults", daemon=True)
    thread.start()
    assert ready.wait(60), f"operator not ready: {errors!r}"
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not errors, errors


async def versions(api: ApiClient) -> dict[str, str]:
    """kind/name -> resourceVersion of everything the operator writes in the namespace."""
    out = {}
    for version, plural in LISTED:
        prefix = "/api" if version == "v1" else "/apis"
        body = await api.call_api(f"{prefix}/{version}/namespaces/{OPERATOR_NS}/{plural}", "GET",
                                  response_types_map={200: "object"}, auth_settings=["BearerToken"],
                                  _return_http_data_only=True)  # fmt: skip
        for item in body["items"]:
            out[f"{plural}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return out


async def test_an_operator_restart_writes_nothing_when_nothing_changed(
    cluster: localcluster.Cluster, world: tuple[Allocator, Listeners, ApiClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, api = world
    await install_crds(api)
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": OPERATOR_NS}})
    collector = yaml.safe_load(GUIDE_COLLECTOR)
    custom = client.CustomObjectsApi(api)
    with operator_running(cluster.kubeconfig):
        await custom.create_namespaced_custom_object("opentelemetry.io", "v1beta1", OPERATOR_NS,
                                                     "opentelemetrycollectors", collector)  # fmt: skip

        async def settled() -> dict[str, str] | None:  # the same versions twice, 3 s apart: nothing is being written
            first = await versions(api)
            await asyncio.sleep(3)
            second = await versions(api)
            return second if first == second and any(k.startswith("deployments/") for k in second) else None

        before = await wait_for(settled, within=90, what="the collector's objects settled")
    caplog.clear()
    caplog.set_level(logging.INFO)
    with operator_running(cluster.kubeconfig):  # a fresh process: resumes every collector, compares, writes nothing

        async def resumed() -> bool:  # kopf's line once the resume handler (our reconcile) has run for it
            return any("Resuming is processed: 1 succeeded" in r.getMessage() for r in caplog.records)

        await wait_for(resumed, within=30, what="the collector resumed")
        await asyncio.sleep(5)
        after = await versions(api)
    changed = {k: (before[k], after.get(k)) for k in before if after.get(k) != before[k]}
    assert changed == {}
    assert after.keys() == before.keys()
