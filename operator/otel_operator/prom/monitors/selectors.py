"""A monitor's label selector, as prometheus-operator applies it.

With the default `selectorMechanism: RelabelSelector` the selector becomes keep/drop relabel rules on the
discovered object's `label_*`/`labelpresent_*` meta labels. Values go into the regex unescaped, exactly as
prometheus-operator writes them (so `a.b` also matches `axb`). With `RoleSelector` it becomes a Kubernetes
label selector string handed to the API server instead.

The selector is first validated as Kubernetes' `LabelSelectorAsSelector` does; prometheus-operator rejects a
monitor whose selector fails that.
"""

from __future__ import annotations

import re

from otel_operator.prom.labels import sanitize_label_name
from otel_operator.prom.monitors.common import (
    Config,
    Invalid,
    Obj,
    join,
    obj_list,
    opt_obj,
    opt_str,
    str_list,
)

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _check_key(key: str, path: str) -> None:
    prefix, _, name = key.rpartition("/")
    problem = None
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        problem = "its prefix must be a DNS subdomain (lower case, at most 253 characters)"
    elif not name or len(name) > 63 or not _NAME.match(name):
        problem = (
            "must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with "
            "a letter or digit, optionally after a DNS-subdomain prefix and '/'"
        )
    if problem:
        raise Invalid(path, f'"{key}" is not a valid label key: {problem}')


def _check_value(value: str, path: str) -> None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise Invalid(
            path,
            f'"{value}" is not a valid label value: must be empty or at most 63 characters of letters, digits, '
            "'-', '_' or '.', starting and ending with a letter or digit",
        )


def _labels(selector: Obj, path: str) -> dict[str, str]:
    labels = opt_obj(selector, "matchLabels", path) or {}
    out = {}
    for key, value in labels.items():
        where = join(join(path, "matchLabels"), str(key))
        if not isinstance(value, str):
            raise Invalid(where, f"expected string, got {value!r}; quote it")
        _check_key(str(key), where)
        _check_value(value, where)
        out[str(key)] = value
    return out


def _expressions(selector: Obj, path: str) -> list[tuple[str, str, list[str]]]:
    out = []
    for i, expr in enumerate(obj_list(selector, "matchExpressions", path)):
        where = join(join(path, "matchExpressions"), i)
        key = opt_str(expr, "key", where) or ""
        op = opt_str(expr, "operator", where) or ""
        values = str_list(expr, "values", where)
        _check_key(key, join(where, "key"))
        if op not in OPERATORS:
            raise Invalid(
                join(where, "operator"),
                f'"{op}" is not a valid label selector operator; use one of {", ".join(OPERATORS)}',
            )
        if op in ("In", "NotIn") and not values:
            raise Invalid(join(where, "values"), f"{op} needs at least one value")
        if op in ("Exists", "DoesNotExist") and values:
            raise Invalid(join(where, "values"), f"{op} takes no values; remove them")
        for j, value in enumerate(values):
            _check_value(value, join(join(where, "values"), j))
        out.append((key, op, values))
    return out


def validate(selector: Obj | None, path: str) -> None:
    if selector is not None:
        _labels(selector, path)
        _expressions(selector, path)


def relabel_rules(selector: Obj | None, meta_prefix: str, path: str) -> list[Config]:
    """Keep/drop rules for `selector` on `<meta_prefix>label_<k>` / `<meta_prefix>labelpresent_<k>`.

    `meta_prefix` is e.g. "__meta_kubernetes_service_". matchLabels come first in key order, then each
    matchExpression as written.
    """
    if selector is None:
        return []
    rules: list[Config] = []
    labels = _labels(selector, path)
    for key in sorted(labels):
        name = sanitize_label_name(key)
        rules.append(
            {
                "action": "keep",
                "source_labels": [f"{meta_prefix}label_{name}", f"{meta_prefix}labelpresent_{name}"],
                "regex": f"({labels[key]});true",
            }
        )
    for key, op, values in _expressions(selector, path):
        name = sanitize_label_name(key)
        if op in ("In", "NotIn"):
            rules.append(
                {
                    "action": "keep" if op == "In" else "drop",
                    "source_labels": [f"{meta_prefix}label_{name}", f"{meta_prefix}labelpresent_{name}"],
                    "regex": f"({'|'.join(values)});true",
                }
            )
        else:
            rules.append(
                {
                    "action": "keep" if op == "Exists" else "drop",
                    "source_labels": [f"{meta_prefix}labelpresent_{name}"],
                    "regex": "true",
                }
            )
    return rules


def selector_string(selector: Obj | None, path: str) -> str:
    """Kubernetes' canonical form of a label selector (`labels.Selector.String()`).

    Requirements are ordered by key (ties keep matchLabels before matchExpressions); set values are sorted.
    """
    if selector is None:
        return ""
    requirements: list[tuple[str, str]] = []
    labels = _labels(selector, path)
    for key in sorted(labels):
        requirements.append((key, f"{key}={labels[key]}"))
    for key, op, values in _expressions(selector, path):
        text = {
            "In": f"{key} in ({','.join(sorted(values))})",
            "NotIn": f"{key} notin ({','.join(sorted(values))})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }[op]
        requirements.append((key, text))
    requirements.sort(key=lambda r: r[0])
    return ",".join(text for _, text in requirements)
