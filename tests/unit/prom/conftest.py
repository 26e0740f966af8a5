"""Fixtures shared by the differential tests against Prometheus's own tools."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "hack"))
import prometheus_oracle
from tests.tools import built_tool, debian_tool


@pytest.fixture(scope="module")
def promtool_3() -> str:
    """promtool v3.14: cached, or built now when Go is installed (seconds when Prometheus was built first)."""
    return built_tool(prometheus_oracle.find_promtool(), f"promtool {prometheus_oracle.PROMETHEUS_VERSION}", "oracles")


@pytest.fixture(scope="module")
def promtool_2() -> str:
    """Debian's promtool (2.42): the other oracle, whose version differs."""
    return debian_tool("promtool", "prometheus")
