"""The allocator against a real kube-apiserver: the troubleshooting guide's world, then how changes propagate.

The namespace `opentelemetry` is built as the guide shows it, without a kubelet: a Node with a fresh heartbeat
(kept fresh by a background task, so the node lifecycle controller never marks the pods not ready), the app Pod
`py-prometheus-app-575cfdd46-nfttj` bound to it with a kubelet-like status and adopted by its ReplicaSet, the
Service `py-prometheus-app` (the guide's, plus the two ports its ServiceMonitor's other endpoints name, so all three
have targets as in the guide's `/jobs`), whose EndpointSlice kube-controller-manager writes, the guide's
ServiceMonitor `sm-example`, a PodMonitor `pm-example` on the app's `prom` port, and the collector pod
`otelcol-collector-0`. The allocator runs in this process (`Allocator` + `serve` on 127.0.0.1:0) with the guide's
settings (`{}` monitor selectors, the `otel-collector` static job) and answers what the guide's `curl`s show.

Then what a running allocator must follow: a second collector (the targets split, each exactly once), a collector
turning not Ready (it keeps its targets for the grace period and loses them when it ends), a ServiceMonitor edit,
invalid ServiceMonitors (skipped, with a Warning Event, while the rest keep working). The CLI is checked as a
subprocess: a bad config file exits 2 naming the key, and static mode serves `/jobs`.

The tests share one world and one allocator and run in file order; each brings the collector pods and app pods to
the state it needs first, so each can also run alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from otel_operator.allocator.app import Allocator, Listeners, kube_client, serve
from otel_operator.allocator.config import load_config
from tests.integration.conftest import ROOT, ensure_namespace, wait_for

sys.path.insert(0, str(ROOT / "hack"))
import localcluster  # hack/ is not a package; tests/conftest.py puts it on the path the same way

pytestmark = pytest.mark.integration

NS = "opentelemetry"
NODE = "otel-target-allocator-talk-control-plane"  # the guide's node name
NODE_IP = "172.24.0.2"
APP_POD = "py-prometheus-app-575cfdd46-nfttj"
APP_RS = "py-prometheus-app-575cfdd46"
APP_IP = "10.244.0.11"
APP_IMAGE = "otel-target-allocator-talk:0.1.0-py-prometheus-app"
APP_PORTS = {"prom": 8080, "py-client-port": 8081, "py-server-port": 8082}
APP_LABELS = {"app": "my-app", "app.kubernetes.io/name": "py-prometheus-app"}
COLLECTOR_LABELS = {
    "app.kubernetes.io/component": "opentelemetry-collector",
    "app.kubernetes.io/instance": "opentelemetry.otelcol",
}
EXTRA_APPS = 5  # app pods added for the scale tests: 6 pods give 25 targets to split
GRACE = 2  # seconds: collector_not_ready_grace_period

SM0, SM1, SM2 = (f"serviceMonitor/{NS}/sm-example/{i}" for i in range(3))
PM0 = f"podMonitor/{NS}/pm-example/0"
STATIC = "otel-collector"

# `curl localhost:8080/jobs`, as the guide prints it
GUIDE_JOBS = {
    "serviceMonitor/opentelemetry/sm-example/1": {
        "_link": "/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F1/targets"
    },
    "serviceMonitor/opentelemetry/sm-example/2": {
        "_link": "/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F2/targets"
    },
    "otel-collector": {"_link": "/jobs/otel-collector/targets"},
    "serviceMonitor/opentelemetry/sm-example/0": {
        "_link": "/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets"
    },
    "podMonitor/opentelemetry/pm-example/0": {"_link": "/jobs/podMonitor%2Fopentelemetry%2Fpm-example%2F0/targets"},
}

LAST_APPLIED = (
    '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"labels":{"app":"my-app",'
    '"app.kubernetes.io/name":"py-prometheus-app"},"name":"py-prometheus-app","namespace":"opentelemetry"},'
    '"spec":{"ports":[{"name":"prom","port":8080}],"selector":{"app":"my-app",'
    '"app.kubernetes.io/name":"py-prometheus-app"}}}\n'
)

# the labels of the guide's one target of sm-example/0; the uid, the EndpointSlice's generated name and the
# trigger time are this run's and are filled in by the test
GUIDE_TARGET_LABELS = {
    "__address__": "10.244.0.11:8080",
    "__meta_kubernetes_endpointslice_address_target_kind": "Pod",
    "__meta_kubernetes_endpointslice_address_target_name": "py-prometheus-app-575cfdd46-nfttj",
    "__meta_kubernetes_endpointslice_address_type": "IPv4",
    "__meta_kubernetes_endpointslice_annotation_endpoints_kubernetes_io_last_change_trigger_time": "<this run>",
    "__meta_kubernetes_endpointslice_annotationpresent_endpoints_kubernetes_io_last_change_trigger_time": "true",
    "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true",
    "__meta_kubernetes_endpointslice_endpoint_conditions_serving": "true",
    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating": "false",
    "__meta_kubernetes_endpointslice_endpoint_node_name": "otel-target-allocator-talk-control-plane",
    "__meta_kubernetes_endpointslice_label_app": "my-app",
    "__meta_kubernetes_endpointslice_label_app_kubernetes_io_name": "py-prometheus-app",
    "__meta_kubernetes_endpointslice_label_endpointslice_kubernetes_io_managed_by": "endpointslice-controller.k8s.io",
    "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name": "py-prometheus-app",
    "__meta_kubernetes_endpointslice_labelpresent_app": "true",
    "__meta_kubernetes_endpointslice_labelpresent_app_kubernetes_io_name": "true",
    "__meta_kubernetes_endpointslice_labelpresent_endpointslice_kubernetes_io_managed_by": "true",
    "__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name": "true",
    "__meta_kubernetes_endpointslice_name": "<this run>",
    "__meta_kubernetes_endpointslice_port": "8080",
    "__meta_kubernetes_endpointslice_port_name": "prom",
    "__meta_kubernetes_endpointslice_port_protocol": "TCP",
    "__meta_kubernetes_namespace": "opentelemetry",
    "__meta_kubernetes_pod_container_image": "otel-target-allocator-talk:0.1.0-py-prometheus-app",
    "__meta_kubernetes_pod_container_name": "my-app",
    "__meta_kubernetes_pod_container_port_name": "prom",
    "__meta_kubernetes_pod_container_port_number": "8080",
    "__meta_kubernetes_pod_container_port_protocol": "TCP",
    "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
    "__meta_kubernetes_pod_controller_name": "py-prometheus-app-575cfdd46",
    "__meta_kubernetes_pod_host_ip": "172.24.0.2",
    "__meta_kubernetes_pod_ip": "10.244.0.11",
    "__meta_kubernetes_pod_label_app": "my-app",
    "__meta_kubernetes_pod_label_app_kubernetes_io_name": "py-prometheus-app",
    "__meta_kubernetes_pod_label_pod_template_hash": "575cfdd46",
    "__meta_kubernetes_pod_labelpresent_app": "true",
    "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name": "true",
    "__meta_kubernetes_pod_labelpresent_pod_template_hash": "true",
    "__meta_kubernetes_pod_name": "py-prometheus-app-575cfdd46-nfttj",
    "__meta_kubernetes_pod_node_name": "otel-target-allocator-talk-control-plane",
    "__meta_kubernetes_pod_phase": "Running",
    "__meta_kubernetes_pod_ready": "true",
    "__meta_kubernetes_pod_uid": "<this run>",
    "__meta_kubernetes_service_annotation_kubectl_kubernetes_io_last_applied_configuration": LAST_APPLIED,
    "__meta_kubernetes_service_annotationpresent_kubectl_kubernetes_io_last_applied_configuration": "true",
    "__meta_kubernetes_service_label_app": "my-app",
    "__meta_kubernetes_service_label_app_kubernetes_io_name": "py-prometheus-app",
    "__meta_kubernetes_service_labelpresent_app": "true",
    "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name": "true",
    "__meta_kubernetes_service_name": "py-prometheus-app",
}


# --------------------------------------------------------------------------- objects


def now_rfc3339(at: float | None = None) -> str:
    """Whole seconds, as the API server stores times."""
    return datetime.fromtimestamp(math.floor(time.time() if at is None else at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def guide_doc(kind: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == kind)


def app_service() -> dict[str, Any]:
    svc = guide_doc("Service")
    svc["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": LAST_APPLIED}
    # the guide's Service names only `prom`; its /jobs shows targets for all three ServiceMonitor endpoints
    svc["spec"]["ports"] = [{"name": name, "port": port} for name, port in APP_PORTS.items()]
    return svc


def app_pod(name: str, template_hash: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {**APP_LABELS, "pod-template-hash": template_hash}},
        "spec": {
            "nodeName": NODE,
            "containers": [
                {
                    "name": "my-app",
                    "image": APP_IMAGE,
                    "ports": [{"name": n, "containerPort": p} for n, p in APP_PORTS.items()],
                }
            ],
        },
    }


def collector_pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {**COLLECTOR_LABELS, "app.kubernetes.io/name": "otelcol-collector"}},
        "spec": {
            "nodeName": NODE,
            "containers": [
                {
                    "name": "otc-container",
                    "image": "otel/opentelemetry-collector-contrib:0.158.0",
                    "ports": [{"name": "metrics", "containerPort": 8888}],
                }
            ],
        },
    }


def pod_status(ip: str, ready: bool, containers: Iterable[tuple[str, str]], since: str | None = None) -> dict[str, Any]:
    """What a kubelet would write for a started pod."""
    now = now_rfc3339()
    since = since or now
    flag = "True" if ready else "False"
    return {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "startTime": now,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": since},
            {"type": "Ready", "status": flag, "lastTransitionTime": since},
        ],
        "containerStatuses": [
            {
                "name": name,
                "image": image,
                "imageID": f"docker.io/library/{image}@sha256:{'0' * 64}",
                "containerID": f"containerd://{name}-{ip}",
                "ready": ready,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": now}},
            }
            for name, image in containers
        ],
    }


def service_monitor(name: str, endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    sm = guide_doc("ServiceMonitor")
    sm["metadata"] = {"name": name, "namespace": NS, "labels": dict(sm["metadata"]["labels"])}
    sm["spec"]["endpoints"] = endpoints
    return sm


POD_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {"name": "pm-example", "namespace": NS},
    "spec": {"selector": {"matchLabels": {"app": "my-app"}}, "podMetricsEndpoints": [{"port": "prom"}]},
}


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    api: ApiClient
    app_ips: dict[str, str]  # app pod name → IP, every app pod that exists

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    async def create_pod(self, body: dict[str, Any], ip: str, ready: bool = True) -> None:
        name = body["metadata"]["name"]
        try:
            await self.core.create_namespaced_pod(NS, body)
        except ApiException as err:
            if err.status != 409:
                raise
        containers = [(c["name"], c["image"]) for c in body["spec"]["containers"]]
        await self.core.patch_namespaced_pod_status(name, NS, {"status": pod_status(ip, ready, containers)})

    async def set_ready(self, name: str, ready: bool, since: str) -> None:
        pod = await self.core.read_namespaced_pod(name, NS)
        containers = [(c.name, c.image) for c in pod.spec.containers]
        await self.core.patch_namespaced_pod_status(
            name, NS, {"status": pod_status(pod.status.pod_ip, ready, containers, since=since)}
        )

    async def delete_pod(self, name: str) -> None:
        # no kubelet confirms a graceful deletion: delete at once
        with contextlib.suppress(ApiException):
            await self.core.delete_namespaced_pod(name, NS, grace_period_seconds=0)

    async def pod_names(self, labels: dict[str, str]) -> set[str]:
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        pods = await self.core.list_namespaced_pod(NS, label_selector=selector)
        return {p.metadata.name for p in pods.items if not p.metadata.deletion_timestamp}

    async def set_collectors(self, names: list[str]) -> None:
        """Exactly these collector pods, each scheduled, Running and Ready."""
        for stale in await self.pod_names(COLLECTOR_LABELS) - set(names):
            await self.delete_pod(stale)
        for i, name in enumerate(names):
            await self.create_pod(collector_pod(name), f"10.244.0.{20 + i}")

    async def set_extra_apps(self, count: int) -> None:
        """`count` more Ready app pods behind the Service (not the ReplicaSet's: another pod-template-hash)."""
        wanted = {f"py-prometheus-app-extra-{i}": f"10.244.1.{10 + i}" for i in range(count)}
        for stale in await self.pod_names({"pod-template-hash": "extra"}) - wanted.keys():
            await self.delete_pod(stale)
            self.app_ips.pop(stale, None)
        for name, ip in wanted.items():
            await self.create_pod(app_pod(name, "extra"), ip)
            self.app_ips[name] = ip


async def heartbeat(core: client.CoreV1Api, node: str, ip: str) -> None:
    """Keep the node Ready: the node lifecycle controller marks its pods not ready ~40 s after the last beat."""
    while True:
        now = now_rfc3339()
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "heartbeat from the tests"}
        ready |= {"lastHeartbeatTime": now, "lastTransitionTime": now}
        with contextlib.suppress(ApiException):
            await core.patch_node_status(
                node, {"status": {"conditions": [ready], "addresses": [{"type": "InternalIP", "address": ip}]}}
            )
        await asyncio.sleep(10)


