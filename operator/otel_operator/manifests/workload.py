"""What the collector's workloads share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def replicas(spec: Mapping[str, Any]) -> int:
    """`spec.replicas`, raised to the autoscaler's minimum when there is one."""
    count = int(spec.get("replicas") or 1)
    low = (spec.get("autoscaler") or {}).get("minReplicas")
    return max(count, int(low)) if isinstance(low, int) else count
