"""What cannot be built (errors: no objects at all) and what is likely wrong (warnings), reference §6.2."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from otel_operator.manifests import build, validate_update

from .common import BASE_CONFIG, SCRAPING_CONFIG, allocating, collector


def mutate(resource: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    change(out)
    return out


def _no_prometheus(r: dict[str, Any]) -> None:
    r["spec"]["config"] = copy.deepcopy(BASE_CONFIG)


def _named_prometheus(r: dict[str, Any]) -> None:
    receivers = r["spec"]["config"]["receivers"]
    receivers["prometheus/app"] = receivers.pop("prometheus")
    r["spec"]["config"]["service"]["pipelines"]["metrics"]["receivers"] = ["prometheus/app"]


def _no_scrape_configs(r: dict[str, Any]) -> None:
    r["spec"]["config"]["receivers"]["prometheus"]["config"]["scrape_configs"] = []


def _undefined_receiver(r: dict[str, Any]) -> None:
    r["spec"]["config"]["service"]["pipelines"]["traces"]["receivers"].append("zipkin")


ERRORS = [
    (allocating("deployment"), "spec.mode", "mode is set to deployment, which does not support the target allocation"),
    (
        allocating("daemonset"),
        "spec.targetAllocator.allocationStrategy",
        "must be used with target allocation strategy per-node",
    ),
    (
        allocating("statefulset", allocationStrategy="per-node"),
        "spec.targetAllocator.allocationStrategy",
        "only supported in OpenTelemetry Collector mode daemonset",
    ),
    (mutate(allocating(), _no_prometheus), "spec.config.receivers.prometheus", "no prometheus available"),
    (mutate(allocating(), _named_prometheus), "spec.config.receivers", 'rename one of them to "prometheus"'),
    (
        mutate(allocating(), _no_scrape_configs),
        "spec.config.receivers.prometheus.config.scrape_configs",
        "PrometheusCR needs to be enabled",
    ),
    (
        allocating(mtls={"enabled": True, "tls": {"serverCertificate": {}}}),
        "spec.targetAllocator.mtls.tls",
        "not supported yet",
    ),
    (
        allocating(collectorTargetReloadInterval="soon"),
        "spec.targetAllocator.collectorTargetReloadInterval",
        "is not a duration",
    ),
    (
        collector(mode="sidecar", tolerations=[{"operator": "Exists"}]),
        "spec.tolerations",
        "does not support the attribute",
    ),
    (
        collector(mode="deployment", volumeClaimTemplates=[{"metadata": {"name": "x"}}]),
        "spec.volumeClaimTemplates",
        "use mode statefulset",
    ),
    (
        collector(mode="statefulset", daemonSetUpdateStrategy={"type": "OnDelete"}),
        "spec.daemonSetUpdateStrategy",
        "use mode daemonset",
    ),
    (collector(ports=[{"name": "Bad_Name", "port": 80}]), "spec.ports[0].name", "not a valid port name"),
    (collector(autoscaler={"minReplicas": 2}), "spec.autoscaler.maxReplicas", "required"),
    (collector(replicas=5, autoscaler={"maxReplicas": 3}), "spec.replicas", "more than spec.autoscaler.maxReplicas"),
    (
        mutate(collector(), _undefined_receiver),
        "spec.config.service.pipelines.traces.receivers[1]",
        '"zipkin" is not defined',
    ),
    (
        collector(config={**BASE_CONFIG, "receivers": {"otlp": {"protocols": {"grcp": {}}}}}),
        "spec.config.receivers.otlp.protocols.grcp",
        "no protocol",
    ),
    (collector(mode="statefull"), "spec.mode", "is not allowed"),  # the schema's enum
]


@pytest.mark.parametrize(("resource", "field", "message"), ERRORS)
def test_errors_stop_the_build(resource: dict[str, Any], field: str, message: str) -> None:
    result = build(resource)
    assert result.objects == ()
    assert not result.ok
    assert field in [p.field for p in result.problems], [str(p) for p in result.problems]
    problem = next(p for p in result.problems if p.field == field)
    assert message in problem.message
    assert problem.obj == "OpenTelemetryCollector ns/c"


def test_a_valid_allocator_collector_builds() -> None:
    assert build(allocating()).ok
    assert build(allocating("daemonset", allocationStrategy="per-node")).ok
    assert build(allocating(prometheusCR={"enabled": True, "serviceMonitorSelector": {}, "podMonitorSelector": {}})).ok


def test_a_prometheus_receiver_without_config_is_fine_with_prometheus_cr() -> None:
    config = copy.deepcopy(SCRAPING_CONFIG)
    config["receivers"]["prometheus"] = {}
    resource = collector(mode="statefulset", config=config, targetAllocator={"enabled": True})
    assert not build(resource).ok
    resource["spec"]["targetAllocator"]["prometheusCR"] = {
        "enabled": True,
        "serviceMonitorSelector": {},
        "podMonitorSelector": {},
    }
    assert build(resource).ok


@pytest.mark.parametrize(
    ("resource", "field", "message"),
    [
        (
            allocating(prometheusCR={"enabled": True}),
            "spec.targetAllocator.prometheusCR.serviceMonitorSelector",
            "selects no ServiceMonitor at all; set it to {} to select every ServiceMonitor",
        ),
        (
            allocating(prometheusCR={"enabled": True, "serviceMonitorSelector": {}}),
            "spec.targetAllocator.prometheusCR.podMonitorSelector",
            "set it to {} to select every PodMonitor",
        ),
        (
            collector(config={**BASE_CONFIG, "exporters": {"debug": None}}),
            "spec.config",
            "has null objects: exporters.debug",
        ),
        (
            collector(targetAllocator={"enabled": False, "prometheusCR": {"enabled": True}}),
            "spec.targetAllocator.enabled",
            "prometheusCR is enabled but the target allocator is not",
        ),
        (
            mutate(
                allocating(), lambda r: r["metadata"].update(labels={"opentelemetry.io/target-allocator": "shared"})
            ),
            "spec.targetAllocator.enabled",
            "ignored",
        ),
    ],
)
def test_warnings_do_not_stop_the_build(resource: dict[str, Any], field: str, message: str) -> None:
    result = build(resource)
    assert result.ok, [str(p) for p in result.problems]
    assert result.objects
    assert any(f": {field}: " in w and message in w for w in result.warnings), result.warnings


def test_prometheus_cr_selectors_set_to_empty_give_no_warning() -> None:
    cr = {"enabled": True, "serviceMonitorSelector": {}, "podMonitorSelector": {}}
    assert build(allocating(prometheusCR=cr)).warnings == ()


def test_mode_is_immutable() -> None:
    old = collector(mode="statefulset")
    assert validate_update(old, copy.deepcopy(old)) == []
    problems = validate_update(old, collector(mode="deployment"))
    assert [(p.field, p.message) for p in problems] == [
        (
            "spec.mode",
            "the OpenTelemetry Collector mode is set to statefulset, which does not support modification; set it "
            "back to statefulset, or delete the collector and create it again with mode deployment",
        )
    ]
    # an unset mode is the default, deployment
    assert validate_update(collector(), collector(mode="deployment")) == []


def test_unknown_kinds_and_missing_namespace() -> None:
    result = build({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert not result.ok
    assert result.problems[0].field == "apiVersion"
    resource = collector()
    del resource["metadata"]["namespace"]
    assert [p.field for p in build(resource).problems] == ["metadata.namespace"]
