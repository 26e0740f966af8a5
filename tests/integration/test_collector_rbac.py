"""The collector's ClusterRole and binding on a real kube-apiserver: created for a collector whose pipeline uses
k8sattributes, pruned when the processor leaves the pipeline, deleted with the collector; and the operator's own
permissions asked of the API server (SelfSubjectAccessReview) as a service account that holds only some of them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.manifests import build
from otel_operator.reconcile.desired import OWNER_UID_LABEL
from otel_operator.reconcile.kube import Kube, KubeError
from otel_operator.reconcile.permissions import AnswerCache, grantable
from tests.integration.conftest import ensure_namespace, wait_for

pytestmark = pytest.mark.integration

NS = "collector-rbac-test"
GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
ROLE, BINDING = f"enricher-{NS}-cluster-role", f"enricher-{NS}-collector"
LIMITED = "limited-operator"
MERGE = "application/merge-patch+json"


def enricher(processors: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "enricher", "namespace": NS},
        "spec": {
            "mode": "deployment",
            "config": {
                "receivers": {"otlp": {"protocols": {"grpc": {}}}},
                "processors": {"k8sattributes": {"extract": {"metadata": ["k8s.pod.name", "k8s.node.name"]}}},
                "exporters": {"debug": {}},
                "service": {
                    "pipelines": {"traces": {"receivers": ["otlp"], "processors": processors, "exporters": ["debug"]}}
                },
            },
        },
    }


@pytest.fixture
async def custom(api: ApiClient, operator: None) -> AsyncIterator[client.CustomObjectsApi]:
    await ensure_namespace(api, NS)
    objects = client.CustomObjectsApi(api)
    yield objects
    with contextlib.suppress(ApiException):
        await objects.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "enricher")
    rbac = client.RbacAuthorizationV1Api(api)

    async def gone() -> bool:
        return await role_of(rbac, "cluster_role", ROLE) is None

    await wait_for(gone, within=30, what="the collector's ClusterRole deleted")


async def role_of(rbac: client.RbacAuthorizationV1Api, kind: str, name: str) -> Any:
    try:
        return await getattr(rbac, f"read_{kind}")(name)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


async def test_role_created_pruned_and_deleted_with_the_collector(
    api: ApiClient, custom: client.CustomObjectsApi
) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, enricher(["k8sattributes"]))
    owner = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "enricher")
    uid = owner["metadata"]["uid"]

    async def both() -> tuple[Any, Any] | None:
        role = await role_of(rbac, "cluster_role", ROLE)
        binding = await role_of(rbac, "cluster_role_binding", BINDING)
        return (role, binding) if role is not None and binding is not None else None

    role, binding = await wait_for(both, within=30, what="the collector's ClusterRole and binding")
    assert role.metadata.labels[OWNER_UID_LABEL] == uid
    assert role.metadata.labels["app.kubernetes.io/instance"] == f"{NS}.enricher"
    assert not role.metadata.owner_references  # cluster-scoped: found by label, not collected
    assert [(r.api_groups, r.resources, r.verbs) for r in role.rules] == [
        ([""], ["pods", "namespaces"], ["get", "watch", "list"]),
        ([""], ["nodes"], ["get", "watch", "list"]),
    ]
    assert binding.role_ref.name == ROLE
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [("ServiceAccount", "enricher-collector", NS)]

    # the processor leaves the pipeline: nothing to grant, both pruned
    await custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "enricher",
        {"spec": {"config": enricher([])["spec"]["config"]}},
        _content_type=MERGE,
    )

    async def pruned() -> bool:
        return (
            await role_of(rbac, "cluster_role", ROLE) is None
            and await role_of(rbac, "cluster_role_binding", BINDING) is None
        )

    await wait_for(pruned, within=30, what="the ClusterRole and binding pruned")

    # back in the pipeline: back again; then deleting the collector deletes them (the delete handler)
    await custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "enricher",
        {"spec": {"config": enricher(["k8sattributes"])["spec"]["config"]}},
        _content_type=MERGE,
    )
    await wait_for(both, within=30, what="the ClusterRole and binding recreated")
    await custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "enricher")
    await wait_for(pruned, within=30, what="the ClusterRole and binding deleted with the collector")


RBAC_PATH = "/apis/rbac.authorization.k8s.io/v1"


@pytest.fixture
async def limited(api: ApiClient) -> AsyncIterator[ApiClient]:
    """A client authenticated as a service account that holds only what the test binds to it."""
    await ensure_namespace(api, NS)
    admin = Kube(api)
    accounts = f"/api/v1/namespaces/{NS}/serviceaccounts"
    with contextlib.suppress(KubeError):
        await admin.request("POST", accounts, body={"metadata": {"name": LIMITED}})
    token = await admin.request(
        "POST", f"{accounts}/{LIMITED}/token", body={"kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}
    )
    cfg = client.Configuration(host=api.configuration.host)
    cfg.verify_ssl = False
    cfg.api_key = {"BearerToken": f"Bearer {token['status']['token']}"}
    async with ApiClient(configuration=cfg) as limited_api:
        yield limited_api
    for plural in ("clusterrolebindings", "clusterroles"):
        with contextlib.suppress(KubeError):
            await admin.request("DELETE", f"{RBAC_PATH}/{plural}/{LIMITED}")


async def grant(admin: Kube, rules: list[dict[str, Any]]) -> None:
    """Bind exactly `rules` to the limited service account."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": LIMITED}}
    await admin.apply({**role, "rules": rules})
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": LIMITED},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": LIMITED},
        "subjects": [{"kind": "ServiceAccount", "name": LIMITED, "namespace": NS}],
    }
    await admin.apply(binding)


