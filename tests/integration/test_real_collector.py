"""Real OpenTelemetry Collectors taking their targets from `otel-operator allocator`.

The collectors are the binary `hack/collector.py` builds with ocb (contrib Prometheus receiver + file exporter,
v0.158.0), each a separate process whose `prometheus` receiver has a `target_allocator:` block and whose pipeline
writes every scrape to its own file (the file exporter's JSON lines). The allocator runs as `otel-operator
allocator` in a subprocess, against the local API server, where each collector is registered as a Pod object named
after its `collector_id` (no kubelet: the Pod only needs to be scheduled to count, with the readiness grace disabled).

Targets are HTTP servers on 127.0.0.1, each exposing `e2e_target{target="<its name>"} 1`, so a line in a collector's
file says which target that collector scraped and when:
- six targets of a static job in the allocator's config file;
- one target behind a ServiceMonitor whose endpoint uses basicAuth from a Secret; the server answers 401 to any
  other password. Secrets are served whole only over the allocator's mTLS listener, so every collector talks to the
  allocator over mTLS, with a CA and certificates made here.

What is checked, from the files: every target is scraped by exactly one collector, the one the allocator names; a
third collector joining: the targets the allocator moves (to the joiner, or between the others when the load cap
says so) change scraper within a couple of refreshes, every other target is scraped without a gap by the same
collector and no other; while the allocator is down the collectors keep scraping their last targets; the basicAuth
target is scraped with the real password, which plain HTTP never shows.

The tests share the targets, the allocator and the collectors and run in file order; each first brings the
collectors to the set it needs, so each can also run alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.admission.certs import KeyPair, issue_ca, issue_leaf
from tests.integration.conftest import ROOT, ensure_namespace, wait_for

sys.path.insert(0, str(ROOT / "hack"))
import collector as collector_build  # hack/ is not a package
import localcluster

pytestmark = pytest.mark.integration

NS = "e2e-real-collector"
NODE = "e2e-real-collector-node"
COLLECTOR_LABELS = {"app.kubernetes.io/component": "e2e-real-collector"}
STATIC_JOB = "e2e-static"
AUTH_JOB = f"serviceMonitor/{NS}/e2e-auth/0"
STATIC_TARGETS = tuple(f"t{i}" for i in range(6))
AUTH_TARGET = "auth"
ALL_TARGETS = (*STATIC_TARGETS, AUTH_TARGET)
USERNAME, PASSWORD = "scraper", "e2e-real-password-7f3a"
INTERVAL = 1.0  # seconds: scrape interval, allocator polling and HTTP SD refresh
WINDOW = 3.0  # seconds of scrapes that show who scrapes what
MAX_GAP = 4.5  # seconds: the longest pause between two scrapes of a target that still counts as uninterrupted
HANDOVER_GAP = 6.0  # seconds: the same for a target moving between collectors (each polls the allocator on its own)
SETTLE = 40.0  # seconds to wait for the collectors to follow a change


# --------------------------------------------------------------------------- reading the file exporter's output


@dataclass(frozen=True)
class Scrape:
    target: str  # the `target` label of e2e_target
    at: float  # seconds since the epoch (the sample's timestamp: the scrape's time)


def scrapes_of(text: str) -> list[Scrape]:
    """Every e2e_target sample in the file exporter's JSON lines (one OTLP export a line); a last line without its
    newline is still being written and is left for the next read."""
    out: list[Scrape] = []
    for line in text.split("\n")[:-1]:
        if not line.strip():
            continue
        export = json.loads(line)
        for rm in export.get("resourceMetrics", ()):
            for sm in rm.get("scopeMetrics", ()):
                for metric in sm.get("metrics", ()):
                    if metric.get("name") != "e2e_target":
                        continue
                    for point in metric.get("gauge", {}).get("dataPoints", ()):
                        attrs = {a["key"]: a["value"].get("stringValue") for a in point.get("attributes", ())}
                        out.append(Scrape(str(attrs.get("target")), int(point["timeUnixNano"]) / 1e9))
    return out


def owners(
    by_collector: Mapping[str, Iterable[Scrape]], start: float, end: float = float("inf")
) -> dict[str, set[str]]:
    """target → the collectors that scraped it between `start` and `end`."""
    out: dict[str, set[str]] = {}
    for cid, scrapes in by_collector.items():
        for s in scrapes:
            if start <= s.at <= end:
                out.setdefault(s.target, set()).add(cid)
    return out


def longest_gap(scrapes: Iterable[Scrape], target: str, start: float, end: float) -> float:
    """The longest stretch within [start, end] in which `target` was not scraped (by anyone in `scrapes`)."""
    times = sorted(s.at for s in scrapes if s.target == target and start <= s.at <= end)
    edges = [start, *times, end]
    return max(b - a for a, b in itertools.pairwise(edges))


def test_scrapes_of_reads_complete_lines_only() -> None:
    point = {
        "attributes": [{"key": "target", "value": {"stringValue": "t1"}}],
        "timeUnixNano": "1700000000500000000",
        "asDouble": 1,
    }
    export = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {"name": "up", "gauge": {"dataPoints": [{"timeUnixNano": "1", "asDouble": 1}]}},
                            {"name": "e2e_target", "gauge": {"dataPoints": [point]}},
                        ]
                    }
                ]
            }
        ]
    }
    line = json.dumps(export)
    assert scrapes_of(line + "\n" + line[:10]) == [Scrape("t1", 1700000000.5)]
    scrapes = [Scrape("t1", 10), Scrape("t1", 11), Scrape("t2", 12)]
    assert owners({"c0": scrapes[:2], "c1": scrapes[2:]}, 10.5) == {"t1": {"c0"}, "t2": {"c1"}}
    assert longest_gap(scrapes, "t1", 9, 15) == 4


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    """An HTTP server on 127.0.0.1 serving `e2e_target{target=name} 1`; with `credentials`, only to that password."""

    name: str
    credentials: tuple[str, str] | None = None
    served: int = 0  # answered with the metrics
    refused: int = 0  # answered 401
    server: ThreadingHTTPServer = field(init=False)

    def __post_init__(self) -> None:
        target = self
        expected = (
            "Basic " + base64.b64encode(f"{self.credentials[0]}:{self.credentials[1]}".encode()).decode()
            if self.credentials
            else None
        )

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if expected is not None and self.headers.get("Authorization") != expected:
                    target.refused += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="e2e"')
                    self.end_headers()
                    return
                target.served += 1
                body = f'# TYPE e2e_target gauge\ne2e_target{{target="{target.name}"}} 1\n'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, name=f"target {self.name}", daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- certificates


def issue_client(ca: KeyPair, name: str, now: datetime) -> KeyPair:
    """A client certificate (clientAuth): what the allocator's mTLS listener asks the collectors for."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return KeyPair(cert.public_bytes(pem), key_pem)


