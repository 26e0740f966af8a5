"""Upstream's feature gates (`--feature-gates`), as far as they change what otel-operator builds.

A gate list is upstream's syntax: comma-separated names, `-name` turns a gate off, `name` or `+name` on. Gates
otel-operator knows but does not act on are accepted (manifests written for upstream keep working) and reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Gate:
    name: str
    default: bool
    stage: str  # alpha, beta or stable, as upstream 0.158 declares it
    description: str
    honoured: bool = True  # False: accepted for compatibility, changes nothing here


# Collectors get a NetworkPolicy unless spec.networkPolicy.enabled is false (beta in 0.158: on).
OPERAND_NETWORK_POLICY: Final = "operand.networkpolicy"
# The allocator config gets `allocation_fallback_strategy: consistent-hashing` (per-node allocators then still
# place targets that have no node).
ALLOCATOR_FALLBACK_STRATEGY: Final = "operator.targetallocator.fallbackstrategy"
# GOMEMLIMIT and GOMAXPROCS from the containers' resource limits.
GOLANG_FLAGS: Final = "operator.golang.flags"
# The embedded target allocator becomes a TargetAllocator resource owned by the collector (upstream 0.127+).
TARGET_ALLOCATOR_CR: Final = "operator.collector.targetallocatorcr"

GATES: Final[Mapping[str, Gate]] = {
    g.name: g
    for g in (
        Gate(OPERAND_NETWORK_POLICY, True, "beta", "a NetworkPolicy for every collector and target allocator"),
        Gate(
            ALLOCATOR_FALLBACK_STRATEGY,
            False,
            "alpha",
            "per-node allocation falls back to consistent-hashing for targets without a node",
        ),
        Gate(GOLANG_FLAGS, True, "stable", "GOMEMLIMIT and GOMAXPROCS from the containers' resource limits"),
        Gate(TARGET_ALLOCATOR_CR, True, "beta", "the embedded target allocator is a TargetAllocator resource"),
    )
}

DEFAULT_ENABLED: Final = frozenset(g.name for g in GATES.values() if g.default)


class GateError(ValueError):
    pass


def parse(spec: str | Iterable[str], enabled: frozenset[str] = DEFAULT_ENABLED) -> frozenset[str]:
    """The gates on after applying `spec` (`"-a,+b,c"`, or several such strings) to `enabled`."""
    parts = [spec] if isinstance(spec, str) else list(spec)
    out = set(enabled)
    for part in parts:
        for raw in part.split(","):
            item = raw.strip()
            if not item:
                continue
            on = not item.startswith("-")
            name = item.lstrip("+-")
            if name not in GATES:
                known = ", ".join(sorted(GATES))
                raise GateError(f'unknown feature gate "{name}"; known gates: {known}')
            (out.add if on else out.discard)(name)
    return frozenset(out)
