"""The reconcile loop's pure rules: ownership, "already as desired", pruning with config versions, conditions."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.reconcile.desired import (
    OWNER_UID_LABEL,
    condition,
    covers,
    key_of,
    owned,
    ready_condition,
    replicas_of,
    status_changed,
    to_prune,
)

OWNER = {
    "apiVersion": "opentelemetry.io/v1beta1",
    "kind": "OpenTelemetryCollector",
    "metadata": {"name": "otelcol", "namespace": "obs", "uid": "u-1"},
}


def cm(name: str, created: str = "2026-01-01T00:00:00Z", namespace: str = "obs") -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created}}


def test_owned_adds_the_uid_label_and_a_controller_reference_in_the_owners_namespace() -> None:
    got = owned({"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "obs", "labels": {"x": "1"}}}, OWNER)
    assert got["metadata"]["labels"] == {"x": "1", OWNER_UID_LABEL: "u-1"}
    assert got["metadata"]["ownerReferences"] == [
        {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector", "name": "otelcol",
         "uid": "u-1", "controller": True, "blockOwnerDeletion": True}
    ]  # fmt: skip


def test_cluster_scoped_children_get_the_label_but_no_owner_reference() -> None:
    got = owned({"kind": "ClusterRole", "metadata": {"name": "obs-otelcol-ta"}}, OWNER)
    assert got["metadata"]["labels"] == {OWNER_UID_LABEL: "u-1"}
    assert "ownerReferences" not in got["metadata"]


@pytest.mark.parametrize(
    ("live", "desired", "expected"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),  # the server adds defaults: still as desired
        ({"a": 1}, {"a": 2}, False),
        ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}}, True),
        ({"a": {"b": [1, 2, 3]}}, {"a": {"b": [1, 2]}}, False),  # a list is the whole list
        ({"a": [{"x": 1, "y": 2}]}, {"a": [{"x": 1}]}, True),  # items may carry defaults
        ({"a": [{"x": 1}, {"x": 2}]}, {"a": [{"x": 2}, {"x": 1}]}, False),  # order matters
        ({"port": 8080}, {"port": "8080"}, False),
        ({}, {"a": None}, True),  # None means "don't care"
        ({"a": 1}, {"a": {"b": 1}}, False),
        ({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"a": "1", "b": "2"}}}, False),
    ],
)
def test_covers(live: Any, desired: Any, expected: bool) -> None:
    assert covers(live, desired) is expected


def test_prune_removes_what_is_no_longer_desired() -> None:
    live = [cm("keep"), cm("gone"), {"kind": "Service", "metadata": {"name": "keep", "namespace": "obs"}}]
    assert [key_of(o) for o in to_prune(live, [cm("keep")])] == [
        ("ConfigMap", "obs", "gone"),
        ("Service", "obs", "keep"),  # same name, other kind: not desired
    ]


def test_prune_keeps_the_newest_config_versions_besides_the_desired_one() -> None:
    live = [
        cm("otelcol-collector-aaaa", "2026-01-01T00:00:01Z"),
        cm("otelcol-collector-bbbb", "2026-01-01T00:00:02Z"),
        cm("otelcol-collector-cccc", "2026-01-01T00:00:03Z"),
        cm("otelcol-collector-dddd", "2026-01-01T00:00:04Z"),
        cm("otelcol-collector-eeee", "2026-01-01T00:00:05Z"),  # the desired one
        cm("otelcol-targetallocator"),
    ]
    desired = [cm("otelcol-collector-eeee"), cm("otelcol-targetallocator")]

    def pruned(versions: int) -> list[str]:
        out = to_prune(live, desired, versioned_prefix="otelcol-collector-", config_versions=versions)
        return sorted(key_of(o)[2] for o in out)

    # upstream keeps max(configVersions, 1) + 1 in all: the desired version and configVersions older ones
    assert pruned(3) == ["otelcol-collector-aaaa"]
    assert pruned(1) == ["otelcol-collector-aaaa", "otelcol-collector-bbbb", "otelcol-collector-cccc"]
    assert pruned(4) == []


def test_prune_spares_what_keep_says() -> None:
    live = [cm("c-targetallocator"), cm("gone")]
    spared = to_prune(live, [], keep=lambda o: key_of(o)[2].endswith("-targetallocator"))
    assert [key_of(o)[2] for o in spared] == ["gone"]


def test_condition_keeps_its_transition_time_while_the_status_holds() -> None:
    first = condition([], "Ready", "False", "Progressing", "0/1", now="T1", generation=1)
    same = condition([first], "Ready", "False", "Progressing", "0/1 still", now="T2", generation=2)
    flipped = condition([same], "Ready", "True", "Available", "1/1", now="T3", generation=2)
    assert (first["lastTransitionTime"], same["lastTransitionTime"], flipped["lastTransitionTime"]) == (
        "T1",
        "T1",
        "T3",
    )
    assert same["observedGeneration"] == 2


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        ({"kind": "StatefulSet", "spec": {"replicas": 3}, "status": {"readyReplicas": 2}}, (3, 2)),
        ({"kind": "Deployment", "spec": {}, "status": {}}, (1, 0)),
        ({"kind": "DaemonSet", "status": {"desiredNumberScheduled": 4, "numberReady": 4}}, (4, 4)),
    ],
)
def test_replicas_of(workload: dict[str, Any], expected: tuple[int, int]) -> None:
    assert replicas_of(workload) == expected


def test_ready_condition_names_the_problems_or_the_pods() -> None:
    bad = ready_condition([], ["spec.mode: sidecar is not supported"], None, now="T", generation=1)
    assert (bad["status"], bad["reason"], bad["message"]) == (
        "False",
        "InvalidSpec",
        "spec.mode: sidecar is not supported",
    )
    sts = {"kind": "StatefulSet", "spec": {"replicas": 2}, "status": {"readyReplicas": 2}}
    ok = ready_condition([], [], sts, now="T", generation=1)
    assert (ok["status"], ok["message"]) == ("True", "2/2 collector pods ready")


def test_status_changed_ignores_transition_times_only() -> None:
    a = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "T1"}]}
    b = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "T2"}]}
    assert not status_changed(a, b)
    assert status_changed(a, {**b, "observedGeneration": 2})
    assert status_changed(None, b)
