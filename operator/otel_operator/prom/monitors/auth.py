"""HTTP client settings of a scrape: TLS, basic auth, authorization, OAuth2 and proxy.

Secret and ConfigMap references are resolved and written inline: the OTel target allocator builds the
generator with inline TLS, so CA, certificate and key are PEM text under `ca`/`cert`/`key` rather than file
paths. Validation follows prometheus-operator's (SafeTLSConfig, SafeAuthorization, OAuth2 and ProxyConfig
`Validate`), which rejects the monitor.
"""

from __future__ import annotations

from typing import Any

from otel_operator.prom.monitors import tlsassets
from otel_operator.prom.monitors.common import (
    Config,
    Invalid,
    Obj,
    join,
    obj_list,
    opt_bool,
    opt_obj,
    opt_str,
    str_list,
    str_map,
    string,
)
from otel_operator.prom.monitors.context import Context
from otel_operator.prom.monitors.secrets import is_set

TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
_FILE_KEYS = (("caFile", "ca_file"), ("certFile", "cert_file"), ("keyFile", "key_file"))

# ----------------------------------------------------------------------------------------------- TLS


def _is_zero(value: Any) -> bool:
    """Go's reflect IsZero for a config struct decoded from `value`: nothing set anywhere."""
    if value is None:
        return True
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    return False


def check_tls(tls: Obj, path: str) -> None:
    for key in ("ca", "cert"):
        ref = opt_obj(tls, key, path)
        if ref is not None and ref.get("secret") is not None and ref.get("configMap") is not None:
            raise Invalid(join(path, key), "set either secret or configMap, not both")
    cert, key_secret = is_set(opt_obj(tls, "cert", path)), opt_obj(tls, "keySecret", path) is not None
    if cert and not key_secret:
        raise Invalid(join(path, "keySecret"), "client cert specified without client key; add keySecret")
    if key_secret and not cert:
        raise Invalid(join(path, "cert"), "client key specified without client cert; add cert")
    versions = {}
    for key in ("minVersion", "maxVersion"):
        value = opt_str(tls, key, path)
        if value is not None and value not in TLS_VERSIONS:
            raise Invalid(join(path, key), f'"{value}" is not allowed; use one of {", ".join(TLS_VERSIONS)}')
        versions[key] = value
    if versions["minVersion"] and versions["maxVersion"] and versions["maxVersion"] < versions["minVersion"]:
        raise Invalid(join(path, "maxVersion"), "maxVersion must be more than or equal to minVersion")


def render_safe_tls(ctx: Context, tls: Obj | None, path: str) -> Config | None:
    """A SafeTLSConfig as `tls_config`; None when not set. A present but empty block stays `{}`."""
    if tls is None:
        return None
    check_tls(tls, path)
    out: Config = {}
    skip_verify = opt_bool(tls, "insecureSkipVerify", path)
    if skip_verify is not None:
        out["insecure_skip_verify"] = skip_verify
    for key in ("ca", "cert"):
        ref = opt_obj(tls, key, path)
        if is_set(ref):
            assert ref is not None
            out[key] = ctx.store.secret_or_config_map(ctx.namespace, ref, join(path, key))
    key_secret = opt_obj(tls, "keySecret", path)
    if key_secret is not None:
        out["key"] = ctx.store.secret_key(ctx.namespace, key_secret, join(path, "keySecret"))
    _check_material(out, path)
    server_name = opt_str(tls, "serverName", path)
    if server_name:
        out["server_name"] = server_name
    for key, out_key in (("minVersion", "min_version"), ("maxVersion", "max_version")):
        value = opt_str(tls, key, path)
        if value is not None:
            out[out_key] = value
    return out


def _check_material(out: Config, path: str) -> None:
    """prometheus-operator's checks of the resolved values: a CA that is a certificate, a cert/key that pair."""
    if out.get("ca"):
        problem = tlsassets.check_ca(out["ca"])
        if problem:
            raise Invalid(join(path, "ca"), problem)
    if out.get("cert") and out.get("key"):
        problem = tlsassets.check_key_pair(out["cert"], out["key"])
        if problem:
            raise Invalid(join(path, "keySecret"), f"{problem}; cert and keySecret must be one key pair")


def render_tls(ctx: Context, tls: Obj | None, path: str) -> Config | None:
    """A TLSConfig (SafeTLSConfig plus the *File paths) as `tls_config`."""
    out = render_safe_tls(ctx, tls, path)
    if out is None or tls is None:
        return None
    for key, out_key in _FILE_KEYS:
        value = string(tls, key, path)
        if value:
            out[out_key] = value
    return out


