"""Prometheus config files and the `promtool check service-discovery` output."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import yaml

from otel_operator.prom.promconfig import (
    PromConfigError,
    config_from_data,
    parse_config,
    render_json,
    service_discovery,
    service_discovery_targets,
    static_target_groups,
)

DEFAULTS = {
    "__metrics_path__": "/metrics",
    "__scheme__": "http",
    "__scrape_interval__": "1m",
    "__scrape_timeout__": "10s",
    "__convert_classic_histograms_to_nhcb__": "false",
    "__always_scrape_classic_histograms__": "false",
    "__scrape_native_histograms__": "false",
}
HISTOGRAMS = {name: DEFAULTS[name] for name in DEFAULTS if "histograms" in name}

CONFIG = """
global:
  scrape_interval: 30s
scrape_configs:
  - job_name: web
    params: {module: [http_2xx]}
    static_configs:
      - targets: ['a:1', 'b:2', 'a:1']
        labels: {tier: front, __meta_zone: z1}
      - targets: ['a:1']
        labels: {tier: front, __meta_zone: z1}
    relabel_configs:
      - {source_labels: [__meta_zone], target_label: zone}
      - {source_labels: [__address__], regex: 'b:.*', action: drop}
  - job_name: other
    static_configs:
      - targets: ['c:3']
"""


def test_service_discovery_prints_promtools_structure() -> None:
    discovered = {
        "__address__": "a:1",
        "__meta_zone": "z1",
        "__metrics_path__": "/metrics",
        "__param_module": "http_2xx",
        "__scheme__": "http",
        "__scrape_interval__": "30s",
        "__scrape_timeout__": "10s",
        "job": "web",
        "tier": "front",
        **HISTOGRAMS,
    }
    kept = {
        "__address__": "a:1",
        "__metrics_path__": "/metrics",
        "__param_module": "http_2xx",
        "__scheme__": "http",
        "__scrape_interval__": "30s",
        "__scrape_timeout__": "10s",
        "instance": "a:1",
        "job": "web",
        "tier": "front",
        "zone": "z1",
        **HISTOGRAMS,
    }
    result = service_discovery(CONFIG, "web")
    # a repeated target is reported once per static_configs entry; a dropped one has empty labels
    assert result == [
        {"discoveredLabels": discovered, "labels": kept},
        {"discoveredLabels": {**discovered, "__address__": "b:2"}, "labels": {}},
        {"discoveredLabels": discovered, "labels": kept},
    ]
    assert [list(entry) for entry in result] == [["discoveredLabels", "labels"]] * 3
    assert list(result[0]["labels"]) == sorted(result[0]["labels"])


def test_a_config_as_data_gives_what_its_text_gives() -> None:
    """`config_from_data` is `parse_config` after the YAML is read (the differential tests skip PyYAML with it)."""
    config = config_from_data(yaml.safe_load(CONFIG))
    assert [job.job_name for job in config.jobs] == ["web", "other"]
    for job in ("web", "other"):
        assert service_discovery(config, job) == service_discovery(CONFIG, job)
    with pytest.raises(PromConfigError, match="must be a mapping"):
        config_from_data(["not", "a", "mapping"])


def test_service_discovery_of_the_second_job() -> None:
    assert service_discovery(CONFIG, "other") == [
        {
            "discoveredLabels": {"__address__": "c:3", **DEFAULTS, "__scrape_interval__": "30s", "job": "other"},
            "labels": {
                "__address__": "c:3",
                **DEFAULTS,
                "__scrape_interval__": "30s",
                "instance": "c:3",
                "job": "other",
            },
        }
    ]


def test_refused_targets_carry_an_empty_error_object() -> None:
    config = """
scrape_configs:
  - job_name: j
    static_configs: [{targets: ['a:1']}]
    relabel_configs: [{action: labeldrop, regex: __address__}]
"""
    assert service_discovery(config, "j") == [
        {"discoveredLabels": {"__address__": "a:1", **DEFAULTS, "job": "j"}, "labels": {}, "error": {}}
    ]
    (target,) = service_discovery_targets(config, "j")
    assert target.error == "no address"


def test_an_empty_config_has_no_jobs() -> None:
    assert parse_config("").jobs == ()
    with pytest.raises(PromConfigError, match=r'job "x" not found in scrape_configs \(jobs: none\)'):
        service_discovery("", "x")


def test_yaml_numbers_keep_their_text() -> None:
    config = """
