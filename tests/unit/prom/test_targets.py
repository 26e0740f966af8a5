"""Target assembly: scrape-config defaults, merging, seeding, Prometheus's post-relabel steps, and the allocator's
relabel-config filter (sharding wrapper, identity, served labels, dedup)."""

from __future__ import annotations

from typing import Any

import pytest

import otel_operator.prom.targets as targets_module
from otel_operator.prom.labels import NameScheme
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.promconfig import PromConfigError, parse_config
from otel_operator.prom.relabel import RelabelConfigError
from otel_operator.prom.targets import (
    GlobalDefaults,
    JobTargets,
    Mode,
    ScrapeConfigError,
    ScrapeJob,
    ScrapeSettings,
    dedupe,
    format_duration,
    parse_duration,
)

SEEDS = {
    "__metrics_path__": "/metrics",
    "__scheme__": "http",
    "__scrape_interval__": "1m",
    "__scrape_timeout__": "10s",
    # Prometheus v3.13+: the histogram settings, on every target, "false" by default
    "__convert_classic_histograms_to_nhcb__": "false",
    "__always_scrape_classic_histograms__": "false",
    "__scrape_native_histograms__": "false",
}


@pytest.mark.parametrize(
    ("text", "ms"),
    [("0", 0), ("0s", 0), ("1m", 60_000), ("1m30s", 90_000), ("1h30m", 5_400_000), ("500ms", 500),
     ("1s500ms", 1_500), ("90d", 90 * 86_400_000), ("1w", 604_800_000), ("1y", 365 * 86_400_000)],
)  # fmt: skip
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    ("case", "text", "message"),
    [
        ("empty", "", "empty duration string"),
        ("fraction", "1.5h", 'not a valid duration string: "1.5h"'),
        ("no unit", "30", 'not a valid duration string: "30"'),
        ("units out of order", "1m1h", 'not a valid duration string: "1m1h"'),
        ("negative", "-1s", 'not a valid duration string: "-1s"'),
        ("past Go's int64 nanoseconds", "300y", "duration out of range"),
    ],
)
def test_parse_duration_errors(case: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0s"), (60_000, "1m"), (90_000, "1m30s"), (1_500, "1s500ms"), (3_600_000, "1h"), (86_400_000, "1d"),
     (604_800_000, "1w"), (8 * 86_400_000, "8d"), (14 * 86_400_000, "2w"), (365 * 86_400_000, "1y"),
     (366 * 86_400_000, "366d"), (30_500, "30s500ms")],
)  # fmt: skip
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


# --- Scrape config defaults ------------------------------------------------------------------------------------------


def test_global_defaults_are_prometheus_defaults() -> None:
    assert GlobalDefaults.from_config(None) == GlobalDefaults(60_000, 10_000, NameScheme.UTF8)
    assert GlobalDefaults.from_config({}) == GlobalDefaults(60_000, 10_000, NameScheme.UTF8)


def test_global_timeout_defaults_to_at_most_the_interval() -> None:
    assert GlobalDefaults.from_config({"scrape_interval": "5s"}).scrape_timeout == 5_000
    assert GlobalDefaults.from_config({"scrape_interval": "30s"}).scrape_timeout == 10_000


@pytest.mark.parametrize(
    ("case", "raw", "message"),
    [
        ("timeout over interval", {"scrape_interval": "10s", "scrape_timeout": "20s"},
         "global scrape timeout greater than scrape interval"),
        ("bad duration", {"scrape_interval": "ten"}, 'global: scrape_interval: not a valid duration string: "ten"'),
        ("unknown scheme", {"metric_name_validation_scheme": "ascii"}, "unknown name validation method"),
        ("not a mapping", ["x"], "global: must be a mapping"),
    ],
)  # fmt: skip
def test_global_errors(case: str, raw: object, message: str) -> None:
    with pytest.raises(ScrapeConfigError, match=message):
        GlobalDefaults.from_config(raw)


