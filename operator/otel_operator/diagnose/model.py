"""What a diagnosis reads and what it says: plain inputs (objects as the API returns them) and findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Finding:
    """One answer. `subject` names the object it is about ("ServiceMonitor opentelemetry/sm-example"); a negative
    finding (`ok` False) always says the `fix`. `related` names the other objects it concerns (the monitor, the
    Service or Pod a target came from), so that a question about one object can pick its findings."""

    subject: str
    ok: bool
    what: str
    fix: str | None = None
    related: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.ok and not self.fix:
            raise ValueError(f"a negative finding must say the fix: {self.subject}: {self.what}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "ok": self.ok,
            "what": self.what,
            "fix": self.fix,
            "related": list(self.related),
        }


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything a diagnosis reads, as lists of API objects (list responses' items; `kind` need not be set).

    `missing_kinds` names kinds whose API is not installed (the ServiceMonitor CRD, say). `assignments` is optional:
    per job, either the allocator's `/jobs/<job>/targets` answer or a plain `{address: collector}` mapping.
    """

    collectors: Sequence[Obj] = ()
    namespaces: Sequence[Obj] = ()
    service_monitors: Sequence[Obj] = ()
    pod_monitors: Sequence[Obj] = ()
    services: Sequence[Obj] = ()
    endpoint_slices: Sequence[Obj] = ()
    endpoints: Sequence[Obj] = ()
    pods: Sequence[Obj] = ()
    secrets: Sequence[Obj] = ()  # Secrets and ConfigMaps monitors refer to (auth, TLS)
    missing_kinds: tuple[str, ...] = ()
    assignments: Mapping[str, Mapping[str, Any]] | None = field(default=None)


def meta(obj: Obj) -> Obj:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Obj) -> str:
    return str(meta(obj).get("namespace") or "")


def labels_of(obj: Obj) -> dict[str, str]:
    labels = meta(obj).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def subject(kind: str, obj_or_key: Obj | str) -> str:
    """`"<Kind> <namespace>/<name>"`, from an object or from `"<namespace>/<name>"`."""
    key = obj_or_key if isinstance(obj_or_key, str) else f"{namespace_of(obj_or_key)}/{name_of(obj_or_key)}"
    return f"{kind} {key}"