scrape_configs:
  - job_name: j
    static_configs: [{targets: ['a:1'], labels: {zip: 01234, ratio: 1.50, day: 2024-01-01, on: yes}}]
    relabel_configs: [{source_labels: [zip], regex: 01234, target_label: matched, replacement: 0x1F}]
"""
    (entry,) = service_discovery(config, "j")
    assert entry["labels"]["zip"] == "01234"
    assert entry["labels"]["ratio"] == "1.50"
    assert entry["labels"]["day"] == "2024-01-01"
    assert entry["labels"]["on"] == "yes"
    assert entry["labels"]["matched"] == "0x1F"


@pytest.mark.parametrize("key", ["~", "null", "Null", "NULL"])
def test_a_null_label_name_is_the_empty_name(key: str) -> None:
    """promtool v3.14 keeps `{~: foo}` as the label "" (before and after relabeling), though it refuses an explicit
    `"": foo`; a null name with a null value is no label at all."""
    config = f"scrape_configs: [{{job_name: j, static_configs: [{{targets: ['a:1'], labels: {{{key}: foo, b: x}}}}]}}]"
    (entry,) = service_discovery(config, "j")
    assert entry["discoveredLabels"][""] == "foo"
    assert entry["labels"][""] == "foo"
    assert next(iter(entry["labels"])) == ""  # the empty name sorts first, as in Go
    (nothing,) = service_discovery(config.replace("foo", "~"), "j")
    assert "" not in nothing["labels"]


def test_yaml_v2_reads_more_plain_scalars_as_numbers_and_booleans_than_yaml_1_1() -> None:
    """`1e3`, `0o17`, `y`: text in string fields either way; a number or boolean where Go wants one."""
    config = """
scrape_configs:
  - job_name: j
    honor_labels: y
    static_configs: [{targets: ['a:1'], labels: {e: 1e3, o: 0o17, y: y, d: 2024-01-01, q: '1e3'}}]
    relabel_configs: [{action: hashmod, source_labels: [e], target_label: h, modulus: 1e3}]
