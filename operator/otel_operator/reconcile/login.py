"""How the operator authenticates: an explicit kubeconfig, else the pod's service account, else $KUBECONFIG.

kopf's own fallbacks read only the KUBECONFIG environment variable; taking the path as a parameter lets one
process run operators against different clusters (the tests do) and resolves relative paths as kubectl does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kopf
import yaml


def _resolve(base: Path, value: str | None) -> str | None:
    """kubectl resolves relative file references against the kubeconfig's own folder."""
    if not value:
        return None
    return str(value if os.path.isabs(value) else (base / value).resolve())


def connection_from_kubeconfig(path: str | Path, context: str | None = None) -> kopf.ConnectionInfo:
    """The current (or named) context of one kubeconfig file as kopf connection info."""
    path = Path(path).expanduser()
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise kopf.LoginError(f"cannot read kubeconfig {path}: {err}") from err
    name = context or config.get("current-context")
    if not name:
        raise kopf.LoginError(f"kubeconfig {path}: no current-context is set; pass one or set it with kubectl")

    def entry(section: str, key: str, wanted: str) -> dict[str, Any]:
        for item in config.get(section) or []:
            if item.get("name") == wanted:
                found: dict[str, Any] = item.get(key) or {}
                return found
        raise kopf.LoginError(f"kubeconfig {path}: {section} has no entry named {wanted!r}")

    ctx = entry("contexts", "context", name)
    cluster = entry("clusters", "cluster", ctx.get("cluster", ""))
    user = entry("users", "user", ctx.get("user", "")) if ctx.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise kopf.LoginError(f"kubeconfig {path}: cluster {ctx.get('cluster')!r} has no server")
    base = path.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(_resolve(base, user["tokenFile"]) or "").read_text().strip()
    return kopf.ConnectionInfo(
        server=server,
        ca_path=_resolve(base, cluster.get("certificate-authority")),
        ca_data=cluster.get("certificate-authority-data"),
        insecure=cluster.get("insecure-skip-tls-verify"),
        certificate_path=_resolve(base, user.get("client-certificate")),
        certificate_data=user.get("client-certificate-data"),
        private_key_path=_resolve(base, user.get("client-key")),
        private_key_data=user.get("client-key-data"),
        username=user.get("username"),
        password=user.get("password"),
        token=token,
        default_namespace=ctx.get("namespace"),
        proxy_url=cluster.get("proxy-url"),
    )


SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def credentials_problem(kubeconfig: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """Why no credentials can be found, naming every source tried in the order they are tried (None: a source
    exists; whether it works is the API server's to say)."""
    environ = os.environ if environ is None else environ
    if kubeconfig:
        if not Path(kubeconfig).is_file():
            return f"--kubeconfig {kubeconfig}: no such file"
        return None
    if environ.get("KUBERNETES_SERVICE_HOST") and Path(SERVICE_ACCOUNT_TOKEN).is_file():
        return None
    env = environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if env:
        return None if Path(env).is_file() else f"$KUBECONFIG names {env}, which does not exist"
    home = Path("~/.kube/config").expanduser()
    if home.is_file():
        return None
    in_cluster = "no service account token" if environ.get("KUBERNETES_SERVICE_HOST") else "not in a cluster"
    return (
        f"no Kubernetes credentials: tried --kubeconfig (not given), the in-cluster service account ({in_cluster}), "
        f"$KUBECONFIG (not set) and {home} (no such file); pass --kubeconfig FILE or set $KUBECONFIG"
    )


def register_login(registry: kopf.OperatorRegistry, kubeconfig: str | None) -> None:
    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if kubeconfig:
            return connection_from_kubeconfig(kubeconfig)
        in_cluster: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs)
        if in_cluster is not None:
            return in_cluster
        env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        default = Path("~/.kube/config").expanduser()
        if env or default.exists():
            return connection_from_kubeconfig(env or default)
        raise kopf.LoginError(credentials_problem(kubeconfig) or "no Kubernetes credentials")


DEFAULT_KUBECONFIG = os.path.expanduser("~/.kube/config")


async def _exists(path: str) -> bool:
    found: bool = await asyncio.to_thread(Path(path).is_file)
    return found


async def api_client(kubeconfig: str | None) -> Any:
    """A kubernetes-asyncio ApiClient with the same credentials the login handler picks, in the same order."""
    from kubernetes_asyncio import client, config

    cfg = client.Configuration()
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    default = DEFAULT_KUBECONFIG
    if kubeconfig:
        await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    elif env or await _exists(default):
        await config.load_kube_config(config_file=env or default, client_configuration=cfg)
    else:
        raise kopf.LoginError(credentials_problem(kubeconfig) or "no Kubernetes credentials")
    return client.ApiClient(configuration=cfg)
