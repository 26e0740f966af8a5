"""An allocator whose service account holds only a Role in its own namespace (upstream's targetallocator-namespace).

With prometheusCR.allowNamespaces the allocator watches each allowed namespace apart and reads its Namespace by
name (a Role can grant a GET and a watch of its own Namespace, never a list of all), so it becomes ready, serves
the allowed namespace's monitors and follows their changes. The same account without allowNamespaces cannot list
across the cluster and stays not ready, saying which lists it waits for. All against the real API server, with a
real service-account token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.allocator.app import Allocator, kube_client, serve
from otel_operator.allocator.config import load_config
from otel_operator.allocator.watch import NAMESPACES, Reflector
from tests.integration.conftest import ensure_namespace, wait_for

pytestmark = pytest.mark.integration

NS = "ta-scoped"
OTHER = "ta-scoped-other"  # a namespace the account cannot read: its monitor must never show up
ACCOUNT = "ta"
# upstream's test's Role (resources/rbac.yaml), bound to the allocator's account in its namespace only
RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": ["pods", "services", "endpoints", "configmaps", "secrets", "namespaces"],
        "verbs": ["get", "watch", "list"],
    },
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "watch", "list"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "watch", "list"]},
    {
        "apiGroups": ["monitoring.coreos.com"],
        "resources": ["servicemonitors", "podmonitors", "scrapeconfigs", "probes"],
        "verbs": ["get", "watch", "list"],
    },
]


def monitored(name: str, address: str) -> list[tuple[str, dict[str, Any]]]:
    """(plural, body): a selector-less Service, its EndpointSlice, and a ServiceMonitor selecting the Service."""
    return [
        (
            "services",
            {"metadata": {"name": name, "labels": {"app": name}}, "spec": {"ports": [{"name": "m", "port": 9100}]}},
        ),
        (
            "endpointslices",
            {
                "metadata": {"name": name, "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "ports": [{"name": "m", "port": 9100, "protocol": "TCP"}],
                "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            },
        ),
        (
            "servicemonitors",
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": {"app": name}}, "endpoints": [{"port": "m"}]},
            },
        ),
    ]


async def create(api: ApiClient, namespace: str, objects: list[tuple[str, dict[str, Any]]]) -> None:
    for plural, body in objects:
        if plural == "services":
            await client.CoreV1Api(api).create_namespaced_service(namespace, body)
        elif plural == "endpointslices":
            await client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(namespace, body)
        else:
            await client.CustomObjectsApi(api).create_namespaced_custom_object(
                "monitoring.coreos.com", "v1", namespace, plural, body
            )


@pytest.fixture(scope="module")
async def scoped_kubeconfig(
    api: ApiClient, crds: list[str], kubeconfig: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A kubeconfig holding a token of service account ta/NS, which has only the Role above in NS."""
    for namespace in (NS, OTHER):
        await ensure_namespace(api, namespace)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    await core.create_namespaced_service_account(NS, {"metadata": {"name": ACCOUNT}})
    await rbac.create_namespaced_role(NS, {"metadata": {"name": ACCOUNT}, "rules": RULES})
    await rbac.create_namespaced_role_binding(
        NS,
        {
            "metadata": {"name": ACCOUNT},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NS}],
        },
    )
    token = await core.create_namespaced_service_account_token(ACCOUNT, NS, {"spec": {"expirationSeconds": 3600}})
    admin = yaml.safe_load(Path(kubeconfig).read_text())
    cluster = admin["clusters"][0]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": ACCOUNT, "user": {"token": token.status.token}}],
        "contexts": [{"name": ACCOUNT, "context": {"cluster": cluster["name"], "user": ACCOUNT}}],
        "current-context": ACCOUNT,
    }
    path = tmp_path_factory.mktemp("scoped") / "kubeconfig"
    # a relative certificate-authority path in the admin's kubeconfig is relative to its folder
    ca = cluster["cluster"].get("certificate-authority")
    if ca and not Path(ca).is_absolute():
        cluster["cluster"]["certificate-authority"] = str(Path(kubeconfig).parent / ca)
    path.write_text(yaml.safe_dump(doc))
    await create(api, NS, monitored("app", "10.77.0.1"))
    await create(api, OTHER, monitored("secret-app", "10.77.1.1"))
    yield str(path)
    for namespace in (NS, OTHER):
        with contextlib.suppress(ApiException):
            await core.delete_namespace(namespace)