"""
    parsed = parse_config(config)
    assert parsed.jobs[0].settings.honor_labels is True
    assert parsed.jobs[0].settings.relabel_configs[0].modulus == 1000
    (entry,) = service_discovery(parsed, "j")
    assert {name: entry["labels"][name] for name in "eoydq"} == {
        "e": "1e3", "o": "0o17", "y": "y", "d": "2024-01-01", "q": "1e3"
    }  # fmt: skip


def test_url_targets_are_refused_without_relabeling_and_by_prometheus_with_it() -> None:
    plain = "scrape_configs: [{job_name: j, static_configs: [{targets: ['http://a/x']}]}]"
    with pytest.raises(
        PromConfigError, match=r'static_configs\[0\]\.targets\[0\]: "http://a/x" is not a valid hostname'
    ):
        parse_config(plain)
    relabeled = (
        "scrape_configs: [{job_name: j, static_configs: [{targets: ['http://a/x']}], "
        "relabel_configs: [{target_label: env, replacement: prod}]}]"
    )
    (target,) = service_discovery_targets(relabeled, "j")
    assert target.error == '"http://a/x" is not a valid hostname'


def test_static_groups_are_named_by_index() -> None:
    groups = static_target_groups([{"targets": ["a:1", "b:1"], "labels": {"x": "1"}}, None, {"targets": ["c:1"]}], "j")
    assert [g.source for g in groups] == ["0", "1", "2"]
    assert groups[0].targets == ({"__address__": "a:1"}, {"__address__": "b:1"})
    assert groups[0].labels == {"x": "1"}
    assert groups[1].targets == ()


@pytest.mark.parametrize(
    ("case", "config", "message"),
    [
        ("not YAML", "scrape_configs: [", "parsing YAML: "),
        ("duplicate keys", "scrape_configs:\n  - job_name: a\n    job_name: b\n",
         "mapping key 'job_name' already defined"),
        ("not a mapping", "- a\n- b\n", "the config must be a mapping, got list"),
        ("scrape_configs not a list", "scrape_configs: {a: 1}", "scrape_configs: must be a list, got dict"),
        ("null scrape config", "scrape_configs: [null]", "scrape_configs[0]: empty or null scrape config section"),
        ("missing job name", "scrape_configs: [{scrape_interval: 1m}]", "job_name is empty"),
        ("duplicate job names", "scrape_configs: [{job_name: a}, {job_name: a}]",
         'found multiple scrape configs with job name "a"'),
        ("bad global", "global: {scrape_timeout: 2m}", "global scrape timeout greater than scrape interval"),
        ("bad relabel rule", "scrape_configs: [{job_name: a, relabel_configs: [{}]}]",
         "job \"a\": relabel_configs[0].target_label: relabel configuration for replace action requires"),
        ("unknown static field", "scrape_configs: [{job_name: a, static_configs: [{target: ['x:1']}]}]",
         'job "a": static_configs[0]: unknown field "target" (known: targets, labels)'),
        ("targets not a list", "scrape_configs: [{job_name: a, static_configs: [{targets: 'x:1'}]}]",
         'job "a": static_configs[0].targets: must be a list'),
        ("invalid label name", "scrape_configs: [{job_name: a, static_configs: [{labels: {'': x}}]}]",
         'job "a": static_configs[0].labels: "" is not a valid label name'),
        ("label value not a scalar", "scrape_configs: [{job_name: a, static_configs: [{labels: {x: [1]}}]}]",
         'job "a": static_configs[0].labels.x: must be a string, got list'),
        ("static_configs not a list", "scrape_configs: [{job_name: a, static_configs: {targets: []}}]",
         'job "a": static_configs: must be a list'),
    ],
)  # fmt: skip
def test_config_errors_name_the_job_and_field(case: str, config: str, message: str) -> None:
    with pytest.raises(PromConfigError) as info:
        parse_config(config)
    assert message in str(info.value)


def test_unknown_job_lists_the_jobs() -> None:
    with pytest.raises(PromConfigError, match=r'job "nope" not found in scrape_configs \(jobs: "web", "other"\)'):
        service_discovery(CONFIG, "nope")


def test_booleans_are_booleans_where_prometheus_wants_one() -> None:
    config = parse_config("scrape_configs: [{job_name: j, honor_labels: yes}, {job_name: k, honor_labels: off}]")
    assert [job.settings.honor_labels for job in config.jobs] == [True, False]
    with pytest.raises(PromConfigError, match="modulus: cannot unmarshal !!bool `on` into uint64"):
        parse_config(
            "scrape_configs: [{job_name: j, relabel_configs: [{action: hashmod, target_label: t, modulus: on}]}]"
        )


def test_other_discovery_cannot_be_checked_offline() -> None:
    config = "scrape_configs: [{job_name: k, kubernetes_sd_configs: [{role: pod}]}]"
    with pytest.raises(PromConfigError, match='job "k": uses kubernetes_sd_configs; only static_configs'):
        service_discovery(config, "k")


def test_render_json_is_gos_marshal_indent() -> None:
    assert render_json([]) == "[]"
    assert render_json([{"labels": {}, "x": {"a": "<&>\u2028é\n"}}]) == (
        '[\n  {\n    "labels": {},\n    "x": {\n      "a": "\\u003c\\u0026\\u003e\\u2028é\\n"\n    }\n  }\n]'
    )


def test_any_malformed_config_is_a_config_error() -> None:
    """Random junk in every position of a valid config: always a PromConfigError, never another exception."""
    base: dict[str, object] = {
        "global": {"scrape_interval": "30s", "scrape_timeout": "10s"},
        "scrape_configs": [
            {
                "job_name": "j",
                "scrape_interval": "15s",
                "metrics_path": "/m",
                "params": {"module": ["x"]},
                "honor_labels": True,
                "static_configs": [{"targets": ["a:1"], "labels": {"l": "v"}}],
                "relabel_configs": [
                    {"source_labels": ["l"], "regex": "(.*)", "target_label": "t", "replacement": "$1"},
                    {"action": "hashmod", "source_labels": ["l"], "target_label": "h", "modulus": 4},
                ],
            }
        ],
    }
    junk: list[object] = [None, "", "x", "$(", 0, -1, 1.5, True, [], [None], {}, {"a": [1]}, [[1]], "(", "a/b"]
    rng = random.Random(7)
    outcomes: Counter[str] = Counter()

    def paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        out = [prefix]
        if isinstance(node, dict):
            for key, value in node.items():
                out += paths(value, (*prefix, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                out += paths(value, (*prefix, index))
        return out

    all_paths = paths(base)[1:]
    for _ in range(300):
        config = yaml.safe_load(yaml.safe_dump(base))
        path = rng.choice(all_paths)
        node = config
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = rng.choice(junk)
        try:
            service_discovery(yaml.safe_dump(config), "j")
        except PromConfigError:
            outcomes["refused"] += 1
        else:
            outcomes["accepted"] += 1
    assert outcomes["refused"] > 100
    assert outcomes["accepted"] > 50
