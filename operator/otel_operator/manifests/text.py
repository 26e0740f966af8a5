"""Byte-exact text: the JSON the config hash is computed over, and the YAML styles upstream writes.

Upstream's output depends on which Go library serialised it, and parts of it are compared as strings (e2e tests
assert `collector.yaml` verbatim; hash annotations roll pods whenever a byte changes). So each style is its own
function here, and nobody else formats YAML for an object's data:

- `go_json`: Go's `encoding/json` for maps (compact, keys sorted, `<>&` escaped): the collector config hash.
- `collector_yaml`: goccy/go-yaml as upstream configures it for `collector.yaml` (sequences indented under their
  key; indent 2 without a target allocator, 4 with one).
- `yaml_v2`: gopkg.in/yaml.v2 (indent 2, sequences not indented, yaml.v2's key order): `targetallocator.yaml`, and
  the style `render` prints objects in (what `kubectl get -o yaml` looks like).

Mappings are written in the order they are given; `sort_keys` sorts them first. An `Ordered` mapping keeps its
order through `sort_keys` (Go structs such as a label selector are written in field order, not sorted).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import yaml


class Ordered(dict[str, Any]):
    """A mapping written in its own key order even where the rest is sorted (a Go struct, not a Go map)."""


# --- sorting --------------------------------------------------------------------------------------------------------


def _yaml_v2_compare(a: str, b: str) -> int:
    """yaml.v2's map key order: letters after other characters, runs of digits by numeric value."""
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        la, lb = ca.isalpha(), cb.isalpha()
        if la and lb:
            return -1 if ca < cb else 1
        if la or lb:
            return 1 if la else -1
        da = _digits_at(a, i)
        db = _digits_at(b, i)
        na, nb = int(da or "0"), int(db or "0")
        if na != nb:
            return -1 if na < nb else 1
        if len(da) != len(db):
            return -1 if len(da) < len(db) else 1
        return -1 if ca < cb else 1
    return (len(a) > len(b)) - (len(a) < len(b))


def _digits_at(text: str, start: int) -> str:
    end = start
    while end < len(text) and text[end].isdigit():
        end += 1
    return text[start:end]


YAML_V2_ORDER: Callable[[str], Any] = functools.cmp_to_key(_yaml_v2_compare)


def sort_keys(value: Any, key: Callable[[str], Any] | None = None) -> Any:
    """A copy of `value` with every mapping's keys sorted (by `key`; plain string order by default), except that
    `Ordered` mappings keep their order (their values are still sorted inside)."""
    if isinstance(value, Ordered):
        return Ordered((k, sort_keys(v, key)) for k, v in value.items())
    if isinstance(value, Mapping):
        return {str(k): sort_keys(value[k], key) for k in sorted(value, key=lambda k: key(str(k)) if key else str(k))}
    if isinstance(value, list | tuple):
        return [sort_keys(v, key) for v in value]
    return value


# --- Go JSON --------------------------------------------------------------------------------------------------------

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    for char, escape in _GO_ESCAPES.items():
        out = out.replace(char, escape)
    return out


def _go_float(number: float) -> str:
    if not math.isfinite(number):
        raise ValueError(f"{number} cannot be written as JSON")
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    text = repr(number)
    if 1e-6 <= abs(number) < 1e21:
        return format(Decimal(text), "f") if "e" in text else text
    mantissa, _, exponent = text.partition("e")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{int(exponent.lstrip('+-'))}"


def go_json(value: Any) -> str:  # noqa: PLR0911 (one return per JSON type)
    """`value` as Go's `json.Marshal` writes a `map[string]any`: compact, map keys sorted (an `Ordered` mapping
    keeps its order, as a struct does), `<`, `>` and `&` escaped, integral floats without a fraction."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, Mapping):
        keys = list(value) if isinstance(value, Ordered) else sorted(value, key=str)
        return "{" + ",".join(f"{_go_string(str(k))}:{go_json(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# --- YAML -----------------------------------------------------------------------------------------------------------


def _plain_or_single_quoted(value: Any) -> str:
    """A scalar as libyaml (and so yaml.v2 and PyYAML) writes it on one line: plain when that reads back as the same
    value, else quoted."""
    text = str(yaml.safe_dump(value, default_flow_style=True, width=math.inf, allow_unicode=True))
    return text.removesuffix("\n").removesuffix("\n...").rstrip("\n")


def _plain_or_double_quoted(value: Any) -> str:
    """A scalar as goccy/go-yaml writes it: plain when that reads back as the same value, else Go-quoted."""
    text = _plain_or_single_quoted(value)
    if isinstance(value, str) and text[:1] in ("'", '"'):
        return json.dumps(value, ensure_ascii=False)
    return text


_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


def _implicit_tag(text: str) -> str:
    """The tag a plain scalar `text` reads back as (`!!str`, `!!bool`, `!!int`, `!!null`, ...)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag


