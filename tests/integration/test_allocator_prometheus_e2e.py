"""End to end: real Prometheus servers as the collectors, fed only by the allocator's HTTP SD answers.

Debian's Prometheus 2.42 (`/usr/bin/prometheus`; built without Kubernetes SD, which this test does not need) plays
the collectors `collector-0`, `collector-1` and later `collector-2`. Each has one scrape job per allocator job whose
only discovery is `http_sd_configs` on `/jobs/<QueryEscape(job)>/targets?collector_id=collector-N`, as the
Collector's prometheus receiver configures it, so Prometheus's own HTTP SD client checks the wire format (status
200, `application/json`, an array of `{targets, labels}`). A control job on collector-0 reads the same kind of body
served as `text/plain` to show this Prometheus rejects that.

The targets are live: 36 local ports serving Prometheus text, all on one address, so the targets differ only by
port. 30 sit behind a selector-less Service with one hand-written EndpointSlice per port, found through a
ServiceMonitor; 6 more are a static job in the allocator's config file. The address is this host's own IPv4
address, not 127.0.0.1: the API server refuses loopback IPs in EndpointSlices ("may not be in the loopback range")
and FQDN slices need a dotted name, which `localhost` is not. The allocator is the real CLI
(`otel-operator allocator --config ...`) against the local control plane; the collectors are fake pods (bound to a
Node kept Ready, Running, Ready) it finds by label.

Checked through Prometheus's `/api/v1/targets`: every target is scraped (health "up") by exactly one server, the
union is every endpoint, and each server scrapes exactly what the allocator assigns its collector. Then a third
collector joins: the union stays the same, each target is still scraped exactly once, and about a third moves.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import web
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import ROOT, wait_for
from tests.integration.test_allocator_cluster import node, pod_status

sys.path.insert(0, str(ROOT / "hack"))
import localcluster  # hack/ is not a package; tests/conftest.py puts it on the path the same way

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PROMETHEUS = "/usr/bin/prometheus"
SUFFIX = secrets.token_hex(3)
NS = f"ta-e2e-{SUFFIX}"
NODE = f"ta-e2e-{SUFFIX}"
MONITORED, STATIC = 30, 6
SM_JOB = f"serviceMonitor/{NS}/demo/0"
STATIC_JOB = "demo-static"
CONTROL_JOB = "control-wrong-content-type"
COLLECTOR_LABELS = {"app.kubernetes.io/component": "opentelemetry-collector", "app.kubernetes.io/instance": "e2e"}
REFRESH = "1s"  # http_sd refresh_interval; Prometheus uses it as the request timeout too

Target = tuple[str, str]  # (job, instance)


# --------------------------------------------------------------------------- live metric endpoints


def host_address() -> str | None:
    """This host's own IPv4 address (the one its default route leaves from), if it has one we can listen on."""
    candidates = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
        probe.connect(("198.51.100.1", 9))  # UDP connect sends nothing: it only picks the source address
        candidates.append(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        candidates += socket.gethostbyname_ex(socket.gethostname())[2]
    for address in candidates:
        if address.startswith(("127.", "169.254.", "0.")):
            continue
        with socket.socket() as s:
            try:
                s.bind((address, 0))
            except OSError:
                continue
        return address
    return None


@dataclass
class Endpoints:
    runner: web.AppRunner
    ports: list[int]
    control_port: int
    scrapes: dict[int, int] = field(default_factory=dict)  # port → requests served


@contextlib.asynccontextmanager
async def metric_endpoints(host: str, count: int) -> AsyncIterator[Endpoints]:
    """`count` ports on `host` serving Prometheus text on /metrics, plus one serving an HTTP SD body as text/plain."""
    socks = []
    for _ in range(count + 1):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    state = Endpoints(web.AppRunner(web.Application()), ports[:-1], ports[-1])

    async def metrics(request: web.Request) -> web.Response:
        port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
        state.scrapes[port] = state.scrapes.get(port, 0) + 1
        text = f'# TYPE e2e_demo gauge\ne2e_demo{{port="{port}"}} 1\n'
        return web.Response(body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def wrong_type(request: web.Request) -> web.Response:
        address = f"{host}:{state.ports[0]}"
        body = [{"targets": [address], "labels": {"__address__": address}}]
        return web.Response(body=orjson.dumps(body), content_type="text/plain")

    app = state.runner.app
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/sd", wrong_type)
    await state.runner.setup()
    try:
        for s in socks:
            await web.SockSite(state.runner, s).start()
        yield state
    finally:
        await state.runner.cleanup()
        for s in socks:
            s.close()


# --------------------------------------------------------------------------- the cluster side


async def force_delete_pods(core: client.CoreV1Api) -> None:
    """No kubelet confirms a graceful deletion, which would keep the namespace terminating: delete at once."""
    with contextlib.suppress(ApiException):
        for pod in (await core.list_namespaced_pod(NS)).items:
            with contextlib.suppress(ApiException):
                await core.delete_namespaced_pod(pod.metadata.name, NS, grace_period_seconds=0)


async def create_collector(core: client.CoreV1Api, name: str, ip: str) -> None:
    await core.create_namespaced_pod(
        NS,
        {
            "metadata": {"name": name, "labels": COLLECTOR_LABELS},
            "spec": {"nodeName": NODE, "containers": [{"name": "prometheus", "image": "prom/prometheus:v2.42.0"}]},
        },
    )
    status = pod_status(ip, True, [("prometheus", "prom/prometheus:v2.42.0")])
    await core.patch_namespaced_pod_status(name, NS, {"status": status})


async def create_monitored(api: ApiClient, host: str, ports: list[int]) -> None:
    core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    await core.create_namespaced_service(
        NS,
        {
            "metadata": {"name": "demo", "labels": {"app": "demo"}},
            "spec": {"ports": [{"name": "metrics", "port": 80}]},
        },
    )
    # one slice per port: a slice's ports apply to all its endpoints, and all of them have the same address
    for port in ports:
        await discovery.create_namespaced_endpoint_slice(
            NS,
            {
                "metadata": {
                    "name": f"demo-{port}",
                    "labels": {
                        "kubernetes.io/service-name": "demo",
                        "endpointslice.kubernetes.io/managed-by": "tests.example.com",
                    },
                },
                "addressType": "IPv4",
                "ports": [{"name": "metrics", "port": port, "protocol": "TCP"}],
                "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
            },
        )
    await client.CustomObjectsApi(api).create_namespaced_custom_object(
        "monitoring.coreos.com",
        "v1",
        NS,
        "servicemonitors",
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "demo"},
            "spec": {
                "selector": {"matchLabels": {"app": "demo"}},
                "endpoints": [{"port": "metrics", "interval": "1s"}],
            },
        },
    )


