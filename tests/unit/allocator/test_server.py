"""The HTTP contract (§1), over a real socket on 127.0.0.1: routes, status codes, job-name escaping, ETags, metrics."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import web
from yarl import URL

from otel_operator.allocator.metrics import AllocatorMetrics
from otel_operator.allocator.model import AllocationModel, Body
from otel_operator.allocator.server import Served, go_query_unescape, make_app
from otel_operator.allocator.strategies import Collector, ConsistentHashing
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.targets import ScrapeSettings

# Prometheus discovery/http/http.go: what an HTTP SD response's Content-Type must match.
HTTP_SD_CONTENT_TYPE = re.compile(r'^(?i:application\/json(;\s*charset=("utf-8"|utf-8))?)$')

# One target per job, each at its own address, so a response proves which job the path was decoded to.
JOBS = {
    "plain": "10.0.0.1:8080",
    "a/b": "10.0.0.2:8080",
    "a b": "10.0.0.3:8080",
    "a+b": "10.0.0.4:8080",
    "ジョブ": "10.0.0.5:8080",
    "x~y": "10.0.0.6:8080",
    "100%": "10.0.0.7:8080",
    "serviceMonitor/shop/web/0": "10.0.0.8:8080",
}
COLLECTORS = ("collector-0", "collector-1")


def build_model(jobs: Mapping[str, str] = JOBS, extra: int = 0) -> AllocationModel:
    """`extra` more targets in job "plain", so a test can change content."""
    m = AllocationModel(ConsistentHashing())
    m.set_scrape_configs(ScrapeSettings.from_config({"job_name": job}) for job in jobs)
    m.set_collectors(Collector(name, f"node-{i}") for i, name in enumerate(COLLECTORS))
    for job, address in jobs.items():
        targets = [{"__address__": address, "__meta_kubernetes_pod_name": f"pod-{address}"}]
        if job == "plain":
            targets += [{"__address__": f"10.1.0.{i}:8080"} for i in range(extra)]
        m.update_group(job, TargetGroup("g", tuple(targets)))
    m.flush()
    return m


def owner(m: AllocationModel, job: str) -> str:
    (collector,) = [c for c in COLLECTORS if m.targets_body(job, c).data != b"[]\n"]
    return collector


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Live:
    served: Served
    base: str
    secure_base: str
    session: aiohttp.ClientSession

    async def request(
        self, path: str, method: str = "GET", headers: Mapping[str, str] | None = None, secure: bool = False
    ) -> Reply:
        """`path` is sent exactly as written (no re-escaping)."""
        url = URL((self.secure_base if secure else self.base) + path, encoded=True)
        async with self.session.request(method, url, headers=headers, allow_redirects=False) as response:
            return Reply(response.status, response.headers, await response.read())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request(path, **kwargs)


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    served = Served(build_model(), AllocatorMetrics("consistent-hashing"), ready=True)  # a running allocator
    plain, base = await _start(make_app(served))
    secure, secure_base = await _start(make_app(served, secure=True))
    try:
        async with aiohttp.ClientSession() as session:
            yield Live(served, base, secure_base, session)
    finally:
        await plain.cleanup()
        await secure.cleanup()


def is_json(reply: Reply) -> bool:
    return reply.headers.get("Content-Type") == "application/json"


# --------------------------------------------------------------------------------------------------- /jobs


async def test_jobs_lists_every_job_with_its_escaped_link(live: Live) -> None:
    reply = await live.get("/jobs")
    assert reply.status == 200
    assert is_json(reply)
    assert reply.body == live.served.model.jobs_body.data
    assert reply.json() == {
        "plain": {"_link": "/jobs/plain/targets"},
        "a/b": {"_link": "/jobs/a%2Fb/targets"},
        "a b": {"_link": "/jobs/a+b/targets"},
        "a+b": {"_link": "/jobs/a%2Bb/targets"},
        "ジョブ": {"_link": "/jobs/%E3%82%B8%E3%83%A7%E3%83%96/targets"},
        "x~y": {"_link": "/jobs/x~y/targets"},
        "100%": {"_link": "/jobs/100%25/targets"},
        "serviceMonitor/shop/web/0": {"_link": "/jobs/serviceMonitor%2Fshop%2Fweb%2F0/targets"},
    }


async def test_every_jobs_link_leads_to_that_jobs_targets(live: Live) -> None:
    for job, entry in (await live.get("/jobs")).json().items():
        reply = await live.get(entry["_link"])
        assert reply.status == 200, job
        targets = [a for c in reply.json().values() for g in c["targets"] for a in g["targets"]]
        assert targets == [JOBS[job]]


# --------------------------------------------------------------------------------------------------- job names in paths


@pytest.mark.parametrize(
    ("job", "segment"),
    [
        ("plain", "plain"),
        ("plain", "%70lain"),  # any byte may be escaped
        ("a/b", "a%2Fb"),
        ("a/b", "a%2fb"),
        ("a b", "a+b"),
        ("a b", "a%20b"),
        ("a+b", "a%2Bb"),
        ("a+b", "a%2bb"),
        ("ジョブ", "%E3%82%B8%E3%83%A7%E3%83%96"),
        ("ジョブ", "%e3%82%b8%e3%83%a7%e3%83%96"),
        ("x~y", "x~y"),
        ("x~y", "x%7Ey"),
        ("100%", "100%25"),
        ("serviceMonitor/shop/web/0", "serviceMonitor%2Fshop%2Fweb%2F0"),
    ],
)
async def test_the_job_segment_is_decoded_as_go_query_unescape(live: Live, job: str, segment: str) -> None:
    collector = owner(live.served.model, job)
    reply = await live.get(f"/jobs/{segment}/targets?collector_id={collector}")
    assert reply.status == 200
    assert is_json(reply)
    assert reply.body == live.served.model.targets_body(job, collector).data
    assert [g["targets"] for g in reply.json()] == [[JOBS[job]]]
    assert reply.json()[0]["labels"]["__address__"] == JOBS[job]


async def test_a_raw_plus_is_a_space_not_a_plus(live: Live) -> None:
    """`a+b` in the path is job "a b"; job "a+b" must be sent as a%2Bb."""
    via_plus = await live.get("/jobs/a+b/targets")
    via_escape = await live.get("/jobs/a%2Bb/targets")
    addresses = [
        [a for c in r.json().values() for g in c["targets"] for a in g["targets"]] for r in (via_plus, via_escape)
    ]
    assert addresses == [[JOBS["a b"]], [JOBS["a+b"]]]


async def test_a_job_name_with_a_literal_slash_is_not_found(live: Live) -> None:
    reply = await live.get("/jobs/a/b/targets?collector_id=collector-0")
    assert (reply.status, reply.body) == (404, b"404 page not found")


@pytest.mark.parametrize("segment", ["%zz", "a%4", "abc%", "%", "%%41", "%G0", "%2"])
async def test_a_malformed_escape_is_a_400_that_says_so(live: Live, segment: str) -> None:
    for query in ("", "?collector_id=collector-0"):
        reply = await live.get(f"/jobs/{segment}/targets{query}")
        assert reply.status == 400
        assert HTTP_SD_CONTENT_TYPE.match(reply.headers["Content-Type"])
        message = reply.json()["error"]
        assert "invalid URL escape" in message
        assert '"%' in message


# --------------------------------------------------------------------------------------------------- collector_id


async def test_collector_id_selects_that_collectors_array(live: Live) -> None:
    m = live.served.model
    for job in JOBS:
        for collector in COLLECTORS:
            reply = await live.get(f"/jobs/{quote(job, safe='')}/targets?collector_id={collector}")
            assert reply.status == 200
            assert is_json(reply)
            assert reply.body == m.targets_body(job, collector).data
            assert isinstance(reply.json(), list)


@pytest.mark.parametrize(
    ("query", "expect"),
    [
        ("?collector_id=", "empty"),
        ("?collector_id", "empty"),
        ("?collector_id=nobody", "empty"),
        ("?collector_id={other}&collector_id={owner}", "empty"),  # only the first value counts
        ("?collector_id={owner}&collector_id={other}", "owner"),
        ("?foo=1&collector_id={owner}", "owner"),
        ("?foo=1", "map"),
        ("", "map"),
    ],
)
async def test_collector_id_query_forms(live: Live, query: str, expect: str) -> None:
    m = live.served.model
    collector = owner(m, "plain")
    other = next(c for c in COLLECTORS if c != collector)
    reply = await live.get("/jobs/plain/targets" + query.format(owner=collector, other=other))
    assert reply.status == 200
    assert is_json(reply)
    if expect == "empty":
        assert reply.body == b"[]\n"
    elif expect == "owner":
        assert reply.body == m.targets_body("plain", collector).data
    else:
        assert reply.body == m.job_body("plain").data
        assert set(reply.json()) == set(COLLECTORS)


@pytest.mark.parametrize(
    "path", ["/jobs/unknown/targets?collector_id=collector-0", "/jobs/plain/targets?collector_id=x"]
)
async def test_unknown_job_or_collector_is_an_empty_array_never_null(live: Live, path: str) -> None:
    reply = await live.get(path)
    assert (reply.status, reply.body) == (200, b"[]\n")
    assert is_json(reply)


async def test_the_all_collectors_map_links_to_a_route_that_answers(live: Live) -> None:
    reply = await live.get("/jobs/serviceMonitor%2Fshop%2Fweb%2F0/targets")
    assert list(reply.json()) == list(COLLECTORS)
    for collector, entry in reply.json().items():
        followed = await live.get(entry["_link"])
        assert followed.status == 200
        assert followed.json() == entry["targets"]
        assert entry["_link"].endswith(f"?collector_id={collector}")


# --------------------------------------------------------------------------------------------------- not found


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/jobs/",
        "/jobs/plain",
        "/jobs/plain/",
        "/jobs/plain/targets/",
        "/jobs//targets",
        "/JOBS",
        "/job%73",
        "/debug/jobs/plain/targets",
    ],
)
async def test_unknown_routes_are_gins_404(live: Live, path: str) -> None:
    reply = await live.get(path)
    assert (reply.status, reply.body) == (404, b"404 page not found")
    assert reply.headers["Content-Type"].startswith("text/plain")


async def test_the_root_is_the_web_ui_and_the_json_routes_stay_json_for_a_browser(live: Live) -> None:
    """`/` was a 404; it is now the UI's overview (HTML). A browser's Accept changes nothing on the JSON routes."""
    reply = await live.get("/")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.body.startswith(b"<!DOCTYPE html>")
    assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")  # no script can run
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for path in ("/jobs", "/scrape_configs", "/jobs/plain/targets?collector_id=collector-0", "/jobs/plain/targets"):
        reply = await live.get(path, headers=browser)
        assert reply.status in (200, 503)
        if reply.status == 200:
            assert is_json(reply)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize(
    "path",
    ["/jobs", "/jobs/plain/targets?collector_id=collector-0", "/scrape_configs", "/livez", "/readyz", "/metrics"],
)
async def test_other_methods_are_404_not_405(live: Live, method: str, path: str) -> None:
    reply = await live.request(path, method=method)
    assert (reply.status, reply.body) == (404, b"404 page not found")


# --------------------------------------------------------------------------------------------------- ETags


@pytest.mark.parametrize(
    "path",
    ["/jobs", "/jobs/plain/targets", "/jobs/plain/targets?collector_id={owner}", "/jobs/gone/targets?collector_id=x"],
)
async def test_if_none_match_gives_304_with_the_same_etag_and_no_body(live: Live, path: str) -> None:
    path = path.format(owner=owner(live.served.model, "plain"))
    first = await live.get(path)
    etag = first.headers["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    for header in (etag, f'"nope", {etag}', f'{etag},"nope"', "*"):
        again = await live.get(path, headers={"If-None-Match": header})
        assert again.status == 304, header
        assert again.headers["ETag"] == etag
        assert again.body == b""
    stale = await live.get(path, headers={"If-None-Match": '"stale"'})
    assert (stale.status, stale.body) == (200, first.body)


async def test_a_content_change_changes_the_etag_and_ends_the_304s(live: Live) -> None:
    before = await live.get("/jobs/plain/targets")
    live.served.model = build_model(extra=5)
    after = await live.get("/jobs/plain/targets", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.body == live.served.model.job_body("plain").data
    # equal content is equal ETag, in any model instance
    live.served.model = build_model()
    assert (await live.get("/jobs/plain/targets")).headers["ETag"] == before.headers["ETag"]


async def test_a_weak_if_none_match_also_matches(live: Live) -> None:
    etag = (await live.get("/jobs")).headers["ETag"]
    reply = await live.get("/jobs", headers={"If-None-Match": f"W/{etag}"})
    assert reply.status == 304


# ------------------------------------------------------------------------------------- /scrape_configs, probes


async def test_scrape_configs_is_503_until_rendered_then_redacted_unless_secure(live: Live) -> None:
    for secure in (False, True):
        reply = await live.get("/scrape_configs", secure=secure)
        assert reply.status == 503
        assert b"not ready" in reply.body
        # the collector parses any body as YAML into its job map: this one must not parse as a mapping
        assert isinstance(yaml.safe_load(reply.body), str)

    redacted = Body.of(b'{"job":{"basic_auth":{"password":"<secret>","username":"u"},"job_name":"job"}}')
    full = Body.of(b'{"job":{"basic_auth":{"password":"hunter2","username":"u"},"job_name":"job"}}')
    live.served.scrape_configs_redacted = redacted
    live.served.scrape_configs_full = full

    cases = [(False, False, redacted), (True, False, full), (False, True, full), (True, True, full)]
    for secure, insecure_ok, expected in cases:
        live.served.allow_insecure_secrets = insecure_ok
        reply = await live.get("/scrape_configs", secure=secure)
        assert reply.status == 200
        assert is_json(reply)
        assert reply.body == expected.data, (secure, insecure_ok)
        assert reply.headers["ETag"] == expected.etag


async def test_livez_always_200_and_readyz_follows_readiness(live: Live) -> None:
    live.served.ready, live.served.not_ready_reason = False, "starting"
    assert (await live.get("/livez")).status == 200
    not_ready = await live.get("/readyz")
    assert not_ready.status == 503
    assert b"starting" in not_ready.body
    live.served.not_ready_reason = "waiting for the first discovery sync"
    assert b"first discovery sync" in (await live.get("/readyz")).body
    live.served.ready = True
    ready = await live.get("/readyz")
    assert (ready.status, ready.body) == (200, b"")
    assert (await live.get("/livez")).status == 200
    assert (await live.get("/readyz", secure=True)).status == 200


async def test_targets_wait_for_readiness_so_clients_keep_their_last_answer(live: Live) -> None:
    # before every first list (a restart), an assignment may be missing collectors: an error, which Prometheus'
    # HTTP SD and the Collector's receiver answer by keeping the targets they have, rather than a wrong 200
    live.served.ready, live.served.not_ready_reason = False, "waiting for the first list of collector pods"
    for path in ("/jobs/plain/targets?collector_id=collector-0", "/jobs/plain/targets"):
        reply = await live.get(path)
        assert reply.status == 503, path
        assert json.loads(reply.body) == "target allocator not ready: waiting for the first list of collector pods"
    live.served.ready = True
    assert (await live.get("/jobs/plain/targets?collector_id=collector-0")).status == 200


# --------------------------------------------------------------------------------------------------- Content-Type


def test_the_http_sd_content_type_rule_itself() -> None:
    for good in ("application/json", "application/json; charset=utf-8", 'Application/JSON;charset="utf-8"'):
        assert HTTP_SD_CONTENT_TYPE.match(good), good
    for bad in ("application/json; charset=latin1", "text/plain", "application/json;", "application/jsonx"):
        assert not HTTP_SD_CONTENT_TYPE.match(bad), bad


async def test_every_json_answer_passes_prometheus_http_sd_content_type_check(live: Live) -> None:
    live.served.scrape_configs_redacted = Body.of(b"{}")
    paths = [
        "/jobs",
        "/jobs/plain/targets",
        "/jobs/plain/targets?collector_id=collector-0",
        "/jobs/a%2Fb/targets?collector_id=collector-1",
        "/jobs/unknown/targets?collector_id=collector-0",
        "/jobs/unknown/targets",
        "/scrape_configs",
        "/jobs/%zz/targets",
    ]
    for path in paths:
        reply = await live.get(path)
        content_type = reply.headers["Content-Type"]
        assert HTTP_SD_CONTENT_TYPE.match(content_type), (path, content_type)
        orjson.loads(reply.body)


# --------------------------------------------------------------------------------------------------- /metrics

UPSTREAM_METRICS = {
    "opentelemetry_allocator_targets": "gauge",
    "opentelemetry_allocator_targets_remaining": "gauge",
    "opentelemetry_allocator_targets_per_collector": "gauge",
    "opentelemetry_allocator_targets_unassigned": "gauge",
    "opentelemetry_allocator_collectors_allocatable": "gauge",
    "opentelemetry_allocator_collectors_discovered": "gauge",
    "opentelemetry_allocator_time_to_allocate": "histogram",
    "opentelemetry_allocator_process_targets_duration_seconds": "histogram",
    "opentelemetry_allocator_http_duration_seconds": "histogram",
    "opentelemetry_allocator_events_total": "counter",
}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in an exposition (labels in any order; exactly these labels)."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if found == labels:
            return float(match[3])
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


async def test_metrics_exposes_the_upstream_names(live: Live) -> None:
    reply = await live.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=")
    text = reply.body.decode()
    for name, kind in UPSTREAM_METRICS.items():
        assert f"# TYPE {name} {kind}" in text or f"# TYPE {name.removesuffix('_total')} {kind}" in text, name


async def test_http_durations_are_labelled_by_route_not_by_job(live: Live) -> None:
    for job in ("plain", "a%2Fb", "x~y"):
        await live.get(f"/jobs/{job}/targets?collector_id=collector-0")
    await live.get("/jobs")
    await live.get("/nope")
    await live.get("/jobs/%zz/targets")
    text = (await live.get("/metrics")).body.decode()
    bucket = "opentelemetry_allocator_http_duration_seconds_count"
    assert sample(text, bucket, path="/jobs/:job_id/targets") == 4  # the 400 is on that route too
    assert sample(text, bucket, path="/jobs") == 1
    assert "plain" not in re.findall(r'path="([^"]*)"', text)
    assert not any("a%2Fb" in p or "x~y" in p for p in re.findall(r'path="([^"]*)"', text))


async def test_allocation_gauges_reach_the_exposition(live: Live) -> None:
    metrics = live.served.metrics
    metrics.set_assignment({"collector-0": 3, "collector-1": 4}, 2, 9)
    metrics.set_job_counts({"plain": 5, "a/b": 4})
    metrics.events.labels("EventSourcePrometheusCR").inc()
    text = (await live.get("/metrics")).body.decode()
    strategy = "consistent-hashing"
    assert (
        sample(text, "opentelemetry_allocator_targets_per_collector", collector_name="collector-1", strategy=strategy)
        == 4
    )
    assert sample(text, "opentelemetry_allocator_targets_unassigned") == 2
    assert sample(text, "opentelemetry_allocator_targets_remaining") == 9
    assert sample(text, "opentelemetry_allocator_collectors_allocatable", strategy=strategy) == 2
    assert sample(text, "opentelemetry_allocator_targets", job_name="a/b") == 4
    assert sample(text, "opentelemetry_allocator_events_total", source="EventSourcePrometheusCR") == 1
    # a collector that went away leaves no stale series behind, and unassigned returns to 0
    metrics.set_assignment({"collector-0": 9}, 0, 9)
    text = (await live.get("/metrics")).body.decode()
    assert 'collector_name="collector-1"' not in text
    assert sample(text, "opentelemetry_allocator_targets_unassigned") == 0


# --------------------------------------------------------------------------------------------------- go_query_unescape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("plain", "plain"),
        ("a+b", "a b"),
        ("a%20b", "a b"),
        ("a%2Bb", "a+b"),
        ("a%2bb", "a+b"),
        ("%2f", "/"),
        ("%2F", "/"),
        ("serviceMonitor%2Fns%2Fapp%2F0", "serviceMonitor/ns/app/0"),
        ("100%25", "100%"),
        ("%25zz", "%zz"),
        ("~-_.", "~-_."),
        ("++", "  "),
        ("%E3%82%B8%E3%83%A7%E3%83%96", "ジョブ"),
        ("%c3%a9t%C3%A9", "été"),
        ("%F0%9F%94%A5", "🔥"),
        ("ジョブ", "ジョブ"),  # bytes that were never escaped pass through
        ("a%3Fb%26c%3Dd", "a?b&c=d"),
    ],
)
def test_go_query_unescape(text: str, expected: str) -> None:
    assert go_query_unescape(text) == expected


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("%zz", "%zz"),
        ("%4", "%4"),
        ("a%4", "%4"),
        ("%", "%"),
        ("abc%", "%"),
        ("%%41", "%%4"),
        ("%G0", "%G0"),
        ("%0G", "%0G"),
        ("%2/x", "%2/"),
        ("ok%2Fthen%x1", "%x1"),
    ],
)
def test_go_query_unescape_rejects_what_go_rejects_with_gos_message(text: str, bad: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid URL escape ") as err:
        go_query_unescape(text)
    assert str(err.value) == f'invalid URL escape "{bad}"'
