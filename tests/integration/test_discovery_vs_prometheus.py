"""Our Kubernetes discovery labels against a real Prometheus watching the same control plane.

The oracle is Prometheus v3.14.0 (hack/prometheus_oracle.py; `make oracles` builds it once into the cache), the
version whose semantics `otel_operator.prom.discovery` follows and the one the OpenTelemetry target allocator
embeds. Debian's `prometheus` package (2.42) cannot serve: Debian builds it without Kubernetes service discovery
("Kubernetes support has been completely removed", its NEWS.Debian), so it rejects `kubernetes_sd_configs`.

The namespace is built the way a kubelet-less cluster allows: Nodes with a Ready status; Pods bound to them and
given a status as a kubelet would write it (ready, not ready, IPv6 without a Ready condition, never scheduled);
a paused Deployment and a ReplicaSet that adopts the two web pods, a suspended CronJob and a Job that adopts the
IPv6 pod (so workload names are attached); a Service that kube-controller-manager turns into real EndpointSlices
and Endpoints (a named port, a numbered one, one no container declares); and hand-made EndpointSlices (IPv6,
FQDN, a Node targetRef, no targetRef, a port without a number) and Endpoints (IPv6, not-ready addresses).
Prometheus discovers them with roles endpointslice, endpoints, pod and service, attach_metadata on and no
relabeling; we list the same objects, run them through `DiscoveryIndex`, and require the `__address__` and every
`__meta_*` label to be equal, target by target, in both directions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from otel_operator.prom.discovery.common import AttachMetadata, Role
from otel_operator.prom.discovery.index import DiscoveryIndex
from tests.integration.conftest import ROOT, wait_for

sys.path.insert(0, str(ROOT / "hack"))
from tests.integration.oracle import Targets, differences, prometheus_binary, raw_list, run_prometheus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]  # a first run may build Prometheus

SUFFIX = secrets.token_hex(3)
NS = f"disc-vs-prom-{SUFFIX}"
NODE_A, NODE_B = f"node-a-{SUFFIX}", f"node-b-{SUFFIX}"
ROLES = (Role.ENDPOINTSLICE, Role.ENDPOINTS, Role.POD, Role.SERVICE)
ATTACH = AttachMetadata(node=True, namespace=True, deployment=True, job=True, cronjob=True)
EXPECTED_COUNTS = {"endpointslice": 23, "endpoints": 20, "pod": 18, "service": 7}


# --------------------------------------------------------------------------- the objects


def containers() -> dict[str, Any]:
    return {
        "initContainers": [
            {"name": "init", "image": "busybox:1.36", "ports": [{"name": "init-http", "containerPort": 8081}]}
        ],
        "containers": [
            {
                "name": "app",
                "image": "example/app:1.0",
                "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
            },
            {
                "name": "sidecar",
                "image": "example/sidecar:2.1",
                "ports": [{"name": "admin", "containerPort": 9901}, {"containerPort": 7000, "protocol": "UDP"}],
            },
            {"name": "logger", "image": "example/logger:0.3"},  # no ports: a bare-IP pod-role target
        ],
    }


def template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app, "app.kubernetes.io/name": app, "tier": "web"}}, "spec": containers()}


PODS: dict[str, dict[str, Any]] = {
    "web-ready": {"node": NODE_A, "ip": "10.244.0.10", "ready": "True", "app": "demo"},
    "web-notready": {"node": NODE_B, "ip": "10.244.1.11", "ready": "False", "app": "demo"},
    "v6": {"node": NODE_A, "ip": "fd00::5", "ready": None, "app": "v6"},  # no Ready condition: ready "unknown"
    "pending": {"node": None, "ip": None, "ready": None, "app": "pending"},  # never scheduled: no targets
}

SERVICES: list[dict[str, Any]] = [
    {
        "metadata": {
            "name": "demo",
            "labels": {"app.kubernetes.io/name": "demo", "team": "obs"},
            "annotations": {"prometheus.io/scrape": "true", "example.com/Mixed_Case-key.v2": "x"},
        },
        "spec": {
            "selector": {"app": "demo"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "appProtocol": "http"},
                {"name": "metrics", "port": 9090, "targetPort": 9090},
                {"name": "nomatch", "port": 81, "targetPort": 7777},  # no container declares 7777
            ],
        },
    },
    {  # no selector: its EndpointSlice and Endpoints are written by hand below
        "metadata": {"name": "manual", "labels": {"kind": "manual"}},
        "spec": {"ports": [{"name": "web", "port": 8080}, {"name": "raw", "port": 6000, "protocol": "UDP"}]},
    },
    {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"name": "h", "port": 5353}]}},
    {
        "metadata": {"name": "external"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com", "ports": [{"name": "pg", "port": 5432}]},
    },
]


def manual_slices() -> list[dict[str, Any]]:
    managed = {"endpointslice.kubernetes.io/managed-by": "tests.example.com"}
    return [
        {
            "metadata": {
                "name": "manual-v6",
                "labels": {"kubernetes.io/service-name": "manual", **managed},
                "annotations": {"note": "hand-made"},
            },
            "addressType": "IPv6",
            "ports": [
                # UDP where the container port says TCP: the matched container labels keep the container's
                {"name": "web", "port": 8080, "protocol": "UDP", "appProtocol": "http"},
                {"name": "raw", "port": 6000, "protocol": "UDP"},
            ],
            "endpoints": [
                {
                    "addresses": ["fd00::5"],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "hostname": "v6-host",
                    "targetRef": {"kind": "Pod", "name": "v6", "namespace": NS},
                    "nodeName": NODE_A,
                    "zone": "zone-a",
                    "deprecatedTopology": {"topology.example.com/rack": "r1"},
                },
                {"addresses": ["fd00::6"], "conditions": {}, "targetRef": {"kind": "Node", "name": NODE_B}},
                {"addresses": ["fd00::7"], "conditions": {"ready": False, "terminating": True}},
            ],
        },
        {
            "metadata": {"name": "manual-fqdn", "labels": managed},
            "addressType": "FQDN",
            "ports": [{"name": "any", "protocol": "TCP"}],  # no port number: the address stays bare
            "endpoints": [{"addresses": ["db.example.internal"], "conditions": {"ready": True}}],
        },
    ]


def manual_endpoints() -> dict[str, Any]:
    return {
        # skip-mirror: the mirroring controller must not copy it into a second, duplicate EndpointSlice
        "metadata": {"name": "manual", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true", "by": "hand"}},
        "subsets": [
            {
                "addresses": [
                    {
                        "ip": "fd00::8",
                        "hostname": "h8",
                        "nodeName": NODE_A,
                        "targetRef": {"kind": "Pod", "name": "v6", "namespace": NS},
                    }
                ],
                "notReadyAddresses": [{"ip": "fd00::9"}],
                "ports": [
                    # UDP where the container port says TCP: role endpoints reports the endpoint port's
                    {"name": "web", "port": 8080, "protocol": "UDP"},
                    {"name": "raw", "port": 5000, "protocol": "UDP"},
                ],
            }
        ],
    }


def kubelet_status(name: str, p: Mapping[str, Any], now: str) -> dict[str, Any]:
    """What a kubelet would write for a started pod: IPs, phase, conditions, container IDs."""
    host_ip = "192.168.0.10" if p["node"] == NODE_A else "192.168.0.11"
    conditions = [{"type": "Initialized", "status": "True", "lastTransitionTime": now}]
    if p["ready"] is not None:
        conditions.append({"type": "Ready", "status": p["ready"], "lastTransitionTime": now})

    def status(container: str, image: str, running: bool = True) -> dict[str, Any]:
        state = {"running": {"startedAt": now}} if running else {"terminated": {"exitCode": 0, "startedAt": now}}
        return {
            "name": container,
            "image": image,
            "imageID": f"docker.io/{image}@sha256:{'0' * 64}",
            "containerID": f"containerd://{name}-{container}",
            "ready": p["ready"] == "True" if running else False,
            "restartCount": 0,
            "started": running,
            "state": state,
        }

    return {
        "phase": "Running",
        "podIP": p["ip"],
        "podIPs": [{"ip": p["ip"]}],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": now,
        "conditions": conditions,
        "containerStatuses": [
            status("app", "example/app:1.0"),
            status("sidecar", "example/sidecar:2.1"),
            status("logger", "example/logger:0.3"),
        ],
        "initContainerStatuses": [status("init", "busybox:1.36", running=False)],
    }


async def create_world(api: ApiClient) -> None:
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await core.create_namespace(
        {"metadata": {"name": NS, "labels": {"purpose": "discovery-test"}, "annotations": {"owner": "tests"}}}
    )
    for name, zone, ip in ((NODE_A, "zone-a", "192.168.0.10"), (NODE_B, "zone-b", "192.168.0.11")):
        await core.create_node(
            {
                "metadata": {
                    "name": name,
                    "labels": {"topology.kubernetes.io/zone": zone, "kubernetes.io/hostname": name},
                    "annotations": {"example.com/rack": f"rack-{zone}"},
                }
            }
        )
        # a fresh Ready heartbeat keeps the node lifecycle controller from marking the pods not ready meanwhile
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "test"}
        ready |= {"lastHeartbeatTime": now, "lastTransitionTime": now}
        await core.patch_node_status(
            name, {"status": {"conditions": [ready], "addresses": [{"type": "InternalIP", "address": ip}]}}
        )
    for svc in SERVICES:
        await core.create_namespaced_service(NS, svc)
    for name, p in PODS.items():
        body = template(p["app"])
        body["metadata"]["name"] = name
        await core.create_namespaced_pod(NS, body)
        if p["node"] is None:
            continue
        binding = {"metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": p["node"]}}
        resp = await core.create_namespaced_pod_binding(name, NS, binding, _preload_content=False)
        assert resp.status == 201, await resp.text()
        await core.patch_namespaced_pod_status(name, NS, {"status": kubelet_status(name, p, now)})

    # Workloads above the pods. Created after the pods, so the controllers adopt them instead of making their own:
    # a paused Deployment creates nothing, and its ReplicaSet finds two running pods where it wants two.
    deployment = await apps.create_namespaced_deployment(
        NS,
        {
            "metadata": {"name": "demo"},
            "spec": {
                "paused": True,
                "replicas": 2,
                "selector": {"matchLabels": {"app": "demo"}},
                "template": template("demo"),
            },
        },
    )
    await apps.create_namespaced_replica_set(
        NS,
        {
            "metadata": {
                "name": "demo-rs",
                "labels": {"app": "demo"},
                "ownerReferences": [owner("apps/v1", "Deployment", "demo", deployment.metadata.uid)],
            },
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "demo"}}, "template": template("demo")},
        },
    )
    # a suspended CronJob starts no Jobs; its Job, with a manual selector, adopts the IPv6 pod as its one pod
    cron = await batch.create_namespaced_cron_job(
        NS,
        {
            "metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *", "suspend": True, "jobTemplate": {"spec": {"template": job_template()}}},
        },
    )
    await batch.create_namespaced_job(
        NS,
        {
            "metadata": {
                "name": "nightly-1",
                "ownerReferences": [owner("batch/v1", "CronJob", "nightly", cron.metadata.uid)],
            },
            "spec": {
                "manualSelector": True,
                "selector": {"matchLabels": {"app": "v6"}},
                "parallelism": 1,
                "completions": 1,
                "template": job_template(),
            },
        },
    )

    discovery = client.DiscoveryV1Api(api)
    for eps in manual_slices():
        await discovery.create_namespaced_endpoint_slice(NS, eps)
    await core.create_namespaced_endpoints(NS, manual_endpoints())


def owner(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True}


def job_template() -> dict[str, Any]:
    body = template("v6")
    body["spec"]["restartPolicy"] = "Never"
    return body


LISTS = {
    "Pod": f"/api/v1/namespaces/{NS}/pods",
    "Service": f"/api/v1/namespaces/{NS}/services",
    "Endpoints": f"/api/v1/namespaces/{NS}/endpoints",
    "EndpointSlice": f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices",
    "ReplicaSet": f"/apis/apps/v1/namespaces/{NS}/replicasets",
    "Job": f"/apis/batch/v1/namespaces/{NS}/jobs",
    "Node": "/api/v1/nodes",
    "Namespace": "/api/v1/namespaces",
}


async def controllers_done(api: ApiClient) -> bool:
    """kube-controller-manager has adopted the pods and written the demo Service's EndpointSlice and Endpoints."""
    pods = {p["metadata"]["name"]: p for p in await raw_list(api, LISTS["Pod"])}
    owners = {
        name: [(o["kind"], o["name"]) for o in p["metadata"].get("ownerReferences") or () if o.get("controller")]
        for name, p in pods.items()
    }
    slices = [
        s
        for s in await raw_list(api, LISTS["EndpointSlice"])
        if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == "demo"
    ]
    addresses = {a for s in slices for ep in s.get("endpoints") or () for a in ep["addresses"]}
    eps = [e for e in await raw_list(api, LISTS["Endpoints"]) if e["metadata"]["name"] == "demo"]
    ready = {a["ip"] for e in eps for s in e.get("subsets") or () for a in s.get("addresses") or ()}
    not_ready = {a["ip"] for e in eps for s in e.get("subsets") or () for a in s.get("notReadyAddresses") or ()}
    return (
        owners
        == {
            "web-ready": [("ReplicaSet", "demo-rs")],
            "web-notready": [("ReplicaSet", "demo-rs")],
            "v6": [("Job", "nightly-1")],
            "pending": [],
        }
        and addresses == {"10.244.0.10", "10.244.1.11"}
        and ready == {"10.244.0.10"}
        and not_ready == {"10.244.1.11"}
    )