# --------------------------------------------------------------------------- processes


@contextlib.contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own session, stopped (TERM, then KILL) on the way out whatever happens."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def prometheus_config(allocator: str, jobs: dict[str, Any], collector: str, control: str | None) -> dict[str, Any]:
    """What the Collector's prometheus receiver builds from the allocator: one http_sd job per allocator job."""
    scrape_configs = []
    for job, entry in sorted(jobs.items()):
        # the receiver escapes the job name itself; it must give the allocator's own link
        assert entry["_link"] == f"/jobs/{quote_plus(job, safe='')}/targets"
        url = f"{allocator}/jobs/{quote_plus(job, safe='')}/targets?collector_id={collector}"
        scrape_configs.append(
            {
                "job_name": job,
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "http_sd_configs": [{"url": url, "refresh_interval": REFRESH}],
            }
        )
    if control is not None:
        scrape_configs.append(
            {
                "job_name": CONTROL_JOB,
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "http_sd_configs": [{"url": f"{control}/sd", "refresh_interval": REFRESH}],
            }
        )
    return {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": scrape_configs}


@dataclass
class Prometheus:
    collector: str
    base: str
    log: Path
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def prometheus(folder: Path, collector: str, config: dict[str, Any]) -> Iterator[Prometheus]:
    folder.mkdir(parents=True)
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = localcluster.free_port()
    args = [
        PROMETHEUS,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=debug",
    ]
    with process(args, folder / "prometheus.log") as proc:
        yield Prometheus(collector, f"http://127.0.0.1:{port}", folder / "prometheus.log", proc)


async def scraped(http: aiohttp.ClientSession, prom: Prometheus) -> dict[Target, str] | None:
    """Prometheus's active targets: (job, instance) → health; None while it is not answering yet."""
    assert prom.proc.poll() is None, f"Prometheus for {prom.collector} exited:\n{tail(prom.log)}"
    try:
        async with http.get(f"{prom.base}/api/v1/targets?state=active") as resp:
            if resp.status != 200:
                return None
            data = (await resp.json())["data"]
    except aiohttp.ClientConnectionError:
        return None
    return {(t["scrapePool"], t["labels"]["instance"]): t["health"] for t in data["activeTargets"]}


async def sd_failures(http: aiohttp.ClientSession, prom: Prometheus) -> float:
    async with http.get(f"{prom.base}/metrics") as resp:
        text = await resp.text()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "prometheus_sd_http_failures_total"
    )


