"""The admission webhook server (admission.server) under the serving policy, on loopback with a real certificate: a
review is answered; a silent client, an idle one and one that sends a head but trickles its body are closed; over the
cap the longest-idle connection goes first; garbage inside TLS is a one-line 400; a plain-HTTP client is refused
with one log line; none of it leaves a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from otel_operator import serving
from otel_operator.admission import certs
from otel_operator.admission.server import GuardedWebhookServer

LIMITS = serving.ServerLimits(idle_timeout=1.0, max_connections=3)


@dataclass
class Hooks:
    server: GuardedWebhookServer
    port: int
    client_tls: ssl.SSLContext
    reviews: list[dict[str, Any]]

    async def connect(self, *, tls: bool = True) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.client_tls if tls else None, server_hostname="localhost" if tls else None
        )


@pytest.fixture
async def hooks(tmp_path: Path) -> AsyncIterator[Hooks]:
    now = datetime.now(UTC)
    ca = certs.issue_ca(now)
    leaf = certs.issue_leaf(ca, ["localhost", "127.0.0.1"], now)
    (tmp_path / "tls.crt").write_bytes(leaf.cert_pem)
    (tmp_path / "tls.key").write_bytes(leaf.key_pem)
    reviews: list[dict[str, Any]] = []

    async def review(data: Any, **_: Any) -> Any:  # what kopf's admission engine would answer
        reviews.append(data)
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": data["request"]["uid"], "allowed": True}}  # fmt: skip

    server = GuardedWebhookServer(
        limits=LIMITS, addr="127.0.0.1", port=0, certfile=tmp_path / "tls.crt", pkeyfile=tmp_path / "tls.key"
    )
    server.port = server._allocate_free_port()
    serving_configs = server(review)
    client_config = await anext(serving_configs)
    assert client_config["url"] == f"https://127.0.0.1:{server.port}"
    client_tls = ssl.create_default_context(cadata=ca.cert_pem.decode())
    try:
        yield Hooks(server, server.port, client_tls, reviews)
    finally:
        await serving_configs.aclose()


def _request(body: bytes, *, length: int | None = None) -> bytes:
    head = (f"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n")  # fmt: skip
    return head.encode() + body


REVIEW = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u-1"}})


async def test_a_review_is_answered(hooks: Hooks) -> None:
    reader, writer = await hooks.connect()
    writer.write(_request(REVIEW.encode()))
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["response"] == {"uid": "u-1", "allowed": True}
    assert hooks.reviews == [json.loads(REVIEW)]


async def test_a_silent_client_is_closed_after_the_idle_timeout(hooks: Hooks) -> None:
    reader, writer = await hooks.connect()
    assert await asyncio.wait_for(reader.read(), 3) == b""
    writer.close()


async def test_a_trickled_body_gets_408_after_the_idle_timeout(hooks: Hooks) -> None:
    reader, writer = await hooks.connect()
    writer.write(_request(b'{"apiVersion"', length=len(REVIEW)))  # the head, and the body's first bytes only
    answer = await asyncio.wait_for(reader.read(), 4)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert hooks.reviews == []


async def test_over_the_cap_the_longest_idle_connection_is_closed(hooks: Hooks) -> None:
    first = await hooks.connect()
    others = [await hooks.connect() for _ in range(LIMITS.max_connections)]
    assert await asyncio.wait_for(first[0].read(), 0.9) == b""  # closed at once, before its idle timeout
    reader, writer = others[-1]
    writer.write(_request(REVIEW.encode()))
    assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 200")
    for _, w in (first, *others):
        w.close()
    assert hooks.server.site is not None
    assert hooks.server.site.shed >= 1


async def test_garbage_inside_tls_is_a_one_line_400(hooks: Hooks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reader, writer = await hooks.connect()
    writer.write(b"G@RBAGE / HTTP/1.1\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.split(b" ")[1] == b"400", answer[:100]
    assert answer.partition(b"\r\n\r\n")[2].count(b"\n") == 1
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_plain_http_client_is_refused_with_one_line(hooks: Hooks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "otel_operator.serving")
    reader, writer = await hooks.connect(tls=False)
    writer.write(_request(REVIEW.encode()))
    await asyncio.wait_for(reader.read(), 5)
    writer.close()
    for _ in range(50):  # the handshake's failure is logged as the connection goes
        if caplog.records:
            break
        await asyncio.sleep(0.02)
    lines = [r.getMessage() for r in caplog.records if r.name == "otel_operator.serving"]
    assert len(lines) == 1, lines
    assert lines[0].startswith("refused TLS client 127.0.0.1:"), lines
    assert not [r for r in caplog.records if r.exc_info]
    assert hooks.reviews == []
