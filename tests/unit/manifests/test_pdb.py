"""PodDisruptionBudgets of the collector and the target allocator, and their checks."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import build
from otel_operator.manifests.labels import ALLOCATOR_CONFIG_HASH

from .common import allocating, built, collector, everything, find


def pdbs(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in everything(built(resource)) if o["kind"] == "PodDisruptionBudget"}


# --- the collector's ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "budget"),
    [
        (collector(mode="deployment"), {"maxUnavailable": 1}),  # upstream's default
        (collector(mode="statefulset"), {"maxUnavailable": 1}),
        (collector(mode="deployment", podDisruptionBudget={"minAvailable": 1}), {"minAvailable": 1}),
        (collector(mode="deployment", podDisruptionBudget={"minAvailable": "50%"}), {"minAvailable": "50%"}),
        (collector(mode="statefulset", podDisruptionBudget={"maxUnavailable": "10%"}), {"maxUnavailable": "10%"}),
        (collector(mode="statefulset", podDisruptionBudget={"maxUnavailable": 0}), {"maxUnavailable": 0}),
        (collector(mode="statefulset", podDisruptionBudget={}), {"maxUnavailable": 1}),  # nothing given: default
    ],
)
def test_collector_pdb_budget(resource: dict[str, Any], budget: dict[str, Any]) -> None:
    made = pdbs(resource)["c-collector"]
    assert {k: v for k, v in made["spec"].items() if k != "selector"} == budget


def test_collector_pdb_metadata_and_selector() -> None:
    made = pdbs(collector(mode="statefulset", labels={"team": "a"}, annotations={"note": "x"}))["c-collector"]
    assert made["apiVersion"] == "policy/v1"
    assert made["metadata"]["namespace"] == "ns"
    assert made["metadata"]["annotations"] == {"note": "x"}
    # upstream selects by all of the object's labels, which the pods carry too
    assert made["spec"]["selector"]["matchLabels"] == made["metadata"]["labels"]
    assert made["metadata"]["labels"]["team"] == "a"
    assert made["metadata"]["labels"]["app.kubernetes.io/name"] == "c-collector"
    assert made["metadata"]["labels"]["app.kubernetes.io/version"] == "latest"
    pods = find(built(collector(mode="statefulset", labels={"team": "a"})), "StatefulSet")["spec"]["template"]
    assert made["spec"]["selector"]["matchLabels"].items() <= pods["metadata"]["labels"].items()


def test_a_daemonset_gets_no_pdb_and_a_given_one_is_a_warning() -> None:
    assert pdbs(collector(mode="daemonset")) == {}
    result = built(collector(mode="daemonset", podDisruptionBudget={"minAvailable": 1}))
    assert not [o for o in result.objects if o["kind"] == "PodDisruptionBudget"]
    assert any("spec.podDisruptionBudget" in w and "daemonset" in w for w in result.warnings), result.warnings


# --- the allocator's ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "budget"),
    [
        (allocating(), {"maxUnavailable": 1}),  # consistent-hashing by default
        (
            allocating(allocationStrategy="consistent-hashing", podDisruptionBudget={"minAvailable": 1}),
            {"minAvailable": 1},
        ),
        (allocating(mode="daemonset", allocationStrategy="per-node"), {"maxUnavailable": 1}),
        (allocating(podDisruptionBudget={"maxUnavailable": "25%"}), {"maxUnavailable": "25%"}),
        (allocating(allocationStrategy="least-weighted"), None),  # none for least-weighted
    ],
)
def test_allocator_pdb_budget(resource: dict[str, Any], budget: dict[str, Any] | None) -> None:
    made = pdbs(resource).get("c-targetallocator")
    if budget is None:
        assert made is None
        return
    assert made is not None
    assert {k: v for k, v in made["spec"].items() if k != "selector"} == budget


def test_allocator_pdb_selects_the_allocator_pods() -> None:
    result = built(allocating(podDisruptionBudget={"minAvailable": 1}))
    made = find(result, "PodDisruptionBudget", "c-targetallocator")
    deployment = find(result, "Deployment", "c-targetallocator")
    assert made["spec"]["selector"] == deployment["spec"]["selector"]
    assert made["metadata"]["labels"] == deployment["metadata"]["labels"]
    assert "annotations" not in made["metadata"]  # the resource has none, and the pods' are not the PDB's
    assert ALLOCATOR_CONFIG_HASH in deployment["spec"]["template"]["metadata"]["annotations"]
    assert made in result.allocator_objects  # owned by the TargetAllocator, not the collector


def test_allocator_pdb_carries_the_resources_annotations_not_the_pods() -> None:
    """Upstream v0.158 (targetallocator/poddisruptionbudget.go: ResourceAnnotations; its e2e
    targetallocator-annotations asserts a pod-only annotation stays off the PDB)."""
    resource = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {"name": "annotated", "namespace": "ns", "annotations": {"example.com/propagated": "true"}},
        "spec": {"podAnnotations": {"example.com/pod-only": "x"}, "podDisruptionBudget": {"minAvailable": 1}},
    }
    result = built(resource)
    made = find(result, "PodDisruptionBudget", "annotated-targetallocator")
    assert made["metadata"]["annotations"] == {"example.com/propagated": "true"}
    pod = find(result, "Deployment", "annotated-targetallocator")["spec"]["template"]["metadata"]["annotations"]
    assert pod["example.com/pod-only"] == "x"
    assert pod["example.com/propagated"] == "true"


# --- the checks -----------------------------------------------------------------------------------------------------

ERRORS = [
    (
        collector(mode="deployment", podDisruptionBudget={"minAvailable": 1, "maxUnavailable": 1}),
        "spec.podDisruptionBudget",
        "minAvailable and maxUnavailable cannot be both set",
    ),
    (
        collector(mode="deployment", podDisruptionBudget={"minAvailable": -1}),
        "spec.podDisruptionBudget.minAvailable",
        "negative",
    ),
    (
        collector(mode="deployment", podDisruptionBudget={"maxUnavailable": "ten"}),
        "spec.podDisruptionBudget.maxUnavailable",
        "not a valid percent string",
    ),
    (
        collector(mode="deployment", podDisruptionBudget={"maxUnavailable": "150%"}),
        "spec.podDisruptionBudget.maxUnavailable",
        "more than 100%",
    ),
    (
        allocating(allocationStrategy="least-weighted", podDisruptionBudget={"minAvailable": 1}),
        "spec.targetAllocator.podDisruptionBudget",
        "target allocator pdb has been configured but the allocation strategy isn't not compatible",
    ),
    (
        allocating(podDisruptionBudget={"minAvailable": "1", "maxUnavailable": 1}),
        "spec.targetAllocator.podDisruptionBudget",
        "cannot be both set",
    ),
    (
        allocating(podDisruptionBudget={"minAvailable": "1"}),
        "spec.targetAllocator.podDisruptionBudget.minAvailable",
        "not a valid percent string",
    ),
]


@pytest.mark.parametrize(("resource", "field", "message"), ERRORS)
def test_pdb_errors_name_the_field(resource: dict[str, Any], field: str, message: str) -> None:
    result = build(resource)
    assert not result.objects
    found = {p.field: p.message for p in result.problems}
    assert field in found, [str(p) for p in result.problems]
    assert message in found[field]


def target_allocator(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {"name": "shared", "namespace": "ns"},
        "spec": {"scrapeConfigs": [{"job_name": "j", "static_configs": [{"targets": ["a:1"]}]}], **spec},
    }


def test_a_standalone_allocator_is_checked_at_spec() -> None:
    result = build(target_allocator(allocationStrategy="least-weighted", podDisruptionBudget={"maxUnavailable": 1}))
    assert [p.field for p in result.problems] == ["spec.podDisruptionBudget"]
    assert "spec.allocationStrategy" in result.problems[0].message  # the fix names the standalone field


def test_a_standalone_allocator_gets_the_default_pdb() -> None:
    result = build(target_allocator())
    made = [o for o in result.objects if o["kind"] == "PodDisruptionBudget"]
    assert [(o["metadata"]["name"], o["spec"]["maxUnavailable"]) for o in made] == [("shared-targetallocator", 1)]
