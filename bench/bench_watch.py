"""Watch throughput on a real control plane: does a raw list+watch Reflector or a kopf event handler keep up?

One run: a watcher process (either our `Reflector` on kubernetes-asyncio, or a kopf operator with one async
`@kopf.on.event` handler, kopf's default settings, our login handler) watches ConfigMaps in a fresh namespace.
Once it has seen a sentinel ConfigMap from its initial list, this process creates N ConfigMaps with 32 requests
in flight, and the watcher reports when it has received the N-th ADDED event. Measured:

  - all ADDED: time from the first create request to the watcher holding all N events (the question asked);
  - lag: how long after the last create was acknowledged the watcher was done (0 = it kept up);
  - watcher CPU: user+system time of the watcher process between its sync and the N-th event, per event;
  - watcher peak RSS.

The watcher runs in its own process so its CPU time is its own; the API server, etcd and this load generator
share the machine with it, alike for both contenders. Runs alternate between the contenders.

    python bench/bench_watch.py [--n 2000] [--repeats 3] [--kubeconfig PATH]

Without --kubeconfig (or USE_EXISTING_CLUSTER=true with KUBECONFIG, as the tests take it) a local control plane
is started with hack/localcluster.py in a temporary folder and stopped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import resource
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "hack"))

from common import Result  # noqa: E402

N = 2000
REPEATS = 3
CONCURRENCY = 32
CONTENDERS = ("reflector", "kopf")
MODES = ("live", "backlog")
LABEL = {"bench": "watch"}
SENTINEL = "sentinel"


# ---------------------------------------------------------------------------------------------------- watchers


class _Progress:
    """What a watcher process reports on stdout: READY once synced, then one JSON line when it has all N."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen: set[str] = set()
        self.ready = False
        self.cpu0 = 0.0
        self.done = asyncio.Event()

    def sync(self) -> None:
        if not self.ready:
            self.ready = True
            self.cpu0 = time.process_time()
            print("READY", flush=True)

    def added(self, name: str) -> None:
        if not name.startswith("cm-") or name in self.seen:
            return
        self.seen.add(name)
        if len(self.seen) == self.n:
            report = {
                "t_last": time.time(),
                "cpu": time.process_time() - self.cpu0,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
            print(orjson.dumps(report).decode(), flush=True)
            self.done.set()


async def watch_with_reflector(kubeconfig: str, namespace: str, n: int) -> None:
    from kubernetes_asyncio import client, config
    from kubernetes_asyncio.client.api_client import ApiClient

    from otel_operator.allocator.watch import CONFIGMAPS, Reflector

    progress = _Progress(n)

    class Sink:
        def on_replace(self, kind: str, objects: list[dict[str, Any]], /) -> None:
            if any(o["metadata"]["name"] == SENTINEL for o in objects):
                progress.sync()

        def on_event(self, kind: str, type: str, obj: dict[str, Any], /) -> None:
            if type == "ADDED":
                progress.added(obj["metadata"]["name"])

    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    async with ApiClient(configuration=cfg) as api:
        reflector = Reflector(api, CONFIGMAPS, Sink(), namespace=namespace, label_selector="bench=watch")
        task = asyncio.create_task(reflector.run())
        await progress.done.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def watch_with_kopf(kubeconfig: str, namespace: str, n: int) -> None:
    import kopf

    from otel_operator.reconcile.login import register_login

    progress = _Progress(n)
    registry = kopf.OperatorRegistry()
    register_login(registry, kubeconfig)

    @kopf.on.event("", "v1", "configmaps", labels=LABEL, registry=registry)
    async def on_configmap(event: dict[str, Any], **_: Any) -> None:
        name = event["object"]["metadata"]["name"]
        if name == SENTINEL:
            progress.sync()
        elif event["type"] in ("ADDED", None):  # None: kopf's initial listing
            progress.added(name)

    stop = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(registry=registry, clusterwide=False, namespaces=[namespace], standalone=True, stop_flag=stop)
    )
    await progress.done.wait()
    stop.set()
    with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
        await asyncio.wait_for(operator, 10)


# ---------------------------------------------------------------------------------------------------- driver


@dataclass(frozen=True, slots=True)
class Run:
    contender: str
    mode: str  # "live": watching while the ConfigMaps are created; "backlog": paused meanwhile, then resumed
    create_s: float  # first create sent → last create acknowledged
    all_events_s: float  # live: first create sent → N-th ADDED received; backlog: resumed → N-th ADDED received
    lag_s: float  # last create acknowledged (backlog: resumed) → N-th ADDED received
    cpu_s: float  # watcher process CPU from its sync to the N-th event
    rss_mb: float


