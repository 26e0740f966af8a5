"""One big ServiceMonitor against a real kube-apiserver (issue 18): the allocator keeps answering, caps the job,
serves the others, gives the memory back when the monitor goes, and stops on SIGTERM in the middle of the work.

The allocator runs as `otel-operator allocator` in a subprocess (its RSS and its exit are the process's own), with
static collectors and `prometheus_cr` on. Each Service has no selector; its EndpointSlices are written here, one
slice of 1,000 endpoints x many ports each, so tens of thousands of endpoint x port combinations cost a handful of
API objects. A prober thread asks `/livez` every 50 ms (2 s per request: an unanswered probe fails the test, a
slow one is only measured) and samples the process's RSS. The figures are printed (run with -s) and written to
`big-monitor-figures.json` in the test's tmp folder; docs/reliability.md has a run's.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import ROOT, ensure_namespace, wait_for

sys.path.insert(0, str(ROOT / "hack"))
import localcluster  # hack/ is not a package; tests/conftest.py puts it on the path the same way

pytestmark = pytest.mark.integration

SMALL, BIG, MID, SIG = "bigmon-small", "bigmon-big", "bigmon-mid", "bigmon-sig"
PER_JOB = 96_000  # the test's cap: BIG (100,000) is over it, MID (95,000) is not
ENDPOINTS = 1000  # the most one EndpointSlice may hold


def job_of(namespace: str, name: str) -> str:
    return f"serviceMonitor/{namespace}/{name}/0"


# --------------------------------------------------------------------------- objects


def service(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"ports": [{"name": "p0", "port": 9000}]},  # no selector: the slices below are ours
    }


def endpoint_slice(namespace: str, name: str, service_name: str, endpoints: int, ports: int) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [f"10.{i // 250}.{i % 250}.{ports % 250}"], "conditions": {"ready": True}}
            for i in range(endpoints)
        ],
        "ports": [{"name": f"p{p}", "port": 9000 + p, "protocol": "TCP"} for p in range(ports)],
    }


def service_monitor(namespace: str, name: str, *, one_port: bool) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "endpoints": [{"port": "p0"}] if one_port else [{}],  # no port: every port of the Service
        },
    }


@dataclass
class Cluster:
    api: ApiClient

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    async def monitored_service(self, namespace: str, name: str, ports: int, *, one_port: bool = False) -> None:
        """A Service with one slice of ENDPOINTS x `ports` combinations, and a ServiceMonitor selecting it."""
        await ensure_namespace(self.api, namespace)
        with contextlib.suppress(ApiException):
            await self.core.create_namespaced_service(namespace, service(namespace, name))
        body = endpoint_slice(namespace, f"{name}-0", name, ENDPOINTS, ports)
        with contextlib.suppress(ApiException):
            await client.DiscoveryV1Api(self.api).create_namespaced_endpoint_slice(namespace, body)
        await self.create_monitor(namespace, name, one_port=one_port)

    async def create_monitor(self, namespace: str, name: str, *, one_port: bool = False) -> None:
        objects = client.CustomObjectsApi(self.api)
        body = service_monitor(namespace, name, one_port=one_port)
        with contextlib.suppress(ApiException):
            await objects.create_namespaced_custom_object("monitoring.coreos.com", "v1", namespace, "servicemonitors",
                                                          body)  # fmt: skip

    async def delete_monitor(self, namespace: str, name: str) -> None:
        objects = client.CustomObjectsApi(self.api)
        with contextlib.suppress(ApiException):
            await objects.delete_namespaced_custom_object(
                "monitoring.coreos.com", "v1", namespace, "servicemonitors", name
            )

    async def warnings(self, namespace: str, name: str, reason: str) -> list[Any]:
        events = await self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
        return [e for e in events.items if e.type == "Warning" and e.reason == reason]


@pytest.fixture(scope="module")
async def cluster(api: ApiClient, crds: list[str]) -> AsyncIterator[Cluster]:
    world = Cluster(api)
    yield world
    for namespace in (SMALL, BIG, MID, SIG):
        with contextlib.suppress(ApiException):
            await world.core.delete_namespace(namespace)


# --------------------------------------------------------------------------- the allocator process


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, (path, status, body[:200])
        return json.loads(body)

    def metric(self, name: str, **labels: str) -> float | None:
        _, body = self.get("/metrics")
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return None

    def served(self, job: str) -> int:
        """How many targets the collectors are given for `job`, all collectors together."""
        if job not in self.json("/jobs"):
            return 0
        per = self.json(f"/jobs/{quote_plus(job, safe='')}/targets")
        return sum(len(g["targets"]) for c in per.values() for g in c["targets"])


@contextlib.contextmanager
def allocator(kubeconfig: str, folder: Path, namespaces: list[str], per_job: int) -> Iterator[Process]:
    config = {
        "kube_config_file_path": kubeconfig,
        "collectors": ["c-0", "c-1"],
        "collector_namespace": namespaces[0],
        "prometheus_cr": {"enabled": True, "service_monitor_selector": {}, "allow_namespaces": namespaces},
        "target_limits": {"per_job": per_job},
    }
    with run_allocator(folder, config) as process:
        yield process


@contextlib.contextmanager
def run_allocator(folder: Path, config: dict[str, Any]) -> Iterator[Process]:
    """`otel-operator allocator` with `config` (on a free port) in a process of its own; SIGTERM at the end."""
    port = localcluster.free_port()
    path = folder / "targetallocator.yaml"
    path.write_text(yaml.safe_dump({"listen_addr": f"127.0.0.1:{port}", **config}))
    log = folder / "allocator.log"
    with log.open("wb") as out:
        cmd = [sys.executable, "-m", "otel_operator", "allocator", "--config", str(path)]
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield Process(proc, port, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def wait_until(check: Any, within: float, what: str, proc: Process) -> Any:
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        assert proc.proc.poll() is None, f"the allocator exited: {proc.log.read_text()[-3000:]}"
        with contextlib.suppress(OSError):
            last = check()
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")


# the prober runs in a process of its own, so this process's work (parsing answers) never delays a probe
PROBE = """
import http.client, json, sys, time
port, out = int(sys.argv[1]), open(sys.argv[2], "w", buffering=1)
for _ in range(6000):  # at most 5 minutes; the test ends it sooner
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/livez")
        status = conn.getresponse().status
        conn.close()
        error = None if status == 200 else f"/livez answered {status}"
    except OSError as err:
        error = f"/livez unanswered: {err!r}"
    out.write(json.dumps([time.perf_counter() - started, error]) + "\\n")
    time.sleep(0.05)
