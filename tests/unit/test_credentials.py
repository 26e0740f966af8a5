"""Where `otel-operator run` and `diagnose` look for credentials, and what they say when there are none: once, naming
every source tried, exit status 2 (kopf alone would print a traceback and retry forever)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_operator.reconcile.login import credentials_problem


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_nothing_anywhere_names_every_source(home: Path) -> None:
    problem = credentials_problem(None, {})
    assert problem == (
        "no Kubernetes credentials: tried --kubeconfig (not given), the in-cluster service account (not in a "
        f"cluster), $KUBECONFIG (not set) and {home}/.kube/config (no such file); pass --kubeconfig FILE or set "
        "$KUBECONFIG"
    )


USABLE = (
    "apiVersion: v1\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
    "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
)


def test_each_source_that_exists_is_enough(home: Path) -> None:
    config = home / "kc"
    config.write_text(USABLE)
    assert credentials_problem(str(config), {}) is None
    assert credentials_problem(None, {"KUBECONFIG": str(config)}) is None
    (home / ".kube").mkdir()
    (home / ".kube" / "config").write_text(USABLE)
    assert credentials_problem(None, {}) is None


def test_each_source_found_is_read_and_its_problem_named(home: Path) -> None:
    """A file that exists but cannot work is said at once, naming it, whichever way it was found."""
    config = home / "kc"
    config.write_text("apiVersion: v1\n")
    expected = f"kubeconfig {config}: no current-context is set"
    assert (credentials_problem(str(config), {}) or "").startswith(expected)
    assert (credentials_problem(None, {"KUBECONFIG": str(config)}) or "").startswith(expected)
    (home / ".kube").mkdir()
    (home / ".kube" / "config").write_text("not: yaml: [\n")
    assert credentials_problem(None, {}) == (
        f"cannot read kubeconfig {home}/.kube/config: not valid YAML at line 1, column 10: mapping values are not "
        "allowed here"
    )


def test_a_named_file_that_is_missing_is_named(home: Path) -> None:
    assert credentials_problem(str(home / "nope"), {}) == f"--kubeconfig {home}/nope: no such file"
    assert credentials_problem(None, {"KUBECONFIG": "/nope"}) == "$KUBECONFIG names /nope, which does not exist"


@pytest.mark.parametrize("command", [["run"], ["diagnose", "-n", "x"]])
def test_the_cli_says_it_once_and_exits_2(home: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    done = subprocess.run(
        [sys.executable, "-m", "otel_operator", *command], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no Kubernetes credentials: tried --kubeconfig (not given)" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
