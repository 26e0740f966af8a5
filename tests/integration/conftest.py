"""Fixtures for tests against the real API server: an async client and the CRDs installed once."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

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


async def install_crds(api: ApiClient, folder: Path = ROOT / "crds") -> list[str]:
    ext = client.ApiextensionsV1Api(api)
    names = []
    for path in sorted(folder.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        names.append(body["metadata"]["name"])
        try:
            await ext.create_custom_resource_definition(body)
        except ApiException as err:
            if err.status != 409:
                raise
            current = await ext.read_custom_resource_definition(body["metadata"]["name"])
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


@pytest.fixture(scope="session")
async def crds(api: ApiClient) -> list[str]:
    return await install_crds(api)


async def server_version(api: ApiClient) -> tuple[int, int]:
    info = await client.VersionApi(api).get_code()
    return int(info.major), int("".join(ch for ch in info.minor if ch.isdigit()))


async def ensure_namespace(api: ApiClient, name: str) -> None:
    with contextlib.suppress(ApiException):
        await client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})


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
