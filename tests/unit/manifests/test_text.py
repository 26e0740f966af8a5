"""The serialisations upstream's objects depend on byte for byte: Go's JSON (the config hash) and the YAML styles."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from otel_operator.manifests.text import Ordered, collector_yaml, documents, go_json, sort_keys, yaml_v2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
        (Ordered(b=1, a=2), '{"b":1,"a":2}'),  # a struct keeps its field order
        ({"x": "<a & b>"}, '{"x":"\\u003ca \\u0026 b\\u003e"}'),
        ({"x": 10.0}, '{"x":10}'),
        ({"x": 0.5}, '{"x":0.5}'),
        ({"x": 0.00001}, '{"x":0.00001}'),
        ({"x": 1e-7}, '{"x":1e-7}'),
        ({"x": "ünïcode\n"}, '{"x":"ünïcode\\n"}'),
        ({}, "{}"),
    ],
)
def test_go_json(value: Any, expected: str) -> None:
    assert go_json(value) == expected


def test_collector_yaml_indents_sequences_under_their_key() -> None:
    value = {"a": {"b": ["x", {"c": 1, "d": [2]}]}, "e": {}, "f": [], "g": None}
    assert collector_yaml(value, indent=2) == (
        "a:\n  b:\n    - x\n    - c: 1\n      d:\n        - 2\ne: {}\nf: []\ng: null\n"
    )
    assert collector_yaml(value, indent=4) == (
        "a:\n    b:\n        - x\n        - c: 1\n          d:\n              - 2\ne: {}\nf: []\ng: null\n"
    )


@pytest.mark.parametrize("text", ["true", "", "123", "1.5", "null", "a: b", "- x", "#c", "yes", "*ref", "${POD_NAME}"])
def test_scalars_read_back_unchanged(text: str) -> None:
    for dumped in (collector_yaml({"k": text, text or "empty": 1}, indent=2), yaml_v2({"k": text})):
        assert yaml.safe_load(dumped)["k"] == text


def test_collector_yaml_quotes_like_go() -> None:
    assert collector_yaml({"k": "true"}, indent=2) == 'k: "true"\n'
    assert collector_yaml({"k": "${POD_NAME}"}, indent=2) == "k: ${POD_NAME}\n"


def test_multi_line_strings_are_literal_blocks() -> None:
    assert yaml_v2({"k": "a\nb\n"}) == "k: |\n  a\n  b\n"
    assert yaml_v2({"k": "a\nb"}) == "k: |-\n  a\n  b\n"
    for text in ("a\nb\n", "a\nb", "a\n\nb\n\n", " lead\nx", "tab\there\n"):
        assert yaml.safe_load(yaml_v2({"k": text}))["k"] == text
        assert yaml.safe_load(collector_yaml({"k": text}, indent=4))["k"] == text


def test_yaml_v2_key_order() -> None:
    # letters after other characters; runs of digits by value
    keys = ["b", "a_z", "aZ", "a10", "a2", "a.b"]
    assert list(yaml.safe_load(yaml_v2(dict.fromkeys(keys, 1)))) == ["a.b", "a_z", "a2", "a10", "aZ", "b"]
    assert yaml_v2({"s": Ordered(matchlabels={}, matchexpressions=[])}) == (
        "s:\n  matchlabels: {}\n  matchexpressions: []\n"
    )


def test_sort_keys_keeps_ordered_mappings() -> None:
    value = {"b": Ordered(z=1, a={"y": 1, "x": 2}), "a": 1}
    assert sort_keys(value) == {"a": 1, "b": {"z": 1, "a": {"x": 2, "y": 1}}}
    assert list(sort_keys(value)["b"]) == ["z", "a"]
    assert list(sort_keys(value)["b"]["a"]) == ["x", "y"]


def test_documents() -> None:
    text = documents([{"kind": "A", "apiVersion": "v1"}, {"kind": "B"}])
    assert text == "---\napiVersion: v1\nkind: A\n---\nkind: B\n"
    assert list(yaml.safe_load_all(text)) == [{"apiVersion": "v1", "kind": "A"}, {"kind": "B"}]