@pytest.mark.parametrize(
    ("case", "raw", "defaults", "expected"),
    [
        ("all defaults", {"job_name": "j"}, GlobalDefaults(),
         {"scrape_interval": 60_000, "scrape_timeout": 10_000, "metrics_path": "/metrics", "scheme": "http"}),
        ("interval from the global section", {"job_name": "j"}, GlobalDefaults(30_000, 5_000),
         {"scrape_interval": 30_000, "scrape_timeout": 5_000}),
        ("timeout is at most the job's interval", {"job_name": "j", "scrape_interval": "5s"}, GlobalDefaults(),
         {"scrape_interval": 5_000, "scrape_timeout": 5_000}),
        ("0s means unset", {"job_name": "j", "scrape_interval": "0s"}, GlobalDefaults(),
         {"scrape_interval": 60_000}),
        ("explicit empty metrics_path stays empty", {"job_name": "j", "metrics_path": ""}, GlobalDefaults(),
         {"metrics_path": ""}),
        ("params in name order", {"job_name": "j", "params": {"z": ["1"], "module": ["http_2xx", "x"]}},
         GlobalDefaults(), {"params": (("module", ("http_2xx", "x")), ("z", ("1",)))}),
        ("the scheme comes from the global section", {"job_name": "j"}, GlobalDefaults(name_scheme=NameScheme.LEGACY),
         {"name_scheme": NameScheme.LEGACY}),
        ("a job can choose its own scheme", {"job_name": "j", "metric_name_validation_scheme": "legacy"},
         GlobalDefaults(), {"name_scheme": NameScheme.LEGACY}),
        ("a number as job name is its text", {"job_name": 7}, GlobalDefaults(), {"job_name": "7"}),
    ],
)  # fmt: skip
def test_scrape_settings(case: str, raw: dict[str, Any], defaults: GlobalDefaults, expected: dict[str, Any]) -> None:
    settings = ScrapeSettings.from_config(raw, defaults)
    for name, value in expected.items():
        assert getattr(settings, name) == value


@pytest.mark.parametrize(
    ("case", "raw", "message"),
    [
        ("missing job name", {}, "job_name is empty"),
        ("timeout over interval", {"job_name": "j", "scrape_interval": "5s", "scrape_timeout": "6s"},
         'job "j": scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name "j"'),
        ("bad interval", {"job_name": "j", "scrape_interval": 30}, 'job "j": scrape_interval: not a valid duration'),
        ("honor_labels must be a boolean", {"job_name": "j", "honor_labels": "yes"}, 'job "j": honor_labels:'),
        ("params must map to lists", {"job_name": "j", "params": {"module": "x"}}, 'job "j": params.module:'),
        ("metrics_path must be a string", {"job_name": "j", "metrics_path": ["/x"]}, 'job "j": metrics_path:'),
        ("not a mapping", "job", "a scrape config must be a mapping"),
    ],
)  # fmt: skip
def test_scrape_settings_errors(case: str, raw: object, message: str) -> None:
    with pytest.raises(ScrapeConfigError, match=message):
        ScrapeSettings.from_config(raw)


def test_relabel_errors_name_the_job() -> None:
    with pytest.raises(RelabelConfigError, match=r'^job "j": relabel_configs\[0\]\.modulus: '):
        ScrapeSettings.from_config({"job_name": "j", "relabel_configs": [{"action": "hashmod", "target_label": "x"}]})


def test_seeds_in_prometheus_order() -> None:
    settings = ScrapeSettings.from_config(
        {"job_name": "j", "metrics_path": "/probe", "params": {"target": ["a", "b"], "empty": [], "module": ["m"]}}
    )
    assert settings.seeds() == (
        ("job", "j"),
        ("__scrape_interval__", "1m"),
        ("__scrape_timeout__", "10s"),
        ("__metrics_path__", "/probe"),
        ("__scheme__", "http"),
        ("__convert_classic_histograms_to_nhcb__", "false"),
        ("__always_scrape_classic_histograms__", "false"),
        ("__scrape_native_histograms__", "false"),
        ("__param_module", "m"),
        ("__param_target", "a"),
    )