"""


@dataclass
class Prober:
    """Asks /livez every 50 ms until stopped (every probe must be answered within 2 s; the latency is only
    measured), and samples the allocator's RSS."""

    proc: Process
    folder: Path
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    peak_rss: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _probe: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.folder / "probes.jsonl"
        self._probe = subprocess.Popen([sys.executable, "-c", PROBE, str(self.proc.port), str(out)])
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, AssertionError):
                self.peak_rss = max(self.peak_rss, rss_mb(self.proc.proc.pid))
            self._stop.wait(0.05)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        assert self._thread is not None
        assert self._probe is not None
        self._thread.join(10)
        self._probe.terminate()
        self._probe.wait(10)
        for line in (self.folder / "probes.jsonl").read_text().splitlines():
            with contextlib.suppress(ValueError):  # the last line may be cut by the stop
                latency, error = json.loads(line)
                self.latencies.append(latency)
                if error:
                    self.failures.append(error)
        ordered = sorted(self.latencies)
        return {
            "probes": len(ordered),
            "p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1),
        }


def settled_rss(pid: int) -> Any:
    """A check that answers the RSS once two readings a second apart are within 2 MB of each other."""
    last: list[float] = []

    def check() -> float | None:
        now = rss_mb(pid)
        if last and abs(last[-1] - now) < 2:
            return now
        last.append(now)
        time.sleep(1)
        return None

    return check


def record(folder: Path, name: str, figures: dict[str, Any]) -> None:
    print(f"\n{name}: {json.dumps(figures)}")
    path = folder / "big-monitor-figures.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = figures
    path.write_text(json.dumps(data, indent=2))


# --------------------------------------------------------------------------- tests


