"""Shared fixtures. Integration tests get a real control plane; unit tests need nothing."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack"))

import localcluster  # noqa: E402  (hack/ is not a package: it must run before any install)


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A kubeconfig for a real kube-apiserver.

    USE_EXISTING_CLUSTER=true with KUBECONFIG (envtest's convention) points the tests at a cluster of your own;
    otherwise a local control plane (etcd + kube-apiserver + kube-controller-manager) is started on loopback for
    the session and stopped by PID afterwards.
    """
    if os.environ.get("USE_EXISTING_CLUSTER", "").lower() == "true":
        path = os.environ.get("KUBECONFIG")
        if not path:
            pytest.fail("USE_EXISTING_CLUSTER=true needs KUBECONFIG to name the cluster's kubeconfig")
        yield path
        return
    folder = tmp_path_factory.mktemp("cluster")
    cluster = localcluster.up(folder)
    try:
        yield cluster.kubeconfig
    finally:
        localcluster.down(folder)
