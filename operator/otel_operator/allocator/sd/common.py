"""What the polled service discoveries share: config reading helpers, the HTTP client options, group decoding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from otel_operator.prom.labels import is_valid_label_name, is_valid_utf8
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.relabel import RelabelConfigError, scalar_text
from otel_operator.prom.targets import parse_duration


class SDConfigError(ValueError):
    """A discovery entry that cannot be used; the message names the field (`http_sd_configs[0].url: ...`)."""


class SDRefreshError(Exception):
    """One refresh failed (the last good groups are kept); the message says why, for the log."""


def text(raw: Mapping[str, Any], key: str, where: str) -> str:
    try:
        return scalar_text(raw.get(key), key)
    except RelabelConfigError:
        raise SDConfigError(f"{where}.{key}: must be a string") from None


def boolean(raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key)
    if value is None:
        return default if key not in raw else False
    truth = getattr(value, "yaml_bool", value)
    if not isinstance(truth, bool):
        raise SDConfigError(f"{where}.{key}: must be true or false, got {value!r}")
    return truth


def duration(raw: Mapping[str, Any], key: str, where: str, default: int) -> int:
    """A Prometheus duration in milliseconds; unset (or 0) is the default."""
    value = text(raw, key, where)
    if not value:
        return default
    try:
        ms = parse_duration(value)
    except ValueError as err:
        raise SDConfigError(f"{where}.{key}: {err}; use e.g. 30s or 5m") from None
    return ms or default


def mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SDConfigError(f"{where}: must be a mapping")
    return value


def check_keys(raw: Mapping[str, Any], known: frozenset[str], where: str, unsupported: frozenset[str]) -> None:
    """Unknown keys are an error (Prometheus's strict YAML); known ones this allocator does not implement are
    refused by name rather than ignored."""
    for key in raw:
        name = str(key)
        if name in unsupported:
            raise SDConfigError(f"{where}.{name}: not supported by this allocator's service discovery yet")
        if name not in known:
            raise SDConfigError(f"{where}: unknown field {name!r}")


# --- the HTTP client of http_sd_configs -----------------------------------------------------------------------------

# prometheus/common's HTTPClientConfig keys: the ones implemented here, and the ones refused by name
HTTP_CLIENT_KEYS: Final = frozenset(
    {
        "basic_auth",
        "authorization",
        "bearer_token",
        "bearer_token_file",
        "tls_config",
        "follow_redirects",
        "enable_http2",
    }
)
HTTP_CLIENT_UNSUPPORTED: Final = frozenset(
    {"oauth2", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header", "http_headers"}
)
_TLS_KEYS: Final = frozenset(
    {"ca_file", "cert_file", "key_file", "ca", "cert", "key", "server_name", "insecure_skip_verify"}
)
_TLS_UNSUPPORTED: Final = frozenset({"min_version", "max_version", "ca_ref", "cert_ref", "key_ref"})


@dataclass(frozen=True, slots=True)
class TLSOptions:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    ca: str = ""
    cert: str = ""
    key: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class HTTPClient:
    """The parts of Prometheus's HTTP client config an SD request uses. Secrets are kept as given (files are
    read at each request, as Prometheus re-reads them)."""

    username: str = ""
    password: str = ""
    password_file: str = ""
    auth_type: str = ""  # Authorization header scheme ("Bearer" when only credentials are given)
    credentials: str = ""
    credentials_file: str = ""
    tls: TLSOptions | None = None
    follow_redirects: bool = True


def http_client(raw: Mapping[str, Any], where: str) -> HTTPClient:
    basic = raw.get("basic_auth")
    authz = raw.get("authorization")
    bearer, bearer_file = text(raw, "bearer_token", where), text(raw, "bearer_token_file", where)
    set_auth = [k for k in ("basic_auth", "authorization") if raw.get(k) is not None]
    set_auth += [k for k, v in (("bearer_token", bearer), ("bearer_token_file", bearer_file)) if v]
    if len(set_auth) > 1:
        raise SDConfigError(f"{where}: at most one of {', '.join(set_auth)} can be set")
    client: dict[str, Any] = {"follow_redirects": boolean(raw, "follow_redirects", where, True)}
    if basic is not None:
        at = f"{where}.basic_auth"
        basic = mapping(basic, at)
        check_keys(
            basic,
            frozenset({"username", "password", "password_file"}),
            at,
            frozenset({"username_file", "username_ref", "password_ref"}),
        )
        client |= {
            "username": text(basic, "username", at),
            "password": text(basic, "password", at),
            "password_file": text(basic, "password_file", at),
        }
        if client["password"] and client["password_file"]:
            raise SDConfigError(f"{at}: at most one of password and password_file can be set")
    if authz is not None:
        at = f"{where}.authorization"
        authz = mapping(authz, at)
        check_keys(authz, frozenset({"type", "credentials", "credentials_file"}), at, frozenset({"credentials_ref"}))
        client |= {
            "auth_type": text(authz, "type", at) or "Bearer",
            "credentials": text(authz, "credentials", at),
            "credentials_file": text(authz, "credentials_file", at),
        }
        if client["auth_type"].lower() == "basic":
            raise SDConfigError(f'{at}.type: authorization type cannot be set to "basic", use "basic_auth" instead')
        if client["credentials"] and client["credentials_file"]:
            raise SDConfigError(f"{at}: at most one of credentials and credentials_file can be set")
    if bearer or bearer_file:
        client |= {"auth_type": "Bearer", "credentials": bearer, "credentials_file": bearer_file}
    tls_raw = raw.get("tls_config")
    if tls_raw is not None:
        at = f"{where}.tls_config"
        tls_raw = mapping(tls_raw, at)
        check_keys(tls_raw, _TLS_KEYS, at, _TLS_UNSUPPORTED)
        values = {k: text(tls_raw, k, at) for k in _TLS_KEYS if k != "insecure_skip_verify"}
        for inline in ("ca", "cert", "key"):
            if values[inline] and values[f"{inline}_file"]:
                raise SDConfigError(f"{at}: at most one of {inline} and {inline}_file can be set")
        tls = TLSOptions(insecure_skip_verify=boolean(tls_raw, "insecure_skip_verify", at, False), **values)
        if bool(tls.cert or tls.cert_file) != bool(tls.key or tls.key_file):
            raise SDConfigError(f"{at}: a client certificate needs both a certificate and a key")
        client["tls"] = tls
    return HTTPClient(**client)


# --- target groups as Prometheus's targetgroup.Group reads them ----------------------------------------------------


def decode_groups(value: object, where: str, *, yaml_strings: bool = False) -> list[TargetGroup]:
    """A list of `{targets: [...], labels: {...}}`, sources left empty (the caller names them). Raises
    SDRefreshError as Prometheus refuses the list: a null item, an unknown key, a target that is not a string, an
    invalid label name. `yaml_strings`: a scalar is read into a string by its text (YAML files), not refused."""
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise SDRefreshError(f"{where}: expected a list of target groups")
    out: list[TargetGroup] = []
    for i, item in enumerate(value):
        if item is None:
            raise SDRefreshError(f"{where}: nil target group item found")
        if not isinstance(item, Mapping):
            raise SDRefreshError(f"{where}[{i}]: a target group must be a mapping with targets and labels")
        for key in item:
            if key not in ("targets", "labels"):
                raise SDRefreshError(f"{where}[{i}]: unknown field {key!r} (a target group has targets and labels)")
        out.append(_group(item, f"{where}[{i}]", yaml_strings))
    return out


def _string(value: object, where: str, yaml_strings: bool) -> str:
    if isinstance(value, str) and not hasattr(value, "yaml_bool"):
        return value
    container = isinstance(value, Mapping) or (isinstance(value, Sequence) and not isinstance(value, str))
    if yaml_strings and value is not None and not container:
        try:
            return scalar_text(value, where)
        except RelabelConfigError:
            pass
    raise SDRefreshError(f"{where}: must be a string, got {type(value).__name__}")


def _group(item: Mapping[str, Any], where: str, yaml_strings: bool) -> TargetGroup:
    targets_raw = item.get("targets")
    if targets_raw is not None and (not isinstance(targets_raw, Sequence) or isinstance(targets_raw, str)):
        raise SDRefreshError(f"{where}.targets: must be a list of strings")
    targets = tuple(
        {"__address__": _string(t, f"{where}.targets[{j}]", yaml_strings)} for j, t in enumerate(targets_raw or ())
    )
    labels_raw = item.get("labels")
    labels: dict[str, str] = {}
    if labels_raw is not None:
        if not isinstance(labels_raw, Mapping):
            raise SDRefreshError(f"{where}.labels: must be a mapping of label names to values")
        for key, value in labels_raw.items():
            name = _string(key, f"{where}.labels", yaml_strings)
            if not is_valid_label_name(name):
                raise SDRefreshError(f"{where}.labels: {name!r} is not a valid label name")
            text_value = _string(value, f"{where}.labels.{name}", yaml_strings) if value is not None else ""
            if not is_valid_utf8(text_value):
                raise SDRefreshError(f"{where}.labels.{name}: {text_value!r} is not a valid label value")
            labels[name] = text_value
    return TargetGroup("", targets, labels)
