"""Which collector pods may receive targets: scheduling, termination, readiness and the grace period (§3.5)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from otel_operator.allocator.collectors import collector_of, collectors_of, next_change
from otel_operator.allocator.strategies import Collector

T0 = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
NOW = T0.timestamp()
GRACE = 30.0


def at(seconds: float) -> str:
    """An RFC 3339 time `seconds` after T0, as the API server writes it."""
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str = "collector-0",
    *,
    node: str | None = "node-1",
    phase: str = "Running",
    started: float | None = -600,
    ready: str | None = "True",
    ready_since: float | None = -500,
    deleting: bool = False,
) -> dict[str, Any]:
    """A collector pod as the API returns it; times are seconds relative to T0 (None: field absent)."""
    meta: dict[str, Any] = {"name": name, "namespace": "observability", "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = at(-1)
        meta["deletionGracePeriodSeconds"] = 30
    spec: dict[str, Any] = {"containers": [{"name": "otc-container", "image": "otel/collector:1"}]}
    if node is not None:
        spec["nodeName"] = node
    status: dict[str, Any] = {"phase": phase}
    if started is not None:
        status["startTime"] = at(started)
    conditions: list[dict[str, Any]] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": at(-700)}]
    if ready is not None:
        condition = {"type": "Ready", "status": ready}
        if ready_since is not None:
            condition["lastTransitionTime"] = at(ready_since)
        conditions.append(condition)
    status["conditions"] = conditions
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


@pytest.mark.parametrize(
    ("case", "given", "is_collector"),
    [
        ("healthy", pod(), True),
        ("unscheduled: no nodeName", pod(node=None, phase="Pending", started=None, ready=None), False),
        ("unscheduled: empty nodeName", pod(node="", phase="Pending", started=None, ready=None), False),
        ("terminating, still ready", pod(deleting=True), False),
        ("not ready for 10 s (within grace)", pod(ready="False", ready_since=-10), True),
        ("not ready for exactly the grace period", pod(ready="False", ready_since=-30), True),
        ("not ready for 31 s (past grace)", pod(ready="False", ready_since=-31), False),
        ("Ready condition Unknown for 31 s", pod(ready="Unknown", ready_since=-31), False),
        ("Ready condition Unknown for 5 s", pod(ready="Unknown", ready_since=-5), True),
        ("no Ready condition at all", pod(ready=None), False),
        ("Ready False without lastTransitionTime", pod(ready="False", ready_since=None), False),
        (
            "Pending, started 10 s ago, not ready 10 s",
            pod(phase="Pending", started=-10, ready="False", ready_since=-10),
            True,
        ),
        (
            "Pending, started 31 s ago, not ready 5 s",
            pod(phase="Pending", started=-31, ready="False", ready_since=-5),
            False,
        ),
        ("Pending without startTime", pod(phase="Pending", started=None, ready="False", ready_since=-1), False),
        ("Failed long ago but Ready condition fresh", pod(phase="Failed", started=-600, ready="True"), False),
        ("Running, ready, startTime long ago", pod(started=-100_000), True),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_collector_verdict_with_grace(case: str, given: dict[str, Any], is_collector: bool) -> None:
    result = collector_of(given, NOW, GRACE)
    if is_collector:
        assert result == Collector("collector-0", given["spec"]["nodeName"])
    else:
        assert result is None


@pytest.mark.parametrize(
    ("given", "is_collector"),
    [
        (pod(ready="False", ready_since=-10_000), True),
        (pod(phase="Pending", started=-10_000, ready="False"), True),
        (pod(ready=None), True),
        (pod(deleting=True), False),  # terminating is not a readiness question
        (pod(node=None), False),  # nor is scheduling
    ],
)
@pytest.mark.parametrize("grace", [0.0, -1.0])
def test_grace_zero_disables_readiness_filtering_only(given: dict[str, Any], is_collector: bool, grace: float) -> None:
    assert (collector_of(given, NOW, grace) is not None) is is_collector
    assert next_change(given, NOW, grace) is None


def test_the_collector_is_named_after_the_pod_and_placed_on_its_node() -> None:
    assert collector_of(pod("otel-collector-7", node="worker-3"), NOW, GRACE) == Collector(
        "otel-collector-7", "worker-3"
    )


def test_fractional_seconds_and_offsets_in_times_are_understood() -> None:
    given = pod(ready="False")
    given["status"]["conditions"][1]["lastTransitionTime"] = "2026-11-21T11:59:40.250+02:00"  # T0 - 19.75 s
    assert collector_of(given, NOW, GRACE) is not None
    assert next_change(given, NOW, GRACE) == pytest.approx(NOW - 19.75 + GRACE)


@pytest.mark.parametrize(
    ("given", "expiry"),
    [
        (pod(ready="False", ready_since=-10), 20.0),  # not ready since T0-10: out at T0+20
        (pod(phase="Pending", started=-5, ready="False", ready_since=-1), 25.0),  # the earlier clock decides
        (pod(phase="Pending", started=-1, ready="False", ready_since=-12), 18.0),
    ],
)
def test_next_change_is_the_exact_expiry_of_the_grace_period(given: dict[str, Any], expiry: float) -> None:
    wake = next_change(given, NOW, GRACE)
    assert wake == math.nextafter(NOW + expiry, math.inf)  # the first instant after the grace period
    assert collector_of(given, NOW + expiry, GRACE) is not None
    assert collector_of(given, wake + 0.001, GRACE) is None


def test_at_the_wake_time_the_verdict_has_changed() -> None:
    given = pod(ready="False", ready_since=-10)
    wake = next_change(given, NOW, GRACE)
    assert wake is not None
    assert collector_of(given, wake, GRACE) is None
    assert next_change(given, wake, GRACE) != wake


@pytest.mark.parametrize(
    "given",
    [
        pod(),  # healthy: nothing will change by itself
        pod(ready="False", ready_since=-31),  # already excluded: time only makes it worse
        pod(deleting=True),
        pod(node=None),
    ],
)
def test_no_wake_when_nothing_will_flip(given: dict[str, Any]) -> None:
    assert next_change(given, NOW, GRACE) is None


def test_collectors_of_sorts_filters_and_wakes_at_the_earliest_expiry() -> None:
    pods = [
        pod("c-3"),
        pod("c-1", ready="False", ready_since=-25),  # out at T0+5
        pod("c-0", node=None),
        pod("c-2", ready="False", ready_since=-5),  # out at T0+25
        pod("c-4", deleting=True),
        pod("c-10", ready="False", ready_since=-40),  # already out
        pod("c-05"),
    ]
    found, wake = collectors_of(pods, NOW, GRACE)
    assert [c.name for c in found] == ["c-05", "c-1", "c-2", "c-3"]
    assert all(c.node == "node-1" for c in found)
    assert wake == math.nextafter(NOW + 5, math.inf)

    # at the wake time (just after) c-1 has left, and the next wake is c-2's expiry
    found, wake = collectors_of(pods, NOW + 5.5, GRACE)
    assert [c.name for c in found] == ["c-05", "c-2", "c-3"]
    assert wake == math.nextafter(NOW + 25, math.inf)


def test_collectors_of_without_pods_or_without_deadlines() -> None:
    assert collectors_of([], NOW, GRACE) == ([], None)
    assert collectors_of([pod("b"), pod("a")], NOW, GRACE) == (
        [Collector("a", "node-1"), Collector("b", "node-1")],
        None,
    )