def _class_tls(ctx: Context) -> tuple[Obj | None, str]:
    path = join(ctx.scrape_class_path, "tlsConfig")
    return opt_obj(ctx.scrape_class, "tlsConfig", ctx.scrape_class_path), path


def merged_tls(ctx: Context, tls: Obj | None, path: str, *, safe: bool) -> Config | None:
    """The monitor's TLS settings with the scrape class filling in CA/cert/key files it leaves open.

    `safe` marks a SafeTLSConfig (PodMonitor, Probe, ScrapeConfig): there an empty block counts as absent, as
    prometheus-operator tests it with IsZero; a ServiceMonitor's empty `tlsConfig: {}` is kept.
    """
    class_tls, class_path = _class_tls(ctx)
    if safe and _is_zero(tls):
        tls = None
    if tls is None:
        return render_tls(ctx, class_tls, class_path)
    if class_tls is None:
        return render_tls(ctx, tls, path)
    merged = dict(tls)
    if not string(tls, "caFile", path) and not is_set(opt_obj(tls, "ca", path)):
        merged["caFile"] = string(class_tls, "caFile", class_path)
    if not string(tls, "certFile", path) and not is_set(opt_obj(tls, "cert", path)):
        merged["certFile"] = string(class_tls, "certFile", class_path)
    if not string(tls, "keyFile", path) and opt_obj(tls, "keySecret", path) is None:
        merged["keyFile"] = string(class_tls, "keyFile", class_path)
    return render_tls(ctx, merged, path)


def uses_files(tls: Obj | None, path: str) -> bool:
    return tls is not None and any(string(tls, key, path) for key, _ in _FILE_KEYS)


# ----------------------------------------------------------------------------------------------- credentials


def check_exclusive(owner: Obj, path: str) -> None:
    """At most one way to authenticate, as prometheus-operator's HTTPConfig.Validate demands.

    Prometheus refuses to load a job that combines them, which would take every other job down with it.
    """
    bearer_secret = opt_obj(owner, "bearerTokenSecret", path)
    bearer = "bearerTokenSecret" if bearer_secret and string(bearer_secret, "name", path) else ""
    bearer = bearer or ("bearerTokenFile" if string(owner, "bearerTokenFile", path) else "")
    chosen = [key for key in ("basicAuth", "oauth2", "authorization") if owner.get(key) is not None]
    if bearer and chosen:
        raise Invalid(join(path, chosen[0]), f"cannot be combined with {bearer}; keep one of them")
    if len(chosen) > 1:
        raise Invalid(join(path, chosen[1]), f"cannot be combined with {chosen[0]}; keep one of them")


def render_basic_auth(ctx: Context, basic_auth: Obj | None, path: str) -> Config | None:
    if basic_auth is None:
        return None
    username = opt_obj(basic_auth, "username", path) or {}
    password = opt_obj(basic_auth, "password", path) or {}
    return {
        "username": ctx.store.secret_key(ctx.namespace, username, join(path, "username")),
        "password": ctx.store.secret_key(ctx.namespace, password, join(path, "password")),
    }


def check_authorization(auth: Obj, path: str) -> str:
    """Validate an (Safe)Authorization; returns its type, "Bearer" when unset."""
    kind = (opt_str(auth, "type", path) or "Bearer").strip()  # defaulted before trimming, as upstream
    if kind.lower() == "basic":
        raise Invalid(join(path, "type"), 'authorization type cannot be "Basic"; use basicAuth instead')
    if opt_obj(auth, "credentials", path) is not None and string(auth, "credentialsFile", path):
        raise Invalid(path, "set either credentials or credentialsFile, not both")
    return kind


def endpoint_authorization(ep: Obj, path: str) -> Obj | None:
    """A ServiceMonitor or PodMonitor endpoint's `authorization`, checked as prometheus-operator checks it.

    Its type is a SafeAuthorization: it must name its credentials (the monitor is rejected before any scrape
    class could supply them; a Probe's or a ScrapeConfig's is not checked so), and it has no `credentialsFile`,
    which is dropped as prometheus-operator's decoding drops an unknown field.
    """
    auth = opt_obj(ep, "authorization", path)
    if auth is None:
        return None
    where = join(path, "authorization")
    safe = {k: v for k, v in auth.items() if k != "credentialsFile"}
    check_authorization(safe, where)
    if safe.get("credentials") is None:
        raise Invalid(join(where, "credentials"), "required field is missing; name the Secret key holding the token")
    return safe


