"""The operator's own webhook certificate on a real kube-apiserver: the Secret and the served files are created once
and then left alone, the serving certificate rotates under the same CA, a replica that loses a write race takes the
winner's certificate, the caBundle of the webhook configurations is filled and repaired, and the files really serve
TLS (by a plain server and by kopf's WebhookServer, which picks up a rotation by itself)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kopf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from kubernetes_asyncio.client.api_client import ApiClient

from otel_operator.admission import certs, serving
from otel_operator.reconcile.kube import Kube, KubeError
from tests.integration.conftest import ensure_namespace, wait_for

pytestmark = pytest.mark.integration

NS = "webhook-certs"
CONFIGURATION = "webhook-certs-test"
SANS = [*certs.service_sans("otel-operator-webhook", NS), "127.0.0.1"]
JSON_PATCH = "application/json-patch+json"


def secret_path(name: str) -> str:
    return f"/api/v1/namespaces/{NS}/secrets/{name}"


@pytest.fixture
async def kube(api: ApiClient) -> AsyncIterator[Kube]:
    await ensure_namespace(api, NS)
    kube = Kube(api)
    yield kube
    selector = "app.kubernetes.io/managed-by=opentelemetry-operator"
    for secret in await kube.list(f"/api/v1/namespaces/{NS}/secrets", selector):
        with contextlib.suppress(KubeError):
            await kube.request("DELETE", secret_path(secret["metadata"]["name"]))


def now() -> datetime:
    return datetime.now(UTC)


async def ensure(kube: Kube, secret: str, folder: Path, at: datetime, **kwargs: Any) -> bytes:
    return await serving.ensure_certificate(
        kube, NS, secret, sans=kwargs.pop("sans", SANS), cert_dir=folder, now=at, **kwargs
    )


async def secret_files(kube: Kube, name: str) -> dict[str, bytes]:
    secret = await kube.get(secret_path(name))
    assert secret is not None
    return certs.decode_secret_data(secret["data"])


def disk(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Each file's content, inode and mtime: a rewrite with equal content still shows."""
    out = {}
    for path in sorted(folder.iterdir()):
        st = path.stat()
        out[path.name] = (path.read_bytes(), st.st_ino, st.st_mtime_ns)
    return out


async def test_ensure_creates_the_secret_and_files_and_then_changes_nothing(kube: Kube, tmp_path: Path) -> None:
    ca = await ensure(kube, "created", tmp_path, now())
    secret = await kube.get(secret_path("created"))
    assert secret is not None
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "opentelemetry-operator"
    stored = certs.decode_secret_data(secret["data"])
    assert sorted(stored) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]
    assert ca == stored["ca.crt"]
    # the served files: the CA's key stays in the Secret
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    for name in ("ca.crt", "tls.crt", "tls.key"):
        assert (tmp_path / name).read_bytes() == stored[name]
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert certs.sans_of(stored["tls.crt"]) == certs.normalize_sans(SANS)

    before = disk(tmp_path)
    assert await ensure(kube, "created", tmp_path, now() + timedelta(days=1)) == ca
    again = await kube.get(secret_path("created"))
    assert again is not None
    assert again["metadata"]["resourceVersion"] == secret["metadata"]["resourceVersion"]
    assert disk(tmp_path) == before


async def test_a_short_lived_certificate_rotates_under_the_same_ca(kube: Kube, tmp_path: Path) -> None:
    short = {"leaf_validity": timedelta(days=2), "renew_before": timedelta(days=1)}
    start = now()
    ca = await ensure(kube, "rotated", tmp_path, start, **short)
    first, files = await secret_files(kube, "rotated"), disk(tmp_path)

    later = start + timedelta(days=1, hours=12)  # within renew_before of the end
    assert await ensure(kube, "rotated", tmp_path, later, **short) == ca
    second = await secret_files(kube, "rotated")
    assert (second["ca.crt"], second["ca.key"]) == (first["ca.crt"], first["ca.key"])
    assert second["tls.crt"] != first["tls.crt"]
    assert certs.not_after(second["tls.crt"]) == (later + timedelta(days=2)).replace(microsecond=0)
    x509.load_pem_x509_certificate(second["tls.crt"]).verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    rotated = disk(tmp_path)
    assert rotated["ca.crt"] == files["ca.crt"]  # not even rewritten
    assert rotated["tls.crt"][0] == second["tls.crt"]
    assert rotated["tls.key"][0] == second["tls.key"]

    # a new SAN (the Service was renamed) is a new serving certificate too, still under the same CA
    assert await ensure(kube, "rotated", tmp_path, later, sans=[*SANS, "renamed.webhook-certs.svc"], **short) == ca
    assert "renamed.webhook-certs.svc" in certs.sans_of((tmp_path / "tls.crt").read_bytes())


