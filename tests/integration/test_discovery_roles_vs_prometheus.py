"""Roles node and ingress, the pod role's container IDs and `attach_metadata.node`, against Prometheus v3.14.

The same oracle as test_discovery_vs_prometheus.py (hack/prometheus_oracle.py) watches the local control plane with
one scrape config per case; the allocator's own discovery path (`job_discovery` and `DiscoveryRouter`, so the
`selectors` the allocator applies too) reads the same objects from the same configs, and every discovered label
must be equal, target by target, in both directions.

The world, made without a kubelet: Nodes with their status (addresses of every type, kubelet ports, conditions)
written through the status subresource; Ingresses with TLS hosts, wildcards, empty and missing paths and a rule
without a host; Pods whose containers and init containers have, or lack, a container status (so IDs, empty IDs
and port-less containers); one Pod on a Node that the pod job's node selector leaves out of its Node store (so
`attach_metadata.node` drops it there, and only there); an EndpointSlice whose endpoints name a known node, an
unknown one, a Node targetRef and nothing, with a Pod behind one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from otel_operator.allocator.discovery import DiscoveryRouter, job_discovery
from tests.integration.conftest import ROOT

sys.path.insert(0, str(ROOT / "hack"))
from tests.integration.oracle import Targets, differences, prometheus_binary, raw_list, run_prometheus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]  # a first run may build Prometheus

SUFFIX = secrets.token_hex(3)
NS = f"disc-roles-{SUFFIX}"
SELECTED = {"roles-test": SUFFIX}  # the label the pod job's node selector asks for
MERGE_PATCH = "application/merge-patch+json"  # lists replaced whole: two InternalIPs survive a status patch


def node_name(short: str) -> str:
    return f"{short}-{SUFFIX}"


# name → (status.addresses, kubelet port or None, spec.providerID or None, labels, annotations, conditions)
NodeSpec = tuple[list[tuple[str, str]], int | None, str | None, dict[str, str], dict[str, str], list[tuple[str, str]]]
NODES: dict[str, NodeSpec] = {
    "full": (
        [
            ("InternalIP", "10.20.0.1"),
            ("InternalIP", "fd00:20::1"),  # dual stack: the label carries the first InternalIP
            ("InternalDNS", "full.internal"),
            ("ExternalIP", "203.0.113.1"),
            ("Hostname", node_name("full")),
        ],
        10250,
        "kind://docker/roles/full",
        {**SELECTED, "topology.kubernetes.io/zone": "zone-1", "node-role.kubernetes.io/worker": ""},
        {"example.com/Rack_Name": "rack-1"},
        [("Ready", "True"), ("MemoryPressure", "False"), ("NetworkUnavailable", "False")],
    ),
    "extip": ([("Hostname", "extip-host"), ("ExternalIP", "203.0.113.2")], None, None, SELECTED, {}, []),  # port 0
    "hostonly": ([("Hostname", "hostonly.example")], 10255, None, SELECTED, {}, [("Ready", "False")]),
    "v6": ([("InternalIP", "fd00:20::4")], 10250, "aws:///eu-1a/i-4", SELECTED, {}, [("Ready", "True")]),
    "dns": ([("ExternalDNS", "dns.example.com"), ("InternalDNS", "dns.internal")], 10250, None, SELECTED, {}, []),
    "noaddr": ([], 10250, None, SELECTED, {}, [("Ready", "True")]),  # no address: no target at all
    "hidden": ([("InternalIP", "10.20.0.7")], 10250, None, {"roles-test": "other"}, {}, [("Ready", "True")]),
}


def path(value: str | None, kind: str = "Prefix") -> dict[str, Any]:
    out: dict[str, Any] = {"pathType": kind, "backend": {"service": {"name": "web", "port": {"number": 80}}}}
    if value is not None:
        out["path"] = value
    return out


INGRESSES: list[dict[str, Any]] = [
    {
        "metadata": {
            "name": "shop",
            "labels": {"app.kubernetes.io/name": "shop"},
            "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
            "rules": [
                {"host": "shop.example.com", "http": {"paths": [path("/"), path("/api", "Exact")]}},
                {"host": "test.example.com", "http": {"paths": [path(None, "ImplementationSpecific")]}},  # → "/"
            ],
        },
    },
    {
        "metadata": {"name": "wild"},
        "spec": {
            "tls": [{"secretName": "no-hosts"}, {"hosts": ["*.example.org"]}],
            "rules": [
                {"host": "a.example.org", "http": {"paths": [path("/metrics")]}},  # https: the wildcard covers it
                {"host": "a.b.example.org", "http": {"paths": [path("/metrics")]}},  # http: one label deep only
                {"host": "example.org", "http": {"paths": [path("/metrics")]}},  # http
                {"host": "nohttp.example.org"},  # no http: one target, path "/"
                {"http": {"paths": [path("/catch-all")]}},  # no host: an empty address, refused by the scrape layer
            ],
        },
    },
    {  # only a default backend: a group with labels and no targets
        "metadata": {"name": "backend-only"},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
    },
]


def pod_spec() -> dict[str, Any]:
    return {
        "containers": [
            {"name": "app", "image": "example/app:1.0", "ports": [{"name": "http", "containerPort": 8080}]},
            {"name": "sidecar", "image": "example/sidecar:2.0"},  # port-less, with a status
            {"name": "late", "image": "example/late:0.1", "ports": [{"containerPort": 9100}]},  # no status yet
        ],
        "initContainers": [
            {"name": "setup", "image": "busybox:1.36", "ports": [{"name": "init-metrics", "containerPort": 8081}]},
            {"name": "migrate", "image": "busybox:1.36"},  # port-less init container without a status
        ],
    }


# name → (node short name, pod IP, the containers with a status and their IDs; "" is a waiting container's)
PODS: dict[str, tuple[str, str, dict[str, str]]] = {
    "ids": ("full", "10.244.5.10", {"app": "containerd://ids-app", "sidecar": "cri-o://ids-sidecar", "setup": "x"}),
    "waiting": ("v6", "fd00:244::11", {"app": "", "sidecar": "docker://waiting-sidecar"}),
    "on-hidden": ("hidden", "10.244.5.12", {"app": "containerd://hidden-app"}),
}


def kubelet_status(ip: str, ids: Mapping[str, str], now: str) -> dict[str, Any]:
    def status(name: str) -> dict[str, Any]:
        cid = ids[name]
        state = {"running": {"startedAt": now}} if cid else {"waiting": {"reason": "ContainerCreating"}}
        out = {"name": name, "image": "example/x", "imageID": "", "ready": bool(cid), "restartCount": 0}
        out |= {"started": bool(cid), "state": state}
        if cid:
            out["containerID"] = cid
        return out

    init = {"setup", "migrate"}
    return {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": "192.168.5.1",
        "hostIPs": [{"ip": "192.168.5.1"}],
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
        "containerStatuses": [status(n) for n in ids if n not in init],
        "initContainerStatuses": [status(n) for n in ids if n in init],
    }


def endpoint_slice() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "manual-1",
            "labels": {"kubernetes.io/service-name": "manual", "endpointslice.kubernetes.io/managed-by": "tests"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {  # a pod on a known node: node and pod labels (and the pod's other ports as extra targets)
                "addresses": ["10.244.5.10"],
                "conditions": {"ready": True},
                "nodeName": node_name("full"),
                "targetRef": {"kind": "Pod", "name": "ids", "namespace": NS},
            },
            {"addresses": ["10.244.6.1"], "nodeName": f"ghost-{SUFFIX}"},  # an unknown node: no node labels
            {  # a Node targetRef wins over nodeName
                "addresses": ["10.244.6.2"],
                "nodeName": node_name("full"),
                "targetRef": {"kind": "Node", "name": node_name("v6")},
            },
            {"addresses": ["10.244.6.3"]},  # neither
            {  # the pod the pod job drops: here its node is known (no node selector on this role)
                "addresses": ["10.244.5.12"],
                "nodeName": node_name("hidden"),
                "targetRef": {"kind": "Pod", "name": "on-hidden", "namespace": NS},
            },
        ],
    }


# --------------------------------------------------------------------------- the scrape configs

# per job: the labels that tell its targets apart (Prometheus merges targets whose scrape labels and URL are equal,
# so each job copies these into a label of its own)
KEYS: dict[str, tuple[str, ...]] = {
    "node": ("__meta_kubernetes_node_name",),
    "ingress": ("__meta_kubernetes_ingress_name", "__address__", "__meta_kubernetes_ingress_path"),
    "pod": ("__address__", "__meta_kubernetes_pod_container_name"),
    "pod-all-nodes": ("__address__", "__meta_kubernetes_pod_container_name"),
    "endpointslice": ("__address__",),
}


def scrape_configs() -> list[dict[str, Any]]:
    def sd(role: str, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"role": role}
        if role != "node":
            out["namespaces"] = {"names": [NS]}
        return out | extra

    sds = {
        "node": sd("node"),
        "ingress": sd("ingress"),
        # the node selector leaves "hidden" out of this job's Node store: its pod has no group here
        "pod": sd(
            "pod",
            attach_metadata={"node": True},
            selectors=[{"role": "node", "label": f"roles-test={SUFFIX}"}],
        ),
        "pod-all-nodes": sd("pod"),
        "endpointslice": sd("endpointslice", attach_metadata={"node": True}),
    }
    return [
        {
            "job_name": job,
            "kubernetes_sd_configs": [entry],
            "relabel_configs": [{"source_labels": list(KEYS[job]), "separator": "|", "target_label": "key"}],
        }
        for job, entry in sds.items()
    ]


# --------------------------------------------------------------------------- the world


async def create_world(api: ApiClient) -> None:
    core, networking, discovery = client.CoreV1Api(api), client.NetworkingV1Api(api), client.DiscoveryV1Api(api)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await core.create_namespace({"metadata": {"name": NS}})
    for short, (addresses, port, provider, labels, notes, conditions) in NODES.items():
        meta = {"name": node_name(short), "labels": labels, "annotations": notes}
        await core.create_node({"metadata": meta, "spec": {"providerID": provider} if provider else {}})
        status: dict[str, Any] = {
            "addresses": [{"type": t, "address": a} for t, a in addresses],
            # fresh heartbeats: the node lifecycle controller leaves the conditions alone for a while
            "conditions": [
                {"type": t, "status": s, "reason": "Test", "lastHeartbeatTime": now, "lastTransitionTime": now}
                for t, s in conditions
            ],
        }
        if port is not None:
            status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
        await core.patch_node_status(node_name(short), {"status": status}, _content_type=MERGE_PATCH)
    await core.create_namespaced_service(NS, {"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 8080}]}})
    for name, (short, ip, ids) in PODS.items():
        body = {
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": pod_spec() | {"nodeName": node_name(short)},
        }
        await core.create_namespaced_pod(NS, body)
        await core.patch_namespaced_pod_status(
            name, NS, {"status": kubelet_status(ip, ids, now)}, _content_type=MERGE_PATCH
        )
    for ingress in INGRESSES:
        await networking.create_namespaced_ingress(NS, ingress)
    await discovery.create_namespaced_endpoint_slice(NS, endpoint_slice())


LISTS = {
    "Pod": f"/api/v1/namespaces/{NS}/pods",
    "Service": f"/api/v1/namespaces/{NS}/services",
    "EndpointSlice": f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices",
    "Ingress": f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses",
    "Node": "/api/v1/nodes",
}


def by_key(job: str, targets: Sequence[Mapping[str, str]]) -> Targets:
    out: Targets = {}
    for t in targets:
        key = "|".join(t.get(name, "") for name in KEYS[job])
        assert key not in out, f"{job}: two targets with key {key}"
        out[key] = dict(t)
    return out


def ours_for_the_scrape_layer(job: str, targets: list[dict[str, str]]) -> tuple[Targets, list[dict[str, str]]]:
    """Our targets as Prometheus lists them (empty values are absent), and the ones its scrape layer refuses."""
    kept = [{k: v for k, v in t.items() if v != ""} for t in targets]
    return by_key(job, [t for t in kept if t.get("__address__")]), [t for t in kept if not t.get("__address__")]


async def our_targets(api: ApiClient) -> tuple[dict[str, Targets], dict[str, list[dict[str, str]]]]:
    listed = {kind: await raw_list(api, path) for kind, path in LISTS.items()}
    mine = {node_name(short) for short in NODES}
    listed["Node"] = [n for n in listed["Node"] if n["metadata"]["name"] in mine]
    router = DiscoveryRouter(lambda kind: listed.get(kind, []))
    jobs = {str(c["job_name"]): job_discovery(str(c["job_name"]), c, NS) for c in scrape_configs()}
    targets: dict[str, Targets] = {}
    refused: dict[str, list[dict[str, str]]] = {}
    for job, groups in router.set_jobs(jobs).items():
        # as Prometheus's scrape layer merges them: target labels over group labels
        targets[job], refused[job] = ours_for_the_scrape_layer(
            job, [{**g.labels, **t} for g in groups for t in g.targets]
        )
    return targets, refused


# --------------------------------------------------------------------------- Prometheus


@contextlib.contextmanager
def prometheus(binary: str, kubeconfig: str, folder: Path) -> Iterator[str]:
    """Prometheus with our scrape configs; stopped through its own process handle on the way out."""
    jobs = scrape_configs()
    for job in jobs:
        for entry in job["kubernetes_sd_configs"]:
            entry["kubeconfig_file"] = kubeconfig
    with run_prometheus(binary, jobs, folder) as base:
        yield base


def from_discovery(name: str) -> bool:
    """Whether a discovered label comes from discovery (the address, meta labels, a node's `instance`), not from the
    scrape config (`job`, `__scheme__`, `__scrape_interval__`, the native-histogram settings and the like)."""
    return name == "__address__" or name.startswith("__meta_") or not (name.startswith("__") or name == "job")


def prometheus_targets(base: str) -> dict[str, Targets] | None:
    try:
        with urllib.request.urlopen(f"{base}/api/v1/targets?state=active", timeout=5) as resp:
            data = json.load(resp)["data"]
    except OSError:
        return None  # not listening yet
    out: dict[str, list[dict[str, str]]] = {job: [] for job in KEYS}
    mine = {node_name(short) for short in NODES}
    for t in data["activeTargets"]:
        labels = {k: v for k, v in t["discoveredLabels"].items() if from_discovery(k)}
        if t["scrapePool"] == "node" and labels.get("__meta_kubernetes_node_name") not in mine:
            continue  # the nodes other tests made
        out[t["scrapePool"]].append(labels)
    return {job: by_key(job, targets) for job, targets in out.items()}


# --------------------------------------------------------------------------- the test


async def test_node_ingress_container_id_and_node_metadata_equal_prometheus(
    api: ApiClient, kubeconfig: str, tmp_path: Path
) -> None:
    binary = await asyncio.to_thread(prometheus_binary)
    await create_world(api)
    try:
        with prometheus(binary, kubeconfig, tmp_path) as base:
            problems = ["Prometheus reported no targets yet"]
            theirs: dict[str, Targets] | None = None
            refused: dict[str, list[dict[str, str]]] = {}
            deadline = time.monotonic() + 60
            while problems and time.monotonic() < deadline:
                # its discovery manager publishes every 5 s; a controller may still be touching an object too
                theirs = await asyncio.to_thread(prometheus_targets, base)
                if theirs is not None and all(theirs.values()):
                    ours, refused = await our_targets(api)
                    problems = differences(ours, theirs)
                if problems:
                    await asyncio.sleep(1)
            assert not problems, "\n".join(problems) + f"\nPrometheus log: {tmp_path / 'prometheus.log'}"
            assert theirs is not None
        # what was compared: every case found its targets
        assert {job: len(t) for job, t in theirs.items()} == {
            "node": 6,  # every node but "noaddr"
            "ingress": 7,
            "pod": 10,  # "ids" and "waiting", 5 containers each; not "on-hidden"
            "pod-all-nodes": 15,
            "endpointslice": 9,  # 5 endpoints, 2 extra container ports of each pod behind one
        }
        # the one target both lack from Prometheus's list: the host-less rule, which its scrape layer refuses
        assert [t["__meta_kubernetes_ingress_path"] for t in refused["ingress"]] == ["/catch-all"]
        nodes = theirs["node"]
        assert nodes[node_name("full")]["__address__"] == "10.20.0.1:10250"
        assert nodes[node_name("extip")]["__address__"] == "203.0.113.2:0"
        assert nodes[node_name("dns")]["__address__"] == "dns.internal:10250"
        assert nodes[node_name("v6")]["__address__"] == "[fd00:20::4]:10250"
        assert nodes[node_name("full")]["instance"] == node_name("full")
        pods = theirs["pod"]
        assert pods["10.244.5.10:8080|app"]["__meta_kubernetes_pod_container_id"] == "containerd://ids-app"
        assert pods["10.244.5.10|sidecar"]["__meta_kubernetes_pod_container_id"] == "cri-o://ids-sidecar"
        assert "__meta_kubernetes_pod_container_id" not in pods["10.244.5.10:9100|late"]  # no status: empty
        assert pods["10.244.5.10:8081|setup"]["__meta_kubernetes_pod_container_id"] == "x"
        assert pods["10.244.5.10|migrate"]["__meta_kubernetes_pod_container_init"] == "true"
        assert pods["10.244.5.10:8080|app"]["__meta_kubernetes_node_label_topology_kubernetes_io_zone"] == "zone-1"
        slices = theirs["endpointslice"]
        assert slices["10.244.6.2:8080"]["__meta_kubernetes_node_name"] == node_name("v6")
        assert "__meta_kubernetes_node_name" not in slices["10.244.6.1:8080"]
        assert slices["10.244.5.12:8080"]["__meta_kubernetes_node_name"] == node_name("hidden")
    finally:
        core = client.CoreV1Api(api)
        with contextlib.suppress(client.ApiException):
            await core.delete_namespace(NS)
        for short in NODES:
            with contextlib.suppress(client.ApiException):
                await core.delete_node(node_name(short))