def _render_authorization(ctx: Context, auth: Obj, path: str) -> Config:
    kind = check_authorization(auth, path)
    credentials = opt_obj(auth, "credentials", path)
    credentials_file = string(auth, "credentialsFile", path)
    out: Config = {"type": kind}
    if credentials is not None:
        out["credentials"] = ctx.store.secret_key(ctx.namespace, credentials, join(path, "credentials"))
    if credentials_file:
        out["credentials_file"] = credentials_file
    return out


def render_authorization(ctx: Context, auth: Obj | None, path: str) -> Config | None:
    """A SafeAuthorization without scrape-class merging (service discovery blocks)."""
    return None if auth is None else _render_authorization(ctx, auth, path)


def merged_authorization(ctx: Context, auth: Obj | None, path: str) -> Config | None:
    """The monitor's authorization, taking credentials from the scrape class when it has none."""
    class_path = join(ctx.scrape_class_path, "authorization")
    class_auth = opt_obj(ctx.scrape_class, "authorization", ctx.scrape_class_path)
    if _is_zero(auth):
        return None if class_auth is None else _render_authorization(ctx, class_auth, class_path)
    assert auth is not None
    if class_auth is None or auth.get("credentials") is not None:
        return _render_authorization(ctx, auth, path)
    # The class's credentials are read in the monitor's namespace, as prometheus-operator does.
    merged = dict(auth)
    merged["credentials"] = class_auth.get("credentials")
    if merged["credentials"] is None and not string(auth, "credentialsFile", path):
        merged["credentialsFile"] = class_auth.get("credentialsFile")
    return _render_authorization(ctx, merged, path)


def render_oauth2(ctx: Context, oauth2: Obj | None, path: str) -> Config | None:
    if oauth2 is None:
        return None
    token_url = string(oauth2, "tokenUrl", path)
    if not token_url:
        raise Invalid(join(path, "tokenUrl"), "required field is missing; set the token endpoint URL")
    client_id = opt_obj(oauth2, "clientId", path) or {}
    client_secret = opt_obj(oauth2, "clientSecret", path) or {}
    out: Config = {
        "client_id": ctx.store.secret_or_config_map(ctx.namespace, client_id, join(path, "clientId")),
        "client_secret": ctx.store.secret_key(ctx.namespace, client_secret, join(path, "clientSecret")),
        "token_url": token_url,
    }
    scopes = str_list(oauth2, "scopes", path)
    if scopes:
        out["scopes"] = scopes
    params = str_map(oauth2, "endpointParams", path)
    if params:
        out["endpoint_params"] = params
    out.update(render_proxy(ctx, oauth2, path))
    tls = render_safe_tls(ctx, opt_obj(oauth2, "tlsConfig", path), join(path, "tlsConfig"))
    if tls is not None:
        out["tls_config"] = tls
    return out


# ----------------------------------------------------------------------------------------------- proxy


def render_proxy(ctx: Context, owner: Obj, path: str) -> Config:
    """The ProxyConfig fields inlined in `owner` (proxyUrl, noProxy, ...) as scrape_config keys."""
    proxy_url = opt_str(owner, "proxyUrl", path)
    no_proxy = opt_str(owner, "noProxy", path)
    from_env = opt_bool(owner, "proxyFromEnvironment", path)
    headers = opt_obj(owner, "proxyConnectHeader", path)
    if headers and not from_env and not proxy_url:
        raise Invalid(join(path, "proxyConnectHeader"), "needs proxyUrl or proxyFromEnvironment")
    if from_env and proxy_url:
        raise Invalid(join(path, "proxyUrl"), "cannot be set together with proxyFromEnvironment")
    if from_env and no_proxy:
        raise Invalid(join(path, "noProxy"), "cannot be set together with proxyFromEnvironment")
    if no_proxy and not proxy_url:
        raise Invalid(join(path, "noProxy"), "needs proxyUrl")
    out: Config = {}
    if proxy_url is not None:
        out["proxy_url"] = proxy_url
    if no_proxy is not None:
        out["no_proxy"] = no_proxy
    if from_env is not None:
        out["proxy_from_environment"] = from_env
    if headers is not None:
        where = join(path, "proxyConnectHeader")
        out["proxy_connect_header"] = {
            str(name): [
                ctx.store.secret_key(ctx.namespace, ref, join(join(where, str(name)), i))
                for i, ref in enumerate(obj_list(headers, name, where))
            ]
            for name in sorted(headers)
        }
    return out
