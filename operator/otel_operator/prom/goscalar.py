"""YAML scalars as Go's yaml.v2 (the reader of Prometheus's config) resolves them, and its reading of one into an
unsigned 64-bit field (`modulus`).

PyYAML follows YAML 1.1's regular expressions; yaml.v2 tries Go's number parsers on the text, so the two disagree
on plain scalars such as `1e3`, `0o17`, `08`, `+.5`, `1.e5` (numbers to Go, text to PyYAML), `1:30` (text to Go, a
sexagesimal 90 to PyYAML) and `y`/`n` (booleans to Go). The number rules, from yaml.v2's `resolve`: underscores
are dropped, then Go's `strconv.ParseInt(text, 0, 64)` (sign, then `0x`, `0o`, `0b` or a leading `0` for octal),
then `ParseUint` (no sign), then a float if the text looks like one (yaml.v2's `yamlStyleFloat`).

Reading a float into a uint64 converts it the way Go does on amd64 (`uint64(f)`): truncated toward zero, modulo
2^64 for negative values (`-1.5` → 2^64-1), and 2^63 where the processor has no answer (below -2^63, `-.inf`,
exactly 2^64, which is as far as yaml.v2's `f <= math.MaxUint64` lets a float through). Checked against promtool
v3.14 (tests/unit/prom/test_relabel.py). Go on arm64 saturates instead; the amd64 reading is what the tests encode.
"""

from __future__ import annotations

import math
import re
from typing import Final

_MAP: Final[dict[str, tuple[str, object]]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), ("!!bool", True)),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), ("!!bool", False)),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), ("!!null", None)),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), ("!!float", math.nan)),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), ("!!float", math.inf)),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), ("!!float", -math.inf)),
}
_MAP_FIRST: Final = frozenset("yYnNtTfFoO~+-.0123456789")  # yaml.v2 looks in its map only for these (and "")
_NUMBER_FIRST: Final = frozenset("+-0123456789")
# Go's base-0 integer syntax after the underscores are gone: sign, then hex, octal, binary, leading-0 octal, decimal.
_GO_INT: Final = re.compile(r"([-+]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|(0[0-7]*)|([1-9][0-9]*))")
_YAML_STYLE_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DOT_FLOAT: Final = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")  # what Go's ParseFloat takes after a leading dot
_TIMESTAMP: Final = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?")  # yaml.v2's four layouts, roughly
_U64: Final = 1 << 64
_I63: Final = 1 << 63


def _go_int(text: str) -> int | None:
    m = _GO_INT.fullmatch(text)
    if m is None:
        return None
    sign, hexa, octal, binary, zero_octal, decimal = m.groups()
    if hexa is not None:
        value = int(hexa, 16)
    elif octal is not None:
        value = int(octal, 8)
    elif binary is not None:
        value = int(binary, 2)
    elif zero_octal is not None:
        value = int(zero_octal, 8)
    else:
        value = int(decimal)
    if sign == "-":
        value = -value
    if -_I63 <= value < _I63 or (not sign and value < _U64):  # ParseInt, else ParseUint (which takes no sign)
        return value
    return None


def resolve_plain(text: str) -> tuple[str, object]:
    """yaml.v2's reading of a plain (unquoted, untagged) scalar: its short tag (`!!str`, `!!int`, `!!float`,
    `!!bool`, `!!null`, `!!timestamp`) and value (the text itself for `!!str` and `!!timestamp`)."""
    if (not text or text[0] in _MAP_FIRST) and text in _MAP:
        return _MAP[text]
    if text[:1] == ".":
        if _DOT_FLOAT.fullmatch(text):
            return "!!float", float(text)
    elif text[:1] in _NUMBER_FIRST:
        if _TIMESTAMP.fullmatch(text):
            return "!!timestamp", text
        plain = text.replace("_", "")
        value = _go_int(plain)
        if value is not None:
            return "!!int", value
        if _YAML_STYLE_FLOAT.fullmatch(plain):
            number = float(plain)
            if not math.isinf(number):  # Go's ParseFloat reports an overflow as an error: then it is text
                return "!!float", number
    return "!!str", text


def go_number(text: str) -> int | float | None:
    """The number yaml.v2 reads a plain scalar as, or None when it reads it as something else."""
    tag, value = resolve_plain(text)
    return value if tag in ("!!int", "!!float") and isinstance(value, int | float) else None


def float_to_uint64(value: float) -> int:
    """Go's `uint64(f)` on amd64 for a float that is not NaN and at most 2^64."""
    if value < _I63:
        if math.isinf(value) or value < -_I63:
            return _I63  # cvttsd2si's "integer indefinite", 0x8000000000000000
        return math.trunc(value) % _U64
    high = math.trunc(value - _I63)  # the float subtraction Go does
    return _I63 if high >= _I63 else high | _I63


def _unmarshal_error(tag: str, text: str, into: str) -> ValueError:
    shown = f" `{text[:7]}...`" if len(text) > 10 else f" `{text}`"  # yaml.v2 shortens long values so
    return ValueError(f"cannot unmarshal {tag}{shown} into {into}")


def go_uint64(value: object) -> int:
    """`value` (as promconfig's loader or plain data has it) read into a Go uint64 field by yaml.v2. ValueError in
    yaml.v2's words (`cannot unmarshal !!int \\`-1\\` into uint64`)."""
    if value is None:
        return 0  # null is the zero value
    truth = getattr(value, "yaml_bool", None)
    if isinstance(truth, bool) or isinstance(value, bool):
        raise _unmarshal_error("!!bool", str(value).lower() if isinstance(value, bool) else str(value), "uint64")
    text = getattr(value, "yaml_text", None)  # a plain scalar's source text: resolve it as Go does
    if isinstance(text, str):
        tag, resolved = resolve_plain(text)
    elif isinstance(value, int):
        text = str(value)
        tag, resolved = resolve_plain(text)  # as if written in the file
    elif isinstance(value, float):
        text, tag, resolved = repr(value), "!!float", value
    else:
        text, tag, resolved = str(value), "!!str", value
    if tag == "!!null":
        return 0
    if tag == "!!int" and isinstance(resolved, int) and 0 <= resolved < _U64:
        return resolved
    if tag == "!!float" and isinstance(resolved, float) and not math.isnan(resolved) and resolved <= _U64:
        return float_to_uint64(resolved)
    raise _unmarshal_error(tag, text, "uint64")