async def our_targets(api: ApiClient) -> dict[str, Targets]:
    listed = {kind: await raw_list(api, path) for kind, path in LISTS.items()}
    listed["Node"] = [n for n in listed["Node"] if n["metadata"]["name"] in (NODE_A, NODE_B)]
    listed["Namespace"] = [n for n in listed["Namespace"] if n["metadata"]["name"] == NS]
    out: dict[str, Targets] = {}
    for role in ROLES:
        index = DiscoveryIndex(role, ATTACH)
        for kind in sorted(index.kinds):  # any order ends in the same state
            index.replace(kind, listed[kind])
        # as Prometheus's scrape layer merges them: target labels over group labels, and empty means absent
        merged = [{**g.labels, **t} for g in index.groups() for t in g.targets]
        out[role] = by_address([{k: v for k, v in t.items() if v != ""} for t in merged])
    return out


def by_address(targets: list[dict[str, str]]) -> Targets:
    out: Targets = {}
    for t in targets:
        assert t["__address__"] not in out, f"two targets at {t['__address__']}: the comparison needs unique ones"
        out[t["__address__"]] = t
    return out


# --------------------------------------------------------------------------- Prometheus


@contextlib.contextmanager
def prometheus(binary: str, kubeconfig: str, folder: Path) -> Iterator[str]:
    """Prometheus discovering our namespace; stopped through its own process handle on the way out."""
    jobs = []
    for role in ROLES:
        attach: dict[str, bool] = {"namespace": True}
        if role is not Role.SERVICE:
            attach |= {"node": True, "deployment": True, "job": True, "cronjob": True}
        sd = {
            "role": str(role),
            "kubeconfig_file": kubeconfig,
            "namespaces": {"names": [NS]},
            "attach_metadata": attach,
        }
        jobs.append({"job_name": str(role), "kubernetes_sd_configs": [sd]})
    with run_prometheus(binary, jobs, folder) as base:
        yield base