@dataclass(frozen=True)
class Tls:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def write_tls(folder: Path) -> Tls:
    now = datetime.now(UTC)
    ca = issue_ca(now)
    server = issue_leaf(ca, ["127.0.0.1", "localhost"], now)
    client_pair = issue_client(ca, "e2e-collector", now)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "ca.crt": ca.cert_pem,
        "tls.crt": server.cert_pem,
        "tls.key": server.key_pem,
        "client.crt": client_pair.cert_pem,
        "client.key": client_pair.key_pem,
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return Tls(*(folder / n for n in files))


# --------------------------------------------------------------------------- the allocator


def spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A process in its own session (so it can be killed with its children), its output appended to `log`."""
    with log.open("ab") as sink:
        return subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


@dataclass
class AllocatorProcess:
    """`otel-operator allocator` as a subprocess on fixed ports, so it can be stopped and started again."""

    config: Path
    log: Path
    http_port: int
    https_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    async def start(self) -> None:
        assert self.proc is None
        self.proc = spawn([sys.executable, "-m", "otel_operator", "allocator", "--config", str(self.config)], self.log)
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                assert self.proc is not None
                assert self.proc.poll() is None, f"the allocator exited:\n{tail(self.log)}"
                try:
                    async with http.get(self.http + "/readyz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(ready, within=60, what=f"the allocator ready:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def allocator_config(kubeconfig: str, tls: Tls, http_port: int, https_port: int, targets: list[Target]) -> str:
    static = [t for t in targets if t.credentials is None]
    doc: dict[str, Any] = {
        "listen_addr": f"127.0.0.1:{http_port}",
        "kube_config_file_path": kubeconfig,
        "collector_namespace": NS,
        "collector_selector": {"matchLabels": COLLECTOR_LABELS},
        "collector_not_ready_grace_period": "0s",  # no kubelet here: a scheduled Pod counts
        "allocation_strategy": "consistent-hashing",
        "https": {
            "enabled": True,
            "listen_addr": f"127.0.0.1:{https_port}",
            "ca_file_path": str(tls.ca),
            "tls_cert_file_path": str(tls.server_cert),
            "tls_key_file_path": str(tls.server_key),
        },
        "prometheus_cr": {
            "enabled": True,
            "scrape_interval": "1s",
            "service_monitor_selector": {"matchLabels": {"e2e": "real-collector"}},
            "allow_namespaces": [NS],
        },
        "config": {
            "scrape_configs": [
                {
                    "job_name": STATIC_JOB,
                    "scrape_interval": "1s",
                    "scrape_timeout": "1s",
                    "static_configs": [{"targets": [f"127.0.0.1:{t.port}" for t in static]}],
                }
            ]
        },
    }
    return yaml.safe_dump(doc)


# --------------------------------------------------------------------------- the collectors


def collector_config(cid: str, allocator: AllocatorProcess, tls: Tls, out: Path) -> dict[str, Any]:
    return {
        "receivers": {
            "prometheus": {
                "target_allocator": {
                    "endpoint": allocator.https,
                    "interval": "1s",
                    "collector_id": cid,
                    "http_sd_config": {"refresh_interval": "1s"},
                    "tls": {
                        "ca_file": str(tls.ca),
                        "cert_file": str(tls.client_cert),
                        "key_file": str(tls.client_key),
                    },
                }
            }
        },
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {"file": {"path": str(out), "flush_interval": "200ms"}},
        "service": {
            "pipelines": {"metrics": {"receivers": ["prometheus"], "processors": ["batch"], "exporters": ["file"]}},
            # several collectors on one machine: no self-metrics server on :8888
            "telemetry": {"metrics": {"level": "none"}},
        },
    }


@dataclass
class CollectorProcess:
    cid: str
    proc: subprocess.Popen[bytes]
    out: Path
    log: Path

    def scrapes(self) -> list[Scrape]:
        return scrapes_of(self.out.read_text()) if self.out.exists() else []

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else f"({path} missing)"


def collector_pod(cid: str) -> dict[str, Any]:
    return {
        "metadata": {"name": cid, "labels": COLLECTOR_LABELS},
        "spec": {
            "nodeName": NODE,
            "containers": [{"name": "otc-container", "image": "otel/opentelemetry-collector-contrib:0.158.0"}],
        },
    }


@dataclass
class Fleet:
    """The targets, the allocator and the running collectors (each a Pod object and a process)."""

    api: ApiClient
    binary: str
    folder: Path
    tls: Tls
    allocator: AllocatorProcess
    targets: dict[str, Target]
    http: aiohttp.ClientSession
    collectors: dict[str, CollectorProcess] = field(default_factory=dict)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    async def add(self, cid: str) -> None:
        with contextlib.suppress(ApiException):
            await self.core.delete_namespaced_pod(cid, NS, grace_period_seconds=0)
        await wait_for(lambda: self.pod_gone(cid), within=30, what=f"an old pod {cid} gone")
        await self.core.create_namespaced_pod(NS, collector_pod(cid))
        out, log = self.folder / f"{cid}.jsonl", self.folder / f"{cid}.log"
        out.unlink(missing_ok=True)
        config = self.folder / f"{cid}.yaml"
        config.write_text(yaml.safe_dump(collector_config(cid, self.allocator, self.tls, out)))
        self.collectors[cid] = CollectorProcess(cid, spawn([self.binary, f"--config={config}"], log), out, log)

    async def remove(self, cid: str) -> None:
        self.collectors.pop(cid).stop()
        with contextlib.suppress(ApiException):
            await self.core.delete_namespaced_pod(cid, NS, grace_period_seconds=0)
        await wait_for(lambda: self.pod_gone(cid), within=30, what=f"pod {cid} gone")

    async def pod_gone(self, cid: str) -> bool:
        try:
            await self.core.read_namespaced_pod(cid, NS)
        except ApiException as err:
            return err.status == 404
        return False

    async def ensure(self, cids: list[str]) -> None:
        """Exactly these collectors, each scraping what the allocator gives it."""
        for cid in sorted(self.collectors.keys() - set(cids)):
            await self.remove(cid)
        for cid in cids:
            if cid not in self.collectors:
                await self.add(cid)
        await self.settled(set(cids))

    def scrapes(self) -> dict[str, list[Scrape]]:
        for c in self.collectors.values():
            assert c.proc.poll() is None, f"collector {c.cid} exited {c.proc.returncode}:\n{tail(c.log)}"
        return {cid: c.scrapes() for cid, c in self.collectors.items()}

    def target_of(self, address: str) -> str:
        port = int(address.rsplit(":", 1)[1])
        return next(t.name for t in self.targets.values() if t.port == port)

    async def assignment(self) -> dict[str, str]:
        """target → collector, from the allocator's answers to each collector (`?collector_id=`), as they see it.

        The answers are read one collector after another, so a reassignment landing between two reads can show a
        target under its old and its new collector: such a read is taken again. A target given to two collectors
        in every read for 3 s is a real double assignment and fails."""
        doubles: list[str] = []
        for _ in range(15):
            out, doubles = await self._read_assignment()
            if not doubles:
                return out
            await asyncio.sleep(0.2)
        raise AssertionError("; ".join(doubles))

    async def _read_assignment(self) -> tuple[dict[str, str], list[str]]:
        out: dict[str, str] = {}
        doubles: list[str] = []
        for job in (STATIC_JOB, AUTH_JOB):
            for cid in self.collectors:
                url = f"{self.allocator.http}/jobs/{quote_plus(job, safe='')}/targets?collector_id={cid}"
                async with self.http.get(url) as resp:
                    assert resp.status == 200, (url, resp.status, await resp.text())
                    groups = await resp.json()
                for group in groups:
                    for address in group["targets"]:
                        name = self.target_of(address)
                        if name in out:
                            doubles.append(f"{name} given to both {out[name]} and {cid}")
                        out[name] = cid
        return out, doubles

    async def settled(self, cids: set[str]) -> dict[str, str]:
        """Wait until the allocator gives every target to one of `cids`, each of them some, and, over the last
        WINDOW seconds, each target was scraped by exactly the collector it is given to; the assignment then."""

        async def done() -> dict[str, str] | None:
            given = await self.assignment()
            if set(given) != set(ALL_TARGETS) or set(given.values()) != cids:
                return None
            now = time.time()
            seen = owners(self.scrapes(), now - WINDOW)
            return given if seen == {t: {c} for t, c in given.items()} else None

        try:
            result: dict[str, str] = await wait_for(done, within=SETTLE, interval=0.5, what="the collectors settled")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.diagnostics()}") from None
        return result

    def diagnostics(self) -> str:
        parts = [f"allocator log:\n{tail(self.allocator.log)}"]
        now = time.time()
        parts.append(f"scraped in the last {WINDOW}s: {owners(self.scrapes(), now - WINDOW)}")
        parts += [f"collector {c.cid} log:\n{tail(c.log, 15)}" for c in self.collectors.values()]
        parts += [f"target {t.name}: served {t.served}, refused {t.refused}" for t in self.targets.values()]
        return "\n".join(parts)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def otelcol() -> str:
    path = collector_build.find(build=False)
    if path is None:
        pytest.fail(
            f"no OpenTelemetry Collector binary at {collector_build.cached()}: run `python3 hack/collector.py build` "
            "(`make collector`; CI builds it first), or point $OTEL_OPERATOR_OTELCOL at one with the prometheus "
            "receiver and the file exporter"
        )
    return path


async def heartbeat(core: client.CoreV1Api) -> None:
    """Keep the Node Ready, so the node lifecycle controller neither marks nor evicts the collector pods."""
    while True:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "heartbeat from the tests"}
        ready |= {"lastHeartbeatTime": now, "lastTransitionTime": now}
        with contextlib.suppress(ApiException):
            await core.patch_node_status(NODE, {"status": {"conditions": [ready]}})
        await asyncio.sleep(10)


@contextlib.contextmanager
def targets_serving() -> Iterator[dict[str, Target]]:
    targets = {name: Target(name) for name in STATIC_TARGETS}
    targets[AUTH_TARGET] = Target(AUTH_TARGET, (USERNAME, PASSWORD))
    try:
        yield targets
    finally:
        for t in targets.values():
            t.close()


async def create_auth_monitor(api: ApiClient, port: int) -> None:
    """The basicAuth target as Kubernetes shows it: a selector-less Service with a hand-written EndpointSlice (an
    address off this machine: the API server refuses loopback ones), a Secret with the credentials and a
    ServiceMonitor whose relabeling points the scrape at 127.0.0.1, where the server listens."""
    core, objects = client.CoreV1Api(api), client.CustomObjectsApi(api)
    await core.create_namespaced_secret(
        NS, {"metadata": {"name": "e2e-auth"}, "stringData": {"user": USERNAME, "password": PASSWORD}}
    )
    await core.create_namespaced_service(
        NS,
        {
            "metadata": {"name": "e2e-auth", "labels": {"e2e-auth": "true"}},
            "spec": {"ports": [{"name": "web", "port": 8080, "targetPort": port}]},
        },
    )
    await client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
        NS,
        {
            "metadata": {"name": "e2e-auth-1", "labels": {"kubernetes.io/service-name": "e2e-auth"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.250.0.1"], "conditions": {"ready": True}}],
            "ports": [{"name": "web", "port": port, "protocol": "TCP"}],
        },
    )
    secret_ref = {"name": "e2e-auth"}
    await objects.create_namespaced_custom_object(
        "monitoring.coreos.com",
        "v1",
        NS,
        "servicemonitors",
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "e2e-auth", "labels": {"e2e": "real-collector"}},
            "spec": {
                "selector": {"matchLabels": {"e2e-auth": "true"}},
                "endpoints": [
                    {
                        "port": "web",
                        "interval": "1s",
                        "scrapeTimeout": "1s",
                        "basicAuth": {
                            "username": {**secret_ref, "key": "user"},
                            "password": {**secret_ref, "key": "password"},
                        },
                        "relabelings": [
                            {
                                "sourceLabels": ["__address__"],
                                "regex": ".*:(\\d+)",
                                "targetLabel": "__address__",
                                "replacement": "127.0.0.1:$1",
                            }
                        ],
                    }
                ],
            },
        },
    )


async def delete_namespace(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    for pod in (await core.list_namespaced_pod(NS)).items:  # nothing would confirm their graceful deletion
        with contextlib.suppress(ApiException):
            await core.delete_namespaced_pod(pod.metadata.name, NS, grace_period_seconds=0)
    with contextlib.suppress(ApiException):
        await core.delete_namespace(NS)

    async def gone() -> bool:
        try:
            await core.read_namespace(NS)
        except ApiException as err:
            return err.status == 404
        return False

    await wait_for(gone, within=60, interval=0.5, what=f"namespace {NS} deleted")


@pytest.fixture(scope="module")
async def fleet(
    otelcol: str, api: ApiClient, kubeconfig: str, crds: list[str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Fleet]:
    folder = tmp_path_factory.mktemp("real-collector")
    core = client.CoreV1Api(api)
    await ensure_namespace(api, NS)
    with contextlib.suppress(ApiException):
        await core.create_node({"metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}}})
    beat = asyncio.create_task(heartbeat(core), name="heartbeat")
    try:
        with targets_serving() as targets:
            await create_auth_monitor(api, targets[AUTH_TARGET].port)
            tls = write_tls(folder / "tls")
            http_port, https_port = localcluster.free_port(), localcluster.free_port()
            config = folder / "targetallocator.yaml"
            config.write_text(allocator_config(kubeconfig, tls, http_port, https_port, list(targets.values())))
            allocator = AllocatorProcess(config, folder / "allocator.log", http_port, https_port)
            await allocator.start()
            async with aiohttp.ClientSession() as http:
                fleet = Fleet(api, otelcol, folder, tls, allocator, targets, http)
                try:
                    yield fleet
                finally:
                    # no kubelet confirms a graceful deletion: the pods go at once, or the namespace never does
                    for cid in list(fleet.collectors):
                        await fleet.remove(cid)
                    allocator.stop()
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        await delete_namespace(api)
        with contextlib.suppress(ApiException):
            await core.delete_node(NODE)


# --------------------------------------------------------------------------- tests


async def test_each_target_is_scraped_by_exactly_one_collector(fleet: Fleet) -> None:
    await fleet.ensure(["collector-0", "collector-1"])
    given = await fleet.assignment()
    assert set(given.values()) == {"collector-0", "collector-1"}  # both get a share
    start = time.time()
    await asyncio.sleep(2 * WINDOW)
    scrapes = fleet.scrapes()
    seen = owners(scrapes, start)
    assert seen == {t: {c} for t, c in given.items()}, fleet.diagnostics()
    for target in ALL_TARGETS:  # at the scrape interval, not once
        count = sum(1 for s in scrapes[given[target]] if s.target == target and s.at >= start)
        assert count >= 2 * WINDOW / INTERVAL - 2, (target, count)


async def test_basic_auth_target_is_scraped_with_the_real_password(fleet: Fleet) -> None:
    await fleet.ensure(["collector-0", "collector-1"])
    auth = fleet.targets[AUTH_TARGET]
    # the collector that owns it has its sample, which the server sends only to the right password
    owner = (await fleet.assignment())[AUTH_TARGET]
    assert any(s.target == AUTH_TARGET for s in fleet.scrapes()[owner])
    assert auth.served > 0
    assert auth.refused == 0, "some scrape carried a wrong password (the plain-HTTP placeholder?)"
    # plain HTTP hides the password; the mTLS listener, which the collectors use, serves it
    async with fleet.http.get(fleet.allocator.http + "/scrape_configs") as resp:
        plain = (await resp.json())[AUTH_JOB]
    assert plain["basic_auth"] == {"username": USERNAME, "password": "<secret>"}
    ctx = ssl.create_default_context(cafile=str(fleet.tls.ca))
    ctx.load_cert_chain(fleet.tls.client_cert, fleet.tls.client_key)
    async with fleet.http.get(fleet.allocator.https + "/scrape_configs", ssl=ctx) as resp:
        secret = (await resp.json())[AUTH_JOB]
    assert secret["basic_auth"] == {"username": USERNAME, "password": PASSWORD}
    # and the mTLS listener wants a client certificate
    anonymous = ssl.create_default_context(cafile=str(fleet.tls.ca))
    with pytest.raises(aiohttp.ClientError):
        async with fleet.http.get(fleet.allocator.https + "/scrape_configs", ssl=anonymous) as resp:
            await resp.read()


async def test_scale_out_moves_only_the_targets_the_allocator_moves(fleet: Fleet) -> None:
    await fleet.ensure(["collector-0", "collector-1"])
    before = await fleet.assignment()
    joined = time.time()
    await fleet.add("collector-2")
    after = await fleet.settled({"collector-0", "collector-1", "collector-2"})
    settled_at = time.time()
    # the load cap may also shift a target between the old collectors: what moves is the allocator's call, and
    # the scrapes must follow it exactly
    moved = {t for t in ALL_TARGETS if before[t] != after[t]}
    assert "collector-2" in after.values()
    assert len(moved) < len(ALL_TARGETS), (before, after)
    scrapes = fleet.scrapes()
    everyone = [s for per in scrapes.values() for s in per]
    seen = owners(scrapes, joined)
    for target in set(ALL_TARGETS) - moved:
        # scraped all along by the same collector, and by no other
        assert seen[target] == {before[target]}, (target, seen[target], fleet.diagnostics())
        gap = longest_gap(scrapes[before[target]], target, joined, settled_at)
        assert gap <= MAX_GAP, (target, gap)
    for target in moved:
        # the old collector let go, the new one took over, with at most a short pause (two HTTP SD refreshes)
        assert owners(scrapes, settled_at - WINDOW)[target] == {after[target]}
        assert longest_gap(everyone, target, joined, settled_at) <= HANDOVER_GAP, target


async def test_collectors_keep_scraping_while_the_allocator_restarts(fleet: Fleet) -> None:
    await fleet.ensure(["collector-0", "collector-1", "collector-2"])
    before = await fleet.assignment()
    fleet.allocator.stop()
    stopped = time.time()
    await asyncio.sleep(5 * INTERVAL)  # several polls of /scrape_configs and HTTP SD refreshes fail meanwhile
    scrapes = fleet.scrapes()
    during = owners(scrapes, stopped + INTERVAL)  # a scrape in flight at the stop may still land
    assert during == {t: {c} for t, c in before.items()}, fleet.diagnostics()
    for target, cid in before.items():
        assert longest_gap(scrapes[cid], target, stopped, time.time()) <= MAX_GAP, target
    logs = "\n".join(c.log.read_text(errors="replace") for c in fleet.collectors.values())
    assert "connection refused" in logs  # they did try the allocator, and failed
    restarted = time.time()
    await fleet.allocator.start()
    assert await fleet.assignment() == before  # the same answer from a fresh process
    # a fresh allocator answers targets with 503 until it has seen every collector and monitor, so no collector
    # ever gets an assignment made without the others: exactly one owner per target from the restart on
    await asyncio.sleep(WINDOW + 2 * INTERVAL)
    scrapes = fleet.scrapes()
    assert owners(scrapes, restarted) == {t: {c} for t, c in before.items()}, fleet.diagnostics()
    for target, cid in before.items():
        assert longest_gap(scrapes[cid], target, stopped - WINDOW, time.time()) <= MAX_GAP, target
