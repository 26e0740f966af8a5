"""Reading a kubeconfig into kopf's connection info, as kubectl would read it."""

from __future__ import annotations

from pathlib import Path

import kopf
import pytest

from otel_operator.reconcile.login import connection_from_kubeconfig

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
    with pytest.raises(kopf.LoginError, match=message):
        connection_from_kubeconfig(path, context)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(kopf.LoginError, match="cannot read kubeconfig"):
        connection_from_kubeconfig(tmp_path / "absent")