@contextlib.asynccontextmanager
async def node(api: ApiClient, name: str, ip: str) -> AsyncIterator[None]:
    """A Node kept Ready for the duration; deleted afterwards."""
    core = client.CoreV1Api(api)
    try:
        await core.create_node({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
    except ApiException as err:
        if err.status != 409:
            raise
    beat = asyncio.create_task(heartbeat(core, name, ip), name=f"heartbeat {name}")
    try:
        await asyncio.sleep(0)  # the first beat goes out before any pod is placed
        yield
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        with contextlib.suppress(ApiException):
            await core.delete_node(name)


async def app_slice_ready(api: ApiClient, ips: set[str]) -> bool:
    """kube-controller-manager's EndpointSlice for the app Service lists exactly these ready addresses, 3 ports."""
    slices = await client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        NS, label_selector="kubernetes.io/service-name=py-prometheus-app"
    )
    ready = {
        a
        for s in slices.items
        for ep in s.endpoints or ()
        if ep.conditions and ep.conditions.ready
        for a in ep.addresses
    }
    ports = {p.name for s in slices.items for p in s.ports or ()}
    return ready == ips and ports == set(APP_PORTS)


@pytest.fixture(scope="module")
async def world(api: ApiClient, crds: list[str]) -> AsyncIterator[World]:
    await ensure_namespace(api, NS)
    core, apps, objects = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
    w = World(api, {APP_POD: APP_IP})
    async with node(api, NODE, NODE_IP):
        try:
            await core.create_namespaced_service(NS, app_service())
            await w.create_pod(app_pod(APP_POD, "575cfdd46"), APP_IP)
            # created after its pod, so kube-controller-manager adopts the pod instead of making one
            await apps.create_namespaced_replica_set(
                NS,
                {
                    "metadata": {"name": APP_RS, "labels": {**APP_LABELS, "pod-template-hash": "575cfdd46"}},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {**APP_LABELS, "pod-template-hash": "575cfdd46"}},
                        "template": {
                            "metadata": {"labels": {**APP_LABELS, "pod-template-hash": "575cfdd46"}},
                            "spec": {"containers": app_pod(APP_POD, "575cfdd46")["spec"]["containers"]},
                        },
                    },
                },
            )
            await w.set_collectors(["otelcol-collector-0"])
            await objects.create_namespaced_custom_object(
                "monitoring.coreos.com", "v1", NS, "servicemonitors", guide_doc("ServiceMonitor")
            )
            await objects.create_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "podmonitors", POD_MONITOR)

            async def adopted() -> bool:
                pod = await core.read_namespaced_pod(APP_POD, NS)
                return [(o.kind, o.name) for o in pod.metadata.owner_references or ()] == [("ReplicaSet", APP_RS)]

            await wait_for(adopted, within=30, what="the ReplicaSet adopting the app pod")
            await wait_for(lambda: app_slice_ready(api, {APP_IP}), within=30, what="the app Service's EndpointSlice")
            yield w
        finally:
            await cleanup(w)


