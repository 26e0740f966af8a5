"""per-node: a target goes to the collector on its own node (DaemonSet collectors), else to a fallback.

The node comes from the target's pre-relabel labels (`node_of`, the rule of upstream `target.GetNodeName`). Targets
with no node, or whose node runs no collector, go to the fallback strategy over all collectors when one is
configured, and stay unassigned (None) otherwise. Unlike upstream (map order), several collectors on one node share
its targets by capped rendezvous hashing, so the result is still a pure function of (targets, collectors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING

from .consistent_hashing import ConsistentHashing, canonical
from .hashing import Collector, TargetRef

if TYPE_CHECKING:
    from . import Strategy

_NODE_LABELS = (
    "__meta_kubernetes_pod_node_name",
    "__meta_kubernetes_node_name",
    "__meta_kubernetes_endpoint_node_name",
)
_EPS = "__meta_kubernetes_endpointslice_address_target_"


def node_of(labels: Mapping[str, str]) -> str | None:
    """The node a target runs on: the first non-empty node-name meta label, else an EndpointSlice Node target."""
    for name in _NODE_LABELS:
        if node := labels.get(name):
            return node
    if labels.get(_EPS + "kind") == "Node":
        return labels.get(_EPS + "name") or None
    return None


@dataclass(frozen=True, slots=True)
class PerNode:
    fallback: Strategy | None = None
    name: str = "per-node"

    def assign(self, targets: Sequence[TargetRef], collectors: Sequence[Collector]) -> dict[str, str | None]:
        ts, cs = canonical(targets, collectors)
        by_node: dict[str, list[Collector]] = {}
        for c in cs:  # sorted by name, so each node's list is too
            if c.node:
                by_node.setdefault(c.node, []).append(c)
        out: dict[str, str | None] = {}
        on_node = sorted((t for t in ts if t.node in by_node), key=lambda t: (t.node or "", t.key))
        for node, group in groupby(on_node, key=lambda t: t.node or ""):
            members = list(group)
            local = by_node[node]
            if len(local) == 1:
                out.update(dict.fromkeys((t.key for t in members), local[0].name))
            else:
                out.update(ConsistentHashing().assign(members, local))
        leftover = [t for t in ts if t.node not in by_node]
        if self.fallback is not None and cs:
            out.update(self.fallback.assign(leftover, cs))
        else:
            out.update(dict.fromkeys((t.key for t in leftover), None))
        return out
