"""Hostile YAML: aliases are accepted as Prometheus, the Collector and kubectl accept them, but their expansion is
capped in every file and object the product reads; deep nesting is refused. Each refusal is one line naming the
place (file, line, column) and the fix, well under a second, and exit status 2 for the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from otel_operator import yamlsafe
from otel_operator.allocator.config import ConfigError, load_config
from otel_operator.allocator.sd import file
from otel_operator.allocator.sd.common import SDRefreshError
from otel_operator.api.conversion import ConversionError, to_v1beta1
from otel_operator.cli import InputError, load_documents
from otel_operator.reconcile.login import LoginError, load_kubeconfig


def bomb(indent: str = "", levels: int = 9) -> str:
    """The billion laughs: each level a list of nine aliases of the one before, 9**9 leaves from ~600 bytes."""
    lines = [f'{indent}a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{indent}a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


BOMB = "bomb:\n" + bomb("  ")
# the start of a real allocator config; the bomb goes under a section kept as written
ALLOCATOR_HEAD = """collectors: [c]
config:
  global: {scrape_interval: 30s}
  scrape_configs:
  - job_name: app
    static_configs: [{targets: ['10.0.0.1:8080', '10.0.0.2:8080']}]
    relabel_configs:
    - {source_labels: [__address__], regex: '(.+):8080', target_label: host, replacement: '$1'}
    - {action: labeldrop, regex: 'tmp_.*'}
    metric_relabel_configs:
    - {source_labels: [__name__], regex: 'go_.*', action: drop}
  storage:
"""
SHARED_RULES = """
scrape_configs:
- job_name: a
  relabel_configs: &shared
  - {source_labels: [__address__], regex: '(.+):80', target_label: host}
  - {action: labeldrop, regex: tmp_.*}
- job_name: b
  relabel_configs: *shared
defaults: &defaults {scrape_interval: 10s, honor_labels: true}
c: {<<: *defaults, scrape_interval: 20s}
"""


def refused(text: str) -> str:
    with pytest.raises(yamlsafe.YamlLimitError) as info:
        yamlsafe.safe_load_all(text)
    return yamlsafe.describe(info.value)


def test_the_bomb_is_about_a_kilobyte_and_refused_before_it_expands() -> None:
    assert load_config(ALLOCATOR_HEAD + bomb("    ", levels=3)).config.other_sections["storage"]["a2"][0][0][0] == "lol"
    text = ALLOCATOR_HEAD + bomb("    ")
    assert 850 < len(text) < 1100
    for load in (yamlsafe.safe_load, yamlsafe.safe_load_all, yamlsafe.check_aliases):
        with pytest.raises(yamlsafe.YamlLimitError) as info:
            load(text)
        # refused at *a7, the first alias over the cap: *a8 and *a9 (the 10**9 leaves) are never expanded
        message = yamlsafe.describe(info.value)
        assert "\n" not in message
        assert message.startswith("line 21, column 14: YAML aliases expand the document to 1,797,87")
        assert message.endswith(f"{yamlsafe.ALIAS_FIX} (*a7 here adds 177,567,724)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SHARED_RULES, None),  # what Prometheus configs really do with anchors
        ("x: &s abc\ny: *s\nz: [*s, *s]\n", {"x": "abc", "y": "abc", "z": ["abc", "abc"]}),
        ("base: &b {k: 1}\nm: {<<: *b, j: 2}\n", {"base": {"k": 1}, "m": {"k": 1, "j": 2}}),
        ("a: " + "[" * 99 + "]" * 99, None),  # as deep as allowed
        (bomb(levels=5), None),  # 9**5 leaves: under the floor
    ],
)
def test_ordinary_aliases_and_nesting_load(text: str, expected: object) -> None:
    loaded = yamlsafe.safe_load(text)
    assert loaded == (expected if expected is not None else yaml.safe_load(text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB, "line 10, column 12: YAML aliases expand the document to "),
        (bomb(levels=7), "line 7, column 10: YAML aliases expand the document to 22,195,982 characters"),
        # one long string aliased many times: characters count, not only nodes
        ("s: &s " + "x" * 40_000 + "\nl: [" + ",".join(["*s"] * 101) + "]\n", "line 2, column 5: YAML aliases"),
        (
            "&a [*a]\n",
            "line 1, column 5: alias *a is inside the value it names, an endless structure; remove the alias",
        ),
        ("a: &x {b: [*x]}\n", "line 1, column 12: alias *x is inside the value it names"),
        ("a: " + "[" * 101 + "]" * 101, "line 1, column 103: nested more than 100 levels deep"),
        ("a: " + "{b: " * 101 + "1" + "}" * 101, "line 1, column 397: nested more than 100 levels deep"),
        # documents just under the budget each still add up: the budget is the stream's
        ("---\n".join([bomb(levels=6)] * 10), "line 6, column 10: YAML aliases expand the document to 4,932,464"),
    ],
)
def test_hostile_yaml_is_refused_in_one_line(text: str, message: str) -> None:
    described = refused(text)
    assert described.startswith(message), described
    assert "\n" not in described


def test_the_budget_grows_with_the_written_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 times the written size may come from aliases; the same values written out are never refused."""
    monkeypatch.setattr(yamlsafe, "ALIAS_FLOOR", 1_000)
    value = "[" + ",".join(f"v{i:03}" for i in range(100)) + "]"  # 100 scalars of 4 characters: 501 written
    aliased = f"a: &v {value}\n" + "".join(f"k{i}: *v\n" for i in range(20))  # 20 times 501 more
    with pytest.raises(yamlsafe.YamlLimitError) as info:
        yamlsafe.safe_load(aliased)
    assert yamlsafe.describe(info.value).startswith("line 2, column 5: YAML aliases expand the document to 10,")
    assert yamlsafe.describe(info.value).endswith("(*v here adds 501)")
    written_out = f"a: {value}\n" + "".join(f"k{i}: {value}\n" for i in range(20))
    assert yamlsafe.safe_load(written_out)["k19"] == [f"v{i:03}" for i in range(100)]
    # 8 times 501 aliased: within 10 times the 522 written
    few = f"a: &v {value}\n" + "".join(f"k{i}: *v\n" for i in range(8))
    assert len(yamlsafe.safe_load(few)) == 9