async def cleanup(w: World) -> None:
    with contextlib.suppress(ApiException):
        await client.AppsV1Api(w.api).delete_namespaced_replica_set(APP_RS, NS)
    for plural, name in (
        ("servicemonitors", "sm-example"),
        ("podmonitors", "pm-example"),
        ("servicemonitors", "sm-broken"),
        ("servicemonitors", "sm-bad-regex"),
    ):
        with contextlib.suppress(ApiException):
            await w.objects.delete_namespaced_custom_object("monitoring.coreos.com", "v1", NS, plural, name)
    with contextlib.suppress(ApiException):
        await w.core.delete_namespaced_secret("sm-broken-auth", NS)
    with contextlib.suppress(ApiException):
        await w.core.delete_namespaced_service("py-prometheus-app", NS)
    pods = await w.core.list_namespaced_pod(NS)
    for pod in pods.items:
        if pod.metadata.name == APP_POD or pod.metadata.name.startswith(("py-prometheus-app-", "otelcol-collector-")):
            await w.delete_pod(pod.metadata.name)


# --------------------------------------------------------------------------- the allocator


def allocator_config(kubeconfig: str) -> str:
    doc: dict[str, Any] = {
        "collector_selector": {"matchLabels": COLLECTOR_LABELS},
        "collector_namespace": NS,
        "collector_not_ready_grace_period": f"{GRACE}s",
        "kube_config_file_path": kubeconfig,
        "listen_addr": "127.0.0.1:0",
        "prometheus_cr": {
            "enabled": True,
            "service_monitor_selector": {},
            "pod_monitor_selector": {},
            # other tests' monitors in other namespaces must not show up in the guide's /jobs
            "allow_namespaces": [NS],
        },
        # the guide's collector's own prometheus receiver config, which the operator hands to the allocator
        "config": {
            "scrape_configs": [
                {"job_name": STATIC, "scrape_interval": "10s", "static_configs": [{"targets": ["0.0.0.0:8888"]}]}
            ]
        },
    }
    return yaml.safe_dump(doc)