# --- The histogram settings (Prometheus v3.13+) ----------------------------------------------------------------------

CONVERT, ALWAYS, NATIVE = (
    "__convert_classic_histograms_to_nhcb__",
    "__always_scrape_classic_histograms__",
    "__scrape_native_histograms__",
)
HISTOGRAM_CONFIGS = [
    # (case, global section, job keys, the seeded (convert, always, native)); each checked against promtool v3.14
    ("all false by default", None, {}, ("false", "false", "false")),
    ("native from global", {"scrape_native_histograms": True}, {}, ("false", "false", "true")),
    ("classic and conversion from global",
     {"always_scrape_classic_histograms": True, "convert_classic_histograms_to_nhcb": True}, {},
     ("true", "true", "false")),
    ("the job overrides global", {"always_scrape_classic_histograms": True},
     {"always_scrape_classic_histograms": False}, ("false", "false", "false")),
    ("a null in the job inherits global", {"scrape_native_histograms": True}, {"scrape_native_histograms": None},
     ("false", "false", "true")),
    ("a null in global is the default", {"scrape_native_histograms": None, "always_scrape_classic_histograms": None},
     {}, ("false", "false", "false")),
    ("job only", None, {"convert_classic_histograms_to_nhcb": True, "scrape_native_histograms": True},
     ("true", "false", "true")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "global_raw", "keys", "seeded"), HISTOGRAM_CONFIGS, ids=[c for c, *_ in HISTOGRAM_CONFIGS]
)
def test_histogram_settings_are_seeded_from_the_job_else_global(
    case: str, global_raw: dict[str, Any] | None, keys: dict[str, Any], seeded: tuple[str, str, str]
) -> None:
    settings = ScrapeSettings.from_config({"job_name": "j", **keys}, GlobalDefaults.from_config(global_raw))
    assert [value for name, value in settings.seeds() if "histograms" in name] == list(seeded)
    result = ScrapeJob(settings).assemble({"__address__": "h:1"}, {}, Mode.PROMETHEUS)
    # they survive relabeling into the final labels, as the other internal labels do
    assert (result.labels[CONVERT], result.labels[ALWAYS], result.labels[NATIVE]) == seeded
    assert (result.discovered_labels[CONVERT], result.discovered_labels[ALWAYS]) == seeded[:2]


@pytest.mark.parametrize(
    ("on", "off"),
    [("yes", "no"), ("Yes", "No"), ("YES", "NO"), ("on", "off"), ("On", "Off"), ("ON", "OFF"), ("true", "false"),
     ("True", "False"), ("TRUE", "FALSE"), ("y", "n"), ("Y", "N")],
)  # fmt: skip
def test_histogram_settings_take_yaml_v2_booleans(on: str, off: str) -> None:
    for word, truth in ((on, True), (off, False)):
        text = f"scrape_configs: [{{job_name: j, scrape_native_histograms: {word}}}]"
        assert parse_config(text).jobs[0].settings.scrape_native_histograms is truth


@pytest.mark.parametrize(
    ("where", "text"),
    [("job \"j\"", 'scrape_configs: [{job_name: j, scrape_native_histograms: "true"}]'),
     ("job \"j\"", "scrape_configs: [{job_name: j, always_scrape_classic_histograms: 1}]"),
     ("global", "global: {convert_classic_histograms_to_nhcb: tRue}")],
)  # fmt: skip
def test_histogram_settings_refuse_what_go_does_not_read_as_a_bool(where: str, text: str) -> None:
    """promtool refuses them too ("cannot unmarshal !!str `true` into bool"): a quoted word, a number, a spelling
    that is no YAML 1.1 boolean."""
    with pytest.raises(PromConfigError, match=f"^{where}: .*histograms.*: must be true or false"):
        parse_config(text)


