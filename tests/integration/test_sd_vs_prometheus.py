"""Our HTTP, file and DNS service discovery and our Kubernetes role selectors against a real Prometheus v3.14.0.

One Prometheus (hack/prometheus_oracle.py: Kubernetes and DNS SD compiled in besides file and HTTP) runs these
jobs, and the allocator's own code runs the same configs; every target's `__address__`, `__meta_*` and group
labels must be equal, in both directions:

- `http_sd_configs` against a local aiohttp server, through our `Pollers` (the real HTTP poller);
- `file_sd_configs` against a JSON file and a YAML file matched by a glob in a temp folder;
- `dns_sd_configs` (SRV, A, AAAA, MX, NS) against a tiny DNS server this test starts on 127.53.0.1:53. Prometheus
  reads only /etc/resolv.conf, so it runs in a private mount namespace (`unshare -m`) with a resolv.conf naming
  that server bind-mounted over /etc/resolv.conf; nothing changes outside that process;
- `kubernetes_sd_configs[].selectors` on the local control plane (label and field selectors on roles pod,
  endpointslice, endpoints and service, and a node selector with attach_metadata.node), through `DiscoveryRouter`
  fed the listed objects.

`namespaces.own_namespace` cannot be given to this Prometheus: it reads its own namespace only in a pod
(in-cluster config, refused with kubeconfig_file). Prometheus defines it as its namespace appended to `names`
(discovery/kubernetes getNamespaces), so our `own_namespace: true` (own namespace = the test's) is compared with
Prometheus's `names: [<the test's namespace>]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from otel_operator.allocator.discovery import DiscoveryRouter, JobDiscovery, job_discovery
from otel_operator.allocator.sd import dns, dnswire
from otel_operator.allocator.sd.pollers import PolledSD, Pollers
from otel_operator.prom.model import TargetGroup
from tests.integration.conftest import ROOT, wait_for

sys.path.insert(0, str(ROOT / "hack"))
import localcluster  # hack/ is not a package
from tests.integration.oracle import Targets, differences, prometheus_binary, raw_list, run_prometheus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]  # a first run may build Prometheus

SUFFIX = secrets.token_hex(3)
NS = f"sd-vs-prom-{SUFFIX}"
NODE_A, NODE_B = f"sd-node-a-{SUFFIX}", f"sd-node-b-{SUFFIX}"
DNS_HOST = "127.53.0.1"  # any loopback address: port 53 there is free of the system's resolver
# what Prometheus adds from the scrape config, not from discovery (the histogram ones since 3.13)
ADDED_BY_SCRAPE_CONFIG = {
    "job",
    "__scheme__",
    "__metrics_path__",
    "__scrape_interval__",
    "__scrape_timeout__",
    "__scrape_native_histograms__",
    "__always_scrape_classic_histograms__",
    "__convert_classic_histograms_to_nhcb__",
}


# --------------------------------------------------------------------------- what is discovered

HTTP_ANSWER = [
    {"targets": ["web-1:8080", "web-2:8080"], "labels": {"env": "prod", "team": "shop"}},
    {"targets": ["[fd00::1]:9100"], "labels": {"__meta_custom": "x"}},
    {"targets": ["db:5432"]},
]
FILE_JSON = [{"targets": ["file-a:80", "file-b:80"], "labels": {"source": "json"}}]
FILE_YAML = "- targets: ['file-c:81']\n  labels: {source: yaml, on: yes}\n- targets: ['file-d:82', 'file-e:83']\n"

ZONE: dict[tuple[str, int], list[dnswire.Record]] = {
    ("_metrics._tcp.sd.test.", dnswire.TYPE_SRV): [
        dnswire.Record("_metrics._tcp.sd.test.", dnswire.TYPE_SRV, "node-1.sd.test.", port=9100, priority=1, weight=5),
        dnswire.Record("_metrics._tcp.sd.test.", dnswire.TYPE_SRV, "node-2.sd.test.", port=9101),
    ],
    ("web.sd.test.", dnswire.TYPE_A): [
        dnswire.Record("web.sd.test.", dnswire.TYPE_CNAME, "www.sd.test."),
        dnswire.Record("www.sd.test.", dnswire.TYPE_A, "10.1.0.1"),
        dnswire.Record("www.sd.test.", dnswire.TYPE_A, "10.1.0.2"),
    ],
    ("web.sd.test.", dnswire.TYPE_AAAA): [dnswire.Record("web.sd.test.", dnswire.TYPE_AAAA, "fd00::10")],
    ("sd.test.", dnswire.TYPE_MX): [dnswire.Record("sd.test.", dnswire.TYPE_MX, "mail.sd.test.", priority=10)],
    ("sd.test.", dnswire.TYPE_NS): [
        dnswire.Record("sd.test.", dnswire.TYPE_NS, "ns1.sd.test."),
        dnswire.Record("sd.test.", dnswire.TYPE_NS, "ns2.sd.test."),
    ],
}


def polled_jobs(http_url: str, folder: Path) -> dict[str, dict[str, Any]]:
    return {
        "http": {"http_sd_configs": [{"url": http_url, "refresh_interval": "2s"}]},
        "file": {
            "file_sd_configs": [{"files": [str(folder / "*.json"), str(folder / "*.yml")], "refresh_interval": "2s"}]
        },
        "dns-srv": {"dns_sd_configs": [{"names": ["_metrics._tcp.sd.test"], "refresh_interval": "2s"}]},
        "dns-a": {"dns_sd_configs": [{"names": ["web.sd.test", "missing.sd.test"], "type": "A", "port": 80}]},
        "dns-aaaa": {"dns_sd_configs": [{"names": ["web.sd.test"], "type": "AAAA", "port": 81}]},
        "dns-mx": {"dns_sd_configs": [{"names": ["sd.test"], "type": "MX", "port": 25}]},
        "dns-ns": {"dns_sd_configs": [{"names": ["sd.test"], "type": "NS", "port": 53}]},
    }


def kubernetes_jobs(kubeconfig: str | None) -> dict[str, dict[str, Any]]:
    """Kubernetes jobs with selectors; kubeconfig None: ours (own_namespace), else Prometheus's (names)."""

    def sd(role: str, selectors: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"role": role, "selectors": selectors, **extra}
        if kubeconfig is None:
            entry["namespaces"] = {"own_namespace": True}
        else:
            entry |= {"namespaces": {"names": [NS]}, "kubeconfig_file": kubeconfig}
        return {"kubernetes_sd_configs": [entry]}

    return {
        "pod-label-field": sd("pod", [{"role": "pod", "label": "app=web,tier!=db", "field": "status.phase=Running"}]),
        "pod-node": sd("pod", [{"role": "node", "label": "zone in (a)"}], attach_metadata={"node": True}),
        "slice-pod-service": sd(
            "endpointslice",
            [{"role": "pod", "field": f"metadata.name!=web-1-{SUFFIX}"}, {"role": "service", "label": "team=obs"}],
        ),
        "slice-own": sd("endpointslice", [{"role": "endpointslice", "label": "kubernetes.io/service-name=web"}]),
        "endpoints-name": sd("endpoints", [{"role": "endpoints", "field": "metadata.name=web"}]),
        "service-type": sd("service", [{"role": "service", "field": "spec.type=ClusterIP"}]),
    }