def test_check_aliases_leaves_other_errors_to_the_real_loader() -> None:
    yamlsafe.check_aliases("a: [\n")  # a syntax error: promconfig's loader reports it in its own words
    yamlsafe.check_aliases("a: " + "[" * 400 + "]" * 400)  # deep, without anchors: the same
    yamlsafe.check_aliases(SHARED_RULES)
    with pytest.raises(yamlsafe.YamlLimitError):
        yamlsafe.check_aliases(BOMB)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [\n", "not valid YAML at line 2, column 1: expected the node content, but found '<stream end>'"),
        ("a: *nope\n", "not valid YAML at line 1, column 4: found undefined alias 'nope'"),
        ("a: 1\n\x00", "unacceptable character #x0000: special characters are not allowed"),
    ],
)
def test_describe_any_yaml_error_in_one_line(text: str, expected: str) -> None:
    with pytest.raises(yaml.YAMLError) as info:
        yamlsafe.safe_load(text)
    assert yamlsafe.describe(info.value).startswith(expected)
    assert "\n" not in yamlsafe.describe(info.value)


# --- every reader of YAML -------------------------------------------------------------------------------------------


def _allocator_config(path: Path) -> str:
    path.write_text(ALLOCATOR_HEAD + bomb("    "))
    with pytest.raises(ConfigError) as info:
        load_config(path.read_text(), str(path))
    return str(info.value)


def _resources(path: Path) -> str:
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n" + bomb("  "))
    with pytest.raises(InputError) as info:
        load_documents([str(path)])
    return str(info.value)


def _v1alpha1_config_string(path: Path) -> str:
    collector = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "c", "namespace": "ns"},
        "spec": {"config": "receivers: {}\n" + BOMB},
    }
    with pytest.raises(ConversionError) as info:
        to_v1beta1(collector)
    return f"{path}: {info.value.field}: {info.value.message}"


def _file_sd(path: Path) -> str:
    with pytest.raises(SDRefreshError) as info:
        file.parse_file(str(path), ("- targets: [a:1]\n  labels:\n" + bomb("    ")).encode())
    return str(info.value)


def _kubeconfig(path: Path) -> str:
    path.write_text("apiVersion: v1\ncurrent-context: c\n" + bomb())
    with pytest.raises(LoginError) as info:
        load_kubeconfig(path)
    return str(info.value)


@pytest.mark.parametrize("reader", [_allocator_config, _resources, _v1alpha1_config_string, _file_sd, _kubeconfig])
def test_every_reader_refuses_the_bomb_naming_the_file(tmp_path: Path, reader: Callable[[Path], str]) -> None:
    path = tmp_path / "input.yaml"
    message = reader(path)
    assert str(path) in message
    assert "YAML aliases expand the document to" in message
    assert yamlsafe.ALIAS_FIX in message
    assert "\n" not in message


# --- the command line -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "content"),
    [
        (["allocator", "--config", "{}"], ALLOCATOR_HEAD + bomb("    ")),
        (["render", "-f", "{}"], "apiVersion: v1\nkind: ConfigMap\ndata:\n" + bomb("  ")),
        (["check", "resources", "{}"], BOMB),
        (["check", "monitors", "{}"], BOMB),
        (["check", "service-discovery", "{}", "a"], "scrape_configs: [{job_name: a}]\n" + BOMB),
        (["check", "service-discovery", "{}", "a"], "scrape_configs: []\nx: " + "[" * 400 + "]" * 400),
    ],
)
def test_the_cli_says_it_in_one_line_and_exits_2(tmp_path: Path, argv: list[str], content: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(content)
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    command = [sys.executable, "-m", "otel_operator", *(str(path) if a == "{}" else a for a in argv)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert str(path) in done.stderr
    assert "Traceback" not in done.stderr
    assert "nested too deeply" in done.stderr or yamlsafe.ALIAS_FIX in done.stderr