GO_BOOLS = ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"]
NOT_BOOLS = ["yes", "on", "2", " true", "true ", "tRue", "y", "TrUe", "-1", "truee"]


@pytest.mark.parametrize("label", [CONVERT, ALWAYS, NATIVE])
@pytest.mark.parametrize("value", GO_BOOLS)
def test_a_relabeled_histogram_setting_that_go_parses_is_kept(label: str, value: str) -> None:
    for mode in Mode:
        result = job([{"target_label": label, "replacement": value}]).assemble({"__address__": "h:1"}, {}, mode)
        assert result.error is None
        assert result.labels[label] == value


WHAT = {CONVERT: "convert classic histograms to nhcb", ALWAYS: "always scrape classic histograms",
        NATIVE: "scrape native histograms"}  # fmt: skip


@pytest.mark.parametrize("label", [CONVERT, ALWAYS, NATIVE])
@pytest.mark.parametrize("value", NOT_BOOLS)
def test_a_relabeled_histogram_setting_that_is_no_boolean_refuses_the_target(label: str, value: str) -> None:
    for mode in Mode:  # the collector would refuse it: the allocator does not keep it either
        result = job([{"target_label": label, "replacement": value}]).assemble({"__address__": "h:1"}, {}, mode)
        assert not result.kept
        assert result.error == f'error parsing {WHAT[label]}: strconv.ParseBool: parsing "{value}": invalid syntax'


def test_histogram_settings_are_checked_in_prometheus_order_after_the_durations() -> None:
    both = [{"target_label": NATIVE, "replacement": "x"}, {"target_label": CONVERT, "replacement": "y"}]
    assert job(both).assemble({"__address__": "h:1"}).error == (
        'error parsing convert classic histograms to nhcb: strconv.ParseBool: parsing "y": invalid syntax'
    )
    late = [*both, {"target_label": "__scrape_timeout__", "replacement": "0"}]
    assert job(late).assemble({"__address__": "h:1"}).error == "scrape timeout cannot be 0"


def test_a_deleted_histogram_setting_is_not_checked_and_not_put_back() -> None:
    result = job([{"target_label": NATIVE, "replacement": ""}, {"action": "labeldrop", "regex": ".*nhcb__"}]).assemble(
        {"__address__": "h:1"}, {}, Mode.PROMETHEUS
    )
    assert result.error is None
    assert NATIVE not in result.labels
    assert CONVERT not in result.labels
    assert result.labels[ALWAYS] == "false"
    assert result.discovered_labels[NATIVE] == "false"


def test_a_discovered_histogram_setting_wins_over_the_scrape_config() -> None:
    """Seeded only when absent: a target (or its group) may carry its own; a bad one is refused like a relabeled
    one."""
    native = job(scrape_native_histograms=False)
    mine = native.assemble({"__address__": "h:1"}, {NATIVE: "true"}, Mode.PROMETHEUS)
    assert (mine.labels[NATIVE], mine.discovered_labels[NATIVE]) == ("true", "true")
    bad = native.assemble({"__address__": "h:1", ALWAYS: "maybe"}, {}, Mode.PROMETHEUS)
    assert bad.error == (
        'error parsing always scrape classic histograms: strconv.ParseBool: parsing "maybe": invalid syntax'
    )


def test_rules_see_the_histogram_settings() -> None:
    keep_native = [{"source_labels": [NATIVE], "regex": "true", "action": "keep"}]
    assert job(keep_native, scrape_native_histograms=True).assemble({"__address__": "h:1"}, {}, Mode.ALLOCATOR).kept
    assert not job(keep_native).assemble({"__address__": "h:1"}, {}, Mode.ALLOCATOR).kept


