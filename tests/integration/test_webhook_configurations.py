"""admission/configurations.py's output on the real kube-apiserver: it accepts both configurations (the CEL match
conditions are checked at create), stores every field as built, and routes requests as intended: which webhook a
pod reaches by its annotation and its namespace's label, never the operator's own namespace, collectors and
target allocators to their handlers, and a failing pod webhook with failurePolicy Ignore blocks nothing.

The configurations call https://127.0.0.1:1 (nothing listens): with failurePolicy Fail the refusal names the
webhook the API server called, which is how a route is observed. Every request here is a dry run. They are
harmless to the tests running beside them on the shared API server: every webhook's objectSelector asks for a
label (with a value unique to this run) that only this module's objects carry, and they are deleted at the end.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.admission import configurations, names

from .conftest import ensure_namespace, wait_for

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:10]
CONFIGURATION = f"otel-operator-test-configurations-{RUN}"
SELECTED = {"otel-operator.test/webhook-configurations": RUN}
OPERATOR_NS = "wh-config-operator"  # stands for the operator's namespace: never intercepted
PLAIN_NS = "wh-config-plain"  # a namespace that does not ask for sidecars
INJECT_NS = "wh-config-inject"  # one that does (the label the operator mirrors from the annotation)
NOWHERE = "https://127.0.0.1:1"


def build() -> tuple[dict[str, Any], dict[str, Any]]:
    common: dict[str, Any] = {"operator_namespace": OPERATOR_NS, "object_selector": {"matchLabels": SELECTED}}
    validating = configurations.validating_configuration(CONFIGURATION, NOWHERE, **common)
    # Fail on the pods too, so that a call is seen (Ignore is what the chart uses; tried at the end)
    mutating = configurations.mutating_configuration(CONFIGURATION, NOWHERE, pod_failure_policy="Fail", **common)
    return validating, mutating


@pytest.fixture
async def installed(api: ApiClient) -> AsyncIterator[tuple[dict[str, Any], dict[str, Any]]]:
    reg = client.AdmissionregistrationV1Api(api)
    core = client.CoreV1Api(api)
    for ns in (OPERATOR_NS, PLAIN_NS, INJECT_NS):
        await ensure_namespace(api, ns)
    await core.patch_namespace(INJECT_NS, {"metadata": {"labels": {names.NAMESPACE_INJECT_LABEL: "true"}}})
    for ns in (OPERATOR_NS, PLAIN_NS, INJECT_NS):  # pods need their namespace's default ServiceAccount

        async def has_account(namespace: str = ns) -> bool:
            accounts = await core.list_namespaced_service_account(namespace)
            return any(a.metadata.name == "default" for a in accounts.items)

        await wait_for(has_account, what=f"the default ServiceAccount of {ns}")
    validating, mutating = build()
    try:
        live_v = api.sanitize_for_serialization(await reg.create_validating_webhook_configuration(validating))
        live_m = api.sanitize_for_serialization(await reg.create_mutating_webhook_configuration(mutating))
        yield live_v, live_m
    finally:
        for delete in (reg.delete_validating_webhook_configuration, reg.delete_mutating_webhook_configuration):
            try:
                await delete(CONFIGURATION)
            except ApiException as err:
                if err.status != 404:
                    raise


def pod(name: str, *, annotated: bool, selected: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(SELECTED) if selected else {"app": "x"}}
    if annotated:
        meta["annotations"] = {names.INJECT_ANNOTATION: "true"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [{"name": "c", "image": "x"}]}}


async def called(create: Any) -> str | None:
    """The webhook the API server failed to call while admitting the dry run, or None when it was admitted."""
    try:
        await create
    except ApiException as err:
        refusal = err
    else:
        return None
    assert refusal.status == 500, refusal.body  # the API server's "failed calling webhook", not a validation error
    message = json.loads(refusal.body)["message"]
    for hook in (
        names.POD_MUTATING_WEBHOOK,
        names.NAMESPACE_POD_MUTATING_WEBHOOK,
        names.COLLECTOR_MUTATING_WEBHOOK,
        names.COLLECTOR_VALIDATING_WEBHOOK,
        names.ALLOCATOR_VALIDATING_WEBHOOK,
    ):
        if f'failed calling webhook "{hook}"' in message:
            return hook
    raise AssertionError(f"refused, but by no webhook of ours: {message}")


async def pod_route(api: ApiClient, namespace: str, body: dict[str, Any]) -> str | None:
    return await called(client.CoreV1Api(api).create_namespaced_pod(namespace, body, dry_run="All"))


async def test_the_api_server_stores_them_as_built(installed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    for live, built in zip(installed, build(), strict=True):
        assert live["metadata"]["name"] == CONFIGURATION
        assert [h["name"] for h in live["webhooks"]] == [h["name"] for h in built["webhooks"]]
        for stored, ours in zip(live["webhooks"], built["webhooks"], strict=True):
            # the API server adds defaults; nothing of ours is dropped or changed (match conditions included)
            assert {k: stored.get(k) for k in ours} == ours, ours["name"]


async def test_pods_reach_the_webhook_that_their_annotation_and_namespace_choose(
    api: ApiClient, installed: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    # (namespace, annotated) → the pod webhook called (None: none, the pod is admitted untouched)
    cases = [
        (PLAIN_NS, True, names.POD_MUTATING_WEBHOOK),
        (PLAIN_NS, False, None),  # asks for nothing: never sent
        (INJECT_NS, False, names.NAMESPACE_POD_MUTATING_WEBHOOK),
        (INJECT_NS, True, names.POD_MUTATING_WEBHOOK),  # the pod's own annotation decides (and is sent once, below)
        (OPERATOR_NS, True, None),  # the operator's own namespace: never, so a broken operator can be redeployed
    ]
    for i, (namespace, annotated, want) in enumerate(cases):
        got = await pod_route(api, namespace, pod(f"p{i}", annotated=annotated))
        assert got == want, (namespace, annotated)
    # without the selecting label nothing is sent: what keeps these configurations harmless to the other tests
    assert await pod_route(api, PLAIN_NS, pod("other", annotated=True, selected=False)) is None


async def test_failure_policy_ignore_lets_pods_through(api: ApiClient, installed: tuple[Any, Any]) -> None:
    """With the pod-annotation webhook on Ignore (as the chart has it), an annotated pod in an injecting namespace is
    admitted: so the namespace webhook did not match it (no pod goes to both), and a dead operator blocks no pod."""
    reg = client.AdmissionregistrationV1Api(api)
    _, mutating = installed
    index = [h["name"] for h in mutating["webhooks"]].index(names.POD_MUTATING_WEBHOOK)
    await reg.patch_mutating_webhook_configuration(
        CONFIGURATION, [{"op": "replace", "path": f"/webhooks/{index}/failurePolicy", "value": "Ignore"}]
    )
    assert await pod_route(api, INJECT_NS, pod("both", annotated=True)) is None
    assert await pod_route(api, PLAIN_NS, pod("own", annotated=True)) is None
    # the namespace webhook still calls (and fails) for the pods it selects
    assert await pod_route(api, INJECT_NS, pod("ns", annotated=False)) == names.NAMESPACE_POD_MUTATING_WEBHOOK


async def test_collectors_and_allocators_reach_their_webhooks(
    api: ApiClient, crds: list[str], installed: tuple[Any, Any]
) -> None:
    custom = client.CustomObjectsApi(api)
    reg = client.AdmissionregistrationV1Api(api)
    collector = {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "c", "labels": dict(SELECTED)},
        "spec": {"config": {"receivers": {}, "exporters": {}, "service": {"pipelines": {}}}},
    }

    def create_collector(namespace: str = PLAIN_NS) -> Any:
        return custom.create_namespaced_custom_object(
            "opentelemetry.io", "v1beta1", namespace, "opentelemetrycollectors", collector, dry_run="All"
        )

    allocator = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {"name": "t", "labels": dict(SELECTED)},
        "spec": {},
    }
    # mutating webhooks run first
    assert await called(create_collector()) == names.COLLECTOR_MUTATING_WEBHOOK
    assert await called(create_collector(OPERATOR_NS)) is None
    _, mutating = installed
    index = [h["name"] for h in mutating["webhooks"]].index(names.COLLECTOR_MUTATING_WEBHOOK)
    await reg.patch_mutating_webhook_configuration(
        CONFIGURATION, [{"op": "replace", "path": f"/webhooks/{index}/failurePolicy", "value": "Ignore"}]
    )
    assert await called(create_collector()) == names.COLLECTOR_VALIDATING_WEBHOOK
    created = custom.create_namespaced_custom_object(
        "opentelemetry.io", "v1alpha1", PLAIN_NS, "targetallocators", allocator, dry_run="All"
    )
    assert await called(created) == names.ALLOCATOR_VALIDATING_WEBHOOK


async def test_only_spec_changes_reach_the_collector_webhooks(api: ApiClient, crds: list[str]) -> None:
    """An UPDATE that leaves the spec alone (a label here; kopf's annotations, a finalizer removed by hand) is not
    sent, so a stopped operator cannot block it; one that changes the spec, or the target-allocator label, is. The
    collector exists before the configurations (they would refuse its creation) and is unmanaged, so a running
    operator leaves it alone."""
    custom = client.CustomObjectsApi(api)
    group, version, plural, name = "opentelemetry.io", "v1beta1", "opentelemetrycollectors", f"c-{RUN}"
    await ensure_namespace(api, PLAIN_NS)
    body = {
        "apiVersion": f"{group}/{version}",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": name, "labels": dict(SELECTED)},
        "spec": {
            "managementState": "unmanaged",
            "config": {"receivers": {}, "exporters": {}, "service": {"pipelines": {}}},
        },
    }
    await custom.create_namespaced_custom_object(group, version, PLAIN_NS, plural, body)
    reg = client.AdmissionregistrationV1Api(api)
    validating, mutating = build()
    try:
        await reg.create_validating_webhook_configuration(validating)
        await reg.create_mutating_webhook_configuration(mutating)

        def patch(change: dict[str, Any]) -> Any:
            return custom.patch_namespaced_custom_object(
                group,
                version,
                PLAIN_NS,
                plural,
                name,
                change,
                dry_run="All",
                _content_type="application/merge-patch+json",
            )

        assert await called(patch({"metadata": {"labels": {"team": "a"}}})) is None
        assert await called(patch({"metadata": {"finalizers": ["example.com/x"]}})) is None
        assert await called(patch({"spec": {"replicas": 2}})) == names.COLLECTOR_MUTATING_WEBHOOK
        # the link to a TargetAllocator changes what the collector is built with: reviewed like a spec change
        link = {"metadata": {"labels": {names.ALLOCATOR_LINK_LABEL: "ta"}}}
        assert await called(patch(link)) == names.COLLECTOR_MUTATING_WEBHOOK
    finally:
        for delete in (reg.delete_validating_webhook_configuration, reg.delete_mutating_webhook_configuration):
            try:
                await delete(CONFIGURATION)
            except ApiException as err:
                if err.status != 404:
                    raise
        await custom.delete_namespaced_custom_object(group, version, PLAIN_NS, plural, name)


async def test_the_api_server_checks_match_conditions(api: ApiClient) -> None:
    """Acceptance above means something: a malformed expression is refused at create."""
    _, mutating = build()
    broken = copy.deepcopy(mutating)
    broken["metadata"]["name"] = f"{CONFIGURATION}-broken"
    broken["webhooks"][1]["matchConditions"][0]["expression"] = "has(object.metadata.annotations) &&"
    reg = client.AdmissionregistrationV1Api(api)
    with pytest.raises(ApiException) as refused:
        await reg.create_mutating_webhook_configuration(broken, dry_run="All")
    assert refused.value.status == 422
    assert "matchConditions[0].expression" in refused.value.body