def prometheus_targets(base: str) -> dict[str, Targets] | None:
    try:
        with urllib.request.urlopen(f"{base}/api/v1/targets?state=active", timeout=5) as resp:
            data = json.load(resp)["data"]
    except OSError:
        return None  # not listening yet
    out: dict[str, list[dict[str, str]]] = {str(role): [] for role in ROLES}
    for t in data["activeTargets"]:
        # discovery's own labels; job, __scheme__, __scrape_interval__ and the like come from the scrape config
        labels = {k: v for k, v in t["discoveredLabels"].items() if k == "__address__" or k.startswith("__meta_")}
        out[t["scrapePool"]].append(labels)
    return {job: by_address(targets) for job, targets in out.items()}


# --------------------------------------------------------------------------- the test


async def test_discovery_labels_equal_prometheus(api: ApiClient, kubeconfig: str, tmp_path: Path) -> None:
    binary = await asyncio.to_thread(prometheus_binary)
    await create_world(api)
    try:
        await wait_for(lambda: controllers_done(api), within=60, what="adoption, EndpointSlices and Endpoints")
        with prometheus(binary, kubeconfig, tmp_path) as base:
            problems = ["Prometheus reported no targets yet"]
            theirs: dict[str, Targets] | None = None
            deadline = time.monotonic() + 60
            while problems and time.monotonic() < deadline:
                # its discovery manager publishes every 5 s; a controller may still be touching an object too
                theirs = await asyncio.to_thread(prometheus_targets, base)
                if theirs is not None and all(theirs.values()):
                    problems = differences(await our_targets(api), theirs)
                if problems:
                    await asyncio.sleep(1)
            assert not problems, "\n".join(problems) + f"\nPrometheus log: {tmp_path / 'prometheus.log'}"
            assert theirs is not None
            # what was compared: every role found every target, corner cases included
            assert {job: len(t) for job, t in theirs.items()} == EXPECTED_COUNTS
            pod_targets = theirs["pod"]
            assert pod_targets["10.244.0.10:8080"]["__meta_kubernetes_pod_deployment_name"] == "demo"
            assert pod_targets["[fd00::5]:8080"]["__meta_kubernetes_pod_cronjob_name"] == "nightly"
            assert pod_targets["10.244.0.10:8080"]["__meta_kubernetes_namespace_label_purpose"] == "discovery-test"
    finally:
        core = client.CoreV1Api(api)
        with contextlib.suppress(client.ApiException):
            await core.delete_namespace(NS)
        for name in (NODE_A, NODE_B):
            with contextlib.suppress(client.ApiException):
                await core.delete_node(name)