def test_the_allocator_serves_no_histogram_settings() -> None:
    """The Go allocator serves the merged discovered labels without any scrape-config seed; the collector seeds
    them itself."""
    result = job(scrape_native_histograms=True).assemble({"__address__": "h:1"}, {"g": "1"}, Mode.ALLOCATOR)
    assert dict(result.served_labels) == {"__address__": "h:1", "g": "1"}
    assert result.labels[NATIVE] == "true"  # but they are part of its identity, as in Prometheus


# --- Assembly: Prometheus semantics --------------------------------------------------------------------------------


def job(rules: list[dict[str, Any]] | None = None, **config: Any) -> ScrapeJob:
    return ScrapeJob.from_config({"job_name": "j", "relabel_configs": rules or [], **config})


ASSEMBLY = [
    ("target labels win over group labels", {"__address__": "h:1", "a": "t"}, {"a": "g", "b": "g"}, [],
     {"__address__": "h:1", "a": "t", "b": "g", "instance": "h:1", "job": "j", **SEEDS}),
    ("an empty target label hides the group's", {"__address__": "h:1", "a": ""}, {"a": "g"}, [],
     {"__address__": "h:1", "instance": "h:1", "job": "j", **SEEDS}),
    ("empty group labels are absent", {"__address__": "h:1"}, {"a": ""}, [],
     {"__address__": "h:1", "instance": "h:1", "job": "j", **SEEDS}),
    ("scrape defaults only fill in absent labels", {"__address__": "h:1", "job": "mine", "__scheme__": "https"},
     {}, [], {"__address__": "h:1", "instance": "h:1", "job": "mine", **SEEDS, "__scheme__": "https"}),
    ("meta labels are removed after relabeling", {"__address__": "h:1", "__meta_x": "1"}, {},
     [{"source_labels": ["__meta_x"], "target_label": "x"}],
     {"__address__": "h:1", "instance": "h:1", "job": "j", "x": "1", **SEEDS}),
    ("other internal labels stay", {"__address__": "h:1"}, {}, [{"target_label": "__tmp_t", "replacement": "v"}],
     {"__address__": "h:1", "__tmp_t": "v", "instance": "h:1", "job": "j", **SEEDS}),
    ("instance defaults to the relabeled address", {"__address__": "h:1"}, {},
     [{"target_label": "__address__", "replacement": "p:9"}],
     {"__address__": "p:9", "instance": "p:9", "job": "j", **SEEDS}),
    ("an instance set by relabeling stays", {"__address__": "h:1"}, {},
     [{"target_label": "instance", "replacement": "me"}],
     {"__address__": "h:1", "instance": "me", "job": "j", **SEEDS}),
    ("no port is added (Prometheus 3)", {"__address__": "host"}, {}, [],
     {"__address__": "host", "instance": "host", "job": "j", **SEEDS}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "target", "group", "rules", "expected"), ASSEMBLY, ids=[c for c, *_ in ASSEMBLY])
def test_prometheus_assembly(
    case: str, target: dict[str, str], group: dict[str, str], rules: list[dict[str, Any]], expected: dict[str, str]
) -> None:
    result = job(rules).assemble(target, group, Mode.PROMETHEUS)
    assert result.error is None
    assert result.labels == expected