class StaleKube(Kube):
    """A replica whose first read of the Secret is out of date: what it saw before another replica wrote."""

    def __init__(self, api: ApiClient, stale: dict[str, Any] | None) -> None:
        super().__init__(api)
        self.stale: list[dict[str, Any] | None] = [stale]

    async def get(self, path: str) -> dict[str, Any] | None:
        if self.stale and path.startswith(f"/api/v1/namespaces/{NS}/secrets/"):
            return self.stale.pop()
        return await super().get(path)


async def test_a_replica_that_loses_the_race_uses_the_winners_certificate(
    kube: Kube, api: ApiClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="otel_operator.admission")
    winner, loser = tmp_path / "winner", tmp_path / "loser"
    # creation: both saw no Secret; the winner created it, so the loser's create is a 409
    ca = await ensure(kube, "race", winner, now())
    created = await kube.get(secret_path("race"))
    assert created is not None
    assert await ensure(StaleKube(api, None), "race", loser, now()) == ca
    assert disk(loser).keys() == disk(winner).keys()
    assert {k: v[0] for k, v in disk(loser).items()} == {k: v[0] for k, v in disk(winner).items()}

    # update: both saw the old Secret; the winner renewed it first, so the loser's replace is a 409
    later = now() + certs.LEAF_VALIDITY - timedelta(days=10)
    await ensure(kube, "race", winner, later)
    renewed = await secret_files(kube, "race")
    assert renewed["tls.crt"] != certs.decode_secret_data(created["data"])["tls.crt"]
    assert await ensure(StaleKube(api, created), "race", loser, later) == ca
    assert (loser / "tls.crt").read_bytes() == renewed["tls.crt"]
    assert await secret_files(kube, "race") == renewed  # the loser wrote nothing
    lost = [r for r in caplog.records if r.getMessage().startswith("another replica renewed")]
    assert len(lost) == 2  # both times through the 409


# --- the caBundle ---


def webhook(name: str, mutating: bool) -> dict[str, Any]:
    """A webhook that can never get in anyone's way: it matches only a made-up resource in this namespace, and
    calls a closed port with failurePolicy Ignore."""
    out: dict[str, Any] = {
        "name": f"{name}.webhook-certs.example.com",
        "clientConfig": {"url": "https://127.0.0.1:1/x"},
        "rules": [
            {
                "apiGroups": ["webhook-certs.example.com"],
                "apiVersions": ["v1"],
                "resources": ["widgets"],
                "operations": ["CREATE"],
            }
        ],
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NS}},
        "failurePolicy": "Ignore",
        "matchPolicy": "Exact",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 1,
    }
    if mutating:
        out["reinvocationPolicy"] = "Never"
    return out


@pytest.fixture
async def configurations(kube: Kube) -> AsyncIterator[dict[str, str]]:
    """The Validating and the Mutating WebhookConfiguration, two webhooks each and no caBundle (as the chart
    installs them); their item paths by kind. Deleted afterwards."""
    paths = {}
    for kind, collection in serving.CONFIGURATION_KINDS.items():
        mutating = kind.startswith("Mutating")
        body = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": CONFIGURATION},
            "webhooks": [webhook("one", mutating), webhook("two", mutating)],
        }
        path = f"{collection}/{CONFIGURATION}"
        with contextlib.suppress(KubeError):
            await kube.request("DELETE", path)  # a leftover of an interrupted run
        await kube.request("POST", collection, body=body)
        paths[kind] = path
    yield paths
    for path in paths.values():
        with contextlib.suppress(KubeError):
            await kube.request("DELETE", path)


async def bundles(kube: Kube, path: str) -> list[str | None]:
    found = await kube.get(path)
    assert found is not None
    return [w["clientConfig"].get("caBundle") for w in found["webhooks"]]


async def blank(kube: Kube, path: str, index: int) -> None:
    ops = [{"op": "remove", "path": f"/webhooks/{index}/clientConfig/caBundle"}]
    await kube.request("PATCH", path, body=ops, content_type=JSON_PATCH)


