"""The serving policy (otel_operator.serving) against real sockets on loopback: silent, half-sent and idle clients are
closed after the idle timeout; a malformed request is one log line and a one-line answer, never a traceback; over the
cap the longest-idle connection goes first and, with every connection busy, a new one gets 503; running out of file
descriptors sheds idle connections with one warning; the allocator's `http_server` settings."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from otel_operator import serving
from otel_operator.allocator.config import ConfigError, load_config


@dataclass
class Server:
    site: serving.GuardedSite
    port: int
    release: asyncio.Event  # /slow answers once this is set

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


async def start(limits: serving.ServerLimits) -> tuple[Server, web.AppRunner]:
    release = asyncio.Event()

    async def fast(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/", fast)
    app.router.add_get("/slow", slow)
    runner = serving.runner(app, limits)
    await runner.setup()
    site = serving.GuardedSite(runner, "127.0.0.1", 0, limits=limits, name="test")
    await site.start()
    return Server(site, site.port, release), runner


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    limits = getattr(request, "param", serving.ServerLimits(idle_timeout=1.0, max_connections=3))
    srv, runner = await start(limits)
    try:
        yield srv
    finally:
        srv.release.set()
        await runner.cleanup()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before it closed the connection (fails if it stays open)."""
    return await asyncio.wait_for(reader.read(), seconds)


async def get(server: Server, path: str = "/") -> bytes:
    reader, writer = await server.connect()
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


async def test_a_client_that_sends_nothing_is_closed_after_the_idle_timeout(server: Server) -> None:
    reader, writer = await server.connect()
    assert await closed_within(reader, 3) == b""
    writer.close()


async def test_half_a_request_head_is_closed_too(server: Server) -> None:
    reader, writer = await server.connect()
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # no blank line: the head never ends
    assert await closed_within(reader, 3) == b""
    writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_its_last_response(server: Server) -> None:
    reader, writer = await server.connect()
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"ok"), 3)
    assert head.startswith(b"HTTP/1.1 200")
    assert await closed_within(reader, 3) == b""
    writer.close()


@pytest.mark.parametrize(
    "junk",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",  # TLS to the plain port
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # a line too long
        b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 20000 + b"\r\n\r\n",  # a header too long
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"G@T / HTTP/1.1\r\n\r\n",
    ],
)
async def test_a_malformed_request_is_one_line_never_a_traceback(
    server: Server, junk: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reader, writer = await server.connect()
    writer.write(junk)
    answer = await closed_within(reader, 5)
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ")[1].startswith(b"4"), answer[:200]  # HTTP/1.0 when the version went unparsed
    body = rest.partition(b"\r\n\r\n")[2]
    assert body.count(b"\n") == 1, body  # one line: status and a short reason
    assert b"Traceback" not in answer
    assert len(body) < 200
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    lines = [r.getMessage() for r in caplog.records if r.name == "otel_operator.serving"]
    assert any(line.startswith("bad request from 127.0.0.1: 4") for line in lines), lines
    assert all("\n" not in line for line in lines)
    assert (await get(server)).endswith(b"ok")  # and the server serves on


def test_bad_request_lines_are_rate_limited_at_info() -> None:
    now = [0.0]
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("test-rate-limited")
    logger.addHandler(Capture())
    logger.setLevel(logging.INFO)
    say = serving.RateLimitedLog(logger, logging.INFO, 10.0, clock=lambda: now[0])
    assert say("first")
    for _ in range(500):
        now[0] += 0.01
        assert not say("again")
    now[0] = 11.0
    assert say("later")
    assert records == ["first", "later (500 more since the last such line)"]


async def test_over_the_cap_the_longest_idle_connection_goes_first(server: Server) -> None:
    idle = [await server.connect() for _ in range(3)]
    await asyncio.sleep(0.1)
    assert (await get(server)).endswith(b"ok")  # a fourth client is served...
    assert await closed_within(idle[0][0], 2) == b""  # ...and the oldest idle one was closed for it
    assert server.site.shed >= 1
    for _, writer in idle:
        writer.close()


async def test_with_every_connection_busy_a_new_one_gets_503_at_once(server: Server) -> None:
    busy = []
    for _ in range(3):
        reader, writer = await server.connect()
        writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        busy.append((reader, writer))
    await asyncio.sleep(0.2)
    answer = await asyncio.wait_for(get(server), 2)
    assert answer.startswith(b"HTTP/1.1 503"), answer
    assert b"Retry-After: 1" in answer
    assert server.site.refused == 1
    server.release.set()
    for reader, writer in busy:  # the busy ones were left alone and finish
        assert (await asyncio.wait_for(reader.readuntil(b"late"), 3)).startswith(b"HTTP/1.1 200")
        writer.close()


async def test_running_out_of_descriptors_sheds_idle_connections(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    idle = [await server.connect() for _ in range(2)]
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()
    assert handler is not None
    context = {"message": "socket.accept() out of system resource", "exception": OSError(24, "Too many open files")}
    for _ in range(3):  # asyncio retries accept() every second: one warning, not one per retry
        handler(loop, context)
    for reader, writer in idle:
        assert await closed_within(reader, 2) == b""
        writer.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "out of file descriptors" in w]) <= 1
    assert (await get(server)).endswith(b"ok")