@pytest.mark.parametrize(
    ("case", "rules", "error"),
    [
        ("no address", [{"action": "labeldrop", "regex": "__address__"}], "no address"),
        ("an address that is a URL", [{"target_label": "__address__", "replacement": "http://h:1/x"}],
         '"http://h:1/x" is not a valid hostname'),
        ("an unparsable interval", [{"target_label": "__scrape_interval__", "replacement": "soon"}],
         'error parsing scrape interval: not a valid duration string: "soon"'),
        ("a zero interval", [{"target_label": "__scrape_interval__", "replacement": "0s"}],
         "scrape interval cannot be 0"),
        ("no timeout", [{"action": "labeldrop", "regex": "__scrape_timeout__"}],
         "error parsing scrape timeout: empty duration string"),
        ("a zero timeout", [{"target_label": "__scrape_timeout__", "replacement": "0"}], "scrape timeout cannot be 0"),
        ("a timeout over the interval", [{"target_label": "__scrape_timeout__", "replacement": "2m"}],
         'scrape timeout cannot be greater than scrape interval ("2m" > "1m")'),
    ],
)  # fmt: skip
def test_prometheus_refuses(case: str, rules: list[dict[str, Any]], error: str) -> None:
    for mode in Mode:  # the allocator keeps a target exactly when Prometheus would
        result = job(rules).assemble({"__address__": "h:1"}, {}, mode)
        assert result.error == error
        assert not result.kept
        assert result.identity is None
        assert result.labels == {}


def test_dropped_target_has_no_error() -> None:
    result = job([{"action": "drop"}]).assemble({"__address__": "h:1"}, {}, Mode.PROMETHEUS)
    assert (result.kept, result.error, result.labels) == (False, None, {})


def test_discovered_and_served_labels() -> None:
    result = job([{"action": "drop"}], params={"module": ["m"]}).assemble(
        {"__address__": "h:1", "z": "1"}, {"__meta_g": "g"}, Mode.ALLOCATOR
    )
    assert dict(result.served_labels) == {"__address__": "h:1", "__meta_g": "g", "z": "1"}
    assert result.discovered_labels == {
        "__address__": "h:1",
        "__meta_g": "g",
        "__param_module": "m",
        "job": "j",
        "z": "1",
        **SEEDS,
    }
    assert list(result.discovered_labels) == sorted(result.discovered_labels)
    assert result.address == "h:1"


def test_params_are_seeded_only_if_absent() -> None:
    result = job(params={"target": ["x"]}).assemble({"__address__": "h:1", "__param_target": "mine"})
    assert dict(result.final_labels or ())["__param_target"] == "mine"


def test_seeds_come_after_the_base_labels_in_labelmap_order() -> None:
    # base labels (name order) first, then the scrape defaults as they were set: job comes after z
    rules = [{"action": "labelmap", "regex": "(job|z)", "replacement": "m"}]
    result = job(rules).assemble({"__address__": "h:1", "z": "1"}, {}, Mode.PROMETHEUS)
    assert result.labels["m"] == "j"


# --- Assembly: the allocator's filter --------------------------------------------------------------------------------

SHARDING = [
    {"source_labels": ["__address__", "__tmp_hash"], "target_label": "__tmp_hash", "regex": "(.+);",
     "replacement": "$1", "action": "replace"},
    {"source_labels": ["__tmp_hash"], "target_label": "__tmp_hash", "modulus": 1, "action": "hashmod"},
    {"source_labels": ["__tmp_hash", "__tmp_disable_sharding"], "regex": "$(SHARD);|.+;.+", "action": "keep"},
]  # fmt: skip


def test_allocator_passes_the_unsubstituted_shard_rule() -> None:
    sharded = job(SHARDING)
    assert not sharded.assemble({"__address__": "h:1"}, {}, Mode.PROMETHEUS).kept
    kept = sharded.assemble({"__address__": "h:1"}, {}, Mode.ALLOCATOR)
    assert kept.kept
    assert "__tmp_disable_sharding" not in kept.labels  # removed again after the rules
    assert kept.labels["__tmp_hash"] == "0"


def test_allocator_marker_is_visible_to_the_rules() -> None:
    rules = [{"source_labels": ["__tmp_disable_sharding"], "target_label": "seen"}]
    assert job(rules).assemble({"__address__": "h:1"}, {}, Mode.ALLOCATOR).labels["seen"] == "true"
    assert "seen" not in job(rules).assemble({"__address__": "h:1"}, {}, Mode.PROMETHEUS).labels


