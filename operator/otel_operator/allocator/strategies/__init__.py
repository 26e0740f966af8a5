"""Allocation strategies: pure, deterministic functions from (targets, collectors) to an assignment.

Each strategy maps every target key to a collector name, or to None when it cannot be placed. The result depends
only on the two sets (not their order, not on earlier calls), so any number of allocator replicas agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .consistent_hashing import ConsistentHashing
from .hashing import Collector, TargetRef
from .least_weighted import LeastWeighted
from .per_node import PerNode, node_of

__all__ = [
    "NAMES",
    "Collector",
    "ConsistentHashing",
    "LeastWeighted",
    "PerNode",
    "Strategy",
    "TargetRef",
    "by_name",
    "node_of",
]


class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    def assign(self, targets: Sequence[TargetRef], collectors: Sequence[Collector]) -> dict[str, str | None]:
        """Collector name (or None: unassigned) for every target key."""
        ...


NAMES = ("consistent-hashing", "least-weighted", "per-node")


def by_name(name: str, fallback: str | None = None) -> Strategy:
    """The strategy called `name` (the TargetAllocator CR's `allocationStrategy`); `fallback` only for per-node."""
    if name not in NAMES:
        raise ValueError(f"unknown allocation strategy {name!r}; valid: {', '.join(NAMES)}")
    if fallback is not None and name != "per-node":
        raise ValueError(f"a fallback strategy only applies to per-node, not {name!r}")
    if name == "consistent-hashing":
        return ConsistentHashing()
    if name == "least-weighted":
        return LeastWeighted()
    if fallback in (None, ""):
        return PerNode()
    if fallback == "per-node" or fallback not in NAMES:
        raise ValueError(f"unknown fallback strategy {fallback!r}; valid: consistent-hashing, least-weighted")
    return PerNode(by_name(fallback))
