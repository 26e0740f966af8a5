"""`/debug/diagnose` without Kubernetes: the relabel part of the troubleshooting guide's checks, from the file's
static targets. Which rule dropped which target (and what to change), which collector scrapes each kept one."""

from __future__ import annotations

import asyncio

import aiohttp
import yaml

from otel_operator.allocator.app import Allocator, serve
from otel_operator.allocator.config import load_config

JOBS = [
    {
        "job_name": "apps",
        "static_configs": [{"targets": ["10.0.0.1:9100", "10.0.0.2:9100"], "labels": {"team": "a"}},
                           {"targets": ["10.0.0.3:9100"], "labels": {"team": "b"}}],
        "relabel_configs": [{"source_labels": ["team"], "regex": "a", "action": "keep"}],
    },
    {"job_name": "bad", "static_configs": [{"targets": ["x:1"]}], "scrape_interval": "5s", "scrape_timeout": "9s"},
]  # fmt: skip


async def test_static_diagnosis_names_the_dropping_rule_and_the_collector() -> None:
    text = yaml.safe_dump({"listen_addr": "127.0.0.1:0", "collectors": ["c-0", "c-1"],
                           "config": {"scrape_configs": JOBS[:1]}})  # fmt: skip
    allocator = Allocator(load_config(text))
    listeners = await serve(allocator)
    await allocator.start()
    try:
        await allocator.wait_ready()
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{listeners.ports['http']}/debug/diagnose"
            async with http.get(url, headers={"Accept": "application/json"}) as resp:
                assert resp.status == 200
                findings = await resp.json()
    finally:
        await allocator.stop()
        await listeners.close()
    by_subject = {f["subject"]: f for f in findings}
    dropped = by_subject["target 10.0.0.3:9100 of job apps"]
    assert dropped["ok"] is False
    assert dropped["what"] == (
        "dropped by job apps at relabel_configs[0] (action keep, source_labels [team], which read 'b', regex 'a')"
    )
    assert dropped["fix"] == "change or remove config.scrape_configs[0].relabel_configs[0] so that it keeps this target"
    assignment = allocator.assignments()["apps"]
    for address in ("10.0.0.1:9100", "10.0.0.2:9100"):
        kept = by_subject[f"target {address} of job apps"]
        assert kept["ok"] is True
        assert kept["what"] == f"kept by job apps; scraped by collector {assignment[address]}"
    assert len(findings) == 3


async def test_a_job_the_allocator_cannot_run_is_named() -> None:
    # load_config refuses such a file; the diagnosis of one built in code (the operator's render) still says why
    from otel_operator.allocator.config import AllocatorConfig, PrometheusConfig
    from otel_operator.diagnose.core import diagnose_static

    config = AllocatorConfig(collectors=("c-0",), config=PrometheusConfig(scrape_configs=(JOBS[1],)))
    [finding] = await asyncio.to_thread(diagnose_static, config, None)
    assert finding.subject == "job bad"
    assert finding.ok is False
    assert "scrape_timeout" in finding.what
    assert finding.fix == "correct config.scrape_configs[0]"
