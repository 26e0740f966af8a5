"""The one review: what the admission webhook refuses, `check resources` reports and the reconciler marks invalid."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from otel_operator.admission.handlers import _metadata_only, defaulted_collector, wants_sidecars
from otel_operator.cli import main
from otel_operator.manifests import build
from otel_operator.manifests.featuregates import DEFAULT_ENABLED
from otel_operator.manifests.validation import review


def collector(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "mode": "statefulset",
        "config": {
            "receivers": {"otlp": {"protocols": {"grpc": {}}}},
            "exporters": {"debug": {}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}},
        },
    }
    base.update(spec)
    return {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "otel", "namespace": "obs"},
        "spec": base,
    }


def allocator(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {"name": "ta", "namespace": "obs"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("resource", "field", "words"),
    [
        (collector(mode="statefull"), "spec.mode", "is not allowed"),  # schema
        (collector(mode="deployment", targetAllocator={"enabled": True}), "spec.mode", "does not support the target"),
        (collector(autoscaler={"minReplicas": 3, "maxReplicas": 2}), "spec.autoscaler", "minReplicas"),
        (
            collector(mode="daemonset", volumeClaimTemplates=[{"metadata": {"name": "x"}}]),
            "spec.volumeClaimTemplates",
            "",
        ),
        (allocator(allocationStrategy="round-robin"), "spec.allocationStrategy", "is not allowed"),
    ],
)
def test_errors_name_the_field(resource: dict[str, Any], field: str, words: str) -> None:
    verdict = review(resource)
    assert not verdict.allowed
    hit = [e for e in verdict.errors if e.field.startswith(field)]
    assert hit, verdict.errors
    assert words in hit[0].message


def test_a_good_collector_comes_back_defaulted() -> None:
    verdict = review(collector())
    assert verdict.allowed
    assert verdict.warnings == ()
    spec = verdict.resource["spec"]
    assert spec["managementState"] == "managed"
    assert spec["upgradeStrategy"] == "automatic"
    assert spec["replicas"] == 1
    # upstream's config defaults: the receiver listens on all interfaces, the collector's own metrics are exposed
    assert spec["config"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert "telemetry" in spec["config"]["service"]


def test_null_components_are_a_warning_not_an_error() -> None:
    resource = collector()
    resource["spec"]["config"]["processors"] = {"batch": None}
    verdict = review(resource)
    assert verdict.allowed
    assert any("null objects: processors.batch" in w for w in verdict.warnings)


def test_an_update_may_not_change_the_mode() -> None:
    old = collector(mode="statefulset")
    verdict = review(collector(mode="deployment"), old=old)
    assert [e.field for e in verdict.errors] == ["spec.mode"]
    assert "does not support modification" in verdict.errors[0].message
    assert review(collector(mode="statefulset"), old=old).allowed


def test_allocator_without_a_known_collector_is_not_warned_about_when_unknown() -> None:
    lonely = allocator()
    assert not any("no collector uses" in w for w in review(lonely, has_collector=None).warnings)
    assert any("no collector uses" in w for w in review(lonely, has_collector=False).warnings)


def test_build_refuses_exactly_what_review_refuses() -> None:
    """The reconciler and the webhook cannot disagree: build() reports review()'s errors, word for word."""
    for resource in (collector(mode="deployment", targetAllocator={"enabled": True}), collector(mode="x"), collector()):
        verdict, built = review(resource), build(resource)
        assert tuple(built.problems) == verdict.errors
        assert set(verdict.warnings) <= set(built.warnings)


def test_webhook_defaults_switch_the_network_policy_on_with_the_gate() -> None:
    on = defaulted_collector(collector(), DEFAULT_ENABLED)
    assert on["spec"]["networkPolicy"] == {"enabled": True}
    off = defaulted_collector(collector(), frozenset())
    assert "networkPolicy" not in off["spec"]
    explicit = defaulted_collector(collector(networkPolicy={"enabled": False}), DEFAULT_ENABLED)
    assert explicit["spec"]["networkPolicy"] == {"enabled": False}
    # defaulting twice changes nothing more (the API server may call the webhook again)
    assert defaulted_collector(on, DEFAULT_ENABLED) == on


def test_metadata_only_updates_are_never_reviewed() -> None:
    old = collector()
    finalizer = copy.deepcopy(old)
    finalizer["metadata"]["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
    assert _metadata_only(old, finalizer)
    changed = collector(replicas=3)
    assert not _metadata_only(old, changed)
    relinked = copy.deepcopy(old)
    relinked["metadata"]["labels"] = {"opentelemetry.io/target-allocator": "ta"}
    assert not _metadata_only(old, relinked)
    assert not _metadata_only(None, old)  # a create is always reviewed


@pytest.mark.parametrize(
    ("value", "wanted"),
    [("true", True), ("False", False), ("false", False), ("", False), ("my-sidecar", True), ("obs/my-sidecar", True)],
)
def test_namespace_annotation_values(value: str, wanted: bool) -> None:
    assert wants_sidecars({"sidecar.opentelemetry.io/inject": value}) is wanted
    assert wants_sidecars({}) is False


def test_check_resources_prints_the_webhooks_errors_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        """apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: bad}
spec:
  mode: deployment
  targetAllocator: {enabled: true}
  config:
    receivers: {prometheus: {config: {scrape_configs: [{job_name: x}]}}, otlp: }
    exporters: {debug: {}}
    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}
"""
    )
    assert main(["check", "resources", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "error: OpenTelemetryCollector default/bad: spec.mode: the OpenTelemetry Collector mode is set to " in out
    assert "warning: OpenTelemetryCollector default/bad: spec.config: Collector config spec.config has null" in out
    assert "1 checked, 1 problem(s)" in out


def test_what_the_allocator_could_not_load_is_refused_too() -> None:
    """The build's own checks are part of the review: an allocator config the allocator would refuse (here a bad
    scrape_interval, checked only when the allocator's config is made) is refused at apply time, word for word as
    the reconciler reports it."""
    resource = collector(
        targetAllocator={"enabled": True},
        config={
            "receivers": {
                "prometheus": {"config": {"scrape_configs": [{"job_name": "x", "scrape_interval": "banana"}]}}
            },
            "exporters": {"debug": {}},
            "service": {"pipelines": {"metrics": {"receivers": ["prometheus"], "exporters": ["debug"]}}},
        },
    )
    verdict = review(resource)
    assert not verdict.allowed
    assert verdict.errors[0].field.startswith("spec.config.receivers.prometheus.config.scrape_configs[0]")
    assert tuple(build(resource).problems) == verdict.errors
    bad_ta = allocator(scrapeConfigs=[{"job_name": "y", "scrape_interval": "banana"}])
    assert not review(bad_ta).allowed
