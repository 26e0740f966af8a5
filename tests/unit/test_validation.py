"""Schema validation and defaulting against the CRDs, without a cluster."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_operator.api.validation import apply_defaults, to_json_schema, validate

ROOT = Path(__file__).resolve().parents[2]
GUIDE = list(yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text()))
COLLECTOR = next(d for d in GUIDE if d["kind"] == "OpenTelemetryCollector")
SERVICE_MONITOR = next(d for d in GUIDE if d["kind"] == "ServiceMonitor")

Edit = Callable[[dict[str, Any]], None]


def edited(base: dict[str, Any], edit: Edit) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    edit(doc)
    return doc


def test_the_guides_resources_are_valid() -> None:
    assert validate(COLLECTOR) == []
    assert validate(SERVICE_MONITOR) == []


BAD_COLLECTORS: list[tuple[str, Edit, str, str]] = [
    (
        "mode typo",
        lambda d: d["spec"].update(mode="statefull"),
        "spec.mode",
        '"statefull" is not allowed; use one of "daemonset", "deployment", "sidecar", "statefulset"',
    ),
    (
        "unknown top-level field",
        lambda d: d["spec"].update(targetAllocater={}),
        "spec.targetAllocater",
        'unknown field; did you mean "targetAllocator"?',
    ),
    (
        "unknown nested field",
        lambda d: d["spec"]["targetAllocator"]["prometheusCR"].update(serviceMonitorSelecter={}),
        "spec.targetAllocator.prometheusCR.serviceMonitorSelecter",
        'did you mean "serviceMonitorSelector"?',
    ),
    (
        "replicas as a string",
        lambda d: d["spec"].update(replicas="3"),
        "spec.replicas",
        'expected integer, got str "3"',
    ),
    ("replicas beyond int32", lambda d: d["spec"].update(replicas=2**31), "spec.replicas", "must be at most"),
    (
        "configVersions below its minimum",
        lambda d: d["spec"].update(configVersions=0),
        "spec.configVersions",
        "must be at least 1",
    ),
    (
        "bad allocation strategy",
        lambda d: d["spec"]["targetAllocator"].update(allocationStrategy="round-robin"),
        "spec.targetAllocator.allocationStrategy",
        'use one of "least-weighted", "consistent-hashing", "per-node"',
    ),
    (
        "config without exporters",
        lambda d: d["spec"]["config"].pop("exporters"),
        "spec.config.exporters",
        "required field is missing",
    ),
    ("no config at all", lambda d: d["spec"].pop("config"), "spec.config", "required field is missing"),
    (
        "pipeline without exporters",
        lambda d: d["spec"]["config"]["service"]["pipelines"]["traces"].pop("exporters"),
        "spec.config.service.pipelines.traces.exporters",
        "required field is missing",
    ),
    (
        "port without a number",
        lambda d: d["spec"].update(ports=[{"name": "metrics"}]),
        "spec.ports[0].port",
        "required field is missing",
    ),
    (
        "selector labels that are not strings",
        lambda d: d["spec"]["targetAllocator"]["prometheusCR"].update(serviceMonitorSelector={"matchLabels": {"a": 1}}),
        "spec.targetAllocator.prometheusCR.serviceMonitorSelector.matchLabels.a",
        "expected string, got int 1",
    ),
    (
        "management state typo",
        lambda d: d["spec"].update(managementState="manual"),
        "spec.managementState",
        'use one of "managed", "unmanaged"',
    ),
]


@pytest.mark.parametrize(
    ("edit", "field", "message"), [c[1:] for c in BAD_COLLECTORS], ids=[c[0] for c in BAD_COLLECTORS]
)
def test_a_bad_collector_names_object_field_and_fix(edit: Edit, field: str, message: str) -> None:
    errors = validate(edited(COLLECTOR, edit))
    assert [e.field for e in errors] == [field], errors
    assert message in errors[0].message
    assert str(errors[0]).startswith(f"OpenTelemetryCollector opentelemetry/otelcol: {field}: ")


def test_every_problem_is_reported_not_just_the_first() -> None:
    def many(d: dict[str, Any]) -> None:
        d["spec"].update(mode="x", replicas="y")
        d["spec"]["config"].pop("receivers")

    assert [e.field for e in validate(edited(COLLECTOR, many))] == [
        "spec.config.receivers",
        "spec.mode",
        "spec.replicas",
    ]


def test_component_configs_are_free_form() -> None:
    # the collector's own components are not ours to police: any shape is kept
    doc = edited(COLLECTOR, lambda d: d["spec"]["config"]["receivers"].update(anything={"deep": [1, {"x": None}]}))
    assert validate(doc) == []


def test_int_or_string_fields_take_both() -> None:
    for value in (1, "50%"):
        doc = edited(COLLECTOR, lambda d, v=value: d["spec"].update(podDisruptionBudget={"maxUnavailable": v}))
        assert validate(doc) == []
    doc = edited(COLLECTOR, lambda d: d["spec"].update(podDisruptionBudget={"maxUnavailable": 1.5}))
    assert [e.field for e in validate(doc)] == ["spec.podDisruptionBudget.maxUnavailable"]


def test_service_monitor_needs_a_selector() -> None:
    errors = validate(edited(SERVICE_MONITOR, lambda d: d["spec"].pop("selector")))
    assert [(e.obj, e.field) for e in errors] == [("ServiceMonitor opentelemetry/sm-example", "spec.selector")]


def test_unknown_kinds_and_missing_type_are_named() -> None:
    errors = validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}})
    assert errors[0].field == "apiVersion"
    assert "OpenTelemetryCollector (opentelemetry.io/v1beta1)" in errors[0].message
    assert validate({"kind": "OpenTelemetryCollector"})[0].field == "apiVersion"
    assert validate({"apiVersion": "opentelemetry.io/v1beta1"})[0].field == "kind"


def test_strictness_follows_the_structural_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert to_json_schema(schema)["additionalProperties"] is False
    preserved = {**schema, "x-kubernetes-preserve-unknown-fields": True}
    assert "additionalProperties" not in to_json_schema(preserved)
    assert "additionalProperties" not in to_json_schema({"type": "object"})
    assert to_json_schema({"type": "integer", "format": "int32"})["maximum"] == 2**31 - 1
    assert to_json_schema({"type": "string", "nullable": True})["type"] == ["string", "null"]


def test_defaults_fill_in_as_the_api_server_does() -> None:
    spec = apply_defaults(COLLECTOR)["spec"]
    assert spec["managementState"] == "managed"
    assert spec["replicas"] == 1
    assert spec["configVersions"] == 3
    ta = spec["targetAllocator"]
    assert (ta["allocationStrategy"], ta["filterStrategy"]) == ("consistent-hashing", "relabel-config")
    assert ta["collectorNotReadyGracePeriod"] == "30s"
    cr = ta["prometheusCR"]
    assert (cr["scrapeInterval"], cr["evaluationInterval"]) == ("30s", "30s")
    assert cr["serviceMonitorNamespaceSelector"] == {}
    assert cr["probeNamespaceSelector"] == {}
    # monitor selectors have no default: null selects nothing, upstream's pitfall stays visible
    assert "probeSelector" not in cr
    assert "scrapeConfigSelector" not in cr
    assert COLLECTOR["spec"].get("replicas") is None, "the input is not modified"


def test_defaults_apply_only_under_a_present_parent() -> None:
    bare = edited(COLLECTOR, lambda d: d["spec"].pop("targetAllocator"))
    spec = apply_defaults(bare)["spec"]
    assert "targetAllocator" not in spec
    no_cr = edited(COLLECTOR, lambda d: d["spec"]["targetAllocator"].pop("prometheusCR"))
    assert "prometheusCR" not in apply_defaults(no_cr)["spec"]["targetAllocator"]


def test_defaults_reach_into_list_items() -> None:
    doc = edited(COLLECTOR, lambda d: d["spec"].update(ports=[{"name": "a", "port": 1}, {"port": 2}]))
    assert [p["protocol"] for p in apply_defaults(doc)["spec"]["ports"]] == ["TCP", "TCP"]


# --- the prometheus receiver's Prometheus config: keys as Prometheus reads them -------------------------------------


def _reviewed(edit: Edit) -> list[str]:
    from otel_operator.manifests.validation import review

    return [str(e) for e in review(edited(COLLECTOR, edit)).errors]


def _prom(d: dict[str, Any]) -> dict[str, Any]:
    receiver: dict[str, Any] = d["spec"]["config"]["receivers"]["prometheus"]
    return receiver


def test_an_unknown_scrape_config_key_is_refused_with_a_hint() -> None:
    errors = _reviewed(lambda d: _prom(d)["config"]["scrape_configs"][0].update(scrape_intervall="5s"))
    assert errors == [
        "OpenTelemetryCollector opentelemetry/otelcol: spec.config.receivers.prometheus.config.scrape_configs[0]"
        '.scrape_intervall: unknown key; did you mean "scrape_interval"?'
    ]


def test_unknown_keys_are_found_at_every_level_and_in_named_receivers() -> None:
    def edit(d: dict[str, Any]) -> None:
        config = _prom(d)["config"]
        config["global"] = {"scrape_timout": "5s"}
        config["scrape_configs"][0]["kubernetes_sd_configs"] = [{"role": "pod", "tls_config": {"ca_fle": "/c"}}]
        d["spec"]["config"]["receivers"]["prometheus/two"] = {"config": {"scrape_configs": [{"job_nam": "x"}]}}

    fields = [e.split(": ", 2)[1] for e in _reviewed(edit)]
    assert fields == [  # in document order (global was added last)
        "spec.config.receivers.prometheus.config.scrape_configs[0].kubernetes_sd_configs[0].tls_config.ca_fle",
        "spec.config.receivers.prometheus.config.global.scrape_timout",
        "spec.config.receivers.prometheus/two.config.scrape_configs[0].job_nam",
    ]


def test_the_receivers_own_keys_beside_config_are_not_prometheus_keys() -> None:
    def edit(d: dict[str, Any]) -> None:
        _prom(d).update(
            trim_metric_suffixes=True,
            use_start_time_metric=True,
            start_time_metric_regex="^.+_start$",
            report_extra_scrape_metrics=True,
            target_allocator={"endpoint": "http://ta", "interval": "30s", "collector_id": "x"},
            api_server={"enabled": True, "server_config": {"endpoint": "localhost:9090"}},
        )
        d["spec"]["config"]["receivers"]["otlp"]["scrape_intervall"] = "not prometheus's"

    assert _reviewed(edit) == []


def test_an_allocators_scrape_configs_are_checked_too() -> None:
    from otel_operator.manifests.validation import review

    allocator = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {"name": "ta", "namespace": "ns"},
        "spec": {"scrapeConfigs": [{"job_name": "a", "static_configs": [{"targets": ["h:1"]}], "sample_limt": 5}]},
    }
    assert [str(e) for e in review(allocator).errors] == [
        'TargetAllocator ns/ta: spec.scrapeConfigs[0].sample_limt: unknown key; did you mean "sample_limit"?'
    ]
