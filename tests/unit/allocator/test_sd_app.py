"""The allocator process with polled service discovery (no Kubernetes), and /scrape_configs before the monitors'
first lists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from otel_operator.allocator.app import Allocator
from otel_operator.allocator.config import load_config


def config_text(jobs: list[dict[str, Any]], **extra: Any) -> str:
    return yaml.safe_dump({"collectors": ["c-0"], "config": {"scrape_configs": jobs}, **extra})


async def eventually(predicate: Any, within: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not within time"
        await asyncio.sleep(0.02)


async def test_file_sd_targets_reach_the_model_and_follow_the_file(tmp_path: Path) -> None:
    targets = tmp_path / "t.json"
    targets.write_text(json.dumps([{"targets": ["a:1", "b:2"], "labels": {"env": "x"}}]))
    job = {"job_name": "files", "file_sd_configs": [{"files": [str(tmp_path / "*.json")]}]}
    allocator = Allocator(load_config(config_text([job])))
    allocator.pollers._file_watch_interval = 0.05
    await allocator.start()
    try:
        await eventually(lambda: len(allocator.model.targets("files")) == 2)
        targets.write_text(json.dumps([{"targets": ["c:3"]}]))
        await eventually(lambda: [t.ref.address for t in allocator.model.targets("files").values()] == ["c:3"])
        assert allocator.pollers.running == allocator.router.poll_configs
    finally:
        await allocator.stop()
    assert allocator.pollers.running == frozenset()


async def test_the_v3_keys_come_from_the_files_global() -> None:
    job = {"job_name": "s", "static_configs": [{"targets": ["a:1"]}]}
    text = config_text(
        [job], **{"config": {"global": {"scrape_protocols": ["PrometheusProto"]}, "scrape_configs": [job]}}
    )
    allocator = Allocator(load_config(text))
    await allocator.start()
    try:
        await eventually(lambda: allocator.served.scrape_configs_full is not None)
        body = allocator.served.scrape_configs_full
        assert body is not None
        assert json.loads(body.data)["s"]["scrape_protocols"] == ["PrometheusProto"]
    finally:
        await allocator.stop()


class FakeReflector:
    def __init__(self) -> None:
        self.synced = asyncio.Event()
        self.objects: dict[Any, Any] = {}


async def test_scrape_configs_wait_for_the_monitors_first_lists() -> None:
    job = {"job_name": "file-job", "static_configs": [{"targets": ["a:1"]}]}
    config = load_config(config_text([job], prometheus_cr={"enabled": True}, collector_namespace="ns"))
    allocator = Allocator(config, api=object())  # type: ignore[arg-type]  # no watch is started here
    kinds = ("ServiceMonitor", "PodMonitor", "Probe", "ScrapeConfig", "Namespace", "Secret", "ConfigMap")
    reflectors = {kind: FakeReflector() for kind in kinds}
    allocator._reflectors = reflectors  # type: ignore[assignment]
    await allocator.recompute()
    assert allocator.served.scrape_configs_redacted is None  # 503, not the file's job alone
    assert "ServiceMonitor" in allocator.served.not_ready_reason
    for reflector in reflectors.values():
        reflector.synced.set()
    allocator._mark(monitors=True)
    await allocator.recompute()
    assert allocator.served.scrape_configs_redacted is not None
    assert "file-job" in json.loads(allocator.served.scrape_configs_redacted.data)


def test_with_allow_namespaces_kinds_are_watched_per_namespace_but_nodes_across_the_cluster() -> None:
    from otel_operator.allocator.discovery import job_discovery

    config = load_config(
        config_text([], prometheus_cr={"enabled": True, "allow_namespaces": ["a"]}, collector_namespace="a")
    )
    allocator = Allocator(config, api=object())  # type: ignore[arg-type]  # no watch is started here
    sd = {"role": "pod", "namespaces": {"names": ["a", "b"]}, "attach_metadata": {"node": True}}
    allocator.router.set_jobs({"j": job_discovery("j", {"job_name": "j", "kubernetes_sd_configs": [sd]})})
    assert allocator._watch_scopes("Pod") == ["a", "b"]  # where the job reads
    assert allocator._watch_scopes("ServiceMonitor") == ["a"]  # where monitors may be
    assert allocator._watch_scopes("Namespace") == ["a"]  # by name
    assert allocator._watch_scopes("Node") is None  # in no namespace (found in review: was watched by name "a")
    unscoped = Allocator(
        load_config(config_text([], prometheus_cr={"enabled": True}, collector_namespace="a")), api=object()
    )  # type: ignore[arg-type]
    assert unscoped._watch_scopes("ServiceMonitor") is None
