"""http_sd_configs, file_sd_configs and dns_sd_configs: configs, answers → groups (as Prometheus), the router's
routing of refreshes, and the pollers against a local HTTP server, temp files and a fake resolver."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from otel_operator.allocator.discovery import DiscoveryConfigError, DiscoveryRouter, job_discovery
from otel_operator.allocator.sd import dns, dnswire, file, http
from otel_operator.allocator.sd.common import SDRefreshError
from otel_operator.allocator.sd.pollers import PolledSD, Pollers
from otel_operator.prom.model import TargetGroup

# --------------------------------------------------------------------------------------------------- http


def test_http_answer_becomes_groups_with_url_sources_and_meta_url() -> None:
    body = json.dumps([{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": ["c:3"]}]).encode()
    groups = http.groups_from_response("http://sd/t", 200, "application/json; charset=utf-8", body)
    assert groups == [
        TargetGroup(
            "http://sd/t:0",
            ({"__address__": "a:1"}, {"__address__": "b:2"}),
            {"env": "prod", "__meta_url": "http://sd/t"},
        ),
        TargetGroup("http://sd/t:1", ({"__address__": "c:3"},), {"__meta_url": "http://sd/t"}),
    ]
    assert http.groups_from_response("http://sd/t", 200, "application/json", b"null") == []
    assert http.removals("http://sd/t", 1, 3) == [TargetGroup("http://sd/t:1"), TargetGroup("http://sd/t:2")]


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error"),
    [
        (404, "application/json", b"[]", "HTTP status 404"),
        (200, "text/plain", b"[]", "unsupported content type"),
        (200, "application/json; charset=latin1", b"[]", "unsupported content type"),
        (200, "application/json", b"[null]", "nil target group"),
        (200, "application/json", b"{}", "list of target groups"),
        (200, "application/json", b'[{"targets": [1]}]', "must be a string"),
        (200, "application/json", b'[{"targets": [], "extra": 1}]', "unknown field"),
        (200, "application/json", b'[{"targets": [], "labels": {"": "x"}}]', "not a valid label name"),
        (200, "application/json", b"[", "not JSON"),
    ],
)
def test_http_answers_prometheus_refuses(status: int, content_type: str, body: bytes, error: str) -> None:
    with pytest.raises(SDRefreshError, match=error):
        http.groups_from_response("http://sd", status, content_type, body)


def test_http_config_defaults_and_headers() -> None:
    config = http.parse_http_sd({"url": "https://sd:8443/x", "refresh_interval": "90s"}, "h")
    assert (config.url, config.refresh_interval) == ("https://sd:8443/x", 90_000)
    assert config.headers["X-Prometheus-Refresh-Interval-Seconds"] == "90"
    assert http.parse_http_sd({"url": "http://sd"}, "h").refresh_interval == 60_000
    auth = http.parse_http_sd({"url": "http://sd", "basic_auth": {"username": "u", "password": "p"}}, "h").client
    assert (auth.username, auth.password) == ("u", "p")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "h.url"),
        ({"url": "sd:80"}, "h.url"),
        ({"url": "http://"}, "h.url"),
        ({"url": "http://sd", "refresh_interval": "soon"}, "h.refresh_interval"),
        ({"url": "http://sd", "proxy_url": "http://p"}, "h.proxy_url"),
        ({"url": "http://sd", "basic_auth": {"username": "u"}, "bearer_token": "t"}, "at most one"),
        ({"url": "http://sd", "tls_config": {"cert_file": "/c"}}, "h.tls_config"),
        ({"url": "http://sd", "urls": []}, "unknown field"),
    ],
)
def test_http_config_errors_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(Exception, match=field.replace(".", r"\.")):
        http.parse_http_sd(raw, "h")


# --------------------------------------------------------------------------------------------------- file


def test_file_json_and_yaml_as_prometheus_reads_them() -> None:
    groups = file.parse_file("/t/a.json", b'[{"targets": ["a:1"], "labels": {"x": "1"}}]')
    assert groups == [TargetGroup("/t/a.json:0", ({"__address__": "a:1"},), {"x": "1", "__meta_filepath": "/t/a.json"})]
    yaml_groups = file.parse_file("/t/b.YML", b"- targets: [b:2, 8080]\n  labels: {on: yes, n: 007}\n- targets: []\n")
    assert yaml_groups[0].targets == ({"__address__": "b:2"}, {"__address__": "8080"})  # a scalar's text
    assert yaml_groups[0].labels == {"on": "yes", "n": "007", "__meta_filepath": "/t/b.YML"}
    assert yaml_groups[1] == TargetGroup("/t/b.YML:1", (), {"__meta_filepath": "/t/b.YML"})


@pytest.mark.parametrize(
    ("path", "content", "error"),
    [
        ("/a.json", b"[null]", "nil target group"),
        ("/a.yaml", b"- targets: [a]\n  targets: [b]\n", "already defined"),
        ("/a.yaml", b"- target: [a]\n", "unknown field"),
        ("/a.yaml", b"- targets: [[a]]\n", "must be a string"),
        ("/a.json", b"{", "not JSON"),
    ],
)
def test_file_contents_prometheus_refuses(path: str, content: bytes, error: str) -> None:
    with pytest.raises(SDRefreshError, match=error):
        file.parse_file(path, content)


@pytest.mark.parametrize(
    ("files", "ok"),
    [
        (["/etc/t/*.json"], True),
        (["/etc/t/a.yml", "rel/b.YAML"], True),
        (["/etc/*/a.json"], False),  # '*' only in the last element
        (["/etc/t/a.txt"], False),
        ([], False),
    ],
)
def test_file_patterns_as_prometheus_validates_them(files: list[str], ok: bool) -> None:
    if ok:
        assert file.parse_file_sd({"files": files}, "f").files == tuple(files)
    else:
        with pytest.raises(Exception, match=r"f\.files"):
            file.parse_file_sd({"files": files}, "f")


def test_file_state_removes_missing_sources_and_keeps_groups_of_unreadable_files() -> None:
    state = file.FileState()
    a2 = [TargetGroup("/a.json:0", ({"__address__": "a"},)), TargetGroup("/a.json:1", ({"__address__": "b"},))]
    assert state.refresh({"/a.json": a2, "/b.json": []}) == a2
    # /a.json now has one group, /b.json is unreadable (kept), /c.json is new
    c = [TargetGroup("/c.json:0", ({"__address__": "c"},))]
    out = state.refresh({"/a.json": a2[:1], "/b.json": SDRefreshError("bad"), "/c.json": c})
    assert out == [a2[0], *c, TargetGroup("/a.json:1")]
    assert state.refresh({"/c.json": c}) == [*c, TargetGroup("/a.json:0")]  # /a.json gone


# --------------------------------------------------------------------------------------------------- dns


def srv(name: str, target: str, port: int) -> dnswire.Record:
    return dnswire.Record(name, dnswire.TYPE_SRV, target, port=port)


def test_dns_groups_as_prometheus_builds_them() -> None:
    records = [
        srv("_m._tcp.x.", "a.x.", 9100),
        dnswire.Record("x.", dnswire.TYPE_CNAME, "y."),
        dnswire.Record("x.", dnswire.TYPE_A, "10.0.0.1"),
        dnswire.Record("x.", dnswire.TYPE_AAAA, "fd00::1"),
        dnswire.Record("x.", dnswire.TYPE_MX, "mail.x.", priority=10),
        dnswire.Record("x.", dnswire.TYPE_NS, "ns1.x."),
    ]
    group = dns.group_for("x", 80, records)
    assert group.source == "x"
    assert [t["__address__"] for t in group.targets] == [
        "a.x:9100",
        "10.0.0.1:80",
        "[fd00::1]:80",
        "mail.x:80",
        "ns1.x:80",
    ]
    first, mx = group.targets[0], group.targets[3]
    assert first == {
        "__address__": "a.x:9100",
        "__meta_dns_name": "x",
        "__meta_dns_srv_record_target": "a.x.",
        "__meta_dns_srv_record_port": "9100",
        "__meta_dns_mx_record_target": "",
        "__meta_dns_ns_record_target": "",
    }
    assert mx["__meta_dns_mx_record_target"] == "mail.x."


def test_dns_wire_round_trip_with_compression() -> None:
    query = dnswire.encode_query(7, "_m._tcp.svc.local", dnswire.TYPE_SRV)
    asked = dnswire.decode_message(query)
    assert asked.question == ("_m._tcp.svc.local.", dnswire.TYPE_SRV)
    answer = dnswire.Message(7, question=asked.question, answers=(srv("_m._tcp.svc.local.", "a.svc.local.", 9),))
    data = dnswire.encode_message(answer)
    assert dnswire.decode_message(data).answers == answer.answers
    # a compressed name: the SRV target points back at the question's "svc.local."
    compressed = bytearray(dnswire.encode_message(dnswire.Message(7, question=asked.question)))
    compressed[7] = 1  # ANCOUNT 1
    target = b"\x01a" + b"\xc0" + bytes([12 + 1 + 2 + 1 + 4])  # "a" + pointer to "svc.local."
    rdata = b"\x00\x00\x00\x00\x00\x09" + target
    compressed += b"\xc0\x0c" + bytes([0, 33, 0, 1, 0, 0, 0, 60, 0, len(rdata)]) + rdata
    (record,) = dnswire.decode_message(bytes(compressed)).answers
    assert (record.data, record.port) == ("a.svc.local.", 9)


def test_dns_config() -> None:
    assert dns.parse_dns_sd({"names": ["x"]}, "d") == dns.DnsSD(("x",), "SRV", 0, 30_000)
    assert dns.parse_dns_sd({"names": ["x"], "type": "aaaa", "port": 9}, "d").type == "AAAA"
    with pytest.raises(Exception, match=r"d\.port"):
        dns.parse_dns_sd({"names": ["x"], "type": "A"}, "d")
    with pytest.raises(Exception, match=r"d\.type"):
        dns.parse_dns_sd({"names": ["x"], "type": "TXT", "port": 1}, "d")


def test_resolv_conf_and_search_list_as_miekg() -> None:
    conf = dns.parse_resolv_conf(
        "nameserver 10.0.0.10\nnameserver 10.0.0.11\nsearch ns.svc.cluster.local svc.cluster.local\noptions ndots:5\n"
    )
    assert conf.servers == ("10.0.0.10", "10.0.0.11")
    assert dns.name_list(conf, "web") == ["web.ns.svc.cluster.local.", "web.svc.cluster.local.", "web."]
    assert dns.name_list(conf, "a.b.c.d.e.f") == [
        "a.b.c.d.e.f.",
        "a.b.c.d.e.f.ns.svc.cluster.local.",
        "a.b.c.d.e.f.svc.cluster.local.",
    ]
    assert dns.name_list(conf, "rooted.") == ["rooted."]


def fake_ask(zone: dict[tuple[str, int], list[dnswire.Record]], failing: frozenset[str] = frozenset()) -> dns.Ask:
    async def ask(address: tuple[str, int], name: str, qtype: int, tcp: bool) -> dnswire.Message:
        if address[0] in failing:
            raise OSError("unreachable")
        records = zone.get((name, qtype))
        if records is None:
            return dnswire.Message(1, rcode=dnswire.RCODE_NXDOMAIN)
        return dnswire.Message(1, answers=tuple(records))

    return ask


async def test_dns_lookup_follows_the_search_list_and_servers() -> None:
    conf = dns.ResolvConf(servers=("10.0.0.1", "10.0.0.2"), search=("svc.local",))
    zone = {("web.svc.local.", dnswire.TYPE_A): [dnswire.Record("web.svc.local.", dnswire.TYPE_A, "10.1.1.1")]}
    ask = fake_ask(zone, failing=frozenset({"10.0.0.1"}))  # the first server is down: the second answers
    assert [r.data for r in await dns.lookup(conf, "web", dnswire.TYPE_A, ask)] == ["10.1.1.1"]
    assert await dns.lookup(conf, "nothing", dnswire.TYPE_A, ask) == []  # NXDOMAIN everywhere
    with pytest.raises(SDRefreshError, match="could not resolve"):
        await dns.lookup(dns.ResolvConf(servers=("10.0.0.1",)), "web", dnswire.TYPE_A, ask)


# --------------------------------------------------------------------------------------------------- the router


def test_polled_groups_are_routed_to_every_job_reading_the_same_entry() -> None:
    router = DiscoveryRouter(lambda kind: [])
    entry = {"url": "http://sd/t"}
    jobs = {
        name: job_discovery(
            name, {"job_name": name, "static_configs": [{"targets": ["s:1"]}], "http_sd_configs": [entry]}
        )
        for name in ("a", "b")
    }
    router.set_jobs(jobs)
    (config,) = router.poll_configs
    assert isinstance(config, http.HttpSD)
    group = TargetGroup("http://sd/t:0", ({"__address__": "x:1"},), {"__meta_url": "http://sd/t"})
    updates = router.polled(config, [group])
    assert sorted((job, g.source) for job, g in updates) == [
        ("a", "http_sd_configs/0/http://sd/t:0"),
        ("b", "http_sd_configs/0/http://sd/t:0"),
    ]
    assert router.polled(config, [group]) == []  # unchanged
    # a job added later gets the current groups at once, with its static ones
    more = {**jobs, "c": job_discovery("c", {"job_name": "c", "http_sd_configs": [entry]})}
    assert [g.source for g in router.set_jobs(more)["c"]] == ["http_sd_configs/0/http://sd/t:0"]
    removed = router.polled(config, [TargetGroup("http://sd/t:0")])
    assert {job for job, g in removed if not g.targets} == {"a", "b", "c"}
    router.set_jobs({})
    assert router.poll_configs == frozenset()
    assert router.polled(config, [group]) == []  # a stopping poller's last refresh


def test_every_polled_kind_and_position_gets_its_own_prefix() -> None:
    config = {
        "job_name": "j",
        "file_sd_configs": [{"files": ["/a.json"]}, {"files": ["/b.json"]}],
        "dns_sd_configs": [{"names": ["x"]}],
    }
    discovery = job_discovery("j", config)
    assert [e.prefix for e in discovery.polled] == ["file_sd_configs/0", "file_sd_configs/1", "dns_sd_configs/0"]


def test_unsupported_kinds_are_refused_by_name() -> None:
    with pytest.raises(DiscoveryConfigError, match="job 'j': consul_sd_configs, ec2_sd_configs: not supported"):
        job_discovery("j", {"job_name": "j", "ec2_sd_configs": [{}], "consul_sd_configs": [{}]})


# --------------------------------------------------------------------------------------------------- the pollers


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[PolledSD, list[TargetGroup]]] = []
        self.event = asyncio.Event()

    def __call__(self, config: PolledSD, groups: list[TargetGroup]) -> None:
        self.calls.append((config, groups))
        self.event.set()

    async def next(self) -> list[TargetGroup]:
        await asyncio.wait_for(self.event.wait(), 5)
        self.event.clear()
        return self.calls[-1][1]


async def test_http_poller_polls_and_sends_removals() -> None:
    answers = [
        [{"targets": ["a:1"]}, {"targets": ["b:2"]}],
        [{"targets": ["a:1"]}],
    ]
    seen_headers: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen_headers.append(dict(request.headers))
        body = answers[min(len(seen_headers) - 1, len(answers) - 1)]
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/targets", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/targets"
    recorder = Recorder()
    pollers = Pollers(recorder)
    try:
        config = http.HttpSD(url, 100)
        pollers.sync([config])
        first = await recorder.next()
        assert [g.source for g in first] == [f"{url}:0", f"{url}:1"]
        second = await recorder.next()
        assert second == [first[0], TargetGroup(f"{url}:1")]
        assert seen_headers[0]["Accept"] == "application/json"
        assert seen_headers[0]["X-Prometheus-Refresh-Interval-Seconds"] == "0.1"
        pollers.sync([])
        assert pollers.running == frozenset()
    finally:
        await pollers.stop()
        await runner.cleanup()


async def test_file_poller_reloads_on_change(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    target.write_text(json.dumps([{"targets": ["a:1"]}]))
    recorder = Recorder()
    pollers = Pollers(recorder, file_watch_interval=0.05)
    try:
        pollers.sync([file.FileSD((str(tmp_path / "*.json"),), 300_000)])
        first = await recorder.next()
        assert first == [TargetGroup(f"{target}:0", ({"__address__": "a:1"},), {"__meta_filepath": str(target)})]
        target.write_text(json.dumps([{"targets": ["b:2"]}, {"targets": ["c:3"]}]))
        os.utime(target, ns=(1, 1))  # a change the stat sees even within one mtime tick
        second = await recorder.next()
        assert [t["__address__"] for g in second for t in g.targets] == ["b:2", "c:3"]
        target.write_text("[")  # broken: logged, last groups kept, nothing sent
        os.utime(target, ns=(2, 2))
        third = await recorder.next()
        assert third == []
        target.unlink()
        fourth = await recorder.next()
        assert fourth == [TargetGroup(f"{target}:0"), TargetGroup(f"{target}:1")]
    finally:
        await pollers.stop()


async def test_dns_poller_with_a_fake_resolver() -> None:
    zone = {("_m._tcp.x.", dnswire.TYPE_SRV): [srv("_m._tcp.x.", "a.x.", 9100)]}
    recorder = Recorder()
    pollers = Pollers(recorder, resolv_conf=lambda: dns.ResolvConf(servers=("10.0.0.1",)), ask=fake_ask(zone))
    try:
        pollers.sync([dns.DnsSD(("_m._tcp.x.", "missing."), "SRV", 0, 60_000)])
        groups = await recorder.next()
        assert [(g.source, [t["__address__"] for t in g.targets]) for g in groups] == [
            ("_m._tcp.x.", ["a.x:9100"]),
            ("missing.", []),
        ]
    finally:
        await pollers.stop()