# --------------------------------------------------------------------------- the local servers


@contextlib.asynccontextmanager
async def http_sd_server() -> AsyncIterator[str]:
    async def targets(request: web.Request) -> web.Response:
        return web.json_response(HTTP_ANSWER)

    app = web.Application()
    app.router.add_get("/sd/targets", targets)
    runner = web.AppRunner(app)
    await runner.setup()
    port = localcluster.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/sd/targets"
    finally:
        await runner.cleanup()


class _DNSServer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dnswire.decode_message(data)
        assert query.question is not None
        name, qtype = query.question
        name = name.lower()
        records = ZONE.get((name, qtype))
        known = any(n == name for n, _ in ZONE)
        rcode = dnswire.RCODE_SUCCESS if records is not None or known else dnswire.RCODE_NXDOMAIN
        reply = dnswire.Message(query.id, rcode=rcode, question=(name, qtype), answers=tuple(records or ()))
        self.transport.sendto(dnswire.encode_message(reply), addr)


@contextlib.asynccontextmanager
async def dns_server() -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_DNSServer, local_addr=(DNS_HOST, 53))
    try:
        yield
    finally:
        transport.close()


# --------------------------------------------------------------------------- the cluster


def pod_body(name: str, app: str, tier: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": app, "tier": tier}},
        "spec": {"containers": [{"name": "c", "image": "x:1", "ports": [{"name": "http", "containerPort": 8080}]}]},
    }


PODS = {  # name → (app, tier, node, ip, phase)
    f"web-1-{SUFFIX}": ("web", "front", NODE_A, "10.250.0.1", "Running"),
    f"web-2-{SUFFIX}": ("web", "front", NODE_B, "10.250.0.2", "Running"),
    f"web-3-{SUFFIX}": ("web", "db", NODE_A, "10.250.0.3", "Running"),
    f"done-{SUFFIX}": ("web", "front", NODE_A, "10.250.0.4", "Succeeded"),
    f"api-{SUFFIX}": ("api", "front", NODE_B, "10.250.0.5", "Running"),
}


