"""The allocator's own Kubernetes client: aiohttp with the credentials the operator's login picks, in the same order
(an explicit kubeconfig, the pod's service account, $KUBECONFIG, ~/.kube/config).

Why not kubernetes-asyncio's ApiClient: importing its client package (every API class and model) costs some 38 MB
of memory and a quarter of a second of CPU at each start, and the allocator needs none of it: it lists and watches
(watch.Reflector), posts Events and patches monitor statuses, all plain JSON over HTTP. Kubeconfigs that
authenticate through an exec plugin or an auth provider still go through kubernetes-asyncio (imported then only).

Anything with kubernetes-asyncio's `call_api` (this client, or an ApiClient, as the tests pass) serves the
allocator: `Api` is that shape, and `send` makes one JSON request through it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import aiohttp
import orjson

from otel_operator.reconcile import login

IN_CLUSTER_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REFRESH: Final = 60.0  # seconds: bound service account tokens rotate, their file is rewritten


class Api(Protocol):
    async def call_api(self, resource_path: str, method: str, *args: Any, **kwargs: Any) -> Any: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class Credentials:
    server: str  # https://host:port, no trailing slash
    ssl: ssl.SSLContext | bool  # False: no verification (insecure-skip-tls-verify)
    token: str | None = None
    token_file: str | None = None  # re-read every TOKEN_REFRESH seconds
    basic: tuple[str, str] | None = None
    proxy: str | None = None


class KubeClient:
    """`call_api` as kubernetes-asyncio's ApiClient answers it with `_preload_content=False`: the aiohttp response
    of any status, unread (the caller reads and releases it)."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._session: aiohttp.ClientSession | None = None
        self._token, self._token_read = credentials.token, 0.0

    def _authorization(self) -> str | None:
        creds = self.credentials
        if creds.token_file and time.monotonic() - self._token_read > TOKEN_REFRESH:
            with contextlib.suppress(OSError, UnicodeDecodeError):  # kept: the last one read still serves
                self._token = Path(creds.token_file).read_text().strip()
            self._token_read = time.monotonic()
        if self._token:
            return f"Bearer {self._token}"
        if creds.basic:
            return "Basic " + base64.b64encode(f"{creds.basic[0]}:{creds.basic[1]}".encode()).decode()
        return None

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.credentials.ssl, limit=100)
            self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda o: orjson.dumps(o).decode()
            )
        return self._session

    async def call_api(
        self,
        resource_path: str,
        method: str,
        *_: Any,
        query_params: Sequence[tuple[str, Any]] | None = None,
        header_params: Mapping[str, str] | None = None,
        body: Any = None,
        _request_timeout: Any = None,
        **__: Any,
    ) -> aiohttp.ClientResponse:
        headers = dict(header_params or {})
        if auth := self._authorization():
            headers["Authorization"] = auth
        data = None
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
            data = orjson.dumps(body)
        timeout = _request_timeout
        if isinstance(timeout, int | float):
            timeout = aiohttp.ClientTimeout(total=float(timeout))
        params = [(str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in query_params or ()]
        return await self._session_for_loop().request(
            method,
            self.credentials.server + resource_path,
            params=params,
            headers=headers,
            data=data,
            timeout=timeout if isinstance(timeout, aiohttp.ClientTimeout) else aiohttp.ClientTimeout(total=None),
            proxy=self.credentials.proxy,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ApiError(Exception):
    """An error status from the API server (or no answer: status 0), with its message."""

    def __init__(self, status: int, reason: str, body: Any) -> None:
        message = body.get("message") if isinstance(body, Mapping) else None
        super().__init__(f"{status} {reason}" + (f": {message}" if message else ""))
        self.status, self.reason, self.body = status, reason, body


async def send(api: Api, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
    """One JSON request; the decoded answer, or ApiError. kubernetes-asyncio's ApiClient raises its own exception
    for an error status: it becomes an ApiError too, so callers handle one type."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    try:
        response = await api.call_api(
            path, method, header_params=headers, body=body, auth_settings=["BearerToken"], _preload_content=False
        )
    except Exception as err:  # an ApiClient's ApiException: status, reason and body, as ours
        status = getattr(err, "status", None)
        if not isinstance(status, int):
            raise
        raw = getattr(err, "body", None)
        raise ApiError(status, str(getattr(err, "reason", "") or ""), _decoded(raw)) from None
    try:
        raw = await response.read()
    finally:
        response.release()
    if response.status >= 400:
        raise ApiError(response.status, str(response.reason or ""), _decoded(raw))
    return orjson.loads(raw) if raw else None


def _decoded(raw: Any) -> Any:
    if isinstance(raw, bytes | bytearray | str):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")[:500]
    return raw


# --------------------------------------------------------------------------- credentials


def _ssl_context(ca_file: str | None, ca_data: str | None, cert: tuple[bytes, bytes] | None, insecure: bool) -> Any:
    if insecure:
        return False
    context = ssl.create_default_context(cafile=ca_file)
    if ca_data:
        context.load_verify_locations(cadata=base64.b64decode(ca_data).decode())
    if cert is not None:
        # ssl loads a client certificate from files only: private ones, removed once loaded
        with tempfile.TemporaryDirectory(prefix="otel-operator-cert-") as folder:
            cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
            for path, content in ((cert_path, cert[0]), (key_path, cert[1])):
                path.write_bytes(content)
                path.chmod(0o600)
            context.load_cert_chain(cert_path, key_path)
    return context


def _file_or_data(base: Path, path: str | None, data: str | None, what: str, where: Path) -> bytes | None:
    if data:
        return base64.b64decode(data)
    if path:
        file = Path(path if os.path.isabs(path) else base / path)
        try:
            return file.read_bytes()
        except OSError as err:
            raise login.LoginError(
                f"kubeconfig {where}: cannot read its {what} {file}: {err.strerror or err}"
            ) from None
    return None


def from_kubeconfig(file: str | Path) -> Credentials | None:
    """The kubeconfig's current context as Credentials; None when its user authenticates through an exec plugin or
    an auth provider (kubernetes-asyncio runs those). LoginError naming the file and the problem otherwise."""
    path = Path(file).expanduser()
    _ctx, cluster, user = login._select(login.load_kubeconfig(path), path, None)
    if user.get("exec") or user.get("auth-provider"):
        return None
    base = path.parent
    cert = _file_or_data(
        base, user.get("client-certificate"), user.get("client-certificate-data"), "client certificate", path
    )
    key = _file_or_data(base, user.get("client-key"), user.get("client-key-data"), "client key", path)
    ca_file = cluster.get("certificate-authority")
    if ca_file and not os.path.isabs(ca_file):
        ca_file = str(base / ca_file)
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    try:
        context = _ssl_context(
            ca_file, cluster.get("certificate-authority-data"), (cert, key) if cert and key else None, insecure
        )
    except (ssl.SSLError, OSError, ValueError) as err:
        raise login.LoginError(f"kubeconfig {path}: bad certificate data: {err}") from None
    token_file = user.get("tokenFile")
    if token_file and not os.path.isabs(token_file):
        token_file = str(base / token_file)
    basic = (str(user["username"]), str(user.get("password") or "")) if user.get("username") else None
    return Credentials(
        server=str(cluster["server"]).rstrip("/"),
        ssl=context,
        token=user.get("token"),
        token_file=token_file,
        basic=basic,
        proxy=cluster.get("proxy-url"),
    )


def in_cluster(environ: Mapping[str, str] | None = None, folder: Path = IN_CLUSTER_DIR) -> Credentials:
    """The pod's service account, as client-go's rest.InClusterConfig reads it."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    token_file, ca_file = folder / "token", folder / "ca.crt"
    if not host or not port:
        raise login.LoginError("in-cluster service account: KUBERNETES_SERVICE_HOST and _PORT must be set")
    if not token_file.is_file():
        raise login.LoginError(
            f"in-cluster service account: no token at {token_file}; is automountServiceAccountToken off?"
        )
    try:
        context = _ssl_context(str(ca_file), None, None, insecure=False)
    except (ssl.SSLError, OSError) as err:
        raise login.LoginError(f"in-cluster service account: cannot read its CA {ca_file}: {err}") from None
    server_host = f"[{host}]" if ":" in host else host
    return Credentials(server=f"https://{server_host}:{port}", ssl=context, token_file=str(token_file))


async def kube_client(kubeconfig: str | None) -> Api:
    """A client with the credentials the operator's login would pick, in the same order (login.api_client)."""
    env = os.environ.get("KUBERNETES_SERVICE_HOST")
    path: str | None = kubeconfig
    if not path and not env:
        first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        default = login.DEFAULT_KUBECONFIG
        path = first or (str(default) if await asyncio.to_thread(Path(default).is_file) else None)
        if path is None:
            raise login.LoginError(login.credentials_problem(kubeconfig) or "no Kubernetes credentials")
    if path:
        credentials = await asyncio.to_thread(from_kubeconfig, path)
        if credentials is None:  # an exec plugin or an auth provider: kubernetes-asyncio's loader runs it
            legacy: Api = await login.api_client(path)
            return legacy
        return KubeClient(credentials)
    return KubeClient(await asyncio.to_thread(in_cluster))
