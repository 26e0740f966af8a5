"""What the collector's workloads share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def replicas(spec: Mapping[str, Any]) -> int:
    """`spec.replicas` (1 when unset; 0 stays 0), raised to `spec.autoscaler.minReplicas` when that is higher, as
    upstream (`manifestutils/replicas.go`).

    With an autoscaler, the HorizontalPodAutoscaler writes the collector's spec.replicas through the scale
    subresource and the workload follows it: the HPA never sets fewer than minReplicas, so this never undoes its
    decision; it only brings the workload to the minimum before the HPA's first sync.
    """
    given = spec.get("replicas")
    count = 1 if given is None else int(given)
    low = (spec.get("autoscaler") or {}).get("minReplicas")
    return max(count, low) if isinstance(low, int) and not isinstance(low, bool) else count
