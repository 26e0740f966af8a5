"""The allocator's Accepted condition on the monitors it skips: planned as JSON patches that touch only its own
`status.bindings` entry (monitor_status.py), checked here by applying them to plain objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from otel_operator.allocator.config import LabelSelector
from otel_operator.allocator.monitor_status import (
    Binding,
    Problem,
    collector_binding,
    observed,
    patch_for,
    plan_patches,
)

OURS = Binding("opentelemetry.io", "opentelemetrycollectors", "otelcol", "opentelemetry")
PROMETHEUS = {  # prometheus-operator's entry for a Prometheus that selects the same monitor
    "group": "monitoring.coreos.com",
    "resource": "prometheuses",
    "name": "k8s",
    "namespace": "monitoring",
    "conditions": [{"type": "Accepted", "status": "True", "reason": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
}
OVER = Problem("TargetLimitExceeded", "ServiceMonitor app/big has 300000 targets, over the per_job cap")
INVALID = Problem("InvalidScrapeResource", "endpoints[0].relabelings[0].regex: invalid regex")


def monitor(status: dict[str, Any] | None = None, rv: str = "7") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "big", "namespace": "app", "resourceVersion": rv, "generation": 3},
        "spec": {"selector": {}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def apply_json_patch(obj: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 for the operations the planner uses (test, add, replace, remove), as the API server applies them."""
    doc = copy.deepcopy(obj)
    for op in patch:
        *parents, last = op["path"].lstrip("/").split("/")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if op["op"] == "test":
            assert node[last] == op["value"], "test failed: the API server would answer 422"
        elif op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        elif op["op"] == "add" and isinstance(node, list):
            node.append(op["value"]) if last == "-" else node.insert(int(last), op["value"])
        elif isinstance(node, list):
            node[int(last)] = op["value"]
        else:
            node[last] = op["value"]
    return doc


@pytest.mark.parametrize(
    "status",
    [None, {}, {"bindings": []}, {"bindings": [PROMETHEUS]}],
    ids=["no status", "empty status", "no bindings", "prometheus-operator's binding"],
)
def test_a_skipped_monitor_gets_our_entry_and_keeps_everyone_elses(status: dict[str, Any] | None) -> None:
    before = monitor(status)
    patch = patch_for(before, OURS, OVER, "2026-12-07T10:00:00Z")
    assert patch is not None
    assert patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    after = apply_json_patch(before, patch)
    assert observed(after, OURS) == OVER
    entries = after["status"]["bindings"]
    ours = [e for e in entries if OURS.matches(e)]
    assert ours == [
        {
            "group": "opentelemetry.io",
            "resource": "opentelemetrycollectors",
            "name": "otelcol",
            "namespace": "opentelemetry",
            "conditions": [
                {
                    "type": "Accepted",
                    "status": "False",
                    "reason": "TargetLimitExceeded",
                    "message": OVER.message,
                    "lastTransitionTime": "2026-12-07T10:00:00Z",
                    "observedGeneration": 3,
                }
            ],
        }
    ]
    assert [e for e in entries if not OURS.matches(e)] == list((status or {}).get("bindings") or [])
    # said once: the same problem plans nothing more
    assert patch_for(after, OURS, OVER, "2026-12-07T10:05:00Z") is None


def test_another_problem_replaces_the_message_but_not_the_transition_time() -> None:
    first = apply_json_patch(
        monitor({"bindings": [PROMETHEUS]}), patch_for(monitor({"bindings": [PROMETHEUS]}), OURS, OVER, "t1") or []
    )
    patch = patch_for(first, OURS, INVALID, "t2")
    assert patch is not None
    assert [op["op"] for op in patch] == ["test", "replace"]
    second = apply_json_patch(first, patch)
    (condition,) = next(e for e in second["status"]["bindings"] if OURS.matches(e))["conditions"]
    assert (condition["reason"], condition["lastTransitionTime"]) == ("InvalidScrapeResource", "t1")
    assert second["status"]["bindings"][0] == PROMETHEUS


def test_a_served_monitor_loses_our_entry_only() -> None:
    skipped = apply_json_patch(
        monitor({"bindings": [PROMETHEUS]}), patch_for(monitor({"bindings": [PROMETHEUS]}), OURS, OVER, "t") or []
    )
    patch = patch_for(skipped, OURS, None, "t")
    assert patch is not None
    assert apply_json_patch(skipped, patch)["status"]["bindings"] == [PROMETHEUS]
    # a monitor that never had our entry is not written to
    assert patch_for(monitor({"bindings": [PROMETHEUS]}), OURS, None, "t") is None
    assert patch_for(monitor(), OURS, None, "t") is None


def test_an_accepting_entry_of_ours_is_not_a_problem() -> None:
    accepting = {**PROMETHEUS, **{k: getattr(OURS, k) for k in ("group", "resource", "name", "namespace")}}
    obj = monitor({"bindings": [accepting]})
    assert observed(obj, OURS) is None
    patch = patch_for(obj, OURS, None, "t")  # ours, so it goes: a served monitor carries nothing of ours
    assert patch is not None
    assert apply_json_patch(obj, patch)["status"]["bindings"] == []


def test_a_patch_planned_from_an_old_version_fails_its_test() -> None:
    patch = patch_for(monitor(rv="7"), OURS, OVER, "t")
    assert patch is not None
    with pytest.raises(AssertionError, match="422"):
        apply_json_patch(monitor(rv="8"), patch)


def test_plan_covers_every_monitor_that_must_change() -> None:
    skipped = ("ServiceMonitor", "app", "big")
    fixed = ("PodMonitor", "app", "fixed")
    fine = ("ServiceMonitor", "app", "fine")
    had_ours = apply_json_patch(monitor(), patch_for(monitor(), OURS, INVALID, "t") or [])
    plan = plan_patches([(skipped, monitor()), (fixed, had_ours), (fine, monitor())], {skipped: OVER}, OURS, "t")
    assert sorted(plan) == [fixed, skipped]
    assert plan[fixed][-1] == {"op": "remove", "path": "/status/bindings/0"}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"app.kubernetes.io/instance": "opentelemetry.otelcol", "app.kubernetes.io/managed-by": "x"}, OURS),
        ({"app.kubernetes.io/instance": "otelcol"}, None),  # not "<namespace>.<name>"
        ({"app": "collector"}, None),  # a hand-written selector names no collector
    ],
)
def test_the_binding_is_the_collector_the_selector_names(labels: dict[str, str], expected: Binding | None) -> None:
    assert collector_binding(LabelSelector(match_labels=tuple(sorted(labels.items())))) == expected
    assert collector_binding(None) is None
