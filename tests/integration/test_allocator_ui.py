"""The allocator's web UI in a real headless Chromium, driven over the DevTools protocol (`cdp.py`).

No Kubernetes: the allocator runs in static mode (fixed collectors, static scrape configs: 3 jobs x 250 targets
with labels), on a real socket, exactly as `otel-operator allocator` serves it. The browser loads the pages, clicks
links and pages with real mouse events, types into the search form; what the pages show is checked against the
JSON API. Screenshots go to `test-artifacts/allocator-ui/` (or `$TEST_ARTIFACTS/allocator-ui/`).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from otel_operator.allocator.app import Allocator, Listeners, serve
from otel_operator.allocator.config import load_config

from .cdp import Browser, Tab, find_chromium, launch

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "allocator-ui"
COLLECTORS = ["collector-0", "collector-1", "collector-2"]
JOBS = ["web", "api", "batch/worker"]  # a slash: the UI must escape it in links
PER_JOB = 250
GROUP = 25  # targets per static group: each group has its own labels
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def config_text() -> str:
    jobs: list[dict[str, Any]] = []
    for j, job in enumerate(JOBS):
        groups = []
        for g in range(PER_JOB // GROUP):
            targets = [f"10.{j}.{g}.{i}:9100" for i in range(GROUP)]
            labels = {"team": f"team-{g % 4}", "zone": f"zone-{g % 3}", "shard": f"{job}-shard-{g}"}
            if job == "api" and g == 0:
                labels["note"] = HOSTILE
            groups.append({"targets": targets, "labels": labels})
        jobs.append({"job_name": job, "static_configs": groups})
    config = {
        "listen_addr": "127.0.0.1:0",
        "collectors": COLLECTORS,
        "allocation_strategy": "consistent-hashing",
        "config": {"scrape_configs": jobs},
    }
    return yaml.safe_dump(config)


@pytest.fixture(scope="module")
async def base() -> AsyncIterator[str]:
    allocator = Allocator(load_config(config_text()), None, namespace="default")
    listeners: Listeners = await serve(allocator)
    try:
        await allocator.start()
        await allocator.wait_ready(10)
        yield f"http://127.0.0.1:{listeners.ports['http']}"
    finally:
        await allocator.stop()
        await listeners.close()


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.fail("needs a Chromium: apt-get install chromium (Debian's package; .ci/run installs it)")
    async with launch(executable, tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


@pytest.fixture
async def tab(browser: Browser) -> AsyncIterator[Tab]:
    tab = await browser.new_tab()
    try:
        yield tab
    finally:
        await browser.cdp.send("Target.closeTarget", {"targetId": await tab_target(tab)})


async def tab_target(tab: Tab) -> str:
    info = await tab.send("Target.getTargetInfo")
    return str(info["targetInfo"]["targetId"])


async def api(base: str, path: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(base + path) as response:
        assert response.status == 200
        return await response.json()


async def served_by_collector(base: str) -> dict[str, dict[str, set[str]]]:
    """collector → job → addresses, from the JSON API the collectors read."""
    out: dict[str, dict[str, set[str]]] = {}
    for job in JOBS:
        everything = await api(base, f"/jobs/{job.replace('/', '%2F')}/targets")
        for collector, entry in everything.items():
            out.setdefault(collector, {})[job] = {a for group in entry["targets"] for a in group["targets"]}
    return out


async def rows(tab: Tab) -> list[dict[str, str]]:
    """The target rows on the page: address, collector, job (if shown), the visible label chips."""
    return list(
        await tab.evaluate(
            """[...document.querySelectorAll("tr.target")].map(tr => ({
                address: tr.querySelector("code.addr").textContent,
                collector: tr.querySelector("td:nth-last-child(2)").textContent,
                labels: [...tr.querySelectorAll("a.lbl")].map(a => a.textContent).join(" "),
            }))"""
        )
    )


async def text(tab: Tab, selector: str) -> str:
    return str(await tab.evaluate(f"document.querySelector({selector!r}).textContent"))


async def shot(tab: Tab, name: str) -> None:
    path = await tab.screenshot(ARTIFACTS / f"{name}.png")
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------------- tests


async def test_overview_lists_the_collectors_with_the_counts_the_api_serves(base: str, tab: Tab) -> None:
    await tab.navigate(base + "/")
    assert await tab.evaluate("document.title") == "overview · target allocator"
    assert "ready" in await text(tab, "#status")
    shown = await tab.evaluate(
        """Object.fromEntries([...document.querySelectorAll("#collectors tbody tr")].map(
            tr => [tr.cells[0].textContent, Number(tr.cells[2].textContent)]))"""
    )
    truth = await served_by_collector(base)
    assert shown == {c: sum(len(a) for a in truth[c].values()) for c in COLLECTORS}
    assert sum(shown.values()) == len(JOBS) * PER_JOB
    jobs = await tab.evaluate(
        """Object.fromEntries([...document.querySelectorAll("#jobs tbody tr")].map(
            tr => [tr.cells[0].textContent, Number(tr.cells[1].textContent)]))"""
    )
    assert jobs == dict.fromkeys(JOBS, PER_JOB)
    await shot(tab, "01-overview")


async def test_a_job_link_shows_its_targets_and_the_pages_walk_through_all_of_them(base: str, tab: Tab) -> None:
    await tab.navigate(base + "/")
    await tab.click('#jobs a[href="/ui/jobs/batch%2Fworker"]')
    assert await tab.url() == base + "/ui/jobs/batch%2Fworker"
    assert await text(tab, "#job") == "batch/worker"
    await shot(tab, "02-job-page-1")

    truth = await served_by_collector(base)
    owner = {a: c for c in COLLECTORS for a in truth[c].get("batch/worker", set())}
    seen: list[str] = []
    for number in (1, 2, 3):
        where = await text(tab, "nav.pages .where")
        first, last = (number - 1) * 100 + 1, min(number * 100, PER_JOB)
        assert where == f"page {number} of 3 · rows {first}–{last} of {PER_JOB}"
        page_rows = await rows(tab)
        assert len(page_rows) == last - first + 1
        for row in page_rows:
            assert row["collector"] == owner[row["address"]]  # the collector the API serves it to
            assert re.search(r'team="team-\d"', row["labels"])
            assert "shard=" in row["labels"]
        seen += [r["address"] for r in page_rows]
        if number < 3:
            await tab.click("nav.pages a.next")
            assert await tab.url() == base + f"/ui/jobs/batch%2Fworker?page={number + 1}"
    await shot(tab, "03-job-last-page")
    assert len(seen) == len(set(seen)) == PER_JOB
    assert set(seen) == set(owner)
    assert await tab.evaluate('document.querySelector("nav.pages a.next")') is None

    await tab.click("nav.pages a.prev")
    assert "rows 101–200" in await text(tab, "nav.pages .where")


async def test_a_collector_page_lists_its_targets_per_job(base: str, tab: Tab) -> None:
    await tab.navigate(base + "/")
    await tab.click('#collectors a[href="/ui/collectors/collector-1"]')
    assert await text(tab, "#collector") == "collector-1"
    truth = (await served_by_collector(base))["collector-1"]
    per_job = await tab.evaluate(
        """Object.fromEntries([...document.querySelectorAll("#per-job tbody tr")].map(
            tr => [tr.cells[0].textContent, Number(tr.cells[1].textContent)]))"""
    )
    assert per_job == {job: len(addresses) for job, addresses in truth.items() if addresses}
    page_rows = await rows(tab)
    assert 0 < len(page_rows) <= 100
    assert {r["collector"] for r in page_rows} == {"collector-1"}
    await shot(tab, "04-collector")
    # its per-job link narrows the job page to this collector
    job = next(iter(sorted(per_job)))
    await tab.click('#per-job a[href^="/ui/jobs/"][href$="collector=collector-1"]')
    assert "collector=collector-1" in await tab.url()
    assert await text(tab, "#filter") == "collector-1"
    assert {r["collector"] for r in await rows(tab)} == {"collector-1"}
    assert job in await text(tab, "#job")


async def test_the_search_form_finds_a_target_by_label(base: str, tab: Tab) -> None:
    await tab.navigate(base + "/")
    await tab.type_into('#search input[name="q"]', "shard=api-shard-7")
    await tab.press_enter()
    assert (await tab.url()).startswith(base + "/ui/targets?q=shard%3Dapi-shard-7")
    assert await text(tab, "#total") == str(GROUP)
    found = await rows(tab)
    assert len(found) == GROUP
    assert {r["address"] for r in found} == {f"10.1.7.{i}:9100" for i in range(GROUP)}
    await shot(tab, "05-search-exact")

    # free text, then the submit button
    await tab.type_into('#search input[name="q"]', "10.2.3.17")
    await tab.click('#search button[type="submit"]')
    found = await rows(tab)
    assert [r["address"] for r in found] == ["10.2.3.17:9100"]
    assert await tab.evaluate('document.querySelector("#search input").value') == "10.2.3.17"

    # a label chip is a link to the search for that label
    await tab.click('tr.target a.lbl[href*="zone"]')
    assert await text(tab, "#query") == 'zone="zone-0"'  # group 3 of job batch/worker: zone-0
    assert int(await text(tab, "#total")) == len(JOBS) * GROUP * 4  # groups 0, 3, 6, 9 of each job
    await shot(tab, "06-search-label-chip")


async def test_a_hostile_label_value_is_shown_as_text_and_never_runs(base: str, tab: Tab) -> None:
    await tab.navigate(base + "/ui/jobs/api")
    chips = " ".join(r["labels"] for r in await rows(tab))
    assert HOSTILE in chips  # shown literally
    assert await tab.evaluate("window.__pwned") is None
    assert await tab.evaluate('document.querySelectorAll("main script, main img").length') == 0
    await shot(tab, "07-hostile-label")


async def test_the_json_routes_stay_json_for_the_browser(base: str, tab: Tab) -> None:
    await tab.navigate(base + "/jobs")
    assert await tab.evaluate("document.contentType") == "application/json"
    await tab.navigate(base + "/ui/jobs/nope")
    assert "no job named 'nope'" in await tab.evaluate("document.body.textContent")