@dataclass
class Running:
    allocator: Allocator
    listeners: Listeners
    http: aiohttp.ClientSession
    base: str

    async def get(self, path: str) -> tuple[int, str, Any]:
        """Status, Content-Type and the body (parsed when it is JSON)."""
        async with self.http.get(self.base + path) as resp:
            text = await resp.text()
            ctype = resp.headers.get("Content-Type", "")
            body: Any = json.loads(text) if ctype.startswith("application/json") and text else text
            return resp.status, ctype, body

    async def json(self, path: str) -> Any:
        status, ctype, body = await self.get(path)
        assert status == 200, (path, status, body)
        assert ctype == "application/json", (path, ctype)
        return body

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, ctype, text = await self.get("/metrics")
        assert status == 200
        assert ctype.startswith("text/plain"), ctype
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


@contextlib.asynccontextmanager
async def running_allocator(config_text: str, start: bool = True) -> AsyncIterator[Running]:
    config = load_config(config_text)
    api = await kube_client(config)
    allocator = Allocator(config, api, namespace=NS)
    listeners = await serve(allocator)
    http = aiohttp.ClientSession()
    try:
        run = Running(allocator, listeners, http, f"http://127.0.0.1:{listeners.ports['http']}")
        if start:
            await allocator.start()
            await allocator.wait_ready(within=30)
        yield run
    finally:
        await http.close()
        await allocator.stop()
        await listeners.close()
        await api.close()


@pytest.fixture(scope="module")
async def ta(world: World, kubeconfig: str) -> AsyncIterator[Running]:
    async with running_allocator(allocator_config(kubeconfig)) as run:
        yield run


# --------------------------------------------------------------------------- helpers


def link(job: str) -> str:
    return f"/jobs/{quote_plus(job, safe='')}/targets"


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 10, what: str = "condition") -> Any:
    return await wait_for(check, within=within, interval=0.05, what=what)


Assignment = dict[tuple[str, str], list[str]]  # (job, __address__) → the collectors serving it


async def assignment(ta: Running, collectors: Iterable[str]) -> Assignment:
    """Who serves what, from the collectors' own endpoint (`?collector_id=`), over every job in /jobs."""
    out: Assignment = {}
    for job, entry in (await ta.json("/jobs")).items():
        for collector in collectors:
            groups = await ta.json(f"{entry['_link']}?collector_id={quote_plus(collector, safe='')}")
            assert isinstance(groups, list)
            for group in groups:
                assert group["targets"] == [group["labels"]["__address__"]], group
                out.setdefault((job, group["labels"]["__address__"]), []).append(collector)
    return out


def expected_targets(app_ips: Iterable[str]) -> set[tuple[str, str]]:
    """Every (job, address) the guide's world has, with these app pods Ready behind the Service."""
    out = {(STATIC, "0.0.0.0:8888")}
    for ip in app_ips:
        out |= {(SM0, f"{ip}:8080"), (SM1, f"{ip}:8081"), (SM2, f"{ip}:8082"), (PM0, f"{ip}:8080")}
    return out


