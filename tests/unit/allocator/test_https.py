"""Secrets over the wire: redacted over plain HTTP, whole over the mutual-TLS listener, refused without a client
certificate from the configured CA. Real sockets, real TLS, certificates made by `openssl` for each run."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from otel_operator.allocator import app
from otel_operator.allocator.app import Allocator, Listeners, TLSSetupError, serve
from otel_operator.allocator.config import load_config

PASSWORD = "hunter2-not-for-plain-http"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=folder)  # fmt: skip


def make_leaf(folder: Path, name: str, ca: str, usage: str, san: str | None = None) -> None:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=folder)  # fmt: skip
    ext = folder / f"{name}.ext"
    lines = [f"extendedKeyUsage={usage}"] + ([f"subjectAltName={san}"] if san else [])
    ext.write_text("\n".join(lines) + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-extfile", ext.name, "-out", f"{name}.crt", cwd=folder)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    make_ca(folder, "ca")
    make_ca(folder, "other-ca")
    make_leaf(folder, "server", "ca", "serverAuth", "IP:127.0.0.1,DNS:localhost")
    make_leaf(folder, "client", "ca", "clientAuth")
    make_leaf(folder, "stranger", "other-ca", "clientAuth")
    return folder


def config_text(pki: Path, *, insecure: bool = False) -> str:
    return f"""
listen_addr: 127.0.0.1:0
collectors: [collector-0]
allow_insecure_auth_secrets: {str(insecure).lower()}
https:
  enabled: true
  listen_addr: 127.0.0.1:0
  ca_file_path: {pki / "ca.crt"}
  tls_cert_file_path: {pki / "server.crt"}
  tls_key_file_path: {pki / "server.key"}
config:
  scrape_configs:
    - job_name: guarded
      basic_auth: {{username: scraper, password: {PASSWORD}}}
      static_configs: [{{targets: ["10.0.0.1:9100"]}}]
"""


async def started(text: str) -> tuple[Allocator, Listeners]:
    allocator = Allocator(load_config(text), None, namespace="default")
    listeners = await serve(allocator)
    await allocator.start()
    await allocator.wait_ready(10)
    return allocator, listeners


@pytest.fixture
async def running(pki: Path) -> AsyncIterator[tuple[Allocator, Listeners]]:
    allocator, listeners = await started(config_text(pki))
    yield allocator, listeners
    await allocator.stop()
    await listeners.close()


def client_context(pki: Path, cert: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert is not None:
        ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    return ctx


async def get(url: str, ctx: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, ssl=ctx if ctx is not None else False) as r:
        return r.status, await r.read()


def password_of(body: bytes) -> str:
    config = orjson.loads(body)["guarded"]
    return str(config["basic_auth"]["password"])


async def test_plain_http_redacts_the_password(running: tuple[Allocator, Listeners]) -> None:
    _, listeners = running
    status, body = await get(f"http://127.0.0.1:{listeners.ports['http']}/scrape_configs")
    assert status == 200
    assert password_of(body) == "<secret>"
    assert PASSWORD.encode() not in body


async def test_mutual_tls_with_a_client_certificate_serves_the_password(
    running: tuple[Allocator, Listeners], pki: Path
) -> None:
    _, listeners = running
    url = f"https://127.0.0.1:{listeners.ports['https']}/scrape_configs"
    status, body = await get(url, client_context(pki, "client"))
    assert status == 200
    assert password_of(body) == PASSWORD
    # the same routes answer there too
    status, body = await get(f"https://127.0.0.1:{listeners.ports['https']}/jobs", client_context(pki, "client"))
    assert (status, orjson.loads(body)) == (200, {"guarded": {"_link": "/jobs/guarded/targets"}})


@pytest.mark.parametrize("cert", [None, "stranger"], ids=["no-client-cert", "cert-from-another-ca"])
async def test_mutual_tls_refuses_clients_without_a_trusted_certificate(
    running: tuple[Allocator, Listeners], pki: Path, cert: str | None
) -> None:
    _, listeners = running
    url = f"https://127.0.0.1:{listeners.ports['https']}/scrape_configs"
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await get(url, client_context(pki, cert))


async def test_allow_insecure_auth_secrets_serves_the_password_over_plain_http(pki: Path) -> None:
    allocator, listeners = await started(config_text(pki, insecure=True))
    try:
        status, body = await get(f"http://127.0.0.1:{listeners.ports['http']}/scrape_configs")
        assert status == 200
        assert password_of(body) == PASSWORD
    finally:
        await allocator.stop()
        await listeners.close()


async def served_common_name(port: int, pki: Path) -> str:
    ctx = client_context(pki, "client")
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    try:
        cert = writer.get_extra_info("peercert")
        return next(value for rdn in cert["subject"] for key, value in rdn if key == "commonName")
    finally:
        writer.close()
        await writer.wait_closed()


async def test_rotated_server_certificates_are_picked_up_without_a_restart(
    pki: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app, "CERT_RELOAD_INTERVAL", 0.1)
    live = tmp_path / "live"
    shutil.copytree(pki, live)
    allocator, listeners = await started(config_text(live))
    try:
        port = listeners.ports["https"]
        assert await served_common_name(port, pki) == "server"
        make_leaf(live, "server-rotated", "ca", "serverAuth", "IP:127.0.0.1")
        (live / "server.key").write_bytes((live / "server-rotated.key").read_bytes())
        (live / "server.crt").write_bytes((live / "server-rotated.crt").read_bytes())
        deadline = asyncio.get_running_loop().time() + 10
        while await served_common_name(port, pki) != "server-rotated":
            assert asyncio.get_running_loop().time() < deadline, "the rotated certificate was never served"
            await asyncio.sleep(0.1)
    finally:
        await allocator.stop()
        await listeners.close()


async def test_unreadable_tls_files_are_named(tmp_path: Path) -> None:
    text = config_text(tmp_path)  # no certificates there
    allocator = Allocator(load_config(text), None, namespace="default")
    with pytest.raises(TLSSetupError, match=r"https: cannot load the TLS files \(ca .*ca\.crt"):
        await serve(allocator)
