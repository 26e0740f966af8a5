"""The Prometheus v3 oracle of the differential discovery tests: find it, run it on a config, read the API server's
lists as discovery reads them, and say how our targets differ from its targets."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client.api_client import ApiClient

import localcluster
import prometheus_oracle

Targets = dict[str, dict[str, str]]  # address (or another key) → discovered labels


def prometheus_binary() -> str:
    binary = prometheus_oracle.find()
    if binary is None:
        pytest.fail(
            f"needs Prometheus {prometheus_oracle.PROMETHEUS_VERSION} with Kubernetes and DNS SD (Debian's has no "
            "Kubernetes SD): set OTEL_OPERATOR_PROMETHEUS, or install Go so `make oracles` can build it into "
            f"{prometheus_oracle.cached()}"
        )
    return binary


@contextlib.contextmanager
def run_prometheus(
    binary: str, scrape_configs: Sequence[Mapping[str, Any]], folder: Path, wrapper: Sequence[str] = ()
) -> Iterator[str]:
    """Prometheus on `scrape_configs` (its base URL); `wrapper` is a command it runs under. A long interval and a
    short timeout: the targets are unreachable and only discovery is read. Stopped through its process handle."""
    config = {"global": {"scrape_interval": "10m", "scrape_timeout": "1s"}, "scrape_configs": list(scrape_configs)}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = localcluster.free_port()
    command = [
        *wrapper,
        binary,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with (folder / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def raw_list(api: ApiClient, path: str) -> list[dict[str, Any]]:
    """A list as the API returns it in JSON (camelCase, absent fields absent): what discovery reads."""
    resp = await api.call_api(path, "GET", auth_settings=["BearerToken"], _preload_content=False)
    body = await resp.json()
    assert resp.status == 200, body
    return list(body["items"])


def differences(ours: Mapping[str, Targets], theirs: Mapping[str, Targets]) -> list[str]:
    """Every way our targets differ from Prometheus's, job by job, target by target, label by label."""
    problems = []
    for job, prom_targets in theirs.items():
        our_job = ours[job]
        problems += [f"{job}: we lack target {a}" for a in sorted(prom_targets.keys() - our_job.keys())]
        problems += [f"{job}: we have an extra target {a}" for a in sorted(our_job.keys() - prom_targets.keys())]
        for address in sorted(prom_targets.keys() & our_job.keys()):
            mine, prom = our_job[address], prom_targets[address]
            for name in sorted(mine.keys() | prom.keys()):
                if mine.get(name) != prom.get(name):
                    problems.append(f"{job} {address} {name}: ours {mine.get(name)!r}, Prometheus {prom.get(name)!r}")
    return problems
