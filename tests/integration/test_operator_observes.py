"""`otel-operator run` against a real API server: it sees the guide's collector and records what it saw."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from tests.integration.conftest import ROOT, ensure_namespace, wait_for

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL, NS = "opentelemetry.io", "v1beta1", "opentelemetrycollectors", "opentelemetry"


def guide(kind: str) -> dict[str, Any]:
    docs = yaml.safe_load_all(Path(ROOT / "examples" / "troubleshooting-guide.yaml").read_text())
    return copy.deepcopy(next(d for d in docs if d["kind"] == kind))


async def observed(api: ApiClient, name: str) -> tuple[int, int | None]:
    obj = await client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
    return obj["metadata"]["generation"], (obj.get("status") or {}).get("observedGeneration")


async def test_operator_writes_observed_generation(api: ApiClient, operator: None) -> None:
    await ensure_namespace(api, NS)
    objects = client.CustomObjectsApi(api)
    collector = guide("OpenTelemetryCollector")
    await objects.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, collector)

    async def caught_up() -> tuple[int, int | None] | None:
        gen, seen = await observed(api, "otelcol")
        return (gen, seen) if seen == gen else None

    assert await wait_for(caught_up, what="observedGeneration == 1") == (1, 1)

    # a spec change bumps the generation; the operator follows it
    await objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "otelcol",
        {"spec": {"replicas": 2}},
        _content_type="application/merge-patch+json",
    )
    assert await wait_for(caught_up, what="observedGeneration == 2") == (2, 2)

    # the scale subresource reads and writes spec.replicas, so `kubectl scale` works
    scale = await objects.get_namespaced_custom_object_scale(GROUP, VERSION, NS, PLURAL, "otelcol")
    assert scale["spec"]["replicas"] == 2
