"""Reading a kubeconfig into kopf's connection info, as kubectl would read it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import kopf
import pytest

from otel_operator.allocator.app import kube_client
from otel_operator.allocator.config import AllocatorConfig
from otel_operator.reconcile.login import (
    LoginError,
    api_client,
    connection_from_kubeconfig,
    kubeconfig_problem,
    register_login,
)

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: prod
  cluster: {server: https://prod:6443}
- name: local
  cluster: {server: https://127.0.0.1:6443, certificate-authority: pki/ca.crt}
users:
- name: me
  user: {client-certificate: pki/me.crt, client-key: /abs/me.key, tokenFile: token}
contexts:
- name: dev
  context: {cluster: local, user: me, namespace: team-a}
- name: broken
  context: {cluster: nowhere, user: me}
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    (tmp_path / "token").write_text("s3cret\n")
    return path


def test_current_context_with_paths_relative_to_the_file(kubeconfig: Path) -> None:
    info = connection_from_kubeconfig(kubeconfig)
    assert info.server == "https://127.0.0.1:6443"
    assert info.ca_path == str(kubeconfig.parent / "pki" / "ca.crt")
    assert info.certificate_path == str(kubeconfig.parent / "pki" / "me.crt")
    assert info.private_key_path == "/abs/me.key"
    assert info.token == "s3cret"
    assert info.default_namespace == "team-a"


@pytest.mark.parametrize(
    ("context", "text", "message"),
    [
        ("broken", KUBECONFIG, "clusters has no entry named 'nowhere'"),
        (None, "apiVersion: v1\nkind: Config\n", "no current-context is set"),
        (None, "a: [", "cannot read kubeconfig"),
    ],
)
def test_bad_kubeconfigs_say_what_is_wrong(tmp_path: Path, context: str | None, text: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(LoginError, match=message):
        connection_from_kubeconfig(path, context)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LoginError, match="cannot read kubeconfig"):
        connection_from_kubeconfig(tmp_path / "absent")


# --- malformed kubeconfigs: one line naming the file and what is wrong, everywhere one is read ------------------------

ONE_CONTEXT = "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
LAUGHS = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9)
)
MALFORMED = [
    (
        "not: yaml: [\n",
        "cannot read kubeconfig {}: not valid YAML at line 1, column 10: mapping values are not allowed",
    ),
    ("- a\n- list\n", "kubeconfig {}: not a kubeconfig: the file is a YAML list, not a mapping with clusters"),
    ("just text\n", "kubeconfig {}: not a kubeconfig: the file is a YAML single value, not a mapping"),
    ("", "kubeconfig {}: no current-context is set; set one with `kubectl --kubeconfig {} config use-context NAME`"),
    ("apiVersion: v1\nkind: Config\nclusters: []\n", "kubeconfig {}: no current-context is set"),
    ("current-context: c\ncontexts: []\n", "kubeconfig {}: contexts has no entry named 'c'"),
    ("current-context: c\ncontexts: {c: {}}\n", "kubeconfig {}: contexts must be a list of named entries"),
    ("current-context: c\ncontexts: [{name: c, context: [k]}]\n", "kubeconfig {}: contexts entry 'c': context must"),
    (ONE_CONTEXT + "clusters: [oops]\n", "kubeconfig {}: clusters has no entry named 'k'"),
    (ONE_CONTEXT + "clusters: [{name: k, cluster: {}}]\n", "kubeconfig {}: cluster 'k' has no server"),
    ("\xff", "cannot read kubeconfig {}: not UTF-8 text"),
    (LAUGHS, "cannot read kubeconfig {}: line 9, column 10: YAML aliases expand the document to"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_kubeconfigs_are_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_bytes(text.encode("latin-1") if text == "\xff" else text.encode())
    expected = message.format(path, path)
    problem = kubeconfig_problem(path)
    assert problem is not None
    assert problem.startswith(expected), problem
    assert "\n" not in problem
    with pytest.raises(LoginError) as info:  # what `run`'s login handler meets
        connection_from_kubeconfig(path)
    assert str(info.value) == problem
    with pytest.raises(LoginError) as info:  # what the allocator and `diagnose` meet
        asyncio.run(api_client(str(path)))
    assert str(info.value) == problem


def test_a_usable_kubeconfig_has_no_problem(kubeconfig: Path) -> None:
    assert kubeconfig_problem(kubeconfig) is None


def test_the_allocators_client_names_its_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "kc"
    path.write_text("apiVersion: v1\n")
    with pytest.raises(LoginError, match=f"kubeconfig {path}: no current-context is set"):
        asyncio.run(kube_client(AllocatorConfig(kube_config_file_path=str(path))))


def test_a_missing_token_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    with pytest.raises(LoginError, match=f"kubeconfig {path}: cannot read its tokenFile {tmp_path}/token"):
        connection_from_kubeconfig(path)


@pytest.mark.parametrize("command", ["allocator", "run", "diagnose"])
@pytest.mark.parametrize(("text", "message"), [MALFORMED[0], MALFORMED[4]])
def test_the_cli_says_it_in_one_line_and_exits_2(tmp_path: Path, command: str, text: str, message: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(text)
    if command == "allocator":  # needs Kubernetes (collectors are discovered), with this kubeconfig
        config = tmp_path / "targetallocator.yaml"
        config.write_text(
            f"collector_namespace: obs\nkube_config_file_path: {kubeconfig}\nconfig: {{scrape_configs: []}}\n"
        )
        argv = ["allocator", "--config", str(config)]
    else:
        argv = [command, "--kubeconfig", str(kubeconfig)]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    done = subprocess.run(
        [sys.executable, "-m", "otel_operator", *argv], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert message.format(kubeconfig, kubeconfig) in done.stderr
    assert done.stderr.startswith(f"otel-operator {command}: ")
    assert "Traceback" not in done.stderr


def test_kopfs_login_handler_raises_kopfs_error(tmp_path: Path) -> None:
    """`run` logs in through kopf, which stops on its own LoginError; the reading itself raises ours."""
    path = tmp_path / "kc"
    path.write_text("apiVersion: v1\n")
    registry = kopf.OperatorRegistry()
    register_login(registry, str(path))
    (handler,) = registry._activities.get_all_handlers()
    with pytest.raises(kopf.LoginError, match="no current-context is set") as info:
        handler.fn(logger=None)
    assert not isinstance(info.value, LoginError)


def test_the_allocator_never_imports_kopf() -> None:
    """kopf is the operator's; importing it costs the allocator some 0.1 s of CPU at every start."""
    code = (
        "import sys, otel_operator.cli, otel_operator.allocator.app, otel_operator.reconcile.login; "
        "print('kopf' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"
