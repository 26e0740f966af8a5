"""Unsupported service discovery refused by name in the config loader (so `render` and the operator refuse it),
and the Prometheus v3 keys `/scrape_configs` carries as upstream's allocator serves them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from otel_operator.allocator.config import ConfigError, load_config
from otel_operator.allocator.scrape_configs import ScrapeConfigsError, ScrapeGlobals, render_scrape_configs
from otel_operator.manifests import build
from otel_operator.prom.targets import GlobalDefaults
from tests.unit.manifests.common import allocating

BASE = "collector_namespace: ns\nconfig:\n  scrape_configs:\n"


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ("{job_name: c, consul_sd_configs: [{server: 'consul:8500'}]}", "consul_sd_configs: not supported"),
        ("{job_name: e, ec2_sd_configs: [{region: eu-west-1}]}", "ec2_sd_configs: not supported"),
        (
            "{job_name: s, kubernetes_sd_configs: [{role: pod, selectors: [{role: service}]}]}",
            "pod role supports only pod, node selectors",
        ),
        ("{job_name: f, file_sd_configs: [{files: [/t/targets.txt]}]}", "file_sd_configs[0].files[0]"),
        ("{job_name: h, http_sd_configs: [{url: 'http://sd', oauth2: {client_id: x}}]}", "http_sd_configs[0].oauth2"),
    ],
)
def test_the_config_loader_refuses_discovery_it_cannot_run(job: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(BASE + f"  - {job}\n")
    (problem,) = err.value.problems
    assert problem.field == "config.scrape_configs[0]"
    assert message in problem.message


def test_the_config_loader_takes_every_supported_kind() -> None:
    jobs = [
        "{job_name: k, kubernetes_sd_configs: [{role: pod, selectors: [{role: pod, label: app=web}]}]}",
        "{job_name: o, kubernetes_sd_configs: [{role: endpointslice, namespaces: {own_namespace: true}}]}",
        "{job_name: h, http_sd_configs: [{url: 'http://sd:8080/targets', refresh_interval: 15s}]}",
        "{job_name: f, file_sd_configs: [{files: ['/etc/targets/*.json']}]}",
        "{job_name: d, dns_sd_configs: [{names: [_m._tcp.svc], type: SRV}]}",
    ]
    config = load_config(BASE + "".join(f"  - {j}\n" for j in jobs))
    assert [s.job_name for s in config.config.jobs] == ["k", "o", "h", "f", "d"]


def test_render_refuses_it_as_a_build_problem_naming_the_collector_field() -> None:
    resource = allocating()
    job = resource["spec"]["config"]["receivers"]["prometheus"]["config"]["scrape_configs"][0]
    job["consul_sd_configs"] = [{"server": "consul:8500"}]
    result = build(resource)
    assert not result.objects
    (problem,) = result.problems
    assert problem.field == "spec.config.receivers.prometheus.config.scrape_configs[0]"
    assert "consul_sd_configs: not supported by this allocator" in problem.message


# --------------------------------------------------------------------------------------------------- v3 keys

V3_DEFAULTS: dict[str, Any] = {
    "track_timestamps_staleness": False,
    "scrape_protocols": ["OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"],
    "scrape_native_histograms": False,
    "always_scrape_classic_histograms": False,
    "convert_classic_histograms_to_nhcb": False,
    "extra_scrape_metrics": False,
    "metric_name_validation_scheme": "utf8",
    "metric_name_escaping_scheme": "allow-utf-8",
}


def served(raw: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    body = render_scrape_configs({"j": {"job_name": "j", **raw}}, **kwargs)
    job: dict[str, Any] = json.loads(body.redacted)["j"]
    return job


def test_every_job_carries_the_v3_defaults() -> None:
    job = served({})
    assert {k: job[k] for k in V3_DEFAULTS} == V3_DEFAULTS


@pytest.mark.parametrize(
    ("raw", "globals_", "defaults", "expected"),
    [
        (
            {"scrape_native_histograms": True},
            None,
            None,
            {"scrape_protocols": ["PrometheusProto", *V3_DEFAULTS["scrape_protocols"]]},
        ),
        (
            {},
            ScrapeGlobals(scrape_native_histograms=True),
            None,
            {
                "scrape_native_histograms": True,
                "scrape_protocols": ["PrometheusProto", *V3_DEFAULTS["scrape_protocols"]],
            },
        ),
        (
            {"scrape_protocols": ["PrometheusText0.0.4"]},
            ScrapeGlobals(scrape_protocols=("PrometheusProto",)),
            None,
            {"scrape_protocols": ["PrometheusText0.0.4"]},
        ),
        ({}, ScrapeGlobals(scrape_protocols=("PrometheusProto",)), None, {"scrape_protocols": ["PrometheusProto"]}),
        ({"always_scrape_classic_histograms": True}, ScrapeGlobals(), None, {"always_scrape_classic_histograms": True}),
        (
            {"convert_classic_histograms_to_nhcb": False},
            ScrapeGlobals(convert_classic_histograms_to_nhcb=True),
            None,
            {"convert_classic_histograms_to_nhcb": False},
        ),
        ({}, ScrapeGlobals(extra_scrape_metrics=True), None, {"extra_scrape_metrics": True}),
        (
            {"metric_name_validation_scheme": "legacy"},
            None,
            None,
            {"metric_name_validation_scheme": "legacy", "metric_name_escaping_scheme": "underscores"},
        ),
        (
            {},
            None,
            GlobalDefaults.from_config({"metric_name_validation_scheme": "legacy"}),
            {"metric_name_validation_scheme": "legacy", "metric_name_escaping_scheme": "underscores"},
        ),
        ({}, ScrapeGlobals(metric_name_escaping_scheme="dots"), None, {"metric_name_escaping_scheme": "dots"}),
        ({"track_timestamps_staleness": True}, None, None, {"track_timestamps_staleness": True}),
    ],
)
def test_a_job_takes_what_it_does_not_set_from_global(
    raw: dict[str, Any], globals_: ScrapeGlobals | None, defaults: GlobalDefaults | None, expected: dict[str, Any]
) -> None:
    job = served(raw, globals_=globals_, defaults=defaults)
    assert {k: job[k] for k in expected} == expected


def test_global_values_are_read_from_the_global_section() -> None:
    parsed = ScrapeGlobals.from_config({"scrape_protocols": ["PrometheusProto"], "extra_scrape_metrics": True})
    assert parsed == ScrapeGlobals(scrape_protocols=("PrometheusProto",), extra_scrape_metrics=True)
    assert ScrapeGlobals.from_config(None) == ScrapeGlobals()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"scrape_protocols": ["Proto"]}, "scrape_protocols[0]"),
        ({"scrape_protocols": ["PrometheusProto", "PrometheusProto"]}, "scrape_protocols[1]"),
        ({"metric_name_validation_scheme": "ascii"}, "metric_name_validation_scheme"),
        ({"metric_name_escaping_scheme": "none"}, "metric_name_escaping_scheme"),
        (
            {"metric_name_validation_scheme": "legacy", "metric_name_escaping_scheme": "allow-utf-8"},
            "metric_name_escaping_scheme",
        ),
        ({"extra_scrape_metrics": "maybe"}, "extra_scrape_metrics"),
    ],
)
def test_v3_values_prometheus_refuses_are_errors_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ScrapeConfigsError) as err:
        served(raw)
    assert err.value.field == field