async def test_patch_ca_bundle_fills_and_repairs_the_configurations(
    kube: Kube, tmp_path: Path, configurations: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    ca = await ensure(kube, "bundle", tmp_path, now())
    want = base64.b64encode(ca).decode()
    for path in configurations.values():
        assert await bundles(kube, path) == [None, None]

    assert await serving.patch_ca_bundle(kube, CONFIGURATION, ca)
    for path in configurations.values():
        assert await bundles(kube, path) == [want, want]
    assert not await serving.patch_ca_bundle(kube, CONFIGURATION, ca)  # nothing differs: nothing written

    validating, mutating = (
        configurations["ValidatingWebhookConfiguration"],
        configurations["MutatingWebhookConfiguration"],
    )
    untouched = (await kube.get(mutating) or {})["metadata"]["resourceVersion"]
    await blank(kube, validating, 1)  # as `helm upgrade` does, back to the chart's empty value
    assert await bundles(kube, validating) == [want, None]
    caplog.set_level(logging.INFO, logger="otel_operator.admission")
    assert await serving.patch_ca_bundle(kube, CONFIGURATION, ca)
    assert await bundles(kube, validating) == [want, want]
    assert (await kube.get(mutating) or {})["metadata"]["resourceVersion"] == untouched
    patched = [r for r in caplog.records if r.getMessage().startswith("patched the caBundle")]
    assert [(r.getMessage(), r.__dict__["webhooks"]) for r in patched] == [
        (f"patched the caBundle of ValidatingWebhookConfiguration {CONFIGURATION}", ["two.webhook-certs.example.com"])
    ]


async def test_a_missing_configuration_is_one_warning(
    kube: Kube, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = await ensure(kube, "bundle-missing", tmp_path, now())
    caplog.set_level(logging.INFO, logger="otel_operator.admission")
    missing: set[str] = set()
    assert not await serving.patch_ca_bundle(kube, "webhook-certs-absent", ca, missing=missing)
    assert not await serving.patch_ca_bundle(kube, "webhook-certs-absent", ca, missing=missing)  # warned already
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{kind} webhook-certs-absent not found: the chart creates it; its caBundle is set once it exists"
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
    ]


class FlakyKube(Kube):
    """An API that fails the first few calls."""

    def __init__(self, api: ApiClient, failures: int) -> None:
        super().__init__(api)
        self.failures = failures

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise KubeError(503, method, path, "the server is currently unable to handle the request")
        return await super().request(method, path, **kwargs)


async def test_keep_certificates_survives_errors_and_repairs_drift(
    kube: Kube, api: ApiClient, tmp_path: Path, configurations: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="otel_operator.admission")
    stop = asyncio.Event()
    flaky = FlakyKube(api, failures=1)
    task = asyncio.create_task(
        serving.keep_certificates(
            flaky,
            NS,
            "kept",
            configuration_name=CONFIGURATION,
            sans=SANS,
            cert_dir=tmp_path,
            stop=stop,
            interval=0.2,
        )
    )
    try:
        validating = configurations["ValidatingWebhookConfiguration"]

        async def filled() -> bool:
            return (tmp_path / "ca.crt").exists() and all(await bundles(kube, validating))

        await wait_for(filled, within=20, what="the certificate written and the caBundle filled")
        assert any("could not check the webhook certificate" in r.getMessage() for r in caplog.records)
        want = base64.b64encode((tmp_path / "ca.crt").read_bytes()).decode()
        await blank(kube, validating, 0)

        async def repaired() -> bool:
            return await bundles(kube, validating) == [want, want]

        await wait_for(repaired, within=20, what="the blanked caBundle repaired")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)  # returns promptly once stopped


# --- real TLS ---


async def handshake(port: int, trust: bytes, server_hostname: str) -> bytes:
    """Connect trusting only `trust`; the certificate the server presented (DER)."""
    context = ssl.create_default_context(cadata=trust.decode())
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_hostname)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert isinstance(der, bytes)
        return der
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


def der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


async def test_the_files_serve_tls_that_only_the_ca_vouches_for(kube: Kube, tmp_path: Path) -> None:
    ca = await ensure(kube, "tls", tmp_path, now())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        for name in (f"otel-operator-webhook.{NS}.svc", "127.0.0.1"):
            assert await handshake(port, ca, name) == der((tmp_path / "tls.crt").read_bytes())
        with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
            await handshake(port, certs.issue_ca(now()).cert_pem, f"otel-operator-webhook.{NS}.svc")
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            await handshake(port, ca, "elsewhere.example.com")
    finally:
        server.close()
        await server.wait_closed()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_kopf_serves_the_certificate_and_picks_up_a_rotation(kube: Kube, tmp_path: Path) -> None:
    ca = await ensure(kube, "kopf", tmp_path, now())
    server = kopf.WebhookServer(
        addr="127.0.0.1",
        port=free_port(),
        host="127.0.0.1",
        certfile=tmp_path / "tls.crt",
        pkeyfile=tmp_path / "tls.key",
        file_check_interval=0.2,
    )

    async def review(request: Any, *, webhook: str | None = None, **_: Any) -> Any:
        return {}

    restarts: asyncio.Queue[Any] = asyncio.Queue()

    async def run() -> None:
        async for client_config in server(review):
            await restarts.put(client_config)

    task = asyncio.create_task(run())
    try:
        config = await asyncio.wait_for(restarts.get(), 10)
        port = int(str(config["url"]).rsplit(":", 1)[1].split("/")[0])
        assert await handshake(port, ca, "127.0.0.1") == der((tmp_path / "tls.crt").read_bytes())

        # a renamed Service: a new serving certificate, same CA; kopf notices the files and restarts its server
        assert await ensure(kube, "kopf", tmp_path, now(), sans=[*SANS, f"renamed.{NS}.svc"]) == ca
        await asyncio.wait_for(restarts.get(), 10)
        presented = await handshake(port, ca, f"renamed.{NS}.svc")
        assert presented == der((tmp_path / "tls.crt").read_bytes())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
