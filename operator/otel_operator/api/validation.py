"""Validate resources against their CRD schema, and apply the schema's defaults, without an API server.

Used by `otel-operator render`/`check` and by the operator before it builds anything. Messages name the object,
the field and, where one can be guessed, the fix.

The translation from Kubernetes' structural OpenAPI to JSON Schema mirrors the API server's strict field
validation (what `kubectl apply` enforces): unknown fields are errors unless the schema preserves them.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema

from otel_operator.api.crds import all_crds, monitoring_crds
from otel_operator.api.openapi import Schema

INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of one object."""

    obj: str  # "OpenTelemetryCollector opentelemetry/otelcol"
    field: str  # "spec.targetAllocator.allocationStrategy"
    message: str  # what is wrong and, where known, how to fix it

    def __str__(self) -> str:
        return f"{self.obj}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    kind: str
    schema: Schema  # the openAPIV3Schema


@cache
def _types() -> dict[tuple[str, str], ResourceType]:
    types = {}
    for crd in [*all_crds(), *monitoring_crds()]:  # `check` validates monitors against the stand-ins' fields
        spec = crd["spec"]
        for ver in spec["versions"]:
            api_version = f"{spec['group']}/{ver['name']}"
            types[(api_version, spec["names"]["kind"])] = ResourceType(
                spec["group"], ver["name"], spec["names"]["kind"], ver["schema"]["openAPIV3Schema"]
            )
    return types


def resource_type(api_version: str, kind: str) -> ResourceType | None:
    return _types().get((api_version, kind))


def describe(resource: Mapping[str, Any]) -> str:
    meta = resource.get("metadata") or {}
    name = meta.get("name", "<unnamed>") if isinstance(meta, Mapping) else "<unnamed>"
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return f"{resource.get('kind', '<no kind>')} {ns + '/' if ns else ''}{name}"


def to_json_schema(schema: Schema) -> Schema:
    """Kubernetes structural schema → JSON Schema with the API server's strictness."""
    out: Schema = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = to_json_schema(value)
        elif key.startswith("x-kubernetes-") or key in ("description", "default", "format", "nullable"):
            continue
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
    if schema.get("format") == "int32" and schema.get("type") == "integer":
        out.setdefault("minimum", INT32[0])
        out["maximum"] = INT32[1]
    preserves = schema.get("x-kubernetes-preserve-unknown-fields", False)
    closed = "properties" in schema and "additionalProperties" not in schema
    if schema.get("type") == "object" and closed and not preserves:
        out["additionalProperties"] = False
    return out


@cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    rtype = _types()[(api_version, kind)]
    top = to_json_schema(rtype.schema)
    top.pop("additionalProperties", None)  # metadata and friends are the API server's business
    return jsonschema.Draft202012Validator(top)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def _join(path: str, name: str) -> str:
    return name if path == "<root>" else f"{path}.{name}"


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f'"{value}"'


def _messages(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    path = _path(error.absolute_path)
    kind = error.validator
    instance: Any = error.instance
    schema: Any = error.schema
    expected: Any = error.validator_value
    if kind == "required":
        missing = [r for r in expected if isinstance(instance, dict) and r not in instance]
        return [(_join(path, m), "required field is missing") for m in missing]
    if kind == "additionalProperties" and expected is False:
        known = sorted((schema.get("properties") or {}).keys())
        found = []
        for extra in sorted(set(instance) - set(known)):
            guess = difflib.get_close_matches(extra, known, n=1, cutoff=0.6)
            hint = f'; did you mean "{guess[0]}"?' if guess else f"; known fields: {', '.join(known)}"
            found.append((_join(path, extra), f"unknown field{hint}"))
        return found
    if kind == "enum":
        allowed = ", ".join(_show(v) for v in expected)
        return [(path, f"{_show(instance)} is not allowed; use one of {allowed}")]
    if kind == "type":
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return [(path, f"expected {expected}, got {type(instance).__name__} {_show(instance)}")]
    if kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        return [(path, f"{instance!r} is out of range; must be {word} {expected}")]
    return [(path, error.message)]


def validate(resource: Mapping[str, Any]) -> list[FieldError]:
    """Every schema violation in `resource`, in field order; [] when it is valid."""
    who = describe(resource)
    api_version, kind = resource.get("apiVersion"), resource.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [
            FieldError(who, "apiVersion" if not isinstance(api_version, str) else "kind", "required field is missing")
        ]
    if resource_type(api_version, kind) is None:
        known = sorted(f"{k} ({v})" for v, k in _types())
        return [
            FieldError(
                who, "apiVersion", f"{kind} {api_version} is not a type otel-operator knows; known: {', '.join(known)}"
            )
        ]
    errors = []
    for err in _validator(api_version, kind).iter_errors(resource):
        for field, message in _messages(err):
            errors.append(FieldError(who, field, message))
    return sorted(set(errors), key=lambda e: (e.field, e.message))


def apply_defaults(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `resource` with the CRD's defaults filled in, as the API server does on admission.

    As there, a default applies only where the enclosing object is present.
    """
    out = copy.deepcopy(dict(resource))
    rtype = resource_type(str(resource.get("apiVersion")), str(resource.get("kind")))
    if rtype is not None:
        _default_into(out, rtype.schema)
    return out


def _default_into(value: Any, schema: Schema) -> None:
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default_into(value[name], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in (schema.get("properties") or {}):
                    _default_into(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default_into(item, schema["items"])