async def test_a_big_monitor_is_capped_the_rest_served_and_livez_answers(
    cluster: Cluster, kubeconfig: str, tmp_path: Path
) -> None:
    await cluster.monitored_service(SMALL, "small", 3)  # 3,000 targets: served throughout
    with allocator(kubeconfig, tmp_path, [SMALL, BIG, MID], PER_JOB) as ta:
        wait_until(lambda: ta.get("/readyz", 2)[0] == 200, 60, "readiness", ta)
        wait_until(lambda: ta.served(job_of(SMALL, "small")) == 3 * ENDPOINTS, 60, "the small job served", ta)
        before = rss_mb(ta.proc.pid)

        prober = Prober(ta, tmp_path)
        prober.start()
        started = time.monotonic()
        # 100,000 combinations, over the cap (its monitor keeps one port, but the cap counts what discovery
        # offers it), and 95,000 that fit and are served
        await cluster.monitored_service(BIG, "big", 100, one_port=True)
        await cluster.monitored_service(MID, "mid", 95)
        wait_until(
            lambda: ta.metric("opentelemetry_allocator_job_targets_over_cap", job_name=job_of(BIG, "big")) == 100_000,
            120, "the big job reported over its cap", ta,
        )  # fmt: skip
        # kept targets of all jobs (cheap to ask; the bodies themselves are read once the probes end)
        remaining = (3 + 95) * ENDPOINTS
        wait_until(lambda: ta.metric("opentelemetry_allocator_targets_remaining") == remaining, 120, "the mid job", ta)
        processed = time.monotonic() - started
        livez = prober.stop()
        assert prober.failures == [], prober.failures[:5]
        peak = max(prober.peak_rss, rss_mb(ta.proc.pid))
        assert ta.served(job_of(MID, "mid")) == 95 * ENDPOINTS
        assert ta.metric("opentelemetry_allocator_jobs_over_target_cap", cap="per_job") == 1
        assert job_of(BIG, "big") not in ta.json("/jobs")  # skipped: not served at all
        assert ta.served(job_of(SMALL, "small")) == 3 * ENDPOINTS
        log = ta.log.read_text()
        assert "ServiceMonitor bigmon-big/big" in log
        assert "100000 targets, over the allocator's per_job target cap of 96000" in log
        events = await wait_for(lambda: cluster.warnings(BIG, "big", "TargetLimitExceeded"), 30, what="the Event")
        assert "target_limits.per_job" in events[0].message

        # the monitors go: the jobs and their memory with them
        await cluster.delete_monitor(BIG, "big")
        await cluster.delete_monitor(MID, "mid")
        wait_until(lambda: not {job_of(BIG, "big"), job_of(MID, "mid")} & set(ta.json("/jobs")), 60, "gone", ta)
        wait_until(
            lambda: ta.metric("opentelemetry_allocator_jobs_over_target_cap", cap="per_job") == 0, 30, "no cap", ta
        )
        # most of what the big jobs took is handed back (the slices themselves stay watched: their Services remain)
        wait_until(
            lambda: rss_mb(ta.proc.pid) < before + (peak - before) / 2,
            30, f"the memory back (before {before:.0f} MB, peak {peak:.0f} MB)", ta,
        )  # fmt: skip
        after = wait_until(settled_rss(ta.proc.pid), 30, "the RSS to settle", ta)
        assert ta.served(job_of(SMALL, "small")) == 3 * ENDPOINTS
        record(tmp_path, "big change", {
            "processed_s": round(processed, 1), **livez,
            "rss_before_mb": round(before), "rss_peak_mb": round(peak), "rss_after_delete_mb": round(after),
        })  # fmt: skip

        # the monitor comes back and fits a raised cap in a new process: served, not capped
    await cluster.create_monitor(BIG, "big", one_port=True)
    with allocator(kubeconfig, tmp_path, [BIG], 100_000) as ta:
        wait_until(lambda: ta.served(job_of(BIG, "big")) == ENDPOINTS, 120, "the big job served under a raised cap", ta)
        assert ta.metric("opentelemetry_allocator_jobs_over_target_cap", cap="per_job") == 0


async def test_sigterm_stops_the_allocator_in_the_middle_of_the_work(
    cluster: Cluster, kubeconfig: str, tmp_path: Path
) -> None:
    names = ("sig-a", "sig-b", "sig-c")
    for name in names:
        await cluster.monitored_service(SIG, name, 95)  # 95,000 each, all within the cap: lots of work
    with allocator(kubeconfig, tmp_path, [SIG], 200_000) as ta:
        wait_until(lambda: ta.get("/livez", 2)[0] == 200, 60, "the listener", ta)
        base = rss_mb(ta.proc.pid)
        # the lists have arrived and the work is under way: memory grows while not every job is served yet
        wait_until(lambda: rss_mb(ta.proc.pid) > base + 100, 120, "the work to start", ta)
        served = ta.json("/jobs")
        assert not all(job_of(SIG, n) in served for n in names), "the work finished before SIGTERM"
        sent = time.monotonic()
        ta.proc.send_signal(signal.SIGTERM)
        rc = ta.proc.wait(60)
        stopped = time.monotonic() - sent
        record(tmp_path, "sigterm", {"sigterm_to_exit_s": round(stopped, 2), "exit_status": rc})
        assert rc == 0, ta.log.read_text()[-3000:]