def sample(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    return metrics.get((name, tuple(sorted(labels.items()))))


async def guide_state(world: World, ta: Running) -> None:
    """The guide's world: one collector, one app pod."""
    await world.set_collectors(["otelcol-collector-0"])
    await world.set_extra_apps(0)

    async def settled() -> bool:
        jobs = await ta.json("/jobs")
        got = await assignment(ta, ["otelcol-collector-0", "otelcol-collector-1"])
        return jobs == GUIDE_JOBS and got == {t: ["otelcol-collector-0"] for t in expected_targets([APP_IP])}

    await eventually(settled, within=30, what="the guide's world: five jobs, all on otelcol-collector-0")


# --------------------------------------------------------------------------- the guide


async def test_readiness_before_and_after_start(world: World, kubeconfig: str) -> None:
    async with running_allocator(allocator_config(kubeconfig), start=False) as run:
        status, _, body = await run.get("/readyz")
        assert status == 503
        assert "not ready" in body
        status, _, body = await run.get("/scrape_configs")
        assert status == 503, "no scrape configs before the first render: an empty 200 would drop a collector's jobs"
        assert (await run.get("/livez"))[0] == 200
        await run.allocator.start()
        await run.allocator.wait_ready(within=30)
        assert (await run.get("/readyz"))[0] == 200
        configs = await run.json("/scrape_configs")
        assert {STATIC, SM0, SM1, SM2, PM0} <= configs.keys()


async def test_jobs_is_the_guides(world: World, ta: Running) -> None:
    await guide_state(world, ta)
    assert await ta.json("/jobs") == GUIDE_JOBS
    for job, entry in GUIDE_JOBS.items():
        assert entry["_link"] == link(job)  # Go's url.QueryEscape of the job name


async def test_job_targets_map_is_the_guides(world: World, ta: Running, api: ApiClient) -> None:
    await guide_state(world, ta)
    body = await ta.json("/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets")
    assert list(body) == ["otelcol-collector-0"]
    entry = body["otelcol-collector-0"]
    assert set(entry) == {"_link", "targets"}
    assert entry["_link"] == (
        "/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets?collector_id=otelcol-collector-0"
    )
    (group,) = entry["targets"]
    assert set(group) == {"targets", "labels"}
    assert group["targets"] == [f"{APP_IP}:8080"]
    labels = group["labels"]

    # this run's values for what the guide's run generated
    pod = await client.CoreV1Api(api).read_namespaced_pod(APP_POD, NS)
    (slice_,) = (
        await client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
            NS, label_selector="kubernetes.io/service-name=py-prometheus-app"
        )
    ).items
    trigger = "endpoints.kubernetes.io/last-change-trigger-time"
    expected = dict(GUIDE_TARGET_LABELS)
    expected["__meta_kubernetes_pod_uid"] = pod.metadata.uid
    expected["__meta_kubernetes_endpointslice_name"] = slice_.metadata.name
    expected["__meta_kubernetes_endpointslice_annotation_endpoints_kubernetes_io_last_change_trigger_time"] = (
        slice_.metadata.annotations[trigger]
    )
    assert slice_.metadata.name.startswith("py-prometheus-app-")
    wrong = {k: (labels.get(k), v) for k, v in expected.items() if labels.get(k) != v}
    assert not wrong, f"labels that differ from the guide's (ours, guide's): {wrong}"
    # what Prometheus v3 adds to the guide's (older) label set, and nothing else
    assert set(labels) - set(expected) <= {
        "__meta_kubernetes_pod_container_id",
        "__meta_kubernetes_pod_container_init",
    }, sorted(set(labels) - set(expected))


async def test_collector_id_answers_an_array(world: World, ta: Running) -> None:
    await guide_state(world, ta)
    by_map = await ta.json(link(SM0))
    groups = await ta.json(link(SM0) + "?collector_id=otelcol-collector-0")
    assert isinstance(groups, list)
    assert groups == by_map["otelcol-collector-0"]["targets"]
    assert [g["targets"] for g in groups] == [[f"{APP_IP}:8080"]]
    # the collectors' other requests: another collector, an unknown job, the first of two collector_id values
    assert await ta.json(link(SM0) + "?collector_id=otelcol-collector-1") == []
    assert await ta.json(link("serviceMonitor/opentelemetry/nope/0") + "?collector_id=otelcol-collector-0") == []
    assert await ta.json(link(SM0) + "?collector_id=otelcol-collector-0&collector_id=x") == groups
    # every job's labels are the pre-relabel ones: the PodMonitor's target carries the pod's meta labels
    (pm_group,) = await ta.json(link(PM0) + "?collector_id=otelcol-collector-0")
    assert pm_group["labels"]["__meta_kubernetes_pod_name"] == APP_POD
    assert pm_group["labels"]["__meta_kubernetes_pod_container_port_name"] == "prom"
    (static,) = await ta.json(link(STATIC) + "?collector_id=otelcol-collector-0")
    assert static == {"targets": ["0.0.0.0:8888"], "labels": {"__address__": "0.0.0.0:8888"}}


async def test_metrics(world: World, ta: Running) -> None:
    await guide_state(world, ta)
    m = await ta.metrics()
    # discovered before relabel filtering: the slice's 3 ports for each endpoint job, every container port in the
    # namespace for the PodMonitor (the app's 3 and the collector's 1)
    discovered = {job: sample(m, "opentelemetry_allocator_targets", job_name=job) for job in GUIDE_JOBS}
    assert discovered == {SM0: 3.0, SM1: 3.0, SM2: 3.0, PM0: 4.0, STATIC: 1.0}
    assert sample(m, "opentelemetry_allocator_targets_remaining") == 5.0
    assert sample(m, "opentelemetry_allocator_targets_unassigned") == 0.0
    assert sample(m, "opentelemetry_allocator_collectors_discovered") == 1.0
    assert sample(m, "opentelemetry_allocator_collectors_allocatable", strategy="consistent-hashing") == 1.0
    assert (
        sample(
            m,
            "opentelemetry_allocator_targets_per_collector",
            collector_name="otelcol-collector-0",
            strategy="consistent-hashing",
        )
        == 5.0
    )
    assert sample(m, "opentelemetry_allocator_invalid_scrape_resources") == 0.0
    assert (sample(m, "opentelemetry_allocator_http_duration_seconds_count", path="/jobs") or 0) >= 1
    assert (sample(m, "opentelemetry_allocator_propagation_seconds_count") or 0) >= 1


# --------------------------------------------------------------------------- propagation


