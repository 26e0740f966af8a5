"""The mutual-TLS listener's handshakes, for real: a client with the operator-issued client certificate gets its
answer; a refused client gets a TLS alert naming why, and the allocator logs one line with the peer and the reason.
Certificates are the operator's own (reconcile.mtls), so this also proves they work for mutual TLS."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from otel_operator.allocator.app import server_ssl_context
from otel_operator.allocator.config import load_config
from otel_operator.manifests import BuildOptions
from otel_operator.manifests.mtls import issued_certificates
from otel_operator.reconcile.mtls import plan_secrets
from otel_operator.serving_tls import TLSSite, peer_text, refusal_reason

NOW = datetime.now(UTC)
COLLECTOR = {
    "apiVersion": "opentelemetry.io/v1beta1",
    "kind": "OpenTelemetryCollector",
    "metadata": {"name": "c", "namespace": "ns"},
    "spec": {"mode": "statefulset", "targetAllocator": {"enabled": True, "mtls": {"enabled": True}}},
}


def _issue(folder: Path, prefix: str) -> None:
    """The three Secrets the operator would write, as the files a pod would see (<prefix>-<role>-<file>)."""
    want = issued_certificates(COLLECTOR, BuildOptions(apis=frozenset()))
    assert want is not None
    for write in plan_secrets(want, {}, NOW):
        for key, content in write.files.items():
            (folder / f"{prefix}-{write.secret.role}-{key}").write_bytes(content)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mtls")
    _issue(folder, "ours")
    _issue(folder, "theirs")  # another collector's CA: not trusted by ours
    return folder


@pytest.fixture
async def listener(pki: Path) -> AsyncIterator[int]:
    config = load_config(f"""
collectors: [c-collector-0]
https:
  enabled: true
  ca_file_path: {pki / "ours-server-ca.crt"}
  tls_cert_file_path: {pki / "ours-server-tls.crt"}
  tls_key_file_path: {pki / "ours-server-tls.key"}
""")
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="scrape configs with secrets")

    app.router.add_get("/scrape_configs", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = TLSSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(config))
    await site.start()
    yield site.port
    await runner.cleanup()


async def _get(port: int, client: ssl.SSLContext | None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname=None)
    try:
        writer.write(b"GET /scrape_configs HTTP/1.1\r\nHost: c-targetallocator\r\nConnection: close\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def _client(pki: Path, cert: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki / "ours-client-ca.crt")
    ctx.check_hostname = False  # the operator's SANs are the Service's names, not 127.0.0.1
    if cert is not None:
        ctx.load_cert_chain(pki / f"{cert}-tls.crt", pki / f"{cert}-tls.key")
    return ctx


async def test_the_collectors_client_certificate_is_served(
    listener: int, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "otel_operator.serving")
    answer = await _get(listener, _client(pki, "ours-client"))
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert answer.endswith(b"scrape configs with secrets")
    assert not [r for r in caplog.records if "refused" in r.getMessage()]


REFUSED = {
    # what the client presents: (the alert it gets, the reason the allocator logs)
    "no certificate": (None, "CERTIFICATE_REQUIRED", "peer did not return a certificate"),
    "another CA": ("theirs-client", "UNKNOWN_CA", "certificate verify failed: unable to get local issuer certificate"),
    "a serving certificate": (
        "ours-server",
        "UNSUPPORTED_CERTIFICATE",
        "certificate verify failed: unsuitable certificate purpose",
    ),
}


def _tls_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "otel_operator.serving"]


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_a_refused_client_gets_an_alert_and_one_log_line(
    listener: int, pki: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    cert, alert, reason = REFUSED[case]
    caplog.set_level(logging.INFO, "otel_operator.serving")
    with pytest.raises(ssl.SSLError) as raised:
        await _get(listener, _client(pki, cert))
    assert alert in str(raised.value.reason)  # an alert, not a reset connection
    await asyncio.sleep(0.05)
    lines = _tls_lines(caplog)
    assert len(lines) == 1, lines
    assert lines[0].startswith("refused TLS client 127.0.0.1:")
    assert lines[0].endswith(f": {reason}")


async def test_plain_http_on_the_tls_port_is_named(listener: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "otel_operator.serving")
    await _get(listener, None)
    await asyncio.sleep(0.05)
    lines = _tls_lines(caplog)
    assert len(lines) == 1, lines
    assert lines[0].endswith(": http request")


@pytest.mark.parametrize(
    ("err", "text"),
    [
        (
            ssl.SSLError(1, "[SSL: PEER_DID_NOT_RETURN_A_CERTIFICATE] peer did not return a certificate (_ssl.c:2580)"),
            "peer did not return a certificate",
        ),
        (ConnectionResetError("reset by peer"), "reset by peer"),
        (TimeoutError(), "TimeoutError"),
    ],
)
def test_refusal_reason(err: BaseException, text: str) -> None:
    assert refusal_reason(err) == text


@pytest.mark.parametrize(
    ("peer", "text"),
    [(("10.0.0.5", 41234), "10.0.0.5:41234"), (("fd00::5", 41234, 0, 0), "[fd00::5]:41234"), (None, "unknown peer")],
)
def test_peer_text(peer: object, text: str) -> None:
    assert peer_text(peer) == text