def _yaml_v2_scalar(value: Any) -> str:
    """A scalar as yaml.v2 writes it: a string whose plain form would read back as another type (`""`, `"true"`,
    `"10"`, `"null"`) double-quoted, as yaml.v2 asks for; any other string as libyaml chooses (plain, or
    single-quoted where plain cannot hold it)."""
    text = _plain_or_single_quoted(value)
    if isinstance(value, str) and text.startswith("'") and _implicit_tag(value) != _STR_TAG:
        dumped = str(yaml.safe_dump(value, default_style='"', width=math.inf, allow_unicode=True))
        return dumped.removesuffix("\n")
    return text


def _literal_ok(text: str) -> bool:
    """Whether a multi-line string can be a literal block (`|`) and read back unchanged."""
    if "\n" not in text or text[:1] in (" ", "\t", "\n") or "\r" in text:
        return False
    lines = text.split("\n")
    return all(line == line.rstrip(" \t") and line.isprintable() for line in lines)


class _Emitter:
    def __init__(self, indent: int, indent_sequences: bool, scalar: Callable[[Any], str]) -> None:
        self.indent = indent
        self.indent_sequences = indent_sequences
        self.scalar = scalar
        self.lines: list[str] = []

    def inline(self, value: Any) -> str | None:
        """The text after `key: ` or `- ` when the value fits there; None for a block."""
        if isinstance(value, Mapping):
            return "{}" if not value else None
        if isinstance(value, list | tuple):
            return "[]" if not value else None
        if isinstance(value, str) and _literal_ok(value):
            return None
        return self.scalar(value)

    def literal(self, text: str, column: int, prefix: str) -> None:
        chomp = "" if text.endswith("\n") and not text.endswith("\n\n") else ("-" if not text.endswith("\n") else "+")
        self.lines.append(f"{prefix}|{chomp}")
        body = text[:-1] if text.endswith("\n") else text
        for line in body.split("\n"):
            self.lines.append(" " * column + line if line else "")

    def mapping(self, value: Mapping[Any, Any], column: int, first_prefix: str | None = None) -> None:
        for position, (key, item) in enumerate(value.items()):
            lead = first_prefix if position == 0 and first_prefix is not None else " " * column
            head = f"{lead}{self.scalar(str(key))}:"
            self.value(item, column, head)

    def sequence(self, value: Sequence[Any], column: int, first_prefix: str | None = None) -> None:
        for position, item in enumerate(value):
            lead = first_prefix if position == 0 and first_prefix is not None else " " * column
            text = self.inline(item)
            if text is not None:
                self.lines.append(f"{lead}- {text}")
            elif isinstance(item, Mapping):
                self.mapping(item, column + 2, f"{lead}- ")
            elif isinstance(item, list | tuple):
                self.sequence(item, column + 2, f"{lead}- ")
            else:
                self.literal(item, column + 2, f"{lead}- ")

    def value(self, item: Any, column: int, head: str) -> None:
        text = self.inline(item)
        if text is not None:
            self.lines.append(f"{head} {text}")
        elif isinstance(item, Mapping):
            self.lines.append(head)
            self.mapping(item, column + self.indent)
        elif isinstance(item, list | tuple):
            self.lines.append(head)
            self.sequence(item, column + (self.indent if self.indent_sequences else 0))
        else:
            self.literal(item, column + self.indent, f"{head} ")


def _dump(value: Mapping[str, Any], indent: int, indent_sequences: bool, scalar: Callable[[Any], str]) -> str:
    if not value:
        return "{}\n"
    emitter = _Emitter(indent, indent_sequences, scalar)
    emitter.mapping(value, 0)
    return "\n".join(emitter.lines) + "\n"


def collector_yaml(value: Mapping[str, Any], indent: int) -> str:
    """goccy/go-yaml with `IndentSequence(true)`, in the order given (sort first for a Go map)."""
    return _dump(value, indent, True, _plain_or_double_quoted)


def yaml_v2(value: Mapping[str, Any]) -> str:
    """gopkg.in/yaml.v2: indent 2, sequences at their key's column, keys in yaml.v2's order (`Ordered` kept)."""
    return _dump(sort_keys(value, YAML_V2_ORDER), 2, False, _yaml_v2_scalar)


def documents(objects: Sequence[Mapping[str, Any]]) -> str:
    """Objects as one multi-document YAML stream, each as `kubectl get -o yaml` would print it."""
    return "".join(f"---\n{yaml_v2(obj)}" for obj in objects)