async def test_second_collector_splits_the_targets(world: World, ta: Running) -> None:
    await guide_state(world, ta)
    await world.set_extra_apps(EXTRA_APPS)
    await world.set_collectors(["otelcol-collector-0", "otelcol-collector-1"])
    want = expected_targets(world.app_ips.values())
    assert len(want) == 25
    both = ["otelcol-collector-0", "otelcol-collector-1"]

    def served(body: dict[str, Any], c: str) -> set[str]:
        return {g["targets"][0] for g in body[c]["targets"]}

    async def split() -> tuple[Assignment, dict[str, Any]] | None:
        # Each collector's answer and the job maps are separate reads: while the second collector joins (and the
        # extra apps' endpoints arrive), one read may predate a move. Wait for a settled, consistent snapshot; a
        # target that stays on two collectors, or maps that disagree with the answers, fail here by timing out.
        got = await assignment(ta, both)
        settled = all(len(cs) == 1 for cs in got.values())
        if not (settled and got.keys() == want and {c for cs in got.values() for c in cs} == set(both)):
            return None
        bodies = {job: await ta.json(link(job)) for job in GUIDE_JOBS}  # the map without collector_id
        if await assignment(ta, both) != got:
            return None
        for job, body in bodies.items():
            if set(body) != set(both):
                return None
            if any(served(body, c) != {a for (j, a), cs in got.items() if j == job and cs == [c]} for c in both):
                return None
        return got, bodies

    got, _ = await eventually(split, within=30, what="25 targets on two collectors, each on exactly one, maps agreeing")
    per = {c: sum(cs == [c] for cs in got.values()) for c in both}
    assert sum(per.values()) == 25
    assert min(per.values()) >= 5, f"a lopsided split: {per}"
    m = await ta.metrics()
    assert sample(m, "opentelemetry_allocator_collectors_allocatable", strategy="consistent-hashing") == 2.0
    for c in both:
        assert (
            sample(m, "opentelemetry_allocator_targets_per_collector", collector_name=c, strategy="consistent-hashing")
            == per[c]
        )


async def test_not_ready_collector_loses_its_targets_after_the_grace_period(world: World, ta: Running) -> None:
    both = ["otelcol-collector-0", "otelcol-collector-1"]
    await world.set_extra_apps(EXTRA_APPS)
    await world.set_collectors(both)
    want = expected_targets(world.app_ips.values())

    async def on(collectors: list[str]) -> Assignment | None:
        got = await assignment(ta, both)
        served = {c for cs in got.values() for c in cs}
        ok = got.keys() == want and all(len(cs) == 1 for cs in got.values()) and served == set(collectors)
        return got if ok else None

    before = await eventually(lambda: on(both), within=30, what="targets on both collectors")
    moved = {t for t, cs in before.items() if cs == ["otelcol-collector-1"]}
    assert moved

    # the Ready condition turns False now (whole seconds, as the API server keeps it)
    patched = time.time()
    await world.set_ready("otelcol-collector-1", False, since=now_rfc3339(patched))
    still = await assignment(ta, both)
    assert {t for t, cs in still.items() if cs == ["otelcol-collector-1"]} == moved, "lost its targets within the grace"

    async def gone() -> bool:
        return not [job for job in GUIDE_JOBS if await ta.json(link(job) + "?collector_id=otelcol-collector-1")]

    await eventually(gone, within=GRACE + 5, what="otelcol-collector-1 losing its targets")
    elapsed = time.time() - patched
    # the condition's time is truncated to the second, so the grace ends 1 to 2 s after the patch; upstream only
    # notices at the next informer event (its 30 s resync at worst)
    assert GRACE - 1 - 0.2 <= elapsed <= GRACE + 2, f"lost its targets {elapsed:.2f}s after turning not ready"
    after = await eventually(lambda: on(["otelcol-collector-0"]), within=5, what="every target on otelcol-collector-0")
    assert after.keys() == want
    assert set(await ta.json(link(SM0))) == {"otelcol-collector-0"}
    m = await ta.metrics()
    assert sample(m, "opentelemetry_allocator_collectors_discovered") == 2.0
    assert sample(m, "opentelemetry_allocator_collectors_allocatable", strategy="consistent-hashing") == 1.0

    # Ready again: back at once, with the same share as before (the assignment is a function of the collectors)
    await world.set_ready("otelcol-collector-1", True, since=now_rfc3339())
    again = await eventually(lambda: on(both), within=5, what="otelcol-collector-1 back")
    assert again == before


async def test_service_monitor_edit_propagates(world: World, ta: Running) -> None:
    await guide_state(world, ta)
    started = time.monotonic()
    await world.objects.patch_namespaced_custom_object(
        "monitoring.coreos.com",
        "v1",
        NS,
        "servicemonitors",
        "sm-example",
        {
            "spec": {
                "endpoints": [
                    {"port": "prom", "path": "/custom-metrics"},
                    {"port": "py-client-port", "interval": "15s"},
                ]
            }
        },
        _content_type="application/merge-patch+json",
    )
    try:

        async def edited() -> bool:
            configs = await ta.json("/scrape_configs")
            jobs = await ta.json("/jobs")
            return (
                configs.get(SM0, {}).get("metrics_path") == "/custom-metrics"
                and SM2 not in configs
                and set(jobs) == set(GUIDE_JOBS) - {SM2}
            )

        await eventually(edited, within=3, what="the edit in /scrape_configs and /jobs")
        latency = time.monotonic() - started
        configs = await ta.json("/scrape_configs")
        assert configs[SM1]["scrape_interval"] == "15s"
        assert await ta.json(link(SM2) + "?collector_id=otelcol-collector-0") == []
        assert latency < 3
    finally:
        await world.objects.patch_namespaced_custom_object(
            "monitoring.coreos.com",
            "v1",
            NS,
            "servicemonitors",
            "sm-example",
            {"spec": {"endpoints": guide_doc("ServiceMonitor")["spec"]["endpoints"]}},
            _content_type="application/merge-patch+json",
        )

    async def restored() -> bool:
        configs = await ta.json("/scrape_configs")
        return await ta.json("/jobs") == GUIDE_JOBS and configs[SM0]["metrics_path"] == "/metrics"

    await eventually(restored, within=3, what="the guide's ServiceMonitor back")