def allocator_config(kubeconfig: str, allow: list[str] | None) -> str:
    prometheus_cr: dict[str, Any] = {"enabled": True, "service_monitor_selector": {}, "pod_monitor_selector": {}}
    if allow is not None:
        prometheus_cr["allow_namespaces"] = allow
    return yaml.safe_dump(
        {
            "listen_addr": "127.0.0.1:0",
            "kube_config_file_path": kubeconfig,
            "collectors": ["collector-0"],
            "collector_namespace": NS,
            "prometheus_cr": prometheus_cr,
        }
    )


@contextlib.asynccontextmanager
async def running(config_text: str) -> AsyncIterator[tuple[Allocator, str]]:
    config = load_config(config_text)
    own = await kube_client(config)
    allocator = Allocator(config, own, namespace=NS)
    listeners = await serve(allocator)
    await allocator.start()
    try:
        yield allocator, f"http://127.0.0.1:{listeners.ports['http']}"
    finally:
        await allocator.stop()
        await listeners.close()
        await own.close()


async def served_targets(http: aiohttp.ClientSession, base: str, job: str) -> set[str]:
    async with http.get(f"{base}/jobs/{job.replace('/', '%2F')}/targets?collector_id=collector-0") as r:
        if r.status != 200:
            return set()
        return {t for group in await r.json() for t in group["targets"]}


async def test_a_role_grants_its_own_namespace_by_name_only(scoped_kubeconfig: str, api: ApiClient) -> None:
    own = await kube_client(load_config(allocator_config(scoped_kubeconfig, [NS])))
    seen: list[tuple[str, str]] = []

    class Sink:
        def on_replace(self, kind: str, objects: list[dict[str, Any]], /) -> None:
            seen.extend(("LIST", o["metadata"]["name"]) for o in objects)

        def on_event(self, kind: str, type: str, obj: dict[str, Any], /) -> None:
            seen.append((type, obj["metadata"]["name"]))

    by_name = Reflector(own, NAMESPACES, Sink(), name=NS)
    cluster_wide = Reflector(own, NAMESPACES, Sink(), backoff_initial=0.05, backoff_max=0.2)
    tasks = [asyncio.create_task(r.run()) for r in (by_name, cluster_wide)]
    try:
        await asyncio.wait_for(by_name.synced.wait(), 15)
        assert list(by_name.objects) == [("", NS)]
        await client.CoreV1Api(api).patch_namespace(NS, {"metadata": {"labels": {"team": "a"}}})

        async def relabelled() -> bool:
            return (by_name.objects[("", NS)]["metadata"].get("labels") or {}).get("team") == "a"

        await wait_for(relabelled, within=15, what="the Namespace's new label through the watch by name")
        assert ("MODIFIED", NS) in seen

        # the same account listing Namespaces is refused: the reason the allocator reads them by name
        async def refused() -> bool:
            return cluster_wide.stats.errors >= 2

        await wait_for(refused, within=15, what="refused cluster-wide lists")
        assert not cluster_wide.synced.is_set()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await own.close()


async def test_allow_namespaces_serves_with_only_a_role(scoped_kubeconfig: str, api: ApiClient) -> None:
    async with running(allocator_config(scoped_kubeconfig, [NS])) as (allocator, base):
        await allocator.wait_ready(within=30)
        job = f"serviceMonitor/{NS}/app/0"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/scrape_configs") as r:
                jobs = set(await r.json())
            assert job in jobs
            assert not any(OTHER in name for name in jobs), jobs

            async def first() -> bool:
                return await served_targets(http, base, job) == {"10.77.0.1:9100"}

            await wait_for(first, within=15, what="the allowed namespace's monitor's target")
            # a change after the start arrives through the per-namespace watches
            await create(api, NS, monitored("later", "10.77.0.2"))

            async def later() -> bool:
                return await served_targets(http, base, f"serviceMonitor/{NS}/later/0") == {"10.77.0.2:9100"}

            await wait_for(later, within=15, what="a monitor created after the start")
        assert "namespaces ta-scoped" in allocator._reflectors["EndpointSlice"].describe()


async def test_without_allow_namespaces_the_role_is_not_enough(scoped_kubeconfig: str) -> None:
    async with running(allocator_config(scoped_kubeconfig, None)) as (allocator, _):
        with pytest.raises(TimeoutError) as err:
            await allocator.wait_ready(within=4)
        assert "ServiceMonitor" in str(err.value)
