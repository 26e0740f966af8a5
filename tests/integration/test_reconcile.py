"""`otel-operator run` reconciles an OpenTelemetryCollector into its objects on a real kube-apiserver with
kube-controller-manager: creation with names, labels and owners; config edits roll a new ConfigMap; drift is
repaired; disabling the allocator prunes it; an invalid resource gets a condition and an Event and nothing else;
`kubectl scale` works; deleting the resource collects everything."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.manifests import BuildOptions, build
from otel_operator.reconcile.collector import missing_allocator_permissions, missing_service_accounts, reconcile
from otel_operator.reconcile.desired import OWNER_UID_LABEL
from otel_operator.reconcile.discovery import api_server_endpoints, served_apis
from otel_operator.reconcile.kube import Kube
from tests.integration.conftest import ROOT, collectors_in, wait_for

pytestmark = pytest.mark.integration

NS = "reconcile-test"
GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
MERGE = "application/merge-patch+json"
CLUSTER_ROLE = f"otel-operator:targetallocator:{NS}:guide"


def guide_collector(name: str = "guide") -> dict[str, Any]:
    docs = yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text())
    collector = next(d for d in docs if d["kind"] == "OpenTelemetryCollector")
    collector["metadata"] = {"name": name, "namespace": NS}
    collector["spec"]["targetAllocator"].pop("serviceAccount")  # let the operator create the allocator's
    return collector


@pytest.fixture
async def objects(api: ApiClient, operator: None) -> AsyncIterator[client.CustomObjectsApi]:
    async with collectors_in(api, NS) as custom:
        yield custom


async def read(api: ApiClient, kind: str, name: str) -> Any:
    core, apps, rbac = client.CoreV1Api(api), client.AppsV1Api(api), client.RbacAuthorizationV1Api(api)
    readers = {
        "StatefulSet": lambda: apps.read_namespaced_stateful_set(name, NS),
        "Deployment": lambda: apps.read_namespaced_deployment(name, NS),
        "Service": lambda: core.read_namespaced_service(name, NS),
        "ConfigMap": lambda: core.read_namespaced_config_map(name, NS),
        "ServiceAccount": lambda: core.read_namespaced_service_account(name, NS),
        "ClusterRole": lambda: rbac.read_cluster_role(name),
        "ClusterRoleBinding": lambda: rbac.read_cluster_role_binding(name),
    }
    try:
        return await readers[kind]()
    except ApiException as err:
        if err.status == 404:
            return None
        raise


async def collector_config_maps(api: ApiClient, name: str) -> list[str]:
    listed = await client.CoreV1Api(api).list_namespaced_config_map(NS)
    return sorted(c.metadata.name for c in listed.items if c.metadata.name.startswith(f"{name}-collector-"))


async def created(api: ApiClient, custom: client.CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    name = body["metadata"]["name"]

    async def reconciled() -> dict[str, Any] | None:
        obj: dict[str, Any] = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
        status = obj.get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        done = status.get("observedGeneration") == obj["metadata"]["generation"] and "Ready" in conditions
        return obj if done else None

    found: dict[str, Any] = await wait_for(reconciled, within=30, what=f"{name} reconciled")
    return found


async def test_statefulset_with_allocator_consists_of_upstreams_objects(
    api: ApiClient, objects: client.CustomObjectsApi
) -> None:
    owner = await created(api, objects, guide_collector())
    uid = owner["metadata"]["uid"]
    # two levels, as upstream 0.127+: the collector owns a TargetAllocator, which owns the allocator's objects
    allocator = await wait_for(
        lambda: objects.get_namespaced_custom_object(GROUP, "v1alpha1", NS, "targetallocators", "guide"),
        what="the TargetAllocator",
    )
    refs = allocator["metadata"]["ownerReferences"]
    assert [(r["kind"], r["name"], r["uid"], r["controller"]) for r in refs] == [
        ("OpenTelemetryCollector", "guide", uid, True)
    ]
    allocator_uid = allocator["metadata"]["uid"]
    expected = {
        ("StatefulSet", "guide-collector"): ("OpenTelemetryCollector", uid),
        ("ServiceAccount", "guide-collector"): ("OpenTelemetryCollector", uid),
        ("Service", "guide-collector-monitoring"): ("OpenTelemetryCollector", uid),
        ("Deployment", "guide-targetallocator"): ("TargetAllocator", allocator_uid),
        ("ConfigMap", "guide-targetallocator"): ("TargetAllocator", allocator_uid),
    }
    for (kind, name), (owner_kind, owner_uid) in expected.items():
        obj = await wait_for(lambda k=kind, n=name: read(api, k, n), within=20, what=f"{kind} {name}")
        refs = obj.metadata.owner_references or []
        assert [(r.kind, r.name, r.uid, r.controller) for r in refs] == [(owner_kind, "guide", owner_uid, True)]
        assert obj.metadata.labels[OWNER_UID_LABEL] == owner_uid
    for name in ("guide-collector", "guide-collector-headless", "guide-targetallocator"):
        assert await read(api, "Service", name) is not None, name
    sts = await read(api, "StatefulSet", "guide-collector")
    labels = sts.spec.template.metadata.labels
    assert labels["app.kubernetes.io/component"] == "opentelemetry-collector"
    assert labels["app.kubernetes.io/instance"] == f"{NS}.guide"
    assert labels["app.kubernetes.io/managed-by"] == "opentelemetry-operator"
    # the collector's prometheus receiver now asks the allocator
    [config_map] = await collector_config_maps(api, "guide")
    config = yaml.safe_load((await read(api, "ConfigMap", config_map)).data["collector.yaml"])
    receiver = config["receivers"]["prometheus"]
    assert receiver["target_allocator"]["endpoint"] == "http://guide-targetallocator:80"
    assert "scrape_configs" not in receiver.get("config", {})
    # the allocator's own permissions, cluster-scoped, found by label
    role = await wait_for(lambda: read(api, "ClusterRole", CLUSTER_ROLE), what="the allocator's ClusterRole")
    assert role.metadata.labels[OWNER_UID_LABEL] == allocator_uid
    # the status
    conditions = {c["type"]: c for c in owner["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "False"  # no kubelet here: the pods never become ready
    # upstream's one condition for a collector with nothing to warn about: no ConfigurationWarning beside it
    assert [c["type"] for c in owner["status"]["conditions"]] == ["Ready"]
    assert owner["status"]["image"]


async def test_a_reconcile_that_finds_everything_as_desired_writes_nothing(
    api: ApiClient, objects: client.CustomObjectsApi
) -> None:
    owner = await created(api, objects, guide_collector("steady"))
    await wait_for(lambda: read(api, "Deployment", "steady-targetallocator"), within=20, what="allocator deployment")
    kube = Kube(api)
    # what the running operator builds with: the cluster's optional APIs and the API server's addresses
    options = BuildOptions(apis=await served_apis(kube), api_server_endpoints=await api_server_endpoints(kube))
    outcome = await reconcile(kube, owner, options)
    assert outcome.sync is not None
    assert (outcome.sync.created, outcome.sync.updated, outcome.sync.deleted) == ([], [], [])
    assert ("TargetAllocator", NS, "steady") in outcome.sync.unchanged
    assert len(outcome.sync.unchanged) >= 5
    allocator = await objects.get_namespaced_custom_object(GROUP, "v1alpha1", NS, "targetallocators", "steady")

    async def allocator_writes() -> list[Any] | None:
        result = await reconcile(kube, {**allocator, "kind": "TargetAllocator"}, options)
        assert result.sync is not None
        return None if result.sync.writes else result.sync.unchanged

    # The operator remembers the API server's addresses for 30 s (its allocator NetworkPolicy is built from them):
    # after an earlier test changed them, it and this fresh look may disagree until its memory expires.
    unchanged = await wait_for(allocator_writes, within=45, interval=2, what="an allocator reconcile writing nothing")
    assert ("Deployment", NS, "steady-targetallocator") in unchanged


async def test_config_edit_rolls_a_new_config_map_and_the_pods(
    api: ApiClient, objects: client.CustomObjectsApi
) -> None:
    await created(api, objects, guide_collector("edited"))
    before_maps = await wait_for(lambda: collector_config_maps(api, "edited"), within=20, what="config map")
    sts = await read(api, "StatefulSet", "edited-collector")
    before_annotations = dict(sts.spec.template.metadata.annotations or {})
    body = guide_collector("edited")
    body["spec"]["config"]["exporters"]["debug"]["verbosity"] = "basic"
    await objects.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "edited", {"spec": {"config": body["spec"]["config"]}}, _content_type=MERGE
    )

    async def rolled() -> bool:
        maps = await collector_config_maps(api, "edited")
        current = await read(api, "StatefulSet", "edited-collector")
        return len(maps) == 2 and dict(current.spec.template.metadata.annotations or {}) != before_annotations

    await wait_for(rolled, within=20, what="a new ConfigMap and a new pod-template annotation")
    assert set(before_maps) < set(await collector_config_maps(api, "edited"))  # the old version is kept


async def test_drift_is_repaired(api: ApiClient, objects: client.CustomObjectsApi) -> None:
    await created(api, objects, guide_collector("drift"))
    await wait_for(lambda: read(api, "Service", "drift-targetallocator"), within=20, what="allocator service")
    await client.CoreV1Api(api).delete_namespaced_service("drift-targetallocator", NS)
    apps = client.AppsV1Api(api)
    await apps.patch_namespaced_stateful_set("drift-collector", NS, {"spec": {"replicas": 5}})

    async def repaired() -> bool:
        service = await read(api, "Service", "drift-targetallocator")
        sts = await read(api, "StatefulSet", "drift-collector")
        return service is not None and sts.spec.replicas == 1

    await wait_for(repaired, within=20, what="the deleted Service back and the StatefulSet's replicas restored")


async def _none_left(leftovers: Any) -> bool:
    left = await leftovers()
    if left:
        print("still there:", left)
    return not left


async def test_disabling_the_allocator_prunes_it(api: ApiClient, objects: client.CustomObjectsApi) -> None:
    await created(api, objects, guide_collector("prune"))
    role = f"otel-operator:targetallocator:{NS}:prune"
    await wait_for(lambda: read(api, "ClusterRole", role), within=20, what="allocator ClusterRole")
    await objects.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "prune", {"spec": {"targetAllocator": {"enabled": False}}}, _content_type=MERGE
    )

    async def leftovers() -> list[str]:
        wanted_gone = [
            ("Deployment", "prune-targetallocator"),
            ("Service", "prune-targetallocator"),
            ("ConfigMap", "prune-targetallocator"),
            ("ClusterRole", role),
            ("ClusterRoleBinding", role),
        ]
        return [f"{kind} {name}" for kind, name in wanted_gone if await read(api, kind, name) is not None]

    await wait_for(lambda: _none_left(leftovers), within=30, what="the allocator's objects gone")
    assert await read(api, "StatefulSet", "prune-collector") is not None


async def test_an_invalid_resource_gets_a_condition_and_an_event_and_nothing_else(
    api: ApiClient, objects: client.CustomObjectsApi
) -> None:
    body = guide_collector("invalid")
    body["spec"]["mode"] = "deployment"  # the allocator needs a statefulset or a daemonset
    owner = await created(api, objects, body)
    ready = next(c for c in owner["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "statefulset" in ready["message"]

    async def warned() -> list[Any]:
        events = await client.CoreV1Api(api).list_namespaced_event(
            NS, field_selector="involvedObject.name=invalid,reason=InvalidSpec"
        )
        return [e for e in events.items if e.type == "Warning"]

    await wait_for(warned, within=20, what="a Warning Event")
    for kind, name in (("Deployment", "invalid-collector"), ("Deployment", "invalid-targetallocator")):
        assert await read(api, kind, name) is None
    assert await collector_config_maps(api, "invalid") == []


async def test_kubectl_scale_sets_the_statefulsets_replicas(api: ApiClient, objects: client.CustomObjectsApi) -> None:
    body = copy.deepcopy(guide_collector("scaled"))
    await created(api, objects, body)
    await objects.patch_namespaced_custom_object_scale(
        GROUP, VERSION, NS, PLURAL, "scaled", {"spec": {"replicas": 3}}, _content_type=MERGE
    )

    async def scaled() -> bool:
        sts = await read(api, "StatefulSet", "scaled-collector")
        obj = await objects.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "scaled")
        scale = (obj.get("status") or {}).get("scale") or {}
        return sts is not None and sts.spec.replicas == 3 and scale.get("replicas") == 3

    await wait_for(scaled, within=20, what="3 replicas in the StatefulSet and in status.scale")
    scale = await objects.get_namespaced_custom_object_scale(GROUP, VERSION, NS, PLURAL, "scaled")
    assert scale["status"]["selector"].startswith("app.kubernetes.io/component=opentelemetry-collector")


async def test_deleting_the_resource_collects_everything(api: ApiClient, objects: client.CustomObjectsApi) -> None:
    await created(api, objects, guide_collector("doomed"))
    role = f"otel-operator:targetallocator:{NS}:doomed"
    await wait_for(lambda: read(api, "StatefulSet", "doomed-collector"), within=20, what="statefulset")
    await objects.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "doomed")

    async def leftovers() -> list[str]:
        found = {
            "StatefulSet": await read(api, "StatefulSet", "doomed-collector"),
            "Deployment": await read(api, "Deployment", "doomed-targetallocator"),
            "ClusterRole": await read(api, "ClusterRole", role),
            "ClusterRoleBinding": await read(api, "ClusterRoleBinding", role),
        }
        return [kind for kind, obj in found.items() if obj is not None] + await collector_config_maps(api, "doomed")

    async def collected() -> bool:
        return not await leftovers()

    try:
        await wait_for(collected, within=60, what="garbage collection of every child")
    except AssertionError:
        raise AssertionError(f"left behind: {await leftovers()}") from None


async def test_the_mode_cannot_change(api: ApiClient, objects: client.CustomObjectsApi) -> None:
    await created(api, objects, guide_collector("fixed-mode"))
    with pytest.raises(ApiException) as refused:
        await objects.patch_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL, "fixed-mode", {"spec": {"mode": "daemonset"}}, _content_type=MERGE
        )
    assert refused.value.status == 422
    assert "spec.mode is immutable" in refused.value.body
    assert await read(api, "StatefulSet", "fixed-mode-collector") is not None


async def test_a_standalone_target_allocator_serves_the_collector_labelled_with_its_name(
    api: ApiClient, objects: client.CustomObjectsApi
) -> None:
    docs = list(yaml.safe_load_all((ROOT / "tests" / "data" / "render" / "targetallocator.input.yaml").read_text()))
    allocator, collector = docs
    for doc in docs:
        doc["metadata"]["namespace"] = NS
    await objects.create_namespaced_custom_object(GROUP, "v1alpha1", NS, "targetallocators", allocator)
    try:
        await created(api, objects, collector)

        async def allocator_config() -> dict[str, Any] | None:
            cm = await read(api, "ConfigMap", "shared-targetallocator")
            return yaml.safe_load(cm.data["targetallocator.yaml"]) if cm is not None else None

        config = await wait_for(allocator_config, within=20, what="the TargetAllocator's ConfigMap")
        jobs = {job["job_name"] for job in config["config"]["scrape_configs"]}
        assert jobs == {"static-app", "from-collector"}  # its own and the labelled collector's
        assert config["collector_selector"]["matchlabels"]["app.kubernetes.io/instance"] == f"{NS}.scrapers"
        deployment = await wait_for(lambda: read(api, "Deployment", "shared-targetallocator"), within=20, what="ta")
        [ref] = deployment.metadata.owner_references
        assert (ref.kind, ref.name) == ("TargetAllocator", "shared")
        [config_map] = await collector_config_maps(api, "scrapers")
        collector_yaml = yaml.safe_load((await read(api, "ConfigMap", config_map)).data["collector.yaml"])
        endpoint = collector_yaml["receivers"]["prometheus"]["target_allocator"]["endpoint"]
        assert endpoint == "http://shared-targetallocator:80"
        # upstream e2e targetallocator-label: deleting the collector reverts the allocator to its own config
        await objects.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "scrapers")

        async def reverted() -> dict[str, Any] | None:
            config = await allocator_config()
            return config if config is not None and config.get("collector_selector") is None else None

        config = await wait_for(reverted, within=30, what="the allocator's config without the collector")
        assert {job["job_name"] for job in config["config"]["scrape_configs"]} == {"static-app"}
    finally:
        await objects.delete_namespaced_custom_object(GROUP, "v1alpha1", NS, "targetallocators", "shared")


async def test_unmanaged_resources_are_left_alone(api: ApiClient, objects: client.CustomObjectsApi) -> None:
    await created(api, objects, guide_collector("hands-off"))
    await wait_for(lambda: read(api, "Service", "hands-off-targetallocator"), within=20, what="allocator service")
    await objects.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "hands-off", {"spec": {"managementState": "unmanaged"}}, _content_type=MERGE
    )

    async def unmanaged() -> bool:
        obj = await objects.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "hands-off")
        ready = {c["type"]: c for c in obj["status"]["conditions"]}.get("Ready", {})
        return ready.get("reason") == "Unmanaged"

    await wait_for(unmanaged, within=20, what="the Unmanaged condition")
    await client.CoreV1Api(api).delete_namespaced_service("hands-off-targetallocator", NS)
    await asyncio.sleep(3)  # drift repair would have recreated it well within this
    assert await read(api, "Service", "hands-off-targetallocator") is None


async def test_a_prometheus_cr_selecting_nothing_gets_a_warning_condition(
    api: ApiClient, objects: client.CustomObjectsApi
) -> None:
    body = guide_collector("selects-nothing")
    del body["spec"]["targetAllocator"]["prometheusCR"]["serviceMonitorSelector"]
    owner = await created(api, objects, body)
    warning = next(c for c in owner["status"]["conditions"] if c["type"] == "ConfigurationWarning")
    assert warning["status"] == "True"
    assert "serviceMonitorSelector" in warning["message"]
    assert "{}" in warning["message"]  # and how to select everything


async def test_without_allocator_rbac_a_missing_permission_is_a_warning(api: ApiClient) -> None:
    body = guide_collector("no-rbac")
    body["spec"]["targetAllocator"]["serviceAccount"] = "no-rbac-allocator"
    built = build(body, BuildOptions(allocator_rbac=False))
    every = [*built.objects, *built.allocator_objects]
    assert not [o for o in every if o["kind"].startswith("ClusterRole")]
    [warning] = await missing_allocator_permissions(Kube(api), every)
    assert f"{NS}/no-rbac-allocator may not" in warning
    assert "list pods" in warning
    assert "watch servicemonitors.monitoring.coreos.com" in warning
    assert "drop --no-allocator-rbac" in warning
    rbac = client.RbacAuthorizationV1Api(api)
    role = {
        "metadata": {"name": "no-rbac-allocator"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }
    binding = {
        "metadata": {"name": "no-rbac-allocator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "no-rbac-allocator"},
        "subjects": [{"kind": "ServiceAccount", "name": "no-rbac-allocator", "namespace": NS}],
    }
    await rbac.create_cluster_role(role)
    await rbac.create_cluster_role_binding(binding)
    try:
        # the API server's RBAC authorizer learns of a new binding from its informer, a moment later

        async def granted() -> bool:
            return await missing_allocator_permissions(Kube(api), every) == []

        assert await wait_for(granted, within=10, what="the new binding to be seen by the authorizer")
    finally:
        await rbac.delete_cluster_role_binding("no-rbac-allocator")
        await rbac.delete_cluster_role("no-rbac-allocator")


async def test_a_service_account_nobody_made_is_a_warning(api: ApiClient, objects: client.CustomObjectsApi) -> None:
    # the troubleshooting guide names the allocator's ServiceAccount; forgetting to create it leaves the allocator
    # without pods and nothing on the collector says why
    body = guide_collector("unmade-account")
    body["spec"]["targetAllocator"]["serviceAccount"] = "unmade-allocator-sa"
    owner = await created(api, objects, body)
    warning = next(c for c in owner["status"]["conditions"] if c["type"] == "ConfigurationWarning")
    assert warning["message"].startswith(
        f"spec.targetAllocator.serviceAccount: ServiceAccount {NS}/unmade-allocator-sa does not exist"
    ), warning["message"]
    assert f"kubectl -n {NS} create serviceaccount unmade-allocator-sa" in warning["message"]
    built = build(body, BuildOptions())
    every = [*built.objects, *built.allocator_objects]
    core = client.CoreV1Api(api)
    await core.create_namespaced_service_account(NS, {"metadata": {"name": "unmade-allocator-sa"}})
    try:
        assert await missing_service_accounts(Kube(api), every) == []
    finally:
        await core.delete_namespaced_service_account("unmade-allocator-sa", NS)
    # the operator's own accounts (no serviceAccount field) are never reported, even before they exist
    default = build(guide_collector("own-account"), BuildOptions())
    assert await missing_service_accounts(Kube(api), [*default.objects, *default.allocator_objects]) == []
