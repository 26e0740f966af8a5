"""The generated CRDs on a real kube-apiserver: accepted, served, and agreeing with our offline validator."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.api.validation import validate
from tests.integration.conftest import ensure_namespace, server_version
from tests.unit.test_validation import BAD_COLLECTORS, COLLECTOR, SERVICE_MONITOR

pytestmark = pytest.mark.integration


async def dry_run_create(api: ApiClient, body: dict[str, Any], group: str, version: str, plural: str) -> None:
    await client.CustomObjectsApi(api).create_namespaced_custom_object(
        group,
        version,
        body["metadata"]["namespace"],
        plural,
        body,
        dry_run="All",
        field_validation="Strict",
    )


async def test_all_crds_are_established_and_served(api: ApiClient, crds: list[str]) -> None:
    assert sorted(crds) == [
        "opentelemetrycollectors.opentelemetry.io",
        "podmonitors.monitoring.coreos.com",
        "probes.monitoring.coreos.com",
        "scrapeconfigs.monitoring.coreos.com",
        "servicemonitors.monitoring.coreos.com",
        "targetallocators.opentelemetry.io",
    ]
    resources = await client.CustomObjectsApi(api).get_api_resources("opentelemetry.io", "v1beta1")
    (collectors,) = [r for r in resources.resources if r.name == "opentelemetrycollectors"]
    assert collectors.short_names == ["otelcol", "otelcols"]
    assert "opentelemetrycollectors/scale" in {r.name for r in resources.resources}


async def test_the_guides_resources_are_accepted(api: ApiClient, crds: list[str]) -> None:
    await ensure_namespace(api, "opentelemetry")
    await dry_run_create(api, copy.deepcopy(COLLECTOR), "opentelemetry.io", "v1beta1", "opentelemetrycollectors")
    await dry_run_create(api, copy.deepcopy(SERVICE_MONITOR), "monitoring.coreos.com", "v1", "servicemonitors")


async def test_the_api_server_applies_the_same_defaults(api: ApiClient, crds: list[str]) -> None:
    from otel_operator.api.validation import apply_defaults

    await ensure_namespace(api, "opentelemetry")
    body = copy.deepcopy(COLLECTOR)
    body["metadata"]["name"] = "defaults-probe"
    stored = await client.CustomObjectsApi(api).create_namespaced_custom_object(
        "opentelemetry.io",
        "v1beta1",
        "opentelemetry",
        "opentelemetrycollectors",
        body,
        dry_run="All",
    )
    assert stored["spec"] == apply_defaults(body)["spec"]


@pytest.mark.parametrize(("edit", "field"), [(c[1], c[2]) for c in BAD_COLLECTORS], ids=[c[0] for c in BAD_COLLECTORS])
async def test_the_api_server_rejects_what_we_reject_at_the_same_field(
    api: ApiClient,
    crds: list[str],
    edit: Callable[[dict[str, Any]], None],
    field: str,
) -> None:
    await ensure_namespace(api, "opentelemetry")
    body = copy.deepcopy(COLLECTOR)
    edit(body)
    errors = validate(body)
    assert [e.field for e in errors] == [field]
    if errors[0].message.startswith("unknown field") and await server_version(api) < (1, 25):
        # before strict field validation (1.25) the API server prunes unknown fields instead of rejecting them
        stored = await client.CustomObjectsApi(api).create_namespaced_custom_object(
            "opentelemetry.io", "v1beta1", "opentelemetry", "opentelemetrycollectors", body, dry_run="All"
        )
        parent, _, leaf = field.rpartition(".")
        node = stored
        for part in parent.split("."):
            node = node[part]
        assert leaf not in node
        return
    with pytest.raises(ApiException) as rejected:
        await dry_run_create(api, body, "opentelemetry.io", "v1beta1", "opentelemetrycollectors")
    assert rejected.value.status in (400, 422)
    status = json.loads(rejected.value.body)
    said = status.get("message", "") + json.dumps((status.get("details") or {}).get("causes", []))
    # 1.20 writes list paths without indices (spec.ports.port); current releases write spec.ports[0].port
    assert field in said or re.sub(r"\[\d+\]", "", field) in said, said
