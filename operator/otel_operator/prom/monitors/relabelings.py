"""User relabelings (monitoring.coreos.com `RelabelConfig`) → Prometheus `relabel_configs` entries.

Each key is written only when set, in the order prometheus-operator writes them, with the action lower-cased;
an explicit `replacement: ""` is kept because it means "delete the label". Before that, each rule is checked as
prometheus-operator's LabelConfigValidator does for Prometheus 3; an invalid rule rejects the whole monitor.

The regex check is deliberately shallow: Python's `re` stands in for Go's RE2, and only failures that RE2
reports too (unbalanced groups, nothing to repeat, bad ranges, unterminated classes) count. Go-exact
validation lives with the relabeling engine.
"""

from __future__ import annotations

import re

from otel_operator.prom.monitors.common import (
    Config,
    Invalid,
    Obj,
    join,
    obj_list,
    opt_int,
    opt_str,
    str_list,
)

ACTIONS = (
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
)
DEFAULT_REGEX = "(.*)"
DEFAULT_SEPARATOR = ";"
DEFAULT_REPLACEMENT = "$1"

# Prometheus's legacy check for templated target labels, which prometheus-operator applies regardless of version.
_RELABEL_TARGET = re.compile(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$", re.ASCII)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Python `re` errors that RE2 reports as well; anything else may be valid RE2 syntax Python lacks.
_RE2_ALSO_REJECTS = (
    "missing ), unterminated subpattern",
    "unbalanced parenthesis",
    "nothing to repeat",
    "multiple repeat",
    "bad character range",
    "unterminated character set",
)


def check_regex(pattern: str, path: str) -> None:
    try:
        # Anchored the way Prometheus compiles it: plain concatenation, so "a)|(b" is legal.
        re.compile(f"^(?s:{pattern})$")
    except re.error as err:
        if any(err.msg.startswith(text) for text in _RE2_ALSO_REJECTS):
            raise Invalid(path, f'invalid regex "{pattern}": {err.msg}') from None


def _validate(rule: Obj, path: str) -> None:
    action = (opt_str(rule, "action", path) or "replace").lower()
    shown = opt_str(rule, "action", path) or "replace"
    if action not in ACTIONS:
        raise Invalid(join(path, "action"), f'"{shown}" is not a relabel action; use one of {", ".join(ACTIONS)}')
    regex = opt_str(rule, "regex", path) or ""
    check_regex(regex, join(path, "regex"))
    target = opt_str(rule, "targetLabel", path) or ""
    modulus = opt_int(rule, "modulus", path) or 0
    separator = opt_str(rule, "separator", path)
    replacement = opt_str(rule, "replacement", path)
    source_labels = str_list(rule, "sourceLabels", path)

    if action == "hashmod" and modulus == 0:
        raise Invalid(join(path, "modulus"), "hashmod needs a non-zero modulus")
    if action in ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal") and not target:
        raise Invalid(join(path, "targetLabel"), f"{shown} needs a targetLabel")
    if action in ("replace", "lowercase", "uppercase", "keepequal", "dropequal") and not _RELABEL_TARGET.match(target):
        raise Invalid(join(path, "targetLabel"), f'"{target}" is not a valid target label for {shown}')
    if (
        action in ("lowercase", "uppercase", "keepequal", "dropequal")
        and replacement is not None
        and replacement != DEFAULT_REPLACEMENT
    ):
        raise Invalid(join(path, "replacement"), f"replacement cannot be set for {shown}; remove it")
    if action == "labelmap" and replacement is not None and not _RELABEL_TARGET.match(replacement):
        raise Invalid(join(path, "replacement"), f'"{replacement}" is not a valid replacement for {shown}')
    if action == "hashmod" and not _LABEL_NAME.match(target):
        raise Invalid(join(path, "targetLabel"), f'"{target}" is not a valid label name for {shown}')
    if action in ("keepequal", "dropequal") and (
        (regex and regex != DEFAULT_REGEX)
        or modulus
        or (separator is not None and separator != DEFAULT_SEPARATOR)
        or (replacement is not None and replacement != DEFAULT_REPLACEMENT)
    ):
        raise Invalid(path, f"{shown} takes only sourceLabels and targetLabel; remove the other fields")
    if action in ("labeldrop", "labelkeep") and (
        source_labels
        or target
        or modulus
        or (separator is not None and separator != DEFAULT_SEPARATOR)
        or (replacement is not None and replacement != DEFAULT_REPLACEMENT)
    ):
        raise Invalid(path, f"{shown} takes only regex; remove the other fields")


def _render(rule: Obj, path: str) -> Config:
    out: Config = {}
    source_labels = str_list(rule, "sourceLabels", path)
    if source_labels:
        out["source_labels"] = source_labels
    separator = opt_str(rule, "separator", path)
    if separator is not None:
        out["separator"] = separator
    target = opt_str(rule, "targetLabel", path)
    if target:
        out["target_label"] = target
    regex = opt_str(rule, "regex", path)
    if regex:
        out["regex"] = regex
    modulus = opt_int(rule, "modulus", path)
    if modulus:
        out["modulus"] = modulus
    replacement = opt_str(rule, "replacement", path)
    if replacement is not None:
        out["replacement"] = replacement
    action = opt_str(rule, "action", path)
    if action:
        out["action"] = action.lower()
    return out


def relabel_configs(owner: Obj, key: str, path: str) -> list[Config]:
    """`owner[key]` (a list of RelabelConfig) validated and rendered."""
    rules = obj_list(owner, key, path)
    out = []
    for i, rule in enumerate(rules):
        where = join(join(path, key), i)
        _validate(rule, where)
        out.append(_render(rule, where))
    return out
