"""How the operator authenticates: an explicit kubeconfig, else the pod's service account, else $KUBECONFIG.

kopf's own fallbacks read only the KUBECONFIG environment variable; taking the path as a parameter lets one
process run operators against different clusters (the tests do) and resolves relative paths as kubectl does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from otel_operator import yamlsafe

if TYPE_CHECKING:
    import kopf


class LoginError(Exception):
    """No usable credentials, saying which source failed and why. Ours, not kopf's: the allocator, `diagnose` and
    `check` read credentials without kopf (importing it costs some 0.1 s of CPU at every start); kopf's login
    handler turns it into kopf.LoginError."""


def _resolve(base: Path, value: str | None) -> str | None:
    """kubectl resolves relative file references against the kubeconfig's own folder."""
    if not value:
        return None
    return str(value if os.path.isabs(value) else (base / value).resolve())


def load_kubeconfig(path: Path) -> dict[str, Any]:
    """A kubeconfig file as data, read with the bounded YAML loader; LoginError naming the file and what is
    wrong when it cannot be read, is not YAML, or is not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise LoginError(f"cannot read kubeconfig {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise LoginError(f"cannot read kubeconfig {path}: not UTF-8 text ({err.reason})") from None
    try:
        config = yamlsafe.safe_load(text)
    except yaml.YAMLError as err:
        raise LoginError(f"cannot read kubeconfig {path}: {yamlsafe.describe(err)}") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        kind = "list" if isinstance(config, list) else "single value"
        raise LoginError(
            f"kubeconfig {path}: not a kubeconfig: the file is a YAML {kind}, not a mapping with clusters, contexts "
            "and users"
        )
    return config


def _select(
    config: Mapping[str, Any], path: Path, context: str | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The context, cluster and user entries the current (or named) context picks, each checked to be there."""
    name = context or config.get("current-context")
    if not name:
        raise LoginError(
            f"kubeconfig {path}: no current-context is set; set one with `kubectl --kubeconfig {path} config "
            "use-context NAME`"
        )

    def entry(section: str, key: str, wanted: object) -> dict[str, Any]:
        items = config.get(section) or []
        if not isinstance(items, list):
            raise LoginError(f"kubeconfig {path}: {section} must be a list of named entries")
        for item in items:
            if isinstance(item, Mapping) and item.get("name") == wanted:
                found = item.get(key) or {}
                if not isinstance(found, dict):
                    raise LoginError(f"kubeconfig {path}: {section} entry {wanted!r}: {key} must be a mapping")
                return found
        raise LoginError(f"kubeconfig {path}: {section} has no entry named {wanted!r}")

    ctx = entry("contexts", "context", name)
    cluster = entry("clusters", "cluster", ctx.get("cluster", ""))
    user = entry("users", "user", ctx.get("user", "")) if ctx.get("user") else {}
    if not cluster.get("server"):
        raise LoginError(f"kubeconfig {path}: cluster {ctx.get('cluster')!r} has no server")
    return ctx, cluster, user


def kubeconfig_problem(path: str | Path) -> str | None:
    """What stops a kubeconfig file's current context from being used, in one line naming the file (None: nothing
    this side can see; whether the credentials work is the API server's to say)."""
    path = Path(path).expanduser()
    try:
        _select(load_kubeconfig(path), path, None)
    except LoginError as err:
        return str(err)
    return None


def connection_from_kubeconfig(path: str | Path, context: str | None = None) -> kopf.ConnectionInfo:
    """The current (or named) context of one kubeconfig file as kopf connection info."""
    import kopf

    path = Path(path).expanduser()
    ctx, cluster, user = _select(load_kubeconfig(path), path, context)
    server = cluster["server"]
    base = path.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token_file = Path(_resolve(base, user["tokenFile"]) or "")
        try:
            token = token_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as err:
            raise LoginError(f"kubeconfig {path}: cannot read its tokenFile {token_file}: {err}") from None
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
    """Why no credentials can be found, naming every source tried in the order they are tried, or why the
    kubeconfig found cannot be used (not YAML, no current-context, ...). None: a source exists and reads well;
    whether it works is the API server's to say."""
    environ = os.environ if environ is None else environ
    if kubeconfig:
        if not Path(kubeconfig).is_file():
            return f"--kubeconfig {kubeconfig}: no such file"
        return kubeconfig_problem(kubeconfig)  # a malformed file: said once here, not retried by kopf forever
    if environ.get("KUBERNETES_SERVICE_HOST") and Path(SERVICE_ACCOUNT_TOKEN).is_file():
        return None
    env = environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if env:
        return kubeconfig_problem(env) if Path(env).is_file() else f"$KUBECONFIG names {env}, which does not exist"
    home = Path("~/.kube/config").expanduser()
    if home.is_file():
        return kubeconfig_problem(home)
    in_cluster = "no service account token" if environ.get("KUBERNETES_SERVICE_HOST") else "not in a cluster"
    return (
        f"no Kubernetes credentials: tried --kubeconfig (not given), the in-cluster service account ({in_cluster}), "
        f"$KUBECONFIG (not set) and {home} (no such file); pass --kubeconfig FILE or set $KUBECONFIG"
    )


def register_login(registry: kopf.OperatorRegistry, kubeconfig: str | None) -> None:
    import kopf

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        try:
            if kubeconfig:
                return connection_from_kubeconfig(kubeconfig)
            in_cluster: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs)
            if in_cluster is not None:
                return in_cluster
            env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
            default = Path("~/.kube/config").expanduser()
            if env or default.exists():
                return connection_from_kubeconfig(env or default)
            raise LoginError(credentials_problem(kubeconfig) or "no Kubernetes credentials")
        except LoginError as err:
            raise kopf.LoginError(str(err)) from None


DEFAULT_KUBECONFIG = os.path.expanduser("~/.kube/config")


async def _exists(path: str) -> bool:
    found: bool = await asyncio.to_thread(Path(path).is_file)
    return found


async def api_client(kubeconfig: str | None) -> Any:
    """A kubernetes-asyncio ApiClient with the same credentials the login handler picks, in the same order."""
    from kubernetes_asyncio import client, config
    from kubernetes_asyncio.config.config_exception import ConfigException

    cfg = client.Configuration()
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    default = DEFAULT_KUBECONFIG
    if kubeconfig:
        await _load_kubeconfig(kubeconfig, cfg)
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except ConfigException as err:
            raise LoginError(f"in-cluster service account: {err}") from None
    elif env or await _exists(default):
        await _load_kubeconfig(env or default, cfg)
    else:
        raise LoginError(credentials_problem(kubeconfig) or "no Kubernetes credentials")
    return client.ApiClient(configuration=cfg)


async def _load_kubeconfig(path: str, cfg: Any) -> None:
    """kubernetes-asyncio's loader, after our own reading of the file: its errors for a malformed file are a YAML
    traceback or an assertion, and it has no alias budget."""
    from kubernetes_asyncio import config
    from kubernetes_asyncio.config.config_exception import ConfigException

    if problem := await asyncio.to_thread(kubeconfig_problem, path):
        raise LoginError(problem)
    try:
        await config.load_kube_config(config_file=path, client_configuration=cfg)
    except (ConfigException, ValueError, OSError) as err:  # bad certificate data, an exec plugin that fails, ...
        raise LoginError(f"kubeconfig {path}: {' '.join(str(err).split())}") from None
