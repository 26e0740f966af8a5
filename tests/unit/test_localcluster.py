"""The pure parts of the control-plane script (the rest is exercised by every integration test)."""

from __future__ import annotations

from pathlib import Path

import localcluster


def test_staging_replacements_follow_kubernetes_go_mod() -> None:
    go_mod = """module k8s.io/kubernetes
require (
\tk8s.io/api v0.0.0
)
replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/kube-aggregator => ./staging/src/k8s.io/kube-aggregator
)
"""
    assert localcluster.staging_replacements(go_mod, "v1.34.4") == [
        "replace k8s.io/api => k8s.io/api v0.34.4",
        "replace k8s.io/client-go => k8s.io/client-go v0.34.4",
        "replace k8s.io/kube-aggregator => k8s.io/kube-aggregator v0.34.4",
    ]


def test_kubebuilder_assets_win(tmp_path: Path, monkeypatch: object) -> None:
    for name in ("kube-apiserver", "etcd"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))  # type: ignore[attr-defined]
    assert localcluster.find_binaries(build=False) == tmp_path


def test_kubeconfig_uses_the_static_token(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    localcluster.write_kubeconfig(path, "https://127.0.0.1:6443")
    text = path.read_text()
    assert "server: https://127.0.0.1:6443" in text
    assert f"token: {localcluster.TOKEN}" in text