async def warning_events(world: World, name: str) -> list[Any]:
    events = await world.core.list_namespaced_event(NS, field_selector=f"involvedObject.name={name}")
    return [e for e in events.items if e.type == "Warning" and e.reason == "InvalidScrapeResource"]


def broken_monitor() -> dict[str, Any]:
    """basicAuth from a Secret that does not exist (yet)."""
    auth = {
        "username": {"name": "sm-broken-auth", "key": "user"},
        "password": {"name": "sm-broken-auth", "key": "password"},
    }
    return service_monitor("sm-broken", [{"port": "prom", "basicAuth": auth}])


async def delete_monitor(world: World, name: str) -> None:
    with contextlib.suppress(ApiException):
        await world.objects.delete_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "servicemonitors", name)


async def back_to_the_guide(world: World, ta: Running) -> None:
    for name in ("sm-broken", "sm-bad-regex"):
        await delete_monitor(world, name)
    with contextlib.suppress(ApiException):
        await world.core.delete_namespaced_secret("sm-broken-auth", NS)

    async def clean() -> bool:
        m = await ta.metrics()
        return (
            await ta.json("/jobs") == GUIDE_JOBS
            and sample(m, "opentelemetry_allocator_invalid_scrape_resources") == 0.0
        )

    await eventually(clean, within=5, what="the guide's jobs only, nothing invalid")


async def test_invalid_service_monitors_are_skipped_with_an_event(world: World, ta: Running) -> None:
    await guide_state(world, ta)
    objects = world.objects
    bad_regex = service_monitor(
        "sm-bad-regex",
        [{"port": "prom", "relabelings": [{"sourceLabels": ["__address__"], "regex": "(unclosed", "action": "keep"}]}],
    )
    try:
        # the CRD's schema lets both through: only the allocator can say what is wrong with them
        for body in (broken_monitor(), bad_regex):
            await objects.create_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "servicemonitors", body)

        async def warned() -> dict[str, list[Any]] | None:
            found = {name: await warning_events(world, name) for name in ("sm-broken", "sm-bad-regex")}
            return found if all(found.values()) else None

        events = await eventually(warned, within=10, what="Warning Events for both ServiceMonitors")
        for name, evs in events.items():
            assert len(evs) == 1, [e.message for e in evs]  # once per object version, not per recomputation
            ev = evs[0]
            assert ev.involved_object.kind == "ServiceMonitor"
            assert ev.involved_object.namespace == NS
            assert ev.involved_object.name == name
            assert ev.metadata.namespace == NS
        assert 'Secret "opentelemetry/sm-broken-auth" not found' in events["sm-broken"][0].message
        assert "basicAuth" in events["sm-broken"][0].message
        assert "relabelings[0].regex" in events["sm-bad-regex"][0].message

        # skipped; the guide's jobs keep working
        configs = await ta.json("/scrape_configs")
        assert not [j for j in configs if "sm-broken" in j or "sm-bad-regex" in j]
        assert {STATIC, SM0, SM1, SM2, PM0} <= configs.keys()
        assert await ta.json("/jobs") == GUIDE_JOBS
        groups = await ta.json(link(SM0) + "?collector_id=otelcol-collector-0")
        assert [g["targets"] for g in groups] == [[f"{APP_IP}:8080"]]
        m = await ta.metrics()
        assert sample(m, "opentelemetry_allocator_invalid_scrape_resources") == 2.0

        # a further edit of a good monitor still goes through while the bad ones stay
        await objects.patch_namespaced_custom_object(
            "monitoring.coreos.com",
            "v1",
            NS,
            "servicemonitors",
            "sm-bad-regex",
            {"spec": {"endpoints": [{"port": "prom", "path": "/fixed"}]}},
            _content_type="application/merge-patch+json",
        )

        async def regex_fixed() -> bool:
            jobs = await ta.json("/jobs")
            return "serviceMonitor/opentelemetry/sm-bad-regex/0" in jobs and len(jobs) == 6

        await eventually(regex_fixed, within=5, what="sm-bad-regex valid after its edit")
        assert sample(await ta.metrics(), "opentelemetry_allocator_invalid_scrape_resources") == 1.0
    finally:
        await back_to_the_guide(world, ta)


async def test_service_monitor_becomes_valid_when_its_secret_appears(world: World, ta: Running) -> None:
    await guide_state(world, ta)
    try:
        await world.objects.create_namespaced_custom_object(
            "monitoring.coreos.com", "v1", NS, "servicemonitors", broken_monitor()
        )
        await eventually(lambda: warning_events(world, "sm-broken"), within=10, what="the Warning Event")
        assert "serviceMonitor/opentelemetry/sm-broken/0" not in await ta.json("/scrape_configs")

        await world.core.create_namespaced_secret(
            NS, {"metadata": {"name": "sm-broken-auth"}, "stringData": {"user": "scraper", "password": "hunter2"}}
        )
        fixed = "serviceMonitor/opentelemetry/sm-broken/0"

        async def valid() -> bool:
            return fixed in await ta.json("/jobs") and fixed in await ta.json("/scrape_configs")

        await eventually(valid, within=5, what="sm-broken valid once its Secret exists")
        # its credentials are redacted over plain HTTP
        auth = (await ta.json("/scrape_configs"))[fixed]["basic_auth"]
        assert auth == {"username": "scraper", "password": "<secret>"}
        assert sample(await ta.metrics(), "opentelemetry_allocator_invalid_scrape_resources") == 0.0
    finally:
        await back_to_the_guide(world, ta)


# --------------------------------------------------------------------------- the CLI


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "otel_operator", "allocator", *args]