async def allocated(http: aiohttp.ClientSession, base: str, collectors: list[str]) -> dict[Target, list[str]]:
    """What the allocator assigns: (job, address) → the collectors it tells to scrape it."""
    out: dict[Target, list[str]] = {}
    async with http.get(f"{base}/jobs") as resp:
        jobs = await resp.json()
    for job, entry in jobs.items():
        for collector in collectors:
            async with http.get(f"{base}{entry['_link']}?collector_id={collector}") as resp:
                if resp.status == 503:  # not ready (first lists pending): no assignment yet
                    return {}
                assert resp.headers["Content-Type"] == "application/json"
                for group in await resp.json():
                    for address in group["targets"]:
                        out.setdefault((job, address), []).append(collector)
    return out


# --------------------------------------------------------------------------- the test


async def test_prometheus_servers_scrape_what_the_allocator_assigns(
    api: ApiClient, crds: list[str], kubeconfig: str, tmp_path: Path
) -> None:
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail(f"{PROMETHEUS} is missing: it comes from Debian's prometheus package, which `make test` installs")
    host = host_address()
    if host is None:
        pytest.skip("needs a non-loopback IPv4 address on this host: EndpointSlices may not hold loopback addresses")
    core = client.CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": NS}})
    allocator_port = localcluster.free_port()
    base = f"http://127.0.0.1:{allocator_port}"
    async with (
        node(api, NODE, "192.168.77.1"),
        metric_endpoints(host, MONITORED + STATIC) as endpoints,
        aiohttp.ClientSession() as http,
    ):
        try:
            monitored, static = endpoints.ports[:MONITORED], endpoints.ports[MONITORED:]
            everything = {(SM_JOB, f"{host}:{p}") for p in monitored} | {(STATIC_JOB, f"{host}:{p}") for p in static}
            await create_monitored(api, host, monitored)
            await create_collector(core, "collector-0", "10.244.9.10")
            await create_collector(core, "collector-1", "10.244.9.11")
            config = {
                "collector_selector": {"matchLabels": COLLECTOR_LABELS},
                "collector_namespace": NS,
                "kube_config_file_path": kubeconfig,
                "listen_addr": f"127.0.0.1:{allocator_port}",
                "prometheus_cr": {"enabled": True, "service_monitor_selector": {}, "allow_namespaces": [NS]},
                "config": {
                    "scrape_configs": [
                        {"job_name": STATIC_JOB, "static_configs": [{"targets": [f"{host}:{p}" for p in static]}]}
                    ]
                },
            }
            (tmp_path / "targetallocator.yaml").write_text(yaml.safe_dump(config))
            cli = [
                sys.executable,
                "-m",
                "otel_operator",
                "allocator",
                "--config",
                str(tmp_path / "targetallocator.yaml"),
            ]
            ta_log = tmp_path / "allocator.log"
            with process(cli, ta_log) as ta, contextlib.ExitStack() as servers:

                async def split_in(collectors: list[str]) -> dict[Target, list[str]] | None:
                    assert ta.poll() is None, f"the allocator exited:\n{tail(ta_log)}"
                    try:
                        got = await allocated(http, base, collectors)
                    except aiohttp.ClientConnectionError:  # still starting
                        return None
                    served = {c for cs in got.values() for c in cs}
                    return got if got.keys() == everything and served == set(collectors) else None

                two = ["collector-0", "collector-1"]
                first = await wait_for(
                    lambda: split_in(two), within=30, interval=0.2, what="36 targets on 2 collectors"
                )
                assert all(len(cs) == 1 for cs in first.values())
                async with http.get(f"{base}/jobs") as resp:
                    jobs = await resp.json()
                assert set(jobs) == {SM_JOB, STATIC_JOB}

                proms = [
                    servers.enter_context(
                        prometheus(
                            tmp_path / c,
                            c,
                            prometheus_config(
                                base, jobs, c, f"http://{host}:{endpoints.control_port}" if c == "collector-0" else None
                            ),
                        )
                    )
                    for c in two
                ]
                phase1 = await wait_for(
                    lambda: consistent(http, base, proms), within=40, interval=0.5, what="two Prometheus servers"
                )

                # a third collector joins
                await create_collector(core, "collector-2", "10.244.9.12")
                three = [*two, "collector-2"]
                await wait_for(lambda: split_in(three), within=30, interval=0.2, what="targets on 3 collectors")
                proms.append(
                    servers.enter_context(
                        prometheus(
                            tmp_path / "collector-2", "collector-2", prometheus_config(base, jobs, "collector-2", None)
                        )
                    )
                )
                phase2 = await wait_for(
                    lambda: consistent(http, base, proms), within=40, interval=0.5, what="three Prometheus servers"
                )

                assert phase1.keys() == phase2.keys() == everything
                n = len(everything)
                moved = {t for t in everything if phase1[t] != phase2[t]}
                joined = {t for t in everything if phase2[t] == "collector-2"}
                assert joined, "the new collector scrapes nothing"
                assert joined <= moved
                # Ideal is n/3 = 12. The load cap (1.1x the mean) drops from 19 to 13 here, so a few targets may also
                # move between the two old collectors: ConsistentHashing.assign on 20,000 random sets of 36 target
                # keys moved 10 to 17 (at most 1.42x ideal), more than ceil(n/3)+1 = 13 in about a quarter of them.
                assert len(moved) <= math.ceil(1.5 * n / 3), f"{len(moved)} of {n} targets moved for a third collector"

                # the control job: this Prometheus rejects an HTTP SD answer that is not application/json
                assert not [t for t in (await scraped(http, proms[0])) or {} if t[0] == CONTROL_JOB]
                assert await sd_failures(http, proms[0]) > 0, tail(proms[0].log)
                assert 'unsupported content type \\"text/plain' in proms[0].log.read_text(), tail(proms[0].log)
                # and the allocator's answers never failed, on servers that asked nothing else
                for prom in proms[1:]:
                    assert await sd_failures(http, prom) == 0, tail(prom.log)
                # every endpoint was really scraped
                assert set(endpoints.ports) <= {port for port, hits in endpoints.scrapes.items() if hits}
                print(
                    f"\n{n} targets; 2 collectors: {count(phase1)}; 3 collectors: {count(phase2)}; moved {len(moved)}"
                )
        finally:
            await force_delete_pods(core)
            with contextlib.suppress(ApiException):
                await core.delete_namespace(NS)


def count(owner: dict[Target, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in owner.values():
        out[c] = out.get(c, 0) + 1
    return dict(sorted(out.items()))


async def consistent(http: aiohttp.ClientSession, base: str, proms: list[Prometheus]) -> dict[Target, str] | None:
    """When settled: target → the one collector scraping it, healthy, exactly as the allocator assigns; else None."""
    owner: dict[Target, list[str]] = {}
    for prom in proms:
        targets = await scraped(http, prom)
        if targets is None:
            return None
        for target, health in targets.items():
            if target[0] == CONTROL_JOB:
                continue
            if health != "up":
                return None
            owner.setdefault(target, []).append(prom.collector)
    if any(len(cs) != 1 for cs in owner.values()):
        return None
    assignment = await allocated(http, base, [p.collector for p in proms])
    if assignment != owner:
        return None
    return {t: cs[0] for t, cs in owner.items()}
