"""Fixtures shared by the differential tests against Prometheus's own tools."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "hack"))
import prometheus_oracle


@pytest.fixture(scope="module")
def promtool_3() -> str:
    """promtool v3.14: cached, or built now when Go is installed (seconds when Prometheus was built first)."""
    binary = prometheus_oracle.find_promtool()
    if binary is None:
        pytest.skip(
            f"promtool {prometheus_oracle.PROMETHEUS_VERSION} is not cached in {prometheus_oracle.cached_promtool()}"
            " and Go is not installed to build it (`make oracles`; or set OTEL_OPERATOR_PROMTOOL)"
        )
    return binary
