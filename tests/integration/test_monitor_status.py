"""The allocator's Accepted condition on the monitors it skips, on a real kube-apiserver (issue 18): a monitor over
a target cap or invalid gets `Accepted=False` in its `status.bindings` entry for the collector, beside any entry of
prometheus-operator's, which is never touched; the entry goes when the monitor is served again.

The allocator runs as `otel-operator allocator` in a subprocess, configured as the operator configures it for the
collector `opentelemetry/otelcol` (its collector selector names it), with a per-job cap of 5 targets.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from tests.integration.conftest import ensure_namespace, wait_for
from tests.integration.test_big_monitor import Process, endpoint_slice, run_allocator, service, service_monitor

pytestmark = pytest.mark.integration

NS = "monstatus"
GROUP, VERSION, PLURAL = "monitoring.coreos.com", "v1", "servicemonitors"
OURS = {"group": "opentelemetry.io", "resource": "opentelemetrycollectors", "name": "otelcol", "namespace": NS}
PROMETHEUS = {
    "group": "monitoring.coreos.com",
    "resource": "prometheuses",
    "name": "k8s",
    "namespace": "monitoring",
    "conditions": [{"type": "Accepted", "status": "True", "reason": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
}


def allocator(kubeconfig: str, folder: Path) -> contextlib.AbstractContextManager[Process]:
    return run_allocator(
        folder,
        {
            "kube_config_file_path": kubeconfig,
            "collector_selector": {
                "matchLabels": {
                    "app.kubernetes.io/component": "opentelemetry-collector",
                    "app.kubernetes.io/instance": f"{NS}.otelcol",
                    "app.kubernetes.io/managed-by": "opentelemetry-operator",
                    "app.kubernetes.io/part-of": "opentelemetry",
                }
            },
            "collector_namespace": NS,
            "prometheus_cr": {"enabled": True, "service_monitor_selector": {}, "allow_namespaces": [NS]},
            "target_limits": {"per_job": 5},
        },
    )


async def bindings(api: ApiClient, name: str) -> list[dict[str, Any]]:
    obj = await client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
    return list((obj.get("status") or {}).get("bindings") or [])


def ours(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    found = [e for e in entries if {k: e.get(k) for k in OURS} == OURS]
    assert len(found) <= 1, entries
    return found[0] if found else None


async def test_a_skipped_monitor_says_so_in_its_status_and_prometheus_operators_entry_stays(
    api: ApiClient, crds: list[str], kubeconfig: str, tmp_path: Path
) -> None:
    objects = client.CustomObjectsApi(api)
    await ensure_namespace(api, NS)
    with contextlib.suppress(ApiException):
        await client.CoreV1Api(api).create_namespaced_service(NS, service(NS, "wide"))
    discovery = client.DiscoveryV1Api(api)
    await discovery.create_namespaced_endpoint_slice(NS, endpoint_slice(NS, "wide-0", "wide", 10, 1))  # 10 > 5
    await objects.create_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, service_monitor(NS, "wide", one_port=True)
    )
    bad = service_monitor(NS, "bad", one_port=True)
    bad["spec"]["endpoints"][0]["relabelings"] = [{"sourceLabels": ["__address__"], "regex": "(", "action": "keep"}]
    await objects.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, bad)
    # prometheus-operator's own entry, as a Prometheus selecting the same monitor would have written it
    await objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "wide", [{"op": "add", "path": "/status", "value": {"bindings": [PROMETHEUS]}}]
    )

    with allocator(kubeconfig, tmp_path) as ta:

        async def condition(name: str) -> dict[str, Any] | None:
            entry = ours(await bindings(api, name))
            return entry["conditions"][0] if entry else None

        over = await wait_for(lambda: condition("wide"), 60, what="the over-cap monitor's condition")
        assert (over["type"], over["status"], over["reason"]) == ("Accepted", "False", "TargetLimitExceeded")
        assert "10 targets, over the allocator's per_job target cap of 5" in over["message"]
        assert over["observedGeneration"] == 1
        assert [e for e in await bindings(api, "wide") if ours([e]) is None] == [PROMETHEUS]
        invalid = await wait_for(lambda: condition("bad"), 30, what="the invalid monitor's condition")
        assert (invalid["status"], invalid["reason"]) == ("False", "InvalidScrapeResource")
        assert "regex" in invalid["message"]

        # fixed: the slice shrinks under the cap, the regex is repaired; our entries go, prometheus-operator's stays
        await discovery.replace_namespaced_endpoint_slice(
            "wide-0", NS, {**endpoint_slice(NS, "wide-0", "wide", 3, 1), "metadata": await _meta(discovery)}
        )
        await objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            PLURAL,
            "bad",
            {"spec": {"endpoints": [{"port": "p0"}]}},
            _content_type="application/merge-patch+json",
        )

        async def cleared() -> bool:
            return ours(await bindings(api, "wide")) is None and ours(await bindings(api, "bad")) is None

        await wait_for(cleared, 60, what="our entries removed once both are served")
        assert await bindings(api, "wide") == [PROMETHEUS]
        log = ta.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert "could not write the status" not in log, log[-3000:]


async def _meta(discovery: client.DiscoveryV1Api) -> dict[str, Any]:
    live = await discovery.read_namespaced_endpoint_slice("wide-0", NS)
    return {
        "name": "wide-0",
        "namespace": NS,
        "labels": live.metadata.labels,
        "resourceVersion": live.metadata.resource_version,
    }
