"""Why a label selector, a namespace selector or the allocator's monitor selection does not pick an object.

The verdicts are the allocator's own (`allocator.monitors.selects`, `LabelSelector.matches`); this module only
explains them: each reason names the label (or namespace) and what was wanted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_operator.allocator.config import LabelSelector, PrometheusCRConfig, SelectorRequirement
from otel_operator.allocator.monitors import selects
from otel_operator.diagnose.model import Obj, labels_of, namespace_of

# The collector's field for each kind's selectors, and the allocator config's spelling.
CR_FIELDS: dict[str, str] = {"ServiceMonitor": "serviceMonitor", "PodMonitor": "podMonitor"}
CR_PATH = "spec.targetAllocator.prometheusCR"


def from_api(selector: Any) -> LabelSelector | None:
    """A Kubernetes label selector as the API writes it (`matchLabels`, `matchExpressions`); None when unset."""
    if not isinstance(selector, Mapping):
        return None
    labels = selector.get("matchLabels") or {}
    exprs = [
        SelectorRequirement(
            str(e.get("key", "")), str(e.get("operator", "")), tuple(str(v) for v in e.get("values") or ())
        )
        for e in selector.get("matchExpressions") or ()
        if isinstance(e, Mapping)
    ]
    return LabelSelector(tuple(sorted((str(k), str(v)) for k, v in labels.items())), tuple(exprs))


def describe(selector: LabelSelector) -> str:
    return selector.query() or "{} (everything)"


def _unmet_requirement(r: SelectorRequirement, labels: Mapping[str, str]) -> str:
    have = f"is {labels[r.key]!r}" if r.key in labels else "is missing"
    if r.operator == "In":
        return f"label {r.key} {have}; the selector wants one of {', '.join(r.values)}"
    if r.operator == "NotIn":
        return f"label {r.key} {have}; the selector wants none of {', '.join(r.values)}"
    if r.operator == "Exists":
        return f"label {r.key} is missing; the selector wants it present"
    return f"label {r.key} {have}; the selector wants it absent"


def unmet(selector: LabelSelector, labels: Mapping[str, str]) -> list[str]:
    """Each part of `selector` that `labels` fail, naming the label; [] when the selector matches."""
    out = []
    for key, value in selector.match_labels:
        if key not in labels:
            out.append(f"label {key}={value} is missing")
        elif labels[key] != value:
            out.append(f"label {key} is {labels[key]!r}; the selector wants {value!r}")
    out += [_unmet_requirement(r, labels) for r in selector.match_expressions if not r.matches(labels)]
    return out


def label_fix(selector: LabelSelector, where: str) -> str:
    """How to make an object match `selector`: the labels to set on it."""
    wanted = [f"{k}: {v}" for k, v in selector.match_labels]
    exprs = [
        f"{r.key} {r.operator} {list(r.values)}" if r.values else f"{r.key} {r.operator}"
        for r in selector.match_expressions
    ]
    parts = []
    if wanted:
        parts.append(f"set {', '.join(wanted)} in {where}")
    if exprs:
        parts.append(f"make {where} satisfy {'; '.join(exprs)}")
    return " and ".join(parts)


def _cr_selectors(cr: PrometheusCRConfig, kind: str) -> tuple[LabelSelector | None, LabelSelector]:
    if kind == "ServiceMonitor":
        return cr.service_monitor_selector, cr.service_monitor_namespace_selector
    return cr.pod_monitor_selector, cr.pod_monitor_namespace_selector


def monitor_selection(  # noqa: PLR0911 (one return per reason)
    cr: PrometheusCRConfig, kind: str, monitor: Obj, namespaces: Mapping[str, Mapping[str, str]]
) -> tuple[bool, str, str | None]:
    """Whether the allocator selects the monitor, what to say, and the fix when it does not."""
    field = CR_FIELDS[kind]
    namespace = namespace_of(monitor)
    ns_labels = namespaces.get(namespace)
    selected = selects(cr, kind, monitor, ns_labels)
    selector, namespace_selector = _cr_selectors(cr, kind)
    if selected:
        how = "every" if selector is None or selector.selects_everything else describe(selector)
        return True, f"selected by the collector's {field}Selector ({how})", None
    if selector is None:
        return (
            False,
            f"not selected: {field}Selector is unset, and an unset selector selects no {kind}s",
            f"set {CR_PATH}.{field}Selector: {{}} (every {kind}) or a matchLabels this {kind} carries",
        )
    reasons = unmet(selector, labels_of(monitor))
    if reasons:
        return (
            False,
            f"not selected by {field}Selector ({describe(selector)}): {'; '.join(reasons)}",
            f"{label_fix(selector, 'the ' + kind + ' metadata.labels')}, or change {CR_PATH}.{field}Selector",
        )
    if cr.allow_namespaces and namespace not in cr.allow_namespaces:
        return (
            False,
            f"not selected: namespace {namespace} is not in allowNamespaces ({', '.join(cr.allow_namespaces)})",
            f"add {namespace} to {CR_PATH}.allowNamespaces",
        )
    if namespace in cr.deny_namespaces:
        return (
            False,
            f"not selected: namespace {namespace} is in denyNamespaces",
            f"remove {namespace} from {CR_PATH}.denyNamespaces",
        )
    if ns_labels is None:
        return (
            False,
            f"not selected: namespace {namespace} does not exist, and {field}NamespaceSelector "
            f"({describe(namespace_selector)}) cannot match it",
            f"create namespace {namespace} with labels matching {CR_PATH}.{field}NamespaceSelector",
        )
    ns_reasons = unmet(namespace_selector, ns_labels)
    return (
        False,
        f"not selected: namespace {namespace} does not match {field}NamespaceSelector "
        f"({describe(namespace_selector)}): {'; '.join(ns_reasons)}",
        f"{label_fix(namespace_selector, 'namespace ' + namespace + ' labels')}, or change "
        f"{CR_PATH}.{field}NamespaceSelector",
    )