async def create_world(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await core.create_namespace({"metadata": {"name": NS}})
    for name, zone, ip in ((NODE_A, "a", "192.168.50.1"), (NODE_B, "b", "192.168.50.2")):
        await core.create_node({"metadata": {"name": name, "labels": {"zone": zone}}})
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "test"}
        ready |= {"lastHeartbeatTime": now, "lastTransitionTime": now}
        await core.patch_node_status(
            name, {"status": {"conditions": [ready], "addresses": [{"type": "InternalIP", "address": ip}]}}
        )
    for svc, team, selector in (("web", "obs", {"app": "web"}), ("api", "dev", {"app": "api"})):
        await core.create_namespaced_service(
            NS,
            {
                "metadata": {"name": svc, "labels": {"team": team}},
                "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
            },
        )
    for name, (app, tier, node, ip, phase) in PODS.items():
        await core.create_namespaced_pod(NS, pod_body(name, app, tier))
        binding = {"metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        resp = await core.create_namespaced_pod_binding(name, NS, binding, _preload_content=False)
        assert resp.status == 201, await resp.text()
        running = phase == "Running"
        status = {
            "phase": phase,
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "hostIP": "192.168.50.1",
            "conditions": [{"type": "Ready", "status": "True" if running else "False", "lastTransitionTime": now}],
        }
        await core.patch_namespaced_pod_status(name, NS, {"status": status})


LISTS = {
    "Pod": f"/api/v1/namespaces/{NS}/pods",
    "Service": f"/api/v1/namespaces/{NS}/services",
    "Endpoints": f"/api/v1/namespaces/{NS}/endpoints",
    "EndpointSlice": f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices",
    "Node": "/api/v1/nodes",
}


async def slices_written(api: ApiClient) -> bool:
    slices = await raw_list(api, LISTS["EndpointSlice"])
    addresses = {a for s in slices for ep in s.get("endpoints") or () for a in ep["addresses"]}
    eps = await raw_list(api, LISTS["Endpoints"])
    ready = {a["ip"] for e in eps for s in e.get("subsets") or () for a in s.get("addresses") or ()}
    web_api = {"10.250.0.1", "10.250.0.2", "10.250.0.3", "10.250.0.5"}
    return web_api <= addresses and web_api <= ready


# --------------------------------------------------------------------------- our side


def merged(groups: list[TargetGroup]) -> Targets:
    """As Prometheus's scrape layer merges them: target labels over group labels; empty means absent."""
    out: Targets = {}
    for group in groups:
        for target in group.targets:
            labels = {k: v for k, v in {**group.labels, **target}.items() if v != ""}
            assert labels["__address__"] not in out, f"two targets at {labels['__address__']}"
            out[labels["__address__"]] = labels
    return out


def discoveries(jobs: Mapping[str, Mapping[str, Any]]) -> dict[str, JobDiscovery]:
    return {name: job_discovery(name, {"job_name": name, **cfg}, NS) for name, cfg in jobs.items()}


class Ours:
    """The allocator's discovery for the polled jobs: the router fed by real pollers."""

    def __init__(self, jobs: Mapping[str, Mapping[str, Any]]) -> None:
        self.router = DiscoveryRouter(lambda kind: [])
        self.groups: dict[str, dict[str, TargetGroup]] = {}
        for name, groups in self.router.set_jobs(discoveries(jobs)).items():
            self.groups[name] = {g.source: g for g in groups}
        conf = dns.ResolvConf(servers=(DNS_HOST,))
        self.pollers = Pollers(self.on_groups, resolv_conf=lambda: conf)

    def on_groups(self, config: PolledSD, groups: list[TargetGroup]) -> None:
        for job, group in self.router.polled(config, groups):
            if group.targets or group.labels:
                self.groups[job][group.source] = group
            else:
                self.groups[job].pop(group.source, None)

    def targets(self) -> dict[str, Targets]:
        return {job: merged(list(groups.values())) for job, groups in self.groups.items()}


async def our_kubernetes_targets(api: ApiClient) -> dict[str, Targets]:
    listed = {kind: await raw_list(api, path) for kind, path in LISTS.items()}
    listed["Node"] = [n for n in listed["Node"] if n["metadata"]["name"] in (NODE_A, NODE_B)]
    router = DiscoveryRouter(lambda kind: listed.get(kind, []))
    return {job: merged(groups) for job, groups in router.set_jobs(discoveries(kubernetes_jobs(None))).items()}


# --------------------------------------------------------------------------- Prometheus


@contextlib.contextmanager
def prometheus(binary: str, jobs: Mapping[str, Mapping[str, Any]], folder: Path) -> Iterator[str]:
    """Prometheus with its own /etc/resolv.conf (a private mount namespace)."""
    resolv = folder / "resolv.conf"
    resolv.write_text(f"nameserver {DNS_HOST}\n")
    unshare = shutil.which("unshare")
    assert unshare is not None, "unshare (util-linux) is needed to give Prometheus its own resolv.conf"
    wrapper = [unshare, "--mount", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(resolv)]
    scrape_configs = [{"job_name": name, **cfg} for name, cfg in jobs.items()]
    with run_prometheus(binary, scrape_configs, folder, wrapper) as base:
        yield base


def prometheus_targets(base: str, jobs: Mapping[str, Any]) -> dict[str, Targets] | None:
    try:
        with urllib.request.urlopen(f"{base}/api/v1/targets?state=active", timeout=5) as resp:
            data = json.load(resp)["data"]
    except OSError:
        return None  # not listening yet
    out: dict[str, Targets] = {job: {} for job in jobs}
    for t in data["activeTargets"]:
        labels = {k: v for k, v in t["discoveredLabels"].items() if k not in ADDED_BY_SCRAPE_CONFIG}
        job = out[t["scrapePool"]]
        assert labels["__address__"] not in job, f"{t['scrapePool']}: two targets at {labels['__address__']}"
        job[labels["__address__"]] = labels
    return out


EXPECTED_COUNTS = {
    "http": 4,
    "file": 5,
    "dns-srv": 2,
    "dns-a": 2,
    "dns-aaaa": 1,
    "dns-mx": 1,
    "dns-ns": 2,
    "pod-label-field": 2,  # web-1 and web-2: web-3 is tier=db, done is Succeeded, api is app=api
    "pod-node": 3,  # the pods on node A (zone a): web-1, web-3, done
    "slice-pod-service": 4,  # every endpoint stays; pod and service labels only where they match
    "slice-own": 3,  # the web Service's slice only
    "endpoints-name": 3,
    "service-type": 2,
}


# --------------------------------------------------------------------------- the test


async def test_sd_and_selectors_equal_prometheus(api: ApiClient, kubeconfig: str, tmp_path: Path) -> None:
    binary = await asyncio.to_thread(prometheus_binary)
    files = tmp_path / "targets"
    files.mkdir()
    (files / "a.json").write_text(json.dumps(FILE_JSON))
    (files / "b.yml").write_text(FILE_YAML)
    (files / "ignored.txt").write_text("not matched")
    await create_world(api)
    try:
        await wait_for(lambda: slices_written(api), within=60, what="EndpointSlices and Endpoints")
        async with http_sd_server() as url, dns_server():
            polled = polled_jobs(url, files)
            ours = Ours(polled)
            ours.pollers.sync(ours.router.poll_configs)
            all_jobs = {**polled, **kubernetes_jobs(kubeconfig)}
            try:
                with prometheus(binary, all_jobs, tmp_path) as base:
                    problems = ["Prometheus reported no targets yet"]
                    theirs: dict[str, Targets] | None = None
                    deadline = time.monotonic() + 90
                    while problems and time.monotonic() < deadline:
                        theirs = await asyncio.to_thread(prometheus_targets, base, all_jobs)
                        if theirs is not None and all(theirs.values()):
                            mine = {**ours.targets(), **await our_kubernetes_targets(api)}
                            problems = differences(mine, theirs)
                        if problems:
                            await asyncio.sleep(1)
                    log = tmp_path / "prometheus.log"
                    assert not problems, "\n".join(problems) + f"\nPrometheus log: {log}"
                    assert theirs is not None
                    assert {job: len(t) for job, t in theirs.items()} == EXPECTED_COUNTS
                    # what was compared carries the labels each discovery sets
                    assert theirs["http"]["web-1:8080"]["__meta_url"] == url
                    assert theirs["file"]["file-c:81"]["__meta_filepath"] == str(files / "b.yml")
                    assert theirs["dns-srv"]["node-1.sd.test:9100"]["__meta_dns_srv_record_target"] == "node-1.sd.test."
                    sliced = theirs["slice-pod-service"]
                    assert "__meta_kubernetes_pod_name" not in sliced["10.250.0.1:8080"]  # web-1 not selected
                    assert sliced["10.250.0.2:8080"]["__meta_kubernetes_service_name"] == "web"
                    assert "__meta_kubernetes_service_name" not in sliced["10.250.0.5:8080"]  # team=dev
            finally:
                await ours.pollers.stop()
    finally:
        core = client.CoreV1Api(api)
        with contextlib.suppress(client.ApiException):
            await core.delete_namespace(NS)
        for name in (NODE_A, NODE_B):
            with contextlib.suppress(client.ApiException):
                await core.delete_node(name)
