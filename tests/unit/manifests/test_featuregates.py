"""`--feature-gates`: upstream 0.158's gates, its syntax, and the gates accepted without effect."""

from __future__ import annotations

import pytest

from otel_operator.manifests import featuregates
from otel_operator.manifests.featuregates import DEFAULT_ENABLED, GATES, GateError, help_text, ignored, parse, summary

# upstream 0.158 pkg/featuregate/featuregate.go (plus our own targetallocatorcr): name -> (stage, default, honoured)
UPSTREAM_0_158 = {
    "operand.networkpolicy": ("beta", True, True),
    "operator.networkpolicy": ("beta", True, False),
    "operator.golang.flags": ("beta", True, True),
    "operator.targetallocator.fallbackstrategy": ("alpha", False, True),
    "operator.collector.usedefaulttelemetryshape": ("beta", True, False),
    "operator.clusterobservability": ("alpha", False, False),
    "operator.autoinstrumentation.injector": ("alpha", False, False),
    "operator.collector.targetallocatorcr": ("stable", True, True),
}


def test_the_gates_as_upstream_declares_them() -> None:
    assert {name: (g.stage, g.default, g.honoured) for name, g in GATES.items()} == UPSTREAM_0_158
    assert {name for name, (_, on, _) in UPSTREAM_0_158.items() if on} == DEFAULT_ENABLED
    # only the gate upstream removed (0.138) is ours alone
    assert [g.name for g in GATES.values() if not g.upstream] == [featuregates.TARGET_ALLOCATOR_CR]
    for g in GATES.values():  # alpha is off, beta and stable on: upstream's rule
        assert g.default == (g.stage != "alpha"), g.name


@pytest.mark.parametrize(
    ("spec", "on", "off"),
    [
        ("", set(), set()),
        ("-operand.networkpolicy", set(), {"operand.networkpolicy"}),
        ("operator.targetallocator.fallbackstrategy", {"operator.targetallocator.fallbackstrategy"}, set()),
        ("+operator.targetallocator.fallbackstrategy", {"operator.targetallocator.fallbackstrategy"}, set()),
        (
            " -operator.golang.flags , +operator.clusterobservability ,",
            {"operator.clusterobservability"},
            {"operator.golang.flags"},
        ),
        (["-operand.networkpolicy", "operand.networkpolicy"], {"operand.networkpolicy"}, set()),  # later wins
        (["operand.networkpolicy,-operand.networkpolicy"], set(), {"operand.networkpolicy"}),
    ],
)
def test_parse(spec: str | list[str], on: set[str], off: set[str]) -> None:
    enabled = parse(spec)
    assert on <= enabled
    assert not off & enabled
    untouched = set(GATES) - on - off
    assert enabled & untouched == DEFAULT_ENABLED & untouched


def test_parse_starts_from_the_given_gates() -> None:
    assert parse("operator.golang.flags", frozenset()) == {"operator.golang.flags"}


@pytest.mark.parametrize(("spec", "named"), [("operator.nope", "operator.nope"), ("-x,operand.networkpolicy", "x")])
def test_an_unknown_gate_is_named(spec: str, named: str) -> None:
    with pytest.raises(GateError) as err:
        parse(spec)
    message = str(err.value)
    assert f'unknown feature gate "{named}"' in message
    assert "operand.networkpolicy" in message  # the known ones are listed
    assert "\n" not in message


@pytest.mark.parametrize("spec", ["-", "+"])
def test_a_bare_sign_is_an_unknown_gate(spec: str) -> None:
    with pytest.raises(GateError, match=f'unknown feature gate "\\{spec}"'):
        parse(spec)


@pytest.mark.parametrize(
    ("spec", "warned"),
    [
        ("-operator.networkpolicy", []),  # upstream's Helm chart sets this; otel-operator creates none anyway
        ("operator.networkpolicy", ["operator.networkpolicy"]),
        (
            "operator.clusterobservability,operator.autoinstrumentation.injector",
            ["operator.autoinstrumentation.injector", "operator.clusterobservability"],
        ),
        ("-operator.clusterobservability", []),
        ("-operator.collector.usedefaulttelemetryshape", ["operator.collector.usedefaulttelemetryshape"]),
        ("-operand.networkpolicy,operator.targetallocator.fallbackstrategy", []),  # honoured
        ("", []),
    ],
)
def test_ignored_warns_only_when_asked_for_what_otel_operator_does_not_do(spec: str, warned: list[str]) -> None:
    warnings = ignored(spec)
    assert [w.split()[2] for w in warnings] == warned
    for w in warnings:
        assert "does not act on it" in w


def test_summary_lists_every_gate_as_upstream_logs_them() -> None:
    text = summary(parse("-operand.networkpolicy"))
    items = text.split(",")
    assert [i.lstrip("-") for i in items] == sorted(GATES)
    assert "-operand.networkpolicy" in items
    assert "-operator.targetallocator.fallbackstrategy" in items
    assert "operator.golang.flags" in items


def test_help_text_has_one_line_per_gate_with_stage_and_default() -> None:
    lines = help_text().splitlines()
    assert len(lines) == len(GATES)
    assert "  operator.targetallocator.fallbackstrategy (alpha, off): " in "\n".join(lines)
    assert "  operator.clusterobservability (alpha, off, accepted, no effect): " in "\n".join(lines)
    # the gates that act come first
    assert all("no effect" not in line for line in lines[:4])
