"""Upstream's feature gates (`--feature-gates`), as upstream 0.158 declares them (`pkg/featuregate/featuregate.go`).

A gate list is upstream's syntax: comma-separated names, `-name` turns a gate off, `name` or `+name` on; the flag
may be given several times, later ones win. Every gate upstream 0.158 registers is accepted, so an upstream
Deployment's flags work unchanged; the gates that change nothing here (`honoured=False`) are listed in `--help`,
and setting one away from its default gets a warning. A name upstream 0.158 does not register is an error, as there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Gate:
    name: str
    default: bool
    stage: str  # alpha (off by default), beta (on) or stable, as upstream 0.158 declares it
    description: str
    honoured: bool = True  # False: accepted for compatibility, changes nothing here
    # for a gate not honoured: the state otel-operator behaves as if it had (asking for the other one gets a warning)
    effective: bool = False
    upstream: bool = True  # False: otel-operator's own (upstream no longer registers it)


# Collectors and allocators get a NetworkPolicy unless spec.networkPolicy.enabled is false (beta, on, in 0.158).
OPERAND_NETWORK_POLICY: Final = "operand.networkpolicy"
# The allocator config gets `allocation_fallback_strategy: consistent-hashing` (per-node allocators then still
# place targets that have no node).
ALLOCATOR_FALLBACK_STRATEGY: Final = "operator.targetallocator.fallbackstrategy"
# GOMEMLIMIT and GOMAXPROCS from the containers' resource limits.
GOLANG_FLAGS: Final = "operator.golang.flags"
# The embedded target allocator becomes a TargetAllocator resource owned by the collector (upstream 0.127+; the gate
# went stable in 0.137 and upstream removed it in 0.138). Kept here so `-operator.collector.targetallocatorcr`
# restores the pre-0.127 layout.
TARGET_ALLOCATOR_CR: Final = "operator.collector.targetallocatorcr"
# Accepted, not acted on (see each Gate's description).
OPERATOR_NETWORK_POLICY: Final = "operator.networkpolicy"
CLUSTER_OBSERVABILITY: Final = "operator.clusterobservability"
INSTRUMENTATION_INJECTOR: Final = "operator.autoinstrumentation.injector"
DEFAULT_TELEMETRY_SHAPE: Final = "operator.collector.usedefaulttelemetryshape"

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
        Gate(GOLANG_FLAGS, True, "beta", "GOMEMLIMIT and GOMAXPROCS from the containers' resource limits"),
        Gate(
            TARGET_ALLOCATOR_CR,
            True,
            "stable",
            "the embedded target allocator is a TargetAllocator resource (always on upstream since 0.138, which "
            "removed the gate; off restores the pre-0.127 layout)",
            upstream=False,
        ),
        Gate(
            OPERATOR_NETWORK_POLICY,
            True,
            "beta",
            "a NetworkPolicy for the operator's own pod: not created by otel-operator (the chart and install "
            "manifest decide its network access)",
            honoured=False,
        ),
        Gate(
            DEFAULT_TELEMETRY_SHAPE,
            True,
            "beta",
            "the Prometheus reader added to the collector's telemetry uses the collector's metric-name defaults; "
            "otel-operator always does, turning it off (without_* set to false) is not implemented",
            honoured=False,
            effective=True,
        ),
        Gate(
            CLUSTER_OBSERVABILITY,
            False,
            "alpha",
            "the ClusterObservability controller: not part of otel-operator",
            honoured=False,
        ),
        Gate(
            INSTRUMENTATION_INJECTOR,
            False,
            "alpha",
            "auto-instrumentation through the opentelemetry-injector: otel-operator does no auto-instrumentation",
            honoured=False,
        ),
    )
}

DEFAULT_ENABLED: Final = frozenset(g.name for g in GATES.values() if g.default)


class GateError(ValueError):
    pass


def parse(spec: str | Iterable[str], enabled: frozenset[str] = DEFAULT_ENABLED) -> frozenset[str]:
    """The gates on after applying `spec` (`"-a,+b,c"`, or several such strings, in order) to `enabled`."""
    parts = [spec] if isinstance(spec, str) else list(spec)
    out = set(enabled)
    for part in parts:
        for raw in part.split(","):
            item = raw.strip()
            if not item:
                continue
            on = not item.startswith("-")
            name = item[1:] if item[0] in "+-" else item
            if name not in GATES:
                known = ", ".join(sorted(GATES))
                shown = name or item
                raise GateError(f'unknown feature gate "{shown}"; known gates: {known}')
            (out.add if on else out.discard)(name)
    return frozenset(out)


def ignored(spec: str | Iterable[str]) -> list[str]:
    """Warnings for the gates `spec` names that otel-operator does not act on, where the state asked for is not
    the one otel-operator behaves as (so `-operator.networkpolicy`, as upstream's Helm chart sets it, is silent)."""
    parts = [spec] if isinstance(spec, str) else list(spec)
    enabled = parse(parts)
    named = {item.strip().lstrip("+-") for part in parts for item in part.split(",") if item.strip()}
    out = []
    for name in sorted(named):
        gate = GATES[name]
        if not gate.honoured and (name in enabled) != gate.effective:
            state = "on" if name in enabled else "off"
            out.append(f"feature gate {name} is {state}, but otel-operator does not act on it: {gate.description}")
    return out


def summary(enabled: frozenset[str]) -> str:
    """The gates' state as upstream logs it at start: every gate, sorted, `-name` when off."""
    return ",".join(name if name in enabled else f"-{name}" for name in sorted(GATES))


def help_text() -> str:
    """One line per gate, for `--help`."""
    lines = []
    for g in sorted(GATES.values(), key=lambda g: (not g.honoured, g.name)):
        flags = [g.stage, "on" if g.default else "off"]
        if not g.honoured:
            flags.append("accepted, no effect")
        if not g.upstream:
            flags.append("otel-operator only")
        lines.append(f"  {g.name} ({', '.join(flags)}): {g.description}")
    return "\n".join(lines)