def test_cli_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "targetallocator.yaml"
    path.write_text(
        "collector_namespace: opentelemetry\n"
        "collector_selecter:\n  matchLabels: {app: x}\n"
        "allocation_strategy: round-robin\n"
        "config:\n  scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['a:1']}]\n"
    )
    done = subprocess.run(cli("--config", str(path)), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done
    assert "collector_selecter" in done.stderr
    assert '"collector_selector"' in done.stderr  # the key it probably meant
    assert "allocation_strategy" in done.stderr
    assert "round-robin" in done.stderr
    assert done.stdout == ""


def test_cli_static_mode_serves_jobs(tmp_path: Path) -> None:
    port = localcluster.free_port()
    path = tmp_path / "targetallocator.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "listen_addr": f"127.0.0.1:{port}",
                "collectors": ["collector-0", "collector-1"],
                "config": {
                    "scrape_configs": [
                        {
                            "job_name": "node",
                            "static_configs": [{"targets": [f"10.0.0.{i}:9100" for i in range(1, 9)]}],
                        },
                        {"job_name": "a/b c", "static_configs": [{"targets": ["10.0.1.1:8080"]}]},
                    ]
                },
            }
        )
    )
    log = (tmp_path / "allocator.log").open("wb")
    proc = subprocess.Popen(cli("--config", str(path)), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:

        def curl(route: str) -> tuple[int, str, str]:
            if shutil.which("curl"):
                done = subprocess.run(
                    [
                        "curl",
                        "-s",
                        "-o",
                        "-",
                        "-w",
                        "\n%{http_code} %{content_type}",
                        f"http://127.0.0.1:{port}{route}",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=False,
                )
                body, _, tail = done.stdout.rpartition("\n")
                code, _, ctype = tail.partition(" ")
                return int(code or 0), ctype, body
            import urllib.request

            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{route}", timeout=10) as resp:
                    return resp.status, resp.headers["Content-Type"], resp.read().decode()
            except OSError:
                return 0, "", ""

        deadline = time.monotonic() + 30
        while curl("/readyz")[0] != 200:
            assert proc.poll() is None, f"the allocator exited: {(tmp_path / 'allocator.log').read_text()}"
            assert time.monotonic() < deadline, (tmp_path / "allocator.log").read_text()
            time.sleep(0.1)
        code, ctype, body = curl("/jobs")
        assert (code, ctype) == (200, "application/json")
        assert json.loads(body) == {
            "node": {"_link": "/jobs/node/targets"},
            "a/b c": {"_link": "/jobs/a%2Fb+c/targets"},
        }
        shares = []
        for c in ("collector-0", "collector-1"):
            code, ctype, body = curl(f"/jobs/node/targets?collector_id={c}")
            assert (code, ctype) == (200, "application/json")
            shares.append({t for g in json.loads(body) for t in g["targets"]})
        assert shares[0] | shares[1] == {f"10.0.0.{i}:9100" for i in range(1, 9)}
        assert not shares[0] & shares[1]
        assert json.loads(curl("/jobs/a%2Fb+c/targets")[2]).keys() == {"collector-0", "collector-1"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            raise
        finally:
            log.close()
    assert rc == 0, (tmp_path / "allocator.log").read_text()


async def test_a_service_monitor_matching_nothing_gets_a_no_targets_event(world: World, ta: Running) -> None:
    await guide_state(world, ta)
    lonely = service_monitor("sm-lonely", [{"port": "prom"}])
    lonely["spec"]["selector"] = {"matchLabels": {"app": "nothing-has-this"}}
    await world.objects.create_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "servicemonitors", lonely)
    try:

        async def no_targets() -> list[Any]:
            events = await world.core.list_namespaced_event(NS, field_selector="involvedObject.name=sm-lonely")
            return [e for e in events.items if e.type == "Warning" and e.reason == "NoTargets"]

        [event] = await eventually(no_targets, within=10, what="the NoTargets Event")
        assert "matches no Service" in event.message
        assert "otel-operator diagnose --servicemonitor opentelemetry/sm-lonely" in event.message
        # the guide's own ServiceMonitor, which has targets, gets none
        events = await world.core.list_namespaced_event(NS, field_selector="involvedObject.name=sm-example")
        assert not [e for e in events.items if e.reason == "NoTargets"]
    finally:
        await delete_monitor(world, "sm-lonely")


async def test_debug_diagnose_names_the_cause_and_the_fix(world: World, ta: Running) -> None:
    await guide_state(world, ta)
    wrong = service_monitor("sm-wrong-port", [{"port": "bleh"}])
    await world.objects.create_namespaced_custom_object("monitoring.coreos.com", "v1", NS, "servicemonitors", wrong)
    try:

        async def diagnosed() -> list[dict[str, Any]]:
            status, ctype, body = await ta.get("/debug/diagnose")
            assert (status, ctype) == (200, "application/json; charset=utf-8")
            return [f for f in body if not f["ok"] and "no port named bleh" in f["what"]]

        [finding] = await eventually(diagnosed, within=10, what="the port-name finding")
        assert finding["subject"] == f"Service {NS}/py-prometheus-app"
        assert "bleh" in finding["fix"]
        assert f"ServiceMonitor {NS}/sm-wrong-port" in finding["related"]
        # the guide's own ServiceMonitor is selected and fine
        _, _, body = await ta.get("/debug/diagnose")
        assert any(f["ok"] and f["subject"] == f"ServiceMonitor {NS}/sm-example" for f in body)
        # a browser gets the same as a page
        async with ta.http.get(ta.base + "/debug/diagnose", headers={"Accept": "text/html"}) as resp:
            page = await resp.text()
        assert resp.headers["Content-Type"].startswith("text/html")
        assert "no port named bleh" in page
        assert "fix:" in page
    finally:
        await delete_monitor(world, "sm-wrong-port")
