"""Values of the Secrets and ConfigMaps monitors refer to (basic auth, bearer tokens, OAuth2, TLS material).

The store is built from the objects as the API returns them (Secret `data` base64-encoded, ConfigMap `data` plain)
or as written in a manifest (a Secret's `stringData`, which the API server merges over `data`). A ConfigMap's
`binaryData` is not read: prometheus-operator looks keys up in `data` only. References resolve in the monitor's
own namespace, as in prometheus-operator. A reference that does not resolve is an error naming the field and what
is missing; prometheus-operator rejects such a monitor.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_operator.prom.monitors.common import Invalid, Obj, join, opt_obj, opt_str


@dataclass(frozen=True, slots=True)
class _Entry:
    encoded: Mapping[str, str]  # base64 values (Secret data)
    plain: Mapping[str, str]  # clear values (Secret stringData, ConfigMap data)
    unread: frozenset[str] = frozenset()  # ConfigMap binaryData keys, named only in errors

    def keys(self) -> list[str]:
        return sorted({*self.encoded, *self.plain})


@dataclass(frozen=True, slots=True)
class SecretStore:
    """Secrets and ConfigMaps by (namespace, name)."""

    secrets: Mapping[tuple[str, str], _Entry] = field(default_factory=dict)
    config_maps: Mapping[tuple[str, str], _Entry] = field(default_factory=dict)

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]], default_namespace: str = "default") -> SecretStore:
        """Index every Secret and ConfigMap in `objects`; anything else is ignored. Later objects win."""
        secrets: dict[tuple[str, str], _Entry] = {}
        config_maps: dict[tuple[str, str], _Entry] = {}
        for obj in objects:
            kind = obj.get("kind")
            meta = obj.get("metadata")
            if kind not in ("Secret", "ConfigMap") or not isinstance(meta, Mapping):
                continue
            key = (str(meta.get("namespace") or default_namespace), str(meta.get("name") or ""))
            if kind == "Secret":
                secrets[key] = _Entry(_strings(obj.get("data")), _strings(obj.get("stringData")))
            else:
                binary = obj.get("binaryData")
                unread = frozenset(binary) if isinstance(binary, Mapping) else frozenset()
                config_maps[key] = _Entry({}, _strings(obj.get("data")), frozenset(map(str, unread)))
        return cls(secrets, config_maps)

    def secret_key(self, namespace: str, selector: Obj, path: str) -> str:
        """The value a SecretKeySelector (`{name, key}`) at `path` points to."""
        return _lookup(self.secrets, "Secret", namespace, selector, path)

    def config_map_key(self, namespace: str, selector: Obj, path: str) -> str:
        """The value a ConfigMapKeySelector (`{name, key}`) at `path` points to."""
        return _lookup(self.config_maps, "ConfigMap", namespace, selector, path)

    def secret_or_config_map(self, namespace: str, ref: Obj, path: str) -> str:
        """The value of a SecretOrConfigMap (`{secret: {...}}` or `{configMap: {...}}`)."""
        secret = opt_obj(ref, "secret", path)
        config_map = opt_obj(ref, "configMap", path)
        if secret is not None and config_map is not None:
            raise Invalid(path, "set either secret or configMap, not both")
        if secret is not None:
            return self.secret_key(namespace, secret, join(path, "secret"))
        if config_map is not None:
            return self.config_map_key(namespace, config_map, join(path, "configMap"))
        raise Invalid(path, "set secret or configMap")


def is_set(ref: Obj | None) -> bool:
    """Whether a SecretOrConfigMap refers to anything (Go compares it with the zero value)."""
    return ref is not None and (ref.get("secret") is not None or ref.get("configMap") is not None)


def _lookup(index: Mapping[tuple[str, str], _Entry], kind: str, namespace: str, selector: Obj, path: str) -> str:
    name, key = _selector(selector, path)
    entry = index.get((namespace, name))
    if entry is None:
        raise Invalid(join(path, "name"), _not_found(kind, namespace, name, index))
    return _value(entry, key, f'{kind} "{namespace}/{name}"', path)


def _not_found(kind: str, namespace: str, name: str, index: Mapping[tuple[str, str], _Entry]) -> str:
    elsewhere = sorted(ns for ns, other in index if other == name)
    if elsewhere:
        # A common mistake: references resolve in the monitor's namespace only.
        return (
            f'{kind} "{namespace}/{name}" not found; one exists in {", ".join(elsewhere)}, but references '
            f'resolve in the monitor\'s namespace "{namespace}": copy it there'
        )
    return f'{kind} "{namespace}/{name}" not found; create it or fix the name'


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _selector(selector: Obj, path: str) -> tuple[str, str]:
    name = opt_str(selector, "name", path) or ""
    key = opt_str(selector, "key", path) or ""
    if not name:
        raise Invalid(join(path, "name"), "required field is missing; name the Secret or ConfigMap")
    if not key:
        raise Invalid(join(path, "key"), "required field is missing; name the key within the object")
    return name, key


def _value(entry: _Entry, key: str, what: str, path: str) -> str:
    if key in entry.plain:
        return entry.plain[key]
    if key in entry.encoded:
        try:
            raw = base64.b64decode(entry.encoded[key], validate=True)
        except (binascii.Error, ValueError):
            raise Invalid(join(path, "key"), f'{what} key "{key}" is not valid base64') from None
        # Go's string([]byte) keeps invalid UTF-8 as it is; YAML cannot, so such bytes are replaced.
        return raw.decode("utf-8", errors="replace")
    if key in entry.unread:
        raise Invalid(join(path, "key"), f'{what} has "{key}" under binaryData, which is not read; move it to data')
    known = ", ".join(entry.keys()) or "none"
    raise Invalid(join(path, "key"), f'{what} has no key "{key}"; its keys: {known}')
