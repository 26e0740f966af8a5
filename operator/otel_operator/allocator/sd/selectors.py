"""`kubernetes_sd_configs[].selectors`: label and field selectors, matched against objects as the API server does.

Prometheus hands each selector to the API server with the list and watch of its kind, so its discoverer only ever
sees matching objects (a Pod selector on role endpoints leaves non-matching Pods out of its Pod cache: their
endpoints lose the pod labels, they are not dropped). The allocator watches each kind once for every job, so it
matches here, on the same rules: `k8s.io/apimachinery`'s label selector grammar (`a=b`, `a==b`, `a!=b`,
`a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`) and field selector grammar (`f=v`, `f==v`, `f!=v`, with
`\\,` `\\=` `\\!` `\\\\` escapes), and the fields the API server can select each kind on (anything else it refuses
with "field label not supported"; here that is a config error naming the field).

Pure: parsing raises SelectorError; matching reads plain dicts as the API returns them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

Obj = Mapping[str, Any]


class SelectorError(ValueError):
    """A selector that cannot be parsed or used; the message says what and where."""


# --- label selectors ------------------------------------------------------------------------------------------------

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_RE: Final = re.compile(rf"^{_NAME}$")
_DNS_SUBDOMAIN_RE: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    key: str
    op: str  # in, notin, exists, !, >, <  ("=", "==" are in; "!=" is notin)
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op in ("in", "notin"):
            return (present and labels[self.key] in self.values) is (self.op == "in")
        if self.op in ("exists", "!"):
            return present is (self.op == "exists")
        # > and <: an integer label compared with the one given
        have = labels.get(self.key, "")
        if not re.fullmatch(r"-?\d+", have):
            return False
        want = int(self.values[0])
        return int(have) > want if self.op == ">" else int(have) < want


def _check_key(key: str, where: str) -> None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        raise SelectorError(f"{where}: {key!r}: the prefix must be a DNS subdomain (lower case, dots)")
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        raise SelectorError(
            f"{where}: {key!r} is not a valid label key (63 characters at most: letters, digits, '-', '_', '.', "
            "starting and ending with a letter or digit)"
        )


def _check_value(value: str, where: str) -> None:
    if value and (len(value) > 63 or not _NAME_RE.match(value)):
        raise SelectorError(f"{where}: {value!r} is not a valid label value")


_TOKEN_RE: Final = re.compile(r"\s*(==|!=|=|>|<|!|\(|\)|,|[^\s=!<>(),]+)")


def parse_label_selector(text: str, where: str = "label") -> tuple[LabelRequirement, ...]:
    """A label selector string; () for the empty one (it selects everything)."""
    tokens = [m.group(1) for m in _TOKEN_RE.finditer(text)]
    if "".join(tokens) != re.sub(r"\s", "", text):
        raise SelectorError(f"{where}: cannot parse {text!r}")
    out: list[LabelRequirement] = []
    i = 0

    def take() -> str:
        nonlocal i
        if i >= len(tokens):
            raise SelectorError(f"{where}: {text!r} ends too early")
        i += 1
        return tokens[i - 1]

    while i < len(tokens):
        token = take()
        if token == "!":
            key = take()
            _check_key(key, where)
            out.append(LabelRequirement(key, "!"))
        else:
            key = token
            _check_key(key, where)
            if i >= len(tokens) or tokens[i] == ",":
                out.append(LabelRequirement(key, "exists"))
            else:
                op = take()
                if op in ("in", "notin"):
                    if take() != "(":
                        raise SelectorError(f"{where}: {text!r}: expected '(' after {op}")
                    values: list[str] = []
                    while True:
                        value = take()
                        if value == ")" and not values:
                            break
                        if value == ",":  # an empty value: "a in (,x)"
                            values.append("")
                            continue
                        _check_value(value, where)
                        values.append(value)
                        sep = take()
                        if sep == ")":
                            break
                        if sep != ",":
                            raise SelectorError(f"{where}: {text!r}: expected ',' or ')' in the values of {key}")
                    if not values:
                        raise SelectorError(f"{where}: {text!r}: {key} {op} () needs at least one value")
                    out.append(LabelRequirement(key, op, tuple(values)))
                elif op in ("=", "==", "!="):
                    value = tokens[i] if i < len(tokens) and tokens[i] != "," else ""
                    if value:
                        i += 1
                    _check_value(value, where)
                    out.append(LabelRequirement(key, "notin" if op == "!=" else "in", (value,)))
                elif op in (">", "<"):
                    value = take()
                    if not re.fullmatch(r"-?\d+", value):
                        raise SelectorError(f"{where}: {text!r}: {key} {op} needs an integer, got {value!r}")
                    out.append(LabelRequirement(key, op, (value,)))
                else:
                    raise SelectorError(f"{where}: {text!r}: {op!r} is not an operator (=, ==, !=, in, notin, >, <)")
        if i < len(tokens):
            if take() != ",":
                raise SelectorError(f"{where}: {text!r}: requirements must be separated by ','")
            if i >= len(tokens):
                raise SelectorError(f"{where}: {text!r} ends with ','")
    return tuple(out)


# --- field selectors ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    value: str
    equal: bool

    def matches(self, fields: Mapping[str, str]) -> bool:
        return (fields.get(self.field, "") == self.value) is self.equal


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(value: str, where: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=!":
                raise SelectorError(f"{where}: invalid escape in {value!r} (escape only \\ , = and !)")
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=!":
            raise SelectorError(f"{where}: {value!r}: escape {ch!r} as \\{ch}")
        out.append(ch)
        i += 1
    return "".join(out)


def parse_field_selector(text: str, where: str = "field") -> tuple[FieldRequirement, ...]:
    """A field selector string; () for the empty one."""
    if not text:
        return ()
    out = []
    for term in _split_unescaped(text, ","):
        for op, equal in (("!=", False), ("==", True), ("=", True)):
            at = _find_unescaped(term, op)
            if at >= 0:
                field, value = term[:at], term[at + len(op) :]
                out.append(FieldRequirement(field.strip(), _unescape(value, where), equal))
                break
        else:
            raise SelectorError(
                f"{where}: invalid field selector {term!r}: use field=value, field==value or field!=value"
            )
    return tuple(out)


def _find_unescaped(term: str, op: str) -> int:
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        if term.startswith(op, i):
            return i
        i += 1
    return -1


# --- what each kind can be selected on ------------------------------------------------------------------------------


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _get(obj: Obj, *path: str) -> Any:
    value: Any = obj
    for step in path:
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _pod_fields(pod: Obj) -> dict[str, str]:
    ips = _get(pod, "status", "podIPs") or []
    first = ips[0].get("ip") if ips and isinstance(ips[0], Mapping) else None
    return {
        "spec.nodeName": _text(_get(pod, "spec", "nodeName")),
        "spec.restartPolicy": _text(_get(pod, "spec", "restartPolicy")),
        "spec.schedulerName": _text(_get(pod, "spec", "schedulerName")),
        "spec.serviceAccountName": _text(_get(pod, "spec", "serviceAccountName")),
        "spec.hostNetwork": "true" if _get(pod, "spec", "hostNetwork") is True else "false",
        "status.phase": _text(_get(pod, "status", "phase")),
        "status.podIP": _text(first),  # the API server takes podIPs[0]
        "status.nominatedNodeName": _text(_get(pod, "status", "nominatedNodeName")),
    }


def _node_fields(node: Obj) -> dict[str, str]:
    return {"spec.unschedulable": "true" if _get(node, "spec", "unschedulable") is True else "false"}


def _service_fields(service: Obj) -> dict[str, str]:
    return {
        "spec.clusterIP": _text(_get(service, "spec", "clusterIP")),
        "spec.type": _text(_get(service, "spec", "type")),
    }


def _no_fields(obj: Obj) -> dict[str, str]:
    return {}


# kind → (namespaced, the kind's own selectable fields); every kind also has metadata.name (and, if namespaced,
# metadata.namespace): the API server's GetAttrs for each (pkg/registry/*/strategy.go)
_KIND_FIELDS: Final[Mapping[str, tuple[bool, Callable[[Obj], dict[str, str]], frozenset[str]]]] = {
    "Pod": (
        True,
        _pod_fields,
        frozenset(
            {
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            }
        ),
    ),
    "Node": (False, _node_fields, frozenset({"spec.unschedulable"})),
    "Service": (True, _service_fields, frozenset({"spec.clusterIP", "spec.type"})),
    "Endpoints": (True, _no_fields, frozenset()),
    "EndpointSlice": (True, _no_fields, frozenset()),
    "Ingress": (True, _no_fields, frozenset()),
}

# the selector roles Prometheus allows for each discovery role, and the object kind each selects
ALLOWED_SELECTOR_ROLES: Final[Mapping[str, tuple[str, ...]]] = {
    "pod": ("pod", "node"),
    "service": ("service",),
    "endpointslice": ("pod", "service", "endpointslice"),
    "endpoints": ("pod", "service", "endpoints"),
    "node": ("node",),
    "ingress": ("ingress",),
}
SELECTOR_KIND: Final[Mapping[str, str]] = {
    "pod": "Pod",
    "node": "Node",
    "service": "Service",
    "endpoints": "Endpoints",
    "endpointslice": "EndpointSlice",
    "ingress": "Ingress",
}


def selectable_fields(kind: str, obj: Obj) -> dict[str, str]:
    namespaced, own, _ = _KIND_FIELDS[kind]
    meta = _meta(obj)
    fields = {"metadata.name": _text(meta.get("name"))}
    if namespaced:
        fields["metadata.namespace"] = _text(meta.get("namespace"))
    return fields | own(obj)


@dataclass(frozen=True, slots=True)
class KindSelector:
    """One selector entry: which kind, and its label and field selectors as written (and parsed)."""

    kind: str
    label: str
    field: str
    labels: tuple[LabelRequirement, ...]
    fields: tuple[FieldRequirement, ...]

    def matches(self, obj: Obj) -> bool:
        if self.labels:
            labels = _meta(obj).get("labels") or {}
            if not all(r.matches(labels) for r in self.labels):
                return False
        if self.fields:
            values = selectable_fields(self.kind, obj)
            if not all(r.matches(values) for r in self.fields):
                return False
        return True


def kind_selector(kind: str, label: str, field: str, where: str) -> KindSelector:
    labels = parse_label_selector(label, f"{where}.label")
    fields = parse_field_selector(field, f"{where}.field")
    namespaced, _, own = _KIND_FIELDS[kind]
    known = {"metadata.name", *(("metadata.namespace",) if namespaced else ()), *own}
    for requirement in fields:
        if requirement.field not in known:
            raise SelectorError(
                f"{where}.field: the API server cannot select {kind}s on {requirement.field!r} "
                f"(field label not supported); it can on {', '.join(sorted(known))}"
            )
    return KindSelector(kind, label, field, labels, fields)


@dataclass(frozen=True, slots=True)
class RoleSelectors:
    """Every selector of one `kubernetes_sd_configs` entry, by object kind. Empty: no filtering. Hashable, so
    entries with the same selectors share a discovery index."""

    by_kind: tuple[KindSelector, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.by_kind)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(s.kind for s in self.by_kind)

    def admits(self, kind: str, obj: Obj) -> bool:
        """Whether the API server would list `obj` (of `kind`) for this entry."""
        return all(s.matches(obj) for s in self.by_kind if s.kind == kind)


def parse_selectors(role: str, raw: object, where: str) -> RoleSelectors:
    """`selectors` of a `kubernetes_sd_configs` entry with role `role`, checked as Prometheus does (known role,
    allowed for the entry's role, not repeated, parseable) and as the API server would (selectable fields)."""
    if raw is None:
        return RoleSelectors()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise SelectorError(f"{where}: must be a list of {{role, label, field}}")
    allowed = ALLOWED_SELECTOR_ROLES.get(role, ())
    seen: set[str] = set()
    out: list[KindSelector] = []
    for i, entry in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            raise SelectorError(f"{at}: must be a mapping with role, label and field")
        unknown = sorted(str(k) for k in entry if k not in ("role", "label", "field"))
        if unknown:
            raise SelectorError(f"{at}: unknown field(s) {', '.join(unknown)} (known: role, label, field)")
        selector_role = str(entry.get("role") or "")
        if selector_role in seen:
            raise SelectorError(f"{at}.role: duplicated selector role: {selector_role}")
        seen.add(selector_role)
        if selector_role not in allowed:
            raise SelectorError(f"{at}.role: {role} role supports only {', '.join(allowed)} selectors")
        for key in ("label", "field"):
            if entry.get(key) is not None and not isinstance(entry.get(key), str):
                raise SelectorError(f"{at}.{key}: must be a string")
        out.append(kind_selector(SELECTOR_KIND[selector_role], entry.get("label") or "", entry.get("field") or "", at))
    return RoleSelectors(tuple(out))