def test_identity_is_the_post_relabel_label_set() -> None:
    rewrite = job([{"source_labels": ["cluster"], "target_label": "__address__", "replacement": "collector:9100"}])
    group = TargetGroup("0", ({"__address__": "10.0.0.1:9100"}, {"__address__": "10.0.0.2:9100"}), {"cluster": "a"})
    first, second = rewrite.assemble_group(group)
    assert first.identity == second.identity  # one target for Prometheus: deduplicated
    assert first.served_labels != second.served_labels
    assert list(dedupe([first, second]).values()) == [second]  # the last one wins


def test_identity_keeps_blackbox_targets_apart() -> None:
    blackbox = job(
        [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": "blackbox:9115"},
        ]
    )
    group = TargetGroup("0", ({"__address__": "a.example.com:443"}, {"__address__": "b.example.com:443"}))
    first, second = blackbox.assemble_group(group)
    assert first.identity != second.identity
    assert first.address == "a.example.com:443"


def test_identity_includes_the_job_name() -> None:
    same_labels = [{"target_label": "job", "replacement": "shared"}]
    a = ScrapeJob.from_config({"job_name": "a", "relabel_configs": same_labels}).assemble({"__address__": "h:1"})
    b = ScrapeJob.from_config({"job_name": "b", "relabel_configs": same_labels}).assemble({"__address__": "h:1"})
    assert a.labels == b.labels
    assert a.identity != b.identity


def test_identity_ignores_meta_labels() -> None:
    plain = job()
    a = plain.assemble({"__address__": "h:1", "__meta_pod": "x"})
    b = plain.assemble({"__address__": "h:1", "__meta_pod": "y"})
    assert a.identity == b.identity


def test_assemble_group_keeps_order_and_dropped_targets() -> None:
    keep_a = job([{"source_labels": ["k"], "regex": "a", "action": "keep"}])
    group = TargetGroup(
        "0", ({"__address__": "1:1", "k": "a"}, {"__address__": "2:1", "k": "b"}, {"__address__": "3:1", "k": "a"})
    )
    results = keep_a.assemble_group(group)
    assert [r.address for r in results] == ["1:1", "2:1", "3:1"]
    assert [r.kept for r in results] == [True, False, True]


def test_job_targets_follow_group_updates() -> None:
    targets = JobTargets(job([{"source_labels": ["k"], "regex": "a", "action": "keep"}]))
    targets.update(TargetGroup("pod/ns/p1", ({"__address__": "1:1", "k": "a"}, {"__address__": "2:1", "k": "b"})))
    targets.update(TargetGroup("pod/ns/p2", ({"__address__": "3:1", "k": "a"},)))
    assert sorted(t.address for t in targets) == ["1:1", "3:1"]
    targets.update(TargetGroup("pod/ns/p1", ({"__address__": "4:1", "k": "a"},)))  # replaces p1's targets
    assert sorted(t.address for t in targets) == ["3:1", "4:1"]
    targets.update(TargetGroup("pod/ns/p2"))  # an empty group removes its source
    assert [t.address for t in targets] == ["4:1"]
    assert len(targets) == 1


def test_job_targets_deduplicate_across_groups() -> None:
    targets = JobTargets(job([{"target_label": "__address__", "replacement": "one:1"}]))
    targets.update(TargetGroup("a", ({"__address__": "1:1"},)))
    targets.update(TargetGroup("b", ({"__address__": "2:1"},)))
    assert len(targets) == 1
    assert next(iter(targets)).address == "2:1"


def test_meta_name_memo_stays_bounded_and_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets_module, "_NAME_MEMO_LIMIT", 4)
    plain = job()
    for i in range(20):
        result = plain.assemble({"__address__": "h:1", f"__meta_{i}": "m", f"l{i}": "v", "__meta_same": "s"})
        assert result.labels == {"__address__": "h:1", "instance": "h:1", "job": "j", f"l{i}": "v", **SEEDS}
