"""The kubectl that `hack/localcluster.py build` puts beside the control plane, against the test API server: it
speaks the server's version, and `kubectl apply` round-trips (including apply's three-way merge)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

import localcluster
from tests.integration.conftest import Kubectl

pytestmark = pytest.mark.integration

NAMESPACE = "kubectl-test"


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    yield NAMESPACE
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=90s")


def manifest(data: dict[str, str]) -> str:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": NAMESPACE, "labels": {"app": "kubectl-test"}},
            "data": data,
        },
    ]
    return yaml.safe_dump_all(docs)


async def test_kubectl_is_the_control_plane_version_and_reports_the_server(kubectl: Kubectl, api: ApiClient) -> None:
    answer = json.loads(kubectl("version", "-o", "json").stdout)
    server = await client.VersionApi(api).get_code()
    assert answer["serverVersion"]["gitVersion"] == server.git_version
    assert (answer["serverVersion"]["major"], answer["serverVersion"]["minor"]) == (server.major, server.minor)
    # built with the same stamp as the kube-apiserver beside it: the same Kubernetes version
    path = localcluster.kubectl_path()
    assert path is not None
    apiserver_version = localcluster.binary_version(path.parent)
    assert apiserver_version.startswith("v1.")
    assert answer["clientVersion"]["gitVersion"] == apiserver_version


def test_apply_then_get_round_trips(kubectl: Kubectl, namespace: str) -> None:
    applied = kubectl("apply", "-f", "-", stdin=manifest({"level": "info", "format": "json"})).stdout
    assert f"namespace/{namespace} created" in applied
    assert "configmap/settings created" in applied

    got = json.loads(kubectl("get", "configmap", "settings", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"level": "info", "format": "json"}
    assert got["metadata"]["labels"] == {"app": "kubectl-test"}
    last = json.loads(got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["data"] == {"level": "info", "format": "json"}

    # a second apply merges against the last one: the changed key changes, the dropped key goes
    again = kubectl("apply", "-f", "-", stdin=manifest({"level": "debug"})).stdout
    assert "configmap/settings configured" in again
    assert f"namespace/{namespace} unchanged" in again
    got = json.loads(kubectl("get", "configmap", "settings", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"level": "debug"}

    listed = json.loads(kubectl("get", "configmaps", "-n", namespace, "-l", "app=kubectl-test", "-o", "json").stdout)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["settings"]

    kubectl("delete", "configmap", "settings", "-n", namespace)
    missing = kubectl("get", "configmap", "settings", "-n", namespace, check=False)
    assert missing.returncode == 1
    assert 'configmaps "settings" not found' in missing.stderr
