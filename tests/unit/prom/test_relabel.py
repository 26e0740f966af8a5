"""Relabeling: loading (defaults, explicit empties), validation (Prometheus's rules and messages), every action."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

import otel_operator.prom.relabel as relabel_module
from otel_operator.prom.labels import NameScheme
from otel_operator.prom.promconfig import PromConfigError, parse_config
from otel_operator.prom.relabel import (
    Action,
    RelabelChain,
    RelabelConfig,
    RelabelConfigError,
    go_lower,
    go_upper,
    hashmod,
    parse_relabel_configs,
    relabel,
)

JOB = "serviceMonitor/ns/sm/0"


def one(rule: dict[str, Any], scheme: NameScheme = NameScheme.UTF8) -> RelabelConfig:
    return parse_relabel_configs([rule], JOB, scheme=scheme)[0]


# --- Loading: omitted vs explicit empty vs null ------------------------------------------------------------------

LOADING = [
    ("omitted separator is ;", {"target_label": "t"}, "separator", ";"),
    ("explicit empty separator stays empty", {"target_label": "t", "separator": ""}, "separator", ""),
    ("null separator is empty", {"target_label": "t", "separator": None}, "separator", ""),
    ("omitted regex is marked as not given", {"target_label": "t"}, "regex", None),
    ("omitted regex behaves as (.*)", {"target_label": "t"}, "effective_regex", "(.*)"),
    ("explicit empty regex stays empty", {"target_label": "t", "regex": ""}, "regex", ""),
    ("null regex is the empty regex", {"target_label": "t", "regex": None}, "regex", ""),
    ("a number as regex is its text", {"target_label": "t", "regex": 8080}, "regex", "8080"),
    ("omitted replacement is $1", {"target_label": "t"}, "replacement", "$1"),
    ("explicit empty replacement stays empty", {"target_label": "t", "replacement": ""}, "replacement", ""),
    ("null replacement is empty", {"target_label": "t", "replacement": None}, "replacement", ""),
    ("a number as replacement is its text", {"target_label": "t", "replacement": 10240}, "replacement", "10240"),
    ("omitted action is replace", {"target_label": "t"}, "action", Action.REPLACE),
    ("action is case-insensitive", {"action": "Keep"}, "action", Action.KEEP),
    ("upper-case action", {"action": "LABELDROP", "regex": "x"}, "action", Action.LABELDROP),
    ("omitted modulus is 0", {"target_label": "t"}, "modulus", 0),
    ("null modulus is 0", {"target_label": "t", "modulus": None}, "modulus", 0),
    ("omitted source_labels is not given", {"target_label": "t"}, "source_labels", None),
    ("null source_labels is not given", {"target_label": "t", "source_labels": None}, "source_labels", None),
    ("empty source_labels is given", {"target_label": "t", "source_labels": []}, "source_labels", ()),
    ("source_labels become a tuple", {"target_label": "t", "source_labels": ["a", "b"]}, "source_labels", ("a", "b")),
    ("omitted target_label is empty", {"action": "keep"}, "target_label", ""),
]


@pytest.mark.parametrize(("case", "rule", "attribute", "expected"), LOADING, ids=[c for c, *_ in LOADING])
def test_loading(case: str, rule: dict[str, Any], attribute: str, expected: object) -> None:
    assert getattr(one(rule), attribute) == expected


# --- Loading: `modulus` as Go's yaml.v2 reads YAML into a uint64 ------------------------------------------------

U64, I63 = 1 << 64, 1 << 63
NON_ZERO = "relabel configuration for hashmod requires non-zero modulus"
# (YAML text of `modulus:` in a hashmod rule, the modulus Prometheus uses or its refusal). Every row is what promtool
# v3.14 (amd64) does with it: test_promtool_differential.py's test_modulus_reads_as_promtool_3 runs them all.
MODULUS_TEXT: list[tuple[str, int | str]] = [
    ("2.5", 2), ("1e3", 1000), ("1E3", 1000), ("1e+3", 1000), ("1_000", 1000), ("+3", 3), ("3.0e0", 3), ("1.", 1),
    ("1.e5", 100_000), ("1_0.5", 10), ("1__0", 10), ("1_", 1), ("09.5", 9),
    ("0o17", 15), ("0O17", 15), ("017", 15), ("0_17", 15), ("08", 8),  # 08 is no octal: Go then reads a float
    ("0x10", 16), ("0X10", 16), ("+0x10", 16), ("0x_10", 16), ("0b101", 5), ("0B11", 3),
    ("!!int 5", 5), ("!!float 5", 5),
    ("9223372036854775807", I63 - 1), ("9223372036854775808", I63), ("18446744073709551615", U64 - 1),
    ("9.3e18", 9_300_000_000_000_000_000), ("1e19", 10**19), ("1.5e19", 15 * 10**18),
    # past uint64 an integer's text is a float; exactly 2^64 passes yaml.v2's check and converts to 2^63 on amd64
    ("18446744073709551616", I63), ("+18446744073709551615", I63), ("1.8446744073709552e19", I63),
    # a negative float converts modulo 2^64 while it fits an int64, and to 2^63 below that
    ("-1.5", U64 - 1), ("-2.5", U64 - 2), ("-9.3e18", I63), ("-1e19", I63), ("-.inf", I63),
    ("0", NON_ZERO), ("-0", NON_ZERO), ("-0.0", NON_ZERO), ("0.5", NON_ZERO), (".5", NON_ZERO), ("+.5", NON_ZERO),
    ("-0.5", NON_ZERO), ("-0.9", NON_ZERO), ("1e-3", NON_ZERO), ("1e-400", NON_ZERO), ("0.9999999999999999", NON_ZERO),
    ("~", NON_ZERO), ("", NON_ZERO),
    ("-1", "cannot unmarshal !!int `-1` into uint64"), ("-0x10", "cannot unmarshal !!int `-0x10` into uint64"),
    ("-0b101", "cannot unmarshal !!int `-0b101` into uint64"),
    ("1e20", "cannot unmarshal !!float `1e20` into uint64"), (".inf", "cannot unmarshal !!float `.inf` into uint64"),
    (".nan", "cannot unmarshal !!float `.nan` into uint64"),
    ("99999999999999999999999", "cannot unmarshal !!float `9999999...` into uint64"),
    ("1e400", "cannot unmarshal !!str `1e400` into uint64"),  # Go's float parser overflows: text
    ("'3'", "cannot unmarshal !!str `3` into uint64"), ('"7"', "cannot unmarshal !!str `7` into uint64"),
    ("!!str 5", "cannot unmarshal !!str `5` into uint64"), ("inf", "cannot unmarshal !!str `inf` into uint64"),
    ("1:30", "cannot unmarshal !!str `1:30` into uint64"), ("1:30.5", "cannot unmarshal !!str `1:30.5` into uint64"),
    ("0b2", "cannot unmarshal !!str `0b2` into uint64"), ("0x1p3", "cannot unmarshal !!str `0x1p3` into uint64"),
    ("_1", "cannot unmarshal !!str `_1` into uint64"), ("0x", "cannot unmarshal !!str `0x` into uint64"),
    ("2001-12-14", "cannot unmarshal !!timestamp `2001-12-14` into uint64"),
    ("true", "cannot unmarshal !!bool `true` into uint64"), ("y", "cannot unmarshal !!bool `y` into uint64"),
]  # fmt: skip


def modulus_config(text: str) -> str:
    """A job whose one rule is a hashmod with `modulus: <text>`, over eight targets (enough to tell moduli apart)."""
    targets = ", ".join(f'"{c}:{i}"' for i, c in enumerate("abcdefgh", 1))
    return (
        "scrape_configs:\n- job_name: j\n"
        f"  static_configs: [{{targets: [{targets}]}}]\n"
        "  relabel_configs:\n"
        f"  - {{action: hashmod, source_labels: [__address__], target_label: h, modulus: {text}}}\n"
    )


@pytest.mark.parametrize(("text", "expected"), MODULUS_TEXT, ids=[t or "<empty>" for t, _ in MODULUS_TEXT])
def test_modulus_is_read_as_yaml_v2_reads_a_uint64(text: str, expected: int | str) -> None:
    if isinstance(expected, int):
        (rule,) = parse_config(modulus_config(text)).jobs[0].settings.relabel_configs
        assert rule.modulus == expected
    else:
        with pytest.raises(PromConfigError) as info:
            parse_config(modulus_config(text))
        assert str(info.value) == f'job "j": relabel_configs[0].modulus: {expected}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2.5, 2), (-1.5, U64 - 1), (float(U64), I63), (-math.inf, I63), (3, 3), (U64, I63), (U64 - 1, U64 - 1)],
)
def test_modulus_in_code_reads_as_if_written_in_yaml(value: object, expected: int) -> None:
    """Plain data (config_from_data, rules built by the monitors): as if the value were written in the file."""
    assert one({"action": "hashmod", "target_label": "t", "modulus": value}).modulus == expected


def test_null_list_is_no_rules() -> None:
    assert parse_relabel_configs(None, JOB) == ()


def test_rules_keep_their_order() -> None:
    rules = parse_relabel_configs([{"action": "keep"}, {"action": "drop"}], JOB)
    assert [r.action for r in rules] == [Action.KEEP, Action.DROP]


# --- Validation ----------------------------------------------------------------------------------------------------

U, L = NameScheme.UTF8, NameScheme.LEGACY
INVALID: list[tuple[str, object, NameScheme, str, str]] = [
    ("null action", {"action": None}, U, "action", "relabel action cannot be empty"),
    ("empty action", {"action": ""}, U, "action", 'unknown relabel action ""'),
    ("unknown action", {"action": "frobnicate"}, U, "action", 'unknown relabel action "frobnicate"'),
    ("hashmod needs a modulus", {"action": "hashmod", "target_label": "t"}, U, "modulus",
     "relabel configuration for hashmod requires non-zero modulus"),
    ("replace needs a target", {"source_labels": ["a"]}, U, "target_label",
     "relabel configuration for replace action requires 'target_label' value"),
    ("hashmod needs a target", {"action": "hashmod", "modulus": 2}, U, "target_label",
     "relabel configuration for hashmod action requires 'target_label' value"),
    ("lowercase needs a target", {"action": "lowercase"}, U, "target_label",
     "relabel configuration for lowercase action requires 'target_label' value"),
    ("uppercase needs a target", {"action": "uppercase"}, U, "target_label",
     "relabel configuration for uppercase action requires 'target_label' value"),
    ("keepequal needs a target", {"action": "keepequal"}, U, "target_label",
     "relabel configuration for keepequal action requires 'target_label' value"),
    ("dropequal needs a target", {"action": "dropequal"}, U, "target_label",
     "relabel configuration for dropequal action requires 'target_label' value"),
    ("legacy: replace target must be a legacy name", {"target_label": "a-b"}, L, "target_label",
     "\"a-b\" is invalid 'target_label' for replace action"),
    ("legacy: templated target needs name characters", {"target_label": "${1}-x"}, L, "target_label",
     "\"${1}-x\" is invalid 'target_label' for replace action"),
    ("legacy: lowercase target must be a legacy name", {"action": "lowercase", "target_label": "a.b"}, L,
     "target_label", "\"a.b\" is invalid 'target_label' for lowercase action"),
    ("legacy: hashmod target must be a legacy name", {"action": "hashmod", "target_label": "1a", "modulus": 2}, L,
     "target_label", "\"1a\" is invalid 'target_label' for hashmod action"),
    ("legacy: keepequal target must be a legacy name", {"action": "keepequal", "target_label": "é"}, L,
     "target_label", "\"é\" is invalid 'target_label' for keepequal action"),
    ("lowercase takes no replacement", {"action": "lowercase", "target_label": "t", "replacement": "x"}, U,
     "replacement", "'replacement' can not be set for lowercase action"),
    ("uppercase takes no replacement", {"action": "uppercase", "target_label": "t", "replacement": ""}, U,
     "replacement", "'replacement' can not be set for uppercase action"),
    ("keepequal takes no replacement", {"action": "keepequal", "target_label": "t", "replacement": "x"}, U,
     "replacement", "'replacement' can not be set for keepequal action"),
    ("keepequal takes no regex, even the default text", {"action": "keepequal", "target_label": "t",
     "regex": "(.*)"}, U, "regex",
     "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
    ("dropequal takes no separator", {"action": "dropequal", "target_label": "t", "separator": ","}, U,
     "separator", "dropequal action requires only 'source_labels' and `target_label`, and no other fields"),
    ("dropequal takes no modulus", {"action": "dropequal", "target_label": "t", "modulus": 3}, U, "modulus",
     "dropequal action requires only 'source_labels' and `target_label`, and no other fields"),
    ("utf8: labelmap replacement must not be empty", {"action": "labelmap", "replacement": ""}, U,
     "replacement", "\"\" is invalid 'replacement' for labelmap action"),
    ("legacy: labelmap replacement must be a legacy name", {"action": "labelmap", "replacement": "a-$1"}, L,
     "replacement", "\"a-$1\" is invalid 'replacement' for labelmap action"),
    ("labeldrop takes no source_labels, even an empty list", {"action": "labeldrop", "source_labels": []}, U,
     "source_labels", "labeldrop action requires only 'regex', and no other fields"),
    ("labelkeep takes no target_label", {"action": "labelkeep", "target_label": "t"}, U, "target_label",
     "labelkeep action requires only 'regex', and no other fields"),
    ("labeldrop takes no modulus", {"action": "labeldrop", "modulus": 1}, U, "modulus",
     "labeldrop action requires only 'regex', and no other fields"),
    ("labeldrop takes no separator", {"action": "labeldrop", "separator": ""}, U, "separator",
     "labeldrop action requires only 'regex', and no other fields"),
    ("labelkeep takes no replacement", {"action": "labelkeep", "replacement": "x"}, U, "replacement",
     "labelkeep action requires only 'regex', and no other fields"),
    ("invalid Go regex", {"action": "keep", "regex": "a(?=b)"}, U, "regex",
     "\"a(?=b)\" is not a valid Go regular expression: error parsing regexp: invalid or unsupported Perl syntax"),
    ("regex that is not a scalar", {"action": "keep", "regex": ["a"]}, U, "regex", "must be a string, got list"),
    # yaml.v2's words, as promtool v3.14 prints them
    ("modulus as a string", {"action": "hashmod", "target_label": "t", "modulus": "3"}, U, "modulus",
     "cannot unmarshal !!str `3` into uint64"),
    ("negative modulus", {"action": "hashmod", "target_label": "t", "modulus": -1}, U, "modulus",
     "cannot unmarshal !!int `-1` into uint64"),
    ("boolean modulus", {"action": "hashmod", "target_label": "t", "modulus": True}, U, "modulus",
     "cannot unmarshal !!bool `true` into uint64"),
    ("modulus past uint64 as a float", {"action": "hashmod", "target_label": "t", "modulus": 1e20}, U, "modulus",
     "cannot unmarshal !!float `1e+20` into uint64"),
    ("NaN modulus", {"action": "hashmod", "target_label": "t", "modulus": float("nan")}, U, "modulus",
     "cannot unmarshal !!float `nan` into uint64"),
    ("a fraction below 1 is modulus 0", {"action": "hashmod", "target_label": "t", "modulus": 0.5}, U, "modulus",
     "relabel configuration for hashmod requires non-zero modulus"),
    ("source_labels not a list", {"target_label": "t", "source_labels": "a"}, U, "source_labels",
     "must be a list of label names"),
    ("empty source label name", {"target_label": "t", "source_labels": [""]}, U, "source_labels",
     "\"\" is not a valid label name"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "rule", "scheme", "field", "message"), INVALID, ids=[c for c, *_ in INVALID])
def test_invalid_rules_name_job_index_and_field(
    case: str, rule: object, scheme: NameScheme, field: str, message: str
) -> None:
    with pytest.raises(RelabelConfigError) as info:
        parse_relabel_configs([{"action": "keep"}, rule], JOB, scheme=scheme)
    assert info.value.field == field
    assert str(info.value).startswith(f'job "{JOB}": relabel_configs[1].{field}: {message}')


@pytest.mark.parametrize(
    ("case", "rule", "message"),
    [
        ("null rule", None, "relabel_configs[0]: empty or null target relabeling rule in scrape config"),
        ("rule that is not a mapping", "keep", "relabel_configs[0]: a relabel rule must be a mapping, got str"),
        ("misspelled field suggests the right one", {"regexp": "x"},
         "relabel_configs[0]: unknown field \"regexp\" (did you mean 'regex'?)"),
        ("list that is not a list", {"action": "keep"}, "relabel_configs: must be a list of relabel rules"),
    ],
)  # fmt: skip
def test_invalid_rule_shapes(case: str, rule: object, message: str) -> None:
    raw = rule if case == "list that is not a list" else [rule]
    with pytest.raises(RelabelConfigError) as info:
        parse_relabel_configs(raw, JOB)
    assert str(info.value).startswith(f'job "{JOB}": {message}')


@pytest.mark.parametrize(
    ("case", "rule", "scheme"),
    [
        ("utf8: any non-empty target", {"target_label": "a-b.c/é"}, U),
        ("utf8: templated target with punctuation", {"target_label": "${1}-x"}, U),
        ("legacy: templated target", {"target_label": "x_${1}_$name"}, L),
        ("utf8: labelmap replacement with punctuation", {"action": "labelmap", "replacement": "a-$1"}, U),
        ("keepequal with an explicit default separator", {"action": "keepequal", "target_label": "t",
         "separator": ";"}, U),
        ("labeldrop with null source_labels", {"action": "labeldrop", "source_labels": None, "regex": "x"}, U),
        ("lowercase with the default replacement written out", {"action": "lowercase", "target_label": "t",
         "replacement": "$1"}, U),
        ("a metric relabel list reads the same", {"action": "drop", "regex": "go_.*"}, U),
    ],
)  # fmt: skip
def test_valid_rules(case: str, rule: dict[str, Any], scheme: NameScheme) -> None:
    one(rule, scheme)


def test_metric_relabel_errors_name_their_list() -> None:
    with pytest.raises(RelabelConfigError, match=r'^job "j": metric_relabel_configs\[0\]\.action: '):
        parse_relabel_configs([{"action": "nope"}], "j", list_name="metric_relabel_configs")


def test_rules_built_in_code_validate_too() -> None:
    with pytest.raises(RelabelConfigError, match="requires 'target_label'"):
        RelabelConfig(source_labels=("a",))
    rule = RelabelConfig(source_labels=["a"], action="KEEP", regex="x")  # type: ignore[arg-type]
    assert rule.action is Action.KEEP
    assert rule.source_labels == ("a",)


# --- Processing ------------------------------------------------------------------------------------------------------

BASE = {"a": "foo", "b": "bar", "c": "baz"}
PROCESSING: list[tuple[str, dict[str, str], list[dict[str, Any]], dict[str, str] | None]] = [
    # replace
    ("replace expands groups into the target", BASE,
     [{"source_labels": ["a"], "regex": "f(.*)", "target_label": "d", "replacement": "ch${1}-ch${1}"}],
     {**BASE, "d": "choo-choo"}),
    ("replace joins sources with the separator", BASE,
     [{"source_labels": ["a", "b"], "regex": "f(.*);(.*)r", "target_label": "a", "replacement": "b${1}${2}m"}],
     {**BASE, "a": "boobam"}),
    ("replace with an explicit empty separator", BASE,
     [{"source_labels": ["a", "b"], "separator": "", "target_label": "d"}], {**BASE, "d": "foobar"}),
    ("replace reads a missing source as empty", BASE,
     [{"source_labels": ["a", "x", "b"], "target_label": "d"}], {**BASE, "d": "foo;;bar"}),
    ("replace with no match changes nothing", {"a": "boo"},
     [{"source_labels": ["a"], "regex": "f", "target_label": "b", "replacement": "bar"}], {"a": "boo"}),
    ("replace is anchored", {"a": "xfoo"},
     [{"source_labels": ["a"], "regex": "foo", "target_label": "b", "replacement": "hit"}], {"a": "xfoo"}),
    ("replace with an empty result deletes the target", {"a": "foo", "f": "baz"},
     [{"source_labels": ["a"], "regex": "(f).*", "target_label": "$1", "replacement": "$2"}], {"a": "foo"}),
    ("replace with a templated target", {"a": "some-name-value"},
     [{"source_labels": ["a"], "regex": "some-([^-]+)-([^,]+)", "target_label": "${1}", "replacement": "${2}"}],
     {"a": "some-name-value", "name": "value"}),
    ("replace whose target expands to nothing is a no-op", {"a": "x"},
     [{"source_labels": ["a"], "regex": "(x)", "target_label": "${2}", "replacement": "v"}], {"a": "x"}),
    ("replace with $1x (the group named 1x) deletes", {"a": "foo", "t": "old"},
     [{"source_labels": ["a"], "target_label": "t", "replacement": "$1x"}], {"a": "foo"}),
    ("replace overwrites an existing label", BASE, [{"source_labels": ["b"], "target_label": "a"}],
     {**BASE, "a": "bar"}),
    ("replace without sources sets a constant", BASE, [{"target_label": "env", "replacement": "prod"}],
     {**BASE, "env": "prod"}),
    ("replace without sources and an empty replacement deletes", BASE, [{"target_label": "a", "replacement": ""}],
     {"b": "bar", "c": "baz"}),
    ("replace of an empty source with $1 deletes the target", BASE,
     [{"source_labels": ["missing"], "target_label": "a"}], {"b": "bar", "c": "baz"}),
    ("an explicit empty regex matches only an empty value", BASE,
     [{"source_labels": ["missing"], "regex": "", "target_label": "d", "replacement": "empty"},
      {"source_labels": ["a"], "regex": "", "target_label": "e", "replacement": "never"}],
     {**BASE, "d": "empty"}),
    ("the target can be any UTF-8 name in Prometheus 3", {"a": "x"},
     [{"source_labels": ["a"], "target_label": "k8s.io/name"}], {"a": "x", "k8s.io/name": "x"}),
    # keep / drop
    ("keep keeps a match", BASE, [{"source_labels": ["a"], "regex": "f.*", "action": "keep"}], BASE),
    ("keep drops a non-match", BASE, [{"source_labels": ["a"], "regex": "no-match", "action": "keep"}], None),
    ("keep is anchored", BASE, [{"source_labels": ["a"], "regex": "f|o", "action": "keep"}], None),
    ("keep sees a missing label as empty", BASE, [{"source_labels": ["x"], "regex": "", "action": "keep"}], BASE),
    ("drop drops a match", BASE, [{"source_labels": ["a"], "regex": ".*o.*", "action": "drop"}], None),
    ("drop keeps a non-match", BASE, [{"source_labels": ["a"], "regex": "f|o", "action": "drop"}], BASE),
    ("drop of the selector pattern", {"__meta_kubernetes_service_label_app": "web",
     "__meta_kubernetes_service_labelpresent_app": "true"},
     [{"source_labels": ["__meta_kubernetes_service_label_app", "__meta_kubernetes_service_labelpresent_app"],
       "regex": "(web|api);true", "action": "drop"}], None),
    ("a drop ends the chain", BASE,
     [{"source_labels": ["a"], "regex": ".*o.*", "action": "drop"},
      {"source_labels": ["a"], "regex": "f(.*)", "target_label": "d", "replacement": "x"}], None),
    # keepequal / dropequal
    ("keepequal keeps equal values", {"a": "x", "b": "x"},
     [{"action": "keepequal", "source_labels": ["a"], "target_label": "b"}], {"a": "x", "b": "x"}),
    ("keepequal drops different values", {"a": "x", "b": "y"},
     [{"action": "keepequal", "source_labels": ["a"], "target_label": "b"}], None),
    ("keepequal: two missing labels are equal", {"a": "x"},
     [{"action": "keepequal", "source_labels": ["m"], "target_label": "n"}], {"a": "x"}),
    ("dropequal drops equal values", {"a": "x", "b": "x"},
     [{"action": "dropequal", "source_labels": ["a"], "target_label": "b"}], None),
    ("dropequal keeps different values", {"a": "x", "b": "y"},
     [{"action": "dropequal", "source_labels": ["a"], "target_label": "b"}], {"a": "x", "b": "y"}),
    ("keepequal compares the joined sources", {"a": "x", "b": "y", "c": "x;y"},
     [{"action": "keepequal", "source_labels": ["a", "b"], "target_label": "c"}], {"a": "x", "b": "y", "c": "x;y"}),
    # hashmod
    ("hashmod: last 8 bytes of the MD5, modulo", BASE,
     [{"action": "hashmod", "source_labels": ["c"], "target_label": "d", "modulus": 1000}], {**BASE, "d": "976"}),
    ("hashmod of a multi-line value", {"a": "foo\nbar"},
     [{"action": "hashmod", "source_labels": ["a"], "target_label": "b", "modulus": 1000}],
     {"a": "foo\nbar", "b": "734"}),
    ("hashmod modulus 1 is always 0", BASE,
     [{"action": "hashmod", "source_labels": ["a"], "target_label": "s", "modulus": 1}], {**BASE, "s": "0"}),
    # labelmap
    ("labelmap copies matching names", {"__meta_kubernetes_pod_label_app": "web", "x": "1"},
     [{"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"}],
     {"__meta_kubernetes_pod_label_app": "web", "x": "1", "app": "web"}),
    ("labelmap expands the replacement", {"a_x": "1"},
     [{"action": "labelmap", "regex": "(.)_(x)", "replacement": "m_${2}_$1"}], {"a_x": "1", "m_x_a": "1"}),
    ("labelmap: $2_ is the group named 2_", {"a_x": "1"},
     [{"action": "labelmap", "regex": "(.)_(x)", "replacement": "m_$2_$1"}], {"a_x": "1", "m_a": "1"}),
    ("labelmap overwrites an existing label", {"meta_a": "new", "a": "old"},
     [{"action": "labelmap", "regex": "meta_(.*)"}], {"meta_a": "new", "a": "new"}),
    ("labelmap collision: the last base label in name order wins", {"a_x": "1", "b_x": "2"},
     [{"action": "labelmap", "regex": "._x", "replacement": "m"}], {"a_x": "1", "b_x": "2", "m": "2"}),
    ("labelmap collision: a label set by an earlier rule comes after the base labels", {"b_x": "2", "c_x": "3"},
     [{"target_label": "b_x", "replacement": "20"}, {"action": "labelmap", "regex": "._x", "replacement": "m"}],
     {"b_x": "20", "c_x": "3", "m": "20"}),
    ("labelmap reads the values as they were when it started", {"a": "1", "b": "2"},
     [{"action": "labelmap", "regex": "(a|b)", "replacement": "${1}${1}"}],
     {"a": "1", "b": "2", "aa": "1", "bb": "2"}),
    # labeldrop / labelkeep
    ("labeldrop removes matching names", {"a": "foo", "b1": "bar", "b2": "baz"},
     [{"action": "labeldrop", "regex": "(b.*)"}], {"a": "foo"}),
    ("labeldrop is anchored", {"b": "1", "b1": "2"}, [{"action": "labeldrop", "regex": "b"}], {"b1": "2"}),
    ("labeldrop can remove the address", {"__address__": "h:1", "a": "x"},
     [{"action": "labeldrop", "regex": "__address__"}], {"a": "x"}),
    ("labelkeep keeps only matching names", {"a": "foo", "b1": "bar", "__address__": "h:1"},
     [{"action": "labelkeep", "regex": "b.*"}], {"b1": "bar"}),
    # lowercase / uppercase
    ("lowercase", {"foo": "bAr123Foo"}, [{"action": "lowercase", "source_labels": ["foo"], "target_label": "l"}],
     {"foo": "bAr123Foo", "l": "bar123foo"}),
    ("uppercase", {"foo": "bAr123Foo"}, [{"action": "uppercase", "source_labels": ["foo"], "target_label": "u"}],
     {"foo": "bAr123Foo", "u": "BAR123FOO"}),
    ("uppercase of an empty value deletes the target", {"u": "old"},
     [{"action": "uppercase", "source_labels": ["missing"], "target_label": "u"}], {}),
    ("uppercase joins sources", {"a": "x", "b": "y"},
     [{"action": "uppercase", "source_labels": ["a", "b"], "target_label": "u"}], {"a": "x", "b": "y", "u": "X;Y"}),
    # empty values
    ("an empty input value is an absent label", {"a": "", "b": "x"}, [], {"b": "x"}),
    ("an empty input value reads as empty", {"a": "", "b": "x"},
     [{"source_labels": ["a"], "regex": "", "target_label": "was_empty", "replacement": "yes"}],
     {"b": "x", "was_empty": "yes"}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "labels", "rules", "expected"), PROCESSING, ids=[c for c, *_ in PROCESSING])
def test_relabel(
    case: str, labels: dict[str, str], rules: list[dict[str, Any]], expected: dict[str, str] | None
) -> None:
    parsed = parse_relabel_configs(rules, JOB)
    before = dict(labels)
    assert relabel(labels, parsed) == expected
    assert relabel(labels, RelabelChain(parsed)) == expected
    assert labels == before  # pure: the input is not touched


def test_legacy_scheme_makes_an_invalid_expanded_target_a_no_op() -> None:
    rules = parse_relabel_configs(
        [{"source_labels": ["a"], "regex": "(.*)", "target_label": "x_$1", "replacement": "v"}], JOB, scheme=L
    )
    assert relabel({"a": "b-c"}, rules) == {"a": "b-c"}
    assert relabel({"a": "bc"}, rules) == {"a": "bc", "x_bc": "v"}
    utf8 = parse_relabel_configs(
        [{"source_labels": ["a"], "regex": "(.*)", "target_label": "x_$1", "replacement": "v"}], JOB
    )
    assert relabel({"a": "b-c"}, utf8) == {"a": "b-c", "x_b-c": "v"}


@pytest.mark.parametrize(
    ("case", "text", "upper", "lower"),
    [
        ("ASCII", "aBc1", "ABC1", "abc1"),
        ("sharp s has no simple uppercase", "straße", "STRAßE", "straße"),
        ("dotted capital I lowers to plain i", "İx", "İX", "ix"),
        ("no final-sigma rule", "ΑΣ", "ΑΣ", "ασ"),
        ("titlecase digraph", "ǅ", "Ǆ", "ǆ"),
        ("Greek with ypogegrammeni uppercases to its titlecase", "ᾀ", "ᾈ", "ᾀ"),
        ("ligature has no simple uppercase", "ﬀ", "ﬀ", "ﬀ"),
        ("dotless i", "ı", "I", "ı"),
    ],
)
def test_case_mapping_is_gos_simple_mapping(case: str, text: str, upper: str, lower: str) -> None:
    assert go_upper(text) == upper
    assert go_lower(text) == lower


@pytest.mark.parametrize(("value", "modulus", "bucket"), [("baz", 1000, 976), ("foo\nbar", 1000, 734), ("", 1, 0)])
def test_hashmod_buckets(value: str, modulus: int, bucket: int) -> None:
    assert hashmod(value, modulus) == bucket


def test_hashmod_uses_only_the_last_eight_bytes() -> None:
    # 2**64 is not a multiple of 1000: the full 128-bit digest would give another bucket for some values
    import hashlib

    digest = hashlib.md5(b"baz").digest()
    assert int.from_bytes(digest, "big") % 1000 != 976
    assert hashmod("baz", 2**64 - 1) == int.from_bytes(digest[8:], "big") % (2**64 - 1)


@pytest.mark.parametrize(
    ("case", "rules", "ordered"),
    [
        ("no labelmap", [{"action": "keep"}], False),
        ("a prefix map is one-to-one", [{"action": "labelmap", "regex": "__meta_(.+)"}], False),
        ("a map of one name", [{"action": "labelmap", "regex": "x", "replacement": "y"}], False),
        ("alternatives kept whole", [{"action": "labelmap", "regex": "(a|b)_x", "replacement": "m_$1"}], False),
        ("a constant name", [{"action": "labelmap", "regex": "._x", "replacement": "m"}], True),
        ("a part of the name", [{"action": "labelmap", "regex": "(.)_(.*)", "replacement": "$2"}], True),
    ],
)
def test_chain_tracks_order_only_when_labelmap_can_collide(
    case: str, rules: list[dict[str, Any]], ordered: bool
) -> None:
    assert RelabelChain(parse_relabel_configs(rules, JOB)).ordered is ordered


def test_sharding_block_from_prometheus_operator() -> None:
    """The `$(SHARD)` keep rule drops everything unless `__tmp_disable_sharding` is set (as the allocator does)."""
    sharding = parse_relabel_configs(
        [
            {"source_labels": ["__address__", "__tmp_hash"], "target_label": "__tmp_hash", "regex": "(.+);",
             "replacement": "$1", "action": "replace"},
            {"source_labels": ["__tmp_hash"], "target_label": "__tmp_hash", "modulus": 1, "action": "hashmod"},
            {"source_labels": ["__tmp_hash", "__tmp_disable_sharding"], "regex": "$(SHARD);|.+;.+", "action": "keep"},
        ],
        JOB,
    )  # fmt: skip
    assert relabel({"__address__": "10.0.0.1:80"}, sharding) is None
    kept = relabel({"__address__": "10.0.0.1:80", "__tmp_disable_sharding": "true"}, sharding)
    assert kept == {"__address__": "10.0.0.1:80", "__tmp_disable_sharding": "true", "__tmp_hash": "0"}


def test_order_tracking_changes_nothing_for_one_to_one_labelmaps() -> None:
    """Chains whose labelmaps cannot collide skip the builder-order bookkeeping; the result is the same."""
    rules = parse_relabel_configs(
        [
            {"source_labels": ["a"], "target_label": "__meta_x_b"},
            {"action": "labelmap", "regex": "__meta_x_(.+)", "replacement": "x_$1"},
            {"action": "labelmap", "regex": "x_(a|b|c)", "replacement": "y_${1}"},
            {"action": "labeldrop", "regex": "x_.*"},
        ],
        JOB,
    )
    fast, tracked = RelabelChain(rules), RelabelChain(rules)
    assert not fast.ordered
    tracked.ordered = True
    rng = random.Random(1)
    names = ["a", "b", "x_a", "y_b", "__meta_x_a", "__meta_x_c", "__meta_x_x_a", "z"]
    for _ in range(300):
        labels = {name: rng.choice(["1", "2", ""]) for name in rng.sample(names, rng.randint(0, len(names)))}
        assert fast.apply(labels) == tracked.apply(labels)


def test_name_memo_stays_bounded_and_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relabel_module, "_NAME_CACHE_LIMIT", 4)
    chain = RelabelChain(
        parse_relabel_configs(
            [{"action": "labelmap", "regex": "m_(.+)"}, {"action": "labeldrop", "regex": "m_.*"}], JOB
        )
    )
    for i in range(20):
        labels = {f"m_{i}": "v", f"n_{i}": "w", "m_same": "s"}
        assert chain.apply(labels) == {str(i): "v", f"n_{i}": "w", "same": "s"}