def test_the_cap_defaults_to_half_the_descriptor_limit() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    expected = serving.MAX_DEFAULT_CONNECTIONS if soft == resource.RLIM_INFINITY else max(16, min(4096, soft // 2))
    assert serving.ServerLimits().connection_cap() == expected
    assert serving.ServerLimits(max_connections=7).connection_cap() == 7


@pytest.mark.parametrize(
    ("http_server", "expected", "problem"),
    [
        ({}, serving.ServerLimits(), None),
        ({"idle_timeout": "5s", "max_connections": 64}, serving.ServerLimits(5.0, 64), None),
        ({"idle_timeout": "100ms"}, None, 'http_server.idle_timeout: "100ms" is too short'),
        ({"max_connections": -1}, None, "http_server.max_connections: expected a whole number of connections"),
        ({"idle_timout": "5s"}, None, 'http_server.idle_timout: unknown key; did you mean "idle_timeout"?'),
    ],
)
def test_the_allocator_config_reads_http_server(
    http_server: dict[str, object], expected: serving.ServerLimits | None, problem: str | None
) -> None:
    text = f"collectors: [c0]\nhttp_server: {http_server!r}\n".replace("'", '"')
    if problem is None:
        assert load_config(text).http_server == expected
        return
    with pytest.raises(ConfigError) as err:
        load_config(text)
    assert problem in str(err.value), str(err.value)


def test_the_allocator_serves_on_with_300_idle_clients_and_256_descriptors(tmp_path: Path) -> None:
    """The hostile case measured against the allocator: a descriptor limit of 256 and 300 clients that connect and
    say nothing. Good requests keep being answered (the cap, 128 here, sheds the idle ones), and the log has no
    EMFILE storm and no traceback."""
    config = tmp_path / "ta.yaml"
    config.write_text(
        "listen_addr: 127.0.0.1:0\ncollectors: [collector-0]\n"
        "config:\n  scrape_configs:\n  - job_name: app\n    static_configs: [{targets: ['10.0.0.1:9100']}]\n"
    )
    log_file = tmp_path / "allocator.log"

    with open(log_file, "wb") as out:
        proc = subprocess.Popen(
            ["prlimit", "--nofile=256:256", sys.executable, "-m", "otel_operator", "allocator", f"--config={config}"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    idle: list[socket.socket] = []
    try:
        port = 0
        deadline = time.monotonic() + 30
        while not port and time.monotonic() < deadline:
            found = re.search(rb"serving http on \S+ \(port (\d+)", log_file.read_bytes())
            port = int(found.group(1)) if found else 0
            time.sleep(0.1)
        assert port, log_file.read_text()
        url = f"http://127.0.0.1:{port}/jobs/app/targets?collector_id=collector-0"
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            idle.append(s)
        answers = []
        for _ in range(20):
            with urllib.request.urlopen(url, timeout=5) as resp:
                answers.append(json.loads(resp.read()))
        assert answers == [[{"targets": ["10.0.0.1:9100"], "labels": {"__address__": "10.0.0.1:9100"}}]] * 20
        assert proc.poll() is None
        text = log_file.read_text()
        assert "Traceback" not in text
        assert text.count("out of file descriptors") <= 1
        assert "at most 128 connections" in text
    finally:
        for s in idle:
            s.close()
        proc.terminate()
        proc.wait(10)


def run_allocator(tmp_path: Path, listen_addr: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "ta.yaml"
    config.write_text(f'listen_addr: "{listen_addr}"\ncollectors: [collector-0]\n')
    return subprocess.run(
        [sys.executable, "-m", "otel_operator", "allocator", f"--config={config}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_an_unresolvable_listen_host_names_the_key_and_the_fix(tmp_path: Path) -> None:
    done = run_allocator(tmp_path, "no-such-host.invalid:8080")
    assert done.returncode == 2
    assert 'listen_addr: cannot listen on "no-such-host.invalid:8080": the host' in done.stderr
    assert 'e.g. ":8080" for every interface' in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_names_the_key_and_the_fix(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_allocator(tmp_path, f"127.0.0.1:{port}")
    assert done.returncode == 2
    assert f'listen_addr: cannot listen on "127.0.0.1:{port}": port {port} is in use by another process' in done.stderr
    assert "choose another port" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_operator_flags_set_its_servers_limits() -> None:
    from otel_operator.cli import build_parser, operator_options

    args = build_parser().parse_args(["run", "--http-idle-timeout", "5", "--http-max-connections", "64"])
    assert operator_options(args).http_limits == serving.ServerLimits(5.0, 64)
    assert operator_options(build_parser().parse_args(["run"])).http_limits == serving.ServerLimits()


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--http-idle-timeout", "0.5", "0.5 s is too short for a client to send its request"),
        ("--http-idle-timeout", "soon", "'soon' is not a number of seconds"),
        ("--http-max-connections", "-3", "'-3' is not a whole number of connections"),
    ],
)
def test_bad_operator_limits_are_usage_errors(
    flag: str, value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from otel_operator.cli import build_parser

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["run", flag, value])
    assert exit_.value.code == 2
    assert said in capsys.readouterr().err


async def test_the_metrics_and_health_servers_close_silent_clients() -> None:
    from otel_operator.reconcile.health import serve_health
    from otel_operator.reconcile.metrics import OperatorMetrics, serve_metrics

    limits = serving.ServerLimits(idle_timeout=1.0)

    async def ready() -> bool:
        return True

    # port 0, read back once bound: a port picked free beforehand may be taken by another process meanwhile
    runners = [
        await serve_metrics(OperatorMetrics(), "127.0.0.1:0", limits),
        await serve_health("http://127.0.0.1:0/healthz", lambda: True, ready, limits),
    ]
    ports = [runner.addresses[0][1] for runner in runners]
    assert all(ports), ports
    try:
        for p in ports:
            reader, writer = await asyncio.open_connection("127.0.0.1", p)
            assert await closed_within(reader, 3) == b""
            writer.close()
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_responses_do_not_name_the_runtime(server: Server) -> None:
    for request in (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"G@T / HTTP/1.1\r\n\r\n"):
        reader, writer = await server.connect()
        writer.write(request)
        head = (await closed_within(reader, 5)).partition(b"\r\n\r\n")[0]
        writer.close()
        assert b"\r\nServer: otel-operator\r\n" in head, head
        assert b"Python" not in head, head
        assert b"aiohttp" not in head, head
