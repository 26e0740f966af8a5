"""Plain data shared by discovery (which produces target groups) and target assembly (which consumes them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Labels = dict[str, str]


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """What one service-discovery object yields, as Prometheus's `targetgroup.Group`.

    `source` names the object the group came from ("endpointslice/<ns>/<name>", "pod/<ns>/<name>", ...): a later
    group with the same source replaces the earlier one, an empty group with that source removes it.
    """

    source: str
    targets: tuple[Mapping[str, str], ...] = ()  # one label set per target, each with __address__
    labels: Mapping[str, str] = field(default_factory=dict)  # labels common to every target of the group
