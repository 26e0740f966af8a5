"""Fixtures for tests against the real API server: an async client and the CRDs installed once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

import localcluster
from otel_operator.api.crds import STANDIN_ANNOTATION
from otel_operator.reconcile.runner import OperatorOptions, run_operator

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def api(kubeconfig: str) -> AsyncIterator[ApiClient]:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    async with ApiClient(configuration=cfg) as api_client:
        yield api_client


async def wait_for(predicate: Any, within: float = 30, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last value: {last!r}")


STANDIN_CRDS = ROOT / "tests" / "data" / "standin-crds"  # prometheus-operator's kinds, for clusters without it


async def install_crds(api: ApiClient, *folders: Path) -> list[str]:
    """Our CRDs (crds/) and the monitoring stand-ins, or the CRDs of `folders`. A CRD the cluster already has is
    replaced only if it is ours or a stand-in: a real prometheus-operator CRD (USE_EXISTING_CLUSTER) is left as it
    is."""
    ext = client.ApiextensionsV1Api(api)
    names = []
    for path in sorted(p for folder in folders or (ROOT / "crds", STANDIN_CRDS) for p in folder.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        names.append(body["metadata"]["name"])
        try:
            await ext.create_custom_resource_definition(body)
        except ApiException as err:
            if err.status != 409:
                raise
            current = await ext.read_custom_resource_definition(body["metadata"]["name"])
            ours = body["spec"]["group"] == "opentelemetry.io" or STANDIN_ANNOTATION in (
                current.metadata.annotations or {}
            )
            if not ours:
                continue
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            await ext.replace_custom_resource_definition(body["metadata"]["name"], body)

    async def established() -> bool:
        for name in names:
            crd = await ext.read_custom_resource_definition(name)
            conds = {c.type: c.status for c in (crd.status.conditions or [])}
            if conds.get("Established") != "True":
                return False
        return True

    await wait_for(established, what="CRDs established")
    return names


async def wait_until_garbage_collected(api: ApiClient, group: str, version: str, plural: str, kind: str) -> None:
    """Wait until kube-controller-manager's garbage collector watches a new CRD's kind (it rediscovers resources
    every 30 s): until then, deleting such an owner leaves its dependents behind. Proven with a throwaway owner."""
    namespace = "gc-probe"
    await ensure_namespace(api, namespace)
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    body = {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": {"name": f"probe-{plural}"}, "spec": {}}
    if kind == "OpenTelemetryCollector":
        body["spec"] = {"config": {"receivers": {}, "exporters": {}, "service": {"pipelines": {}}}}
    owner = await custom.create_namespaced_custom_object(group, version, namespace, plural, body)
    ref = {"apiVersion": body["apiVersion"], "kind": kind, "name": body["metadata"]["name"]}
    dependent = {"metadata": {"name": f"probe-{plural}", "ownerReferences": [{**ref, "uid": owner["metadata"]["uid"]}]}}
    await core.create_namespaced_config_map(namespace, dependent)
    await custom.delete_namespaced_custom_object(group, version, namespace, plural, body["metadata"]["name"])

    async def collected() -> bool:
        try:
            await core.read_namespaced_config_map(f"probe-{plural}", namespace)
        except ApiException as err:
            return err.status == 404
        return False

    await wait_for(collected, within=90, interval=1, what=f"the garbage collector to watch {plural}")


@pytest.fixture(scope="session")
async def crds(api: ApiClient) -> list[str]:
    names = await install_crds(api)
    # before any operator runs (it would put a finalizer on the probe)
    await wait_until_garbage_collected(api, "opentelemetry.io", "v1alpha1", "targetallocators", "TargetAllocator")
    return names


async def server_version(api: ApiClient) -> tuple[int, int]:
    info = await client.VersionApi(api).get_code()
    return int(info.major), int("".join(ch for ch in info.minor if ch.isdigit()))


async def ensure_namespace(api: ApiClient, name: str) -> None:
    with contextlib.suppress(ApiException):
        await client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})


@contextlib.asynccontextmanager
async def collectors_in(api: ApiClient, namespace: str) -> AsyncIterator[client.CustomObjectsApi]:
    """A test's namespace for OpenTelemetryCollectors: made if missing; afterwards every collector in it is deleted
    and waited for (their objects go with them), so the next test starts clean."""
    group, version, plural = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
    await ensure_namespace(api, namespace)
    custom = client.CustomObjectsApi(api)
    yield custom
    for item in (await custom.list_namespaced_custom_object(group, version, namespace, plural))["items"]:
        try:
            await custom.delete_namespaced_custom_object(group, version, namespace, plural, item["metadata"]["name"])
        except ApiException as err:
            if err.status != 404:
                raise

    async def gone() -> bool:
        return not (await custom.list_namespaced_custom_object(group, version, namespace, plural))["items"]

    await wait_for(gone, within=30, what=f"the collectors in {namespace} deleted")


@pytest.fixture(scope="session")
def operator(kubeconfig: str, crds: list[str]) -> Iterator[None]:
    """`otel-operator run` in this process (its own thread and event loop), stopped at the end of the session."""
    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(run_operator(OperatorOptions(kubeconfig=kubeconfig), stop_flag=stop, ready_flag=ready))
        except BaseException as err:  # reported to the test below, not lost in the thread
            errors.append(err)

    thread = threading.Thread(target=main, name="otel-operator", daemon=True)
    thread.start()
    if not ready.wait(60):
        pytest.fail(f"operator did not become ready: {errors!r}")
    yield
    stop.set()
    thread.join(30)
    assert not errors, f"operator failed: {errors!r}"


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def kubectl(kubeconfig: str, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """`kubectl(*args, stdin=None, check=True)`: the cached kubectl with the test kubeconfig, its own discovery cache
    and no user preferences (kuberc); fails the test, with kubectl's stderr, when it exits non-zero and `check`."""
    path = localcluster.kubectl_path()
    if path is None:
        pytest.fail("no kubectl beside the control-plane binaries: run `make controlplane` (make test does)")
    cache_dir = tmp_path_factory.mktemp("kubectl-cache")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"KUBERC": "off"}

    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(path), f"--kubeconfig={kubeconfig}", f"--cache-dir={cache_dir}", *args]
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False)
        if check and done.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done

    return run
