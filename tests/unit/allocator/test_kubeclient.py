"""The allocator's own Kubernetes client (allocator/kubeclient.py): credentials read from kubeconfigs and the pod's
service account as the operator's login reads them, and requests over real HTTP to a local aiohttp server standing
in for nothing but an HTTP peer (headers, query, body, token refresh, error statuses)."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from otel_operator.allocator import kubeclient
from otel_operator.reconcile.login import LoginError


def kubeconfig(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443/", **(cluster or {})}}],
        "users": [{"name": "u", "user": user}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A self-signed certificate and its key (openssl, as the tests' CA helpers use)."""
    folder = tmp_path_factory.mktemp("pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return (folder / "cert.pem").read_bytes(), (folder / "key.pem").read_bytes()


def test_a_token_user_with_ca_data(tmp_path: Path, pem: tuple[bytes, bytes]) -> None:
    path = kubeconfig(tmp_path, {"token": "abc"}, {"certificate-authority-data": base64.b64encode(pem[0]).decode()})
    creds = kubeclient.from_kubeconfig(path)
    assert creds is not None
    assert creds.server == "https://127.0.0.1:6443"  # no trailing slash: paths are appended
    assert creds.token == "abc"
    assert creds.ssl not in (False, True)  # a context that verifies


def test_relative_files_resolve_against_the_kubeconfig_folder(tmp_path: Path, pem: tuple[bytes, bytes]) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_bytes(pem[0])
    (tmp_path / "certs" / "client.pem").write_bytes(pem[0])
    (tmp_path / "certs" / "client.key").write_bytes(pem[1])
    (tmp_path / "token").write_text("from-file\n")
    user = {"client-certificate": "certs/client.pem", "client-key": "certs/client.key", "tokenFile": "token"}
    creds = kubeclient.from_kubeconfig(kubeconfig(tmp_path, user, {"certificate-authority": "certs/ca.pem"}))
    assert creds is not None
    assert creds.token_file == str(tmp_path / "token")


def test_a_missing_client_key_names_the_file(tmp_path: Path, pem: tuple[bytes, bytes]) -> None:
    path = kubeconfig(tmp_path, {"client-certificate-data": base64.b64encode(pem[0]).decode(), "client-key": "nope"})
    with pytest.raises(LoginError, match=r"kubeconfig .*kubeconfig: cannot read its client key .*nope"):
        kubeclient.from_kubeconfig(path)


def test_exec_plugins_and_auth_providers_are_left_to_kubernetes_asyncio(tmp_path: Path) -> None:
    assert kubeclient.from_kubeconfig(kubeconfig(tmp_path, {"exec": {"command": "x"}})) is None
    assert kubeclient.from_kubeconfig(kubeconfig(tmp_path, {"auth-provider": {"name": "gcp"}})) is None


def test_insecure_skip_tls_verify_turns_verification_off(tmp_path: Path) -> None:
    creds = kubeclient.from_kubeconfig(kubeconfig(tmp_path, {"token": "t"}, {"insecure-skip-tls-verify": True}))
    assert creds is not None
    assert creds.ssl is False


def test_in_cluster_reads_the_service_account_folder(tmp_path: Path, pem: tuple[bytes, bytes]) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_bytes(pem[0])
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    creds = kubeclient.in_cluster(env, tmp_path)
    assert creds.server == "https://[fd00::1]:443"
    assert creds.token_file == str(tmp_path / "token")
    with pytest.raises(LoginError, match="KUBERNETES_SERVICE_HOST and _PORT must be set"):
        kubeclient.in_cluster({}, tmp_path)
    (tmp_path / "token").unlink()
    with pytest.raises(LoginError, match=r"no token at .*automountServiceAccountToken"):
        kubeclient.in_cluster(env, tmp_path)


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture
async def peer() -> AsyncIterator[tuple[str, list[web.Request], list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.read())
        if request.path.endswith("/missing"):
            return web.json_response({"kind": "Status", "message": "not there", "details": {"name": "x"}}, status=404)
        return web.json_response({"ok": True, "path": request.path})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen, bodies
    await runner.cleanup()


async def test_requests_carry_the_token_params_and_json_body(
    peer: tuple[str, list[web.Request], list[bytes]], tmp_path: Path
) -> None:
    server, seen, bodies = peer
    token = tmp_path / "token"
    token.write_text("first")
    client = kubeclient.KubeClient(kubeclient.Credentials(server=server, ssl=False, token_file=str(token)))
    try:
        response = await client.call_api("/api/v1/pods", "GET", query_params=[("watch", True), ("limit", 5)],
                                         header_params={"Accept": "application/json"})  # fmt: skip
        assert response.status == 200
        response.release()
        assert seen[0].headers["Authorization"] == "Bearer first"
        assert dict(seen[0].query) == {"watch": "true", "limit": "5"}
        answer = await kubeclient.send(client, "PATCH", "/apis/g/v1/namespaces/n/x/y/status", [{"op": "add"}],
                                       content_type="application/json-patch+json")  # fmt: skip
        assert answer == {"ok": True, "path": "/apis/g/v1/namespaces/n/x/y/status"}
        assert seen[1].method == "PATCH"
        assert seen[1].headers["Content-Type"] == "application/json-patch+json"
        assert bodies[1] == b'[{"op":"add"}]'
        # a rotated token is read again once the refresh interval has passed
        token.write_text("second")
        client._token_read -= kubeclient.TOKEN_REFRESH + 1
        await kubeclient.send(client, "GET", "/api")
        assert seen[2].headers["Authorization"] == "Bearer second"
    finally:
        await client.close()


async def test_an_error_status_is_an_api_error_with_the_servers_message(
    peer: tuple[str, list[web.Request], list[bytes]],
) -> None:
    server, seen, _ = peer
    client = kubeclient.KubeClient(kubeclient.Credentials(server=server, ssl=False, basic=("u", "p")))
    try:
        with pytest.raises(kubeclient.ApiError) as caught:
            await kubeclient.send(client, "GET", "/api/v1/missing")
        assert caught.value.status == 404
        assert caught.value.body["details"] == {"name": "x"}
        assert "not there" in str(caught.value)
        assert seen[0].headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    finally:
        await client.close()


class _RaisingApi:
    """kubernetes-asyncio's ApiClient raises ApiException (status, reason, body) for an error status."""

    class ApiException(Exception):
        def __init__(self) -> None:
            super().__init__("403")
            self.status, self.reason, self.body = 403, "Forbidden", '{"message": "no"}'

    async def call_api(self, *args: Any, **kwargs: Any) -> Any:
        raise self.ApiException()

    async def close(self) -> None:
        return None


async def test_an_api_clients_exception_becomes_an_api_error_too() -> None:
    with pytest.raises(kubeclient.ApiError) as caught:
        await kubeclient.send(_RaisingApi(), "POST", "/api/v1/namespaces/n/events", {})
    assert (caught.value.status, caught.value.reason, caught.value.body) == (403, "Forbidden", {"message": "no"})


def test_the_allocator_starts_without_kubernetes_asyncio() -> None:
    """Its client package costs ~38 MB and a quarter second of CPU at every start: the allocator never imports it."""
    code = (
        "import sys, otel_operator.cli, otel_operator.allocator.app, otel_operator.allocator.kubeclient\n"
        "print(sorted(m for m in sys.modules if m.startswith('kubernetes_asyncio')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