async def _request(api: Any, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    response = await api.call_api(
        path,
        method,
        body=body,
        header_params={"Accept": "application/json", "Content-Type": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    try:
        return response.status, await response.read()
    finally:
        response.release()


def _configmap(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": LABEL}, "data": {"key": "value", "name": name}}


async def one_run(api: Any, kubeconfig: str, contender: str, mode: str, n: int) -> Run:
    namespace = f"bench-watch-{secrets.token_hex(4)}"
    status, body = await _request(api, "POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    assert status == 201, body
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    status, body = await _request(api, "POST", path, _configmap(SENTINEL))
    assert status == 201, body
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--child",
        contender,
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        namespace,
        "--n",
        str(n),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line.strip() == b"READY", f"{contender} watcher said {line!r}"
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def create(i: int) -> None:
            async with semaphore:
                code, text = await _request(api, "POST", path, _configmap(f"cm-{i:05}"))
                assert code == 201, text

        if mode == "backlog":  # the events queue up in the server and the socket while the watcher is stopped
            os.kill(proc.pid, signal.SIGSTOP)
        t0 = time.time()
        await asyncio.gather(*(create(i) for i in range(n)))
        t_created = time.time()
        create_s = t_created - t0
        if mode == "backlog":
            await asyncio.sleep(1)
            t0 = t_created = time.time()
            os.kill(proc.pid, signal.SIGCONT)
        line = await asyncio.wait_for(proc.stdout.readline(), 300)
        report = orjson.loads(line)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await _request(api, "DELETE", f"/api/v1/namespaces/{namespace}/configmaps")
        await _request(api, "DELETE", f"/api/v1/namespaces/{namespace}")
        # wait for the namespace to go, so that its clean-up does not load the next run
        for _ in range(600):
            if (await _request(api, "GET", f"/api/v1/namespaces/{namespace}"))[0] == 404:
                break
            await asyncio.sleep(0.1)
    return Run(
        contender,
        mode,
        create_s=create_s,
        all_events_s=report["t_last"] - t0,
        lag_s=max(0.0, report["t_last"] - t_created),
        cpu_s=report["cpu"],
        rss_mb=report["rss_mb"],
    )


async def measure_all(kubeconfig: str, n: int, repeats: int) -> list[Run]:
    from kubernetes_asyncio import client, config
    from kubernetes_asyncio.client.api_client import ApiClient

    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    runs = []
    async with ApiClient(configuration=cfg) as api:
        await one_run(api, kubeconfig, "reflector", "live", 100)  # warm up the server and the page cache
        for i in range(repeats):
            for mode in MODES:
                for contender in CONTENDERS if i % 2 == 0 else CONTENDERS[::-1]:
                    measured = await one_run(api, kubeconfig, contender, mode, n)
                    print(
                        f"  {mode:7} {contender:9} all ADDED {measured.all_events_s:6.2f} s  "
                        f"lag {measured.lag_s:5.2f} s  CPU {measured.cpu_s:5.2f} s  RSS {measured.rss_mb:5.0f} MB",
                        file=sys.stderr,
                        flush=True,
                    )
                    runs.append(measured)
    return runs


@contextlib.contextmanager
def control_plane(kubeconfig: str | None) -> Iterator[str]:
    if kubeconfig:
        yield kubeconfig
        return
    if os.environ.get("USE_EXISTING_CLUSTER", "").lower() == "true" and os.environ.get("KUBECONFIG"):
        yield os.environ["KUBECONFIG"]
        return
    import localcluster

    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        folder = Path(tmp)
        cluster = localcluster.up(folder)
        try:
            yield cluster.kubeconfig
        finally:
            localcluster.down(folder)


@dataclass(frozen=True, slots=True)
class Summary:
    contender: str
    mode: str
    create_s: float
    all_events_s: float
    lag_s: float
    cpu_s: float
    rss_mb: float
    repeats: int


def summarise(runs: list[Run]) -> list[Summary]:
    out = []
    for mode in MODES:
        for contender in CONTENDERS:
            mine = [r for r in runs if r.contender == contender and r.mode == mode]
            out.append(
                Summary(
                    contender,
                    mode,
                    statistics.median(r.create_s for r in mine),
                    statistics.median(r.all_events_s for r in mine),
                    statistics.median(r.lag_s for r in mine),
                    statistics.median(r.cpu_s for r in mine),
                    statistics.median(r.rss_mb for r in mine),
                    len(mine),
                )
            )
    return out


NAMES = {"reflector": "Reflector (raw kubernetes-asyncio)", "kopf": "kopf @on.event (async handler)"}
CASES = {
    "live": "watching while N are created: first create → N-th ADDED",
    "backlog": "paused while N are created, then resumed: resume → N-th ADDED",
}


def markdown(summaries: list[Summary], n: int) -> str:
    lines = [
        f"N = {n} ConfigMaps created with {CONCURRENCY} requests in flight; medians of {summaries[0].repeats} runs "
        f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}).",
        "",
        "| case | watcher | creating N | all N ADDED received | lag after last create | events/s | "
        "watcher CPU per event | watcher peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lag = f"{s.lag_s * 1000:.0f} ms" if s.mode == "live" else "-"
        lines.append(
            f"| {CASES[s.mode]} | {NAMES[s.contender]} | {s.create_s:.2f} s | {s.all_events_s:.2f} s | {lag} | "
            f"{n / s.all_events_s:,.0f} | {s.cpu_s / n * 1e6:,.0f} µs | {s.rss_mb:.0f} MB |"
        )
    return "\n".join(lines)


def run(n: int = N, repeats: int = REPEATS, kubeconfig: str | None = None) -> list[Result]:
    """For bench/run.py: starts (and stops) a local control plane unless one is named."""
    with control_plane(kubeconfig) as path:
        runs = asyncio.run(measure_all(path, n, repeats))
    summaries = summarise(runs)
    _details.append(markdown(summaries, n))
    # per item: the time (or watcher CPU) per event; items per second: events per second (per CPU-second)
    results = [Result(f"{NAMES[s.contender]}, {CASES[s.mode]}", s.all_events_s, n, s.repeats) for s in summaries]
    results += [Result(f"{NAMES[s.contender]}, watcher CPU ({s.mode})", s.cpu_s, n, s.repeats) for s in summaries]
    return results


_details: list[str] = []


def details() -> str:
    """For bench/run.py: the full table (lag, CPU per event, memory) under the one-line results."""
    return _details[-1] if _details else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--kubeconfig")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        watcher = watch_with_reflector if args.child == "reflector" else watch_with_kopf
        asyncio.run(watcher(args.kubeconfig, args.namespace, args.n))
        return 0
    with control_plane(args.kubeconfig) as path:
        runs = asyncio.run(measure_all(path, args.n, args.repeats))
    print(markdown(summarise(runs), args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
