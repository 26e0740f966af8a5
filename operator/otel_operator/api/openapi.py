"""A small vocabulary for writing Kubernetes structural (OpenAPI v3) schemas by hand.

The CRDs in `crds.py` are written with these helpers so that a schema reads like the Go types it mirrors,
instead of the ten thousand generated lines upstream ships.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Schema = dict[str, Any]


def _with(schema: Schema, description: str | None, default: Any) -> Schema:
    if description:
        schema["description"] = description
    if default is not None:
        schema["default"] = default
    return schema


def string(
    description: str | None = None,
    *,
    enum: Iterable[str] | None = None,
    default: str | None = None,
    fmt: str | None = None,
    pattern: str | None = None,
) -> Schema:
    schema: Schema = {"type": "string"}
    if enum is not None:
        schema["enum"] = list(enum)
    if fmt:
        schema["format"] = fmt
    if pattern:
        schema["pattern"] = pattern
    return _with(schema, description, default)


def integer(
    description: str | None = None, *, fmt: str = "int32", minimum: int | None = None, default: int | None = None
) -> Schema:
    schema: Schema = {"type": "integer", "format": fmt}
    if minimum is not None:
        schema["minimum"] = minimum
    return _with(schema, description, default)


def boolean(description: str | None = None, *, default: bool | None = None) -> Schema:
    return _with({"type": "boolean"}, description, default)


def int_or_string(description: str | None = None) -> Schema:
    return _with({"x-kubernetes-int-or-string": True}, description, None)


def array(items: Schema, description: str | None = None, *, atomic: bool = False) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if atomic:
        schema["x-kubernetes-list-type"] = "atomic"
    return _with(schema, description, None)


def string_map(description: str | None = None) -> Schema:
    return _with({"type": "object", "additionalProperties": {"type": "string"}}, description, None)


def free_object(description: str | None = None) -> Schema:
    """An object whose inner shape the API server keeps as given (a Kubernetes type we pass through)."""
    return _with({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, description, None)


def obj(
    properties: Mapping[str, Schema] | None = None,
    description: str | None = None,
    *,
    required: Iterable[str] = (),
    preserve_unknown: bool = False,
    default: Mapping[str, Any] | None = None,
) -> Schema:
    schema: Schema = {"type": "object"}
    if properties:
        schema["properties"] = dict(properties)
    req = list(required)
    if req:
        schema["required"] = req
    if preserve_unknown:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    return _with(schema, description, dict(default) if default is not None else None)


def label_selector(description: str | None = None, *, default: Mapping[str, Any] | None = None) -> Schema:
    """metav1.LabelSelector."""
    requirement = obj(
        {"key": string(), "operator": string(), "values": array(string(), atomic=True)},
        required=["key", "operator"],
    )
    schema = obj(
        {"matchLabels": string_map(), "matchExpressions": array(requirement, atomic=True)},
        description,
        default=default,
    )
    schema["x-kubernetes-map-type"] = "atomic"
    return schema