async def test_the_operator_grants_only_what_it_holds(api: ApiClient, limited: ApiClient) -> None:
    admin = Kube(api)
    built = build(enricher(["k8sattributes"]))
    assert built.ok
    kinds = [o["kind"] for o in built.objects]
    assert "ClusterRole" in kinds

    # the admin holds everything: nothing left out
    kept, warnings = await grantable(admin, built.objects, AnswerCache())
    assert [o["kind"] for o in kept] == kinds
    assert warnings == []

    # pods and namespaces but not nodes: the role and binding are left out, nodes named
    write_roles = {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["create"]}
    reads = {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}
    await grant(admin, [write_roles, reads])
    kube = Kube(limited)
    role = next(o for o in built.objects if o["kind"] == "ClusterRole")

    async def warned() -> list[str] | None:
        kept, warnings = await grantable(kube, built.objects, AnswerCache())
        assert "ClusterRole" not in [o["kind"] for o in kept]
        return warnings if warnings and "list pods" not in warnings[0] else None  # once the binding is in force

    [warning] = await wait_for(warned, within=10, what="the missing permissions reported")
    assert "get nodes" in warning
    assert "list pods" not in warning
    assert ROLE in warning
    # and the API server agrees: creating the role would be an escalation
    with pytest.raises(KubeError) as refused:
        await dry_run_create(kube, role)
    assert refused.value.status == 403
    assert "permissions not currently held" in str(refused.value)
    assert 'Resources:["nodes"]' in str(refused.value)

    # granted nodes as well: the role is grantable, and the API server agrees
    await grant(admin, [write_roles, {**reads, "resources": ["pods", "namespaces", "nodes"]}])

    async def allowed() -> bool:
        kept, warnings = await grantable(kube, built.objects, AnswerCache())
        return not warnings and "ClusterRole" in [o["kind"] for o in kept]

    await wait_for(allowed, within=10, what="the role grantable once the operator holds its rules")
    await dry_run_create(kube, role)


async def dry_run_create(kube: Kube, obj: dict[str, Any]) -> None:
    await kube.request("POST", f"{RBAC_PATH}/clusterroles", params=[("dryRun", "All")], body=obj)
