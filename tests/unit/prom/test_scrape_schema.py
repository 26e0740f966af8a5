"""Unknown keys in a Prometheus configuration, as Prometheus v3.14's strict reader refuses them (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.prom.scrape_schema import (
    SD_NAMES,
    prometheus_config_problems,
    scrape_config_problems,
    scrape_configs_problems,
    unknown_key_message,
)

JOB: dict[str, Any] = {"job_name": "j", "static_configs": [{"targets": ["h:1"]}]}

# (what, one scrape config, the problems' paths under scrape_configs[0], the first problem's message)
CASES: list[tuple[str, dict[str, Any], list[str], str]] = [
    ("top-level typo", {**JOB, "scrape_intervall": "5s"}, ["scrape_intervall"], 'did you mean "scrape_interval"?'),
    ("case differs", {**JOB, "Job_Name": "x"}, ["Job_Name"], 'did you mean "job_name"?'),
    ("no close key", {**JOB, "zzz": 1}, ["zzz"], "unknown key; known keys: job_name, honor_labels,"),
    ("relabel rule", {**JOB, "relabel_configs": [{"action": "drop"}, {"regexp": "a"}]}, ["relabel_configs[1].regexp"],
     'did you mean "regex"?'),
    ("metric relabel rule", {**JOB, "metric_relabel_configs": [{"source_label": ["a"]}]},
     ["metric_relabel_configs[0].source_label"], 'did you mean "source_labels"?'),
    ("static config", {"job_name": "j", "static_configs": [{"target": ["h:1"]}]}, ["static_configs[0].target"],
     'did you mean "targets"?'),
    ("basic_auth", {**JOB, "basic_auth": {"usename": "u"}}, ["basic_auth.usename"], 'did you mean "username"?'),
    ("authorization", {**JOB, "authorization": {"credential": "t"}}, ["authorization.credential"],
     'did you mean "credentials"?'),
    ("oauth2", {**JOB, "oauth2": {"token_uri": "x"}}, ["oauth2.token_uri"], 'did you mean "token_url"?'),
    ("oauth2 tls", {**JOB, "oauth2": {"tls_config": {"ca_fil": "x"}}}, ["oauth2.tls_config.ca_fil"],
     'did you mean "ca_file"?'),
    ("oauth2 proxy is inline", {**JOB, "oauth2": {"proxy_url": "http://p", "no_proxy": "x"}}, [], ""),
    ("tls", {**JOB, "tls_config": {"insecure_skip_verfy": True}}, ["tls_config.insecure_skip_verfy"],
     'did you mean "insecure_skip_verify"?'),
    ("proxy", {**JOB, "proxy_urls": "http://p"}, ["proxy_urls"], 'did you mean "proxy_url"?'),
    ("follow_redirects", {**JOB, "follow_redirect": False}, ["follow_redirect"], 'did you mean "follow_redirects"?'),
    ("http header value", {**JOB, "http_headers": {"X-A": {"value": ["a"]}}}, ["http_headers.X-A.value"],
     'did you mean "values"?'),
    ("kubernetes SD", {"job_name": "j", "kubernetes_sd_configs": [{"role": "pod", "namespace": {"names": ["a"]}}]},
     ["kubernetes_sd_configs[0].namespace"], 'did you mean "namespaces"?'),
    ("kubernetes attach_metadata",
     {"job_name": "j", "kubernetes_sd_configs": [{"role": "pod", "attach_metadata": {"deploymnt": True}}]},
     ["kubernetes_sd_configs[0].attach_metadata.deploymnt"], 'did you mean "deployment"?'),
    ("kubernetes selectors", {"job_name": "j", "kubernetes_sd_configs": [{"selectors": [{"labels": "a=b"}]}]},
     ["kubernetes_sd_configs[0].selectors[0].labels"], 'did you mean "label"?'),
    ("kubernetes http client", {"job_name": "j", "kubernetes_sd_configs": [{"tls_config": {"cert": "x", "k": 1}}]},
     ["kubernetes_sd_configs[0].tls_config.k"], "unknown key"),
    ("file SD", {"job_name": "j", "file_sd_configs": [{"file": ["a.json"]}]}, ["file_sd_configs[0].file"],
     'did you mean "files"?'),
    ("http SD", {"job_name": "j", "http_sd_configs": [{"uri": "http://x", "refresh_interval": "1m"}]},
     ["http_sd_configs[0].uri"], 'did you mean "url"?'),
    ("dns SD", {"job_name": "j", "dns_sd_configs": [{"names": ["a"], "typ": "A"}]}, ["dns_sd_configs[0].typ"],
     'did you mean "type"?'),
    ("other SD kinds: inner keys unchecked", {"job_name": "j", "ec2_sd_configs": [{"anything": 1}],
                                              "consul_sd_configs": [{"services": []}]}, [], ""),
    ("SD kind typo", {"job_name": "j", "ec2_sd_config": [{}]}, ["ec2_sd_config"], 'did you mean "ec2_sd_configs"?'),
    ("free-form maps", {**JOB, "params": {"any": ["x"]}, "proxy_connect_header": {"X": ["y"]},
                        "oauth2": {"endpoint_params": {"k": "v"}, "claims": {"c": 1}}}, [], ""),
    ("every problem, in order", {**JOB, "a_b": 1, "tls_config": {"x_y": 1}, "relabel_configs": [{"z": 1}]},
     ["a_b", "tls_config.x_y", "relabel_configs[0].z"], "unknown key"),
    ("wrong shapes are not this check's", {**JOB, "tls_config": [1], "relabel_configs": {"a": 1},
                                           "static_configs": ["x", None]}, [], ""),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "paths", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_unknown_keys_are_named_with_a_hint(entry: dict[str, Any], paths: list[str], message: str) -> None:
    found = scrape_config_problems(entry, "scrape_configs[0]")
    assert [path for path, _ in found] == [f"scrape_configs[0].{p}" for p in paths]
    if paths:
        assert found[0][1].startswith("unknown key")
        assert message in found[0][1]


def test_every_sd_kind_is_a_known_key() -> None:
    entry = {"job_name": "j", **{f"{name}_sd_configs": [] for name in SD_NAMES}}
    assert scrape_config_problems(entry, "s") == []
    assert len(SD_NAMES) == 36


def test_a_whole_config_global_and_top_level() -> None:
    config = {
        "global": {"scrape_interval": "1m", "evaluation_intervall": "1m", "external_labels": {"any": "x"}},
        "scrape_config": [],
        "remote_write": [{"anything": "unchecked"}],
        "scrape_configs": [JOB, {"job_name": "k", "metrics_paths": "/m"}],
    }
    assert prometheus_config_problems(config, "spec.config") == [
        ("spec.config.global.evaluation_intervall", 'unknown key; did you mean "evaluation_interval"?'),
        ("spec.config.scrape_config", 'unknown key; did you mean "scrape_configs"?'),
        ("spec.config.scrape_configs[1].metrics_paths", 'unknown key; did you mean "metrics_path"?'),
    ]
    assert prometheus_config_problems(None) == []
    assert prometheus_config_problems("not a mapping") == []


def test_a_scrape_configs_list() -> None:
    found = scrape_configs_problems([JOB, None, {"job_name": "x", "honor_label": True}], "spec.scrapeConfigs")
    assert found == [("spec.scrapeConfigs[2].honor_label", 'unknown key; did you mean "honor_labels"?')]


def test_non_string_keys_are_unknown_keys() -> None:
    assert [p for p, _ in scrape_config_problems({**JOB, 1: "x", None: "y"}, "s")] == ["s.1", "s.None"]


def test_message_prefers_a_case_only_difference() -> None:
    assert unknown_key_message("ROLE", ("rule", "role")) == 'unknown key; did you mean "role"?'
    assert unknown_key_message("q", ("a", "b")) == "unknown key; known keys: a, b"


def test_skipped_subtrees_are_left_to_their_own_readers() -> None:
    entry = {**JOB, "relabel_configs": [{"regexp": "a"}], "static_configs": [{"target": []}], "tls_confg": {}}
    skip = ("relabel_configs", "metric_relabel_configs", "static_configs")
    assert [p for p, _ in scrape_config_problems(entry, "s", skip)] == ["s.tls_confg"]
    assert len(scrape_config_problems(entry, "s")) == 3
