"""Reading what a diagnosis needs from the API server (the only part of `diagnose` that does I/O)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from otel_operator.diagnose.model import Inputs
from otel_operator.reconcile.kube import Kube, KubeError

COLLECTORS = "/apis/opentelemetry.io/v1beta1/namespaces/{namespace}/opentelemetrycollectors"
MONITORS = {
    "ServiceMonitor": "/apis/monitoring.coreos.com/v1/servicemonitors",
    "PodMonitor": "/apis/monitoring.coreos.com/v1/podmonitors",
}


log = logging.getLogger("otel_operator.diagnose")


async def _list(kube: Kube, path: str, attempts: int = 5) -> list[dict[str, Any]]:
    """The items at `path`; a 429 (an API server still starting, or throttling) is retried a few times."""
    for attempt in range(attempts):
        try:
            return await kube.list(path, "")
        except KubeError as err:
            if err.status != 429 or attempt == attempts - 1:
                raise
            await asyncio.sleep(1)
    return []


async def gather(kube: Kube, namespace: str) -> Inputs:
    """The collectors of `namespace` and, cluster-wide, the Namespaces, monitors, Services, EndpointSlices and
    Pods. A monitor kind whose API is not installed is named in `missing_kinds`. KubeError for anything else."""
    monitors: dict[str, list[dict[str, Any]]] = {}
    missing: list[str] = []
    for kind, path in MONITORS.items():
        try:
            monitors[kind] = await _list(kube, path)
        except KubeError as err:
            if err.status != 404:
                raise
            monitors[kind] = []
            missing.append(kind)
    return Inputs(
        collectors=await _list(kube, COLLECTORS.format(namespace=namespace)),
        namespaces=await _list(kube, "/api/v1/namespaces"),
        service_monitors=monitors["ServiceMonitor"],
        pod_monitors=monitors["PodMonitor"],
        services=await _list(kube, "/api/v1/services"),
        endpoint_slices=await _list(kube, "/apis/discovery.k8s.io/v1/endpointslices"),
        pods=await _list(kube, "/api/v1/pods"),
        endpoints=await _list(kube, "/api/v1/endpoints"),
        secrets=await _referenced(kube, [*monitors["ServiceMonitor"], *monitors["PodMonitor"]]),
        missing_kinds=tuple(missing),
    )


async def _referenced(kube: Kube, monitors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Secrets and ConfigMaps in the monitors' namespaces (credentials and TLS material they may refer to), as
    the allocator resolves them. Only those namespaces are read; one that may not be read is skipped (the monitor
    then shows as rejected, with the API's reason in the log)."""
    found: list[dict[str, Any]] = []
    for namespace in sorted({str((m.get("metadata") or {}).get("namespace") or "") for m in monitors} - {""}):
        for kind, plural in (("Secret", "secrets"), ("ConfigMap", "configmaps")):
            try:
                items = await _list(kube, f"/api/v1/namespaces/{namespace}/{plural}")
            except KubeError as err:
                if err.status != 403:
                    raise
                log.warning("cannot read %s in namespace %s: %s", plural, namespace, err)
                continue
            found += [{**item, "kind": kind} for item in items]
    return found


async def allocator_assignments(base: str) -> dict[str, dict[str, Any]]:
    """Ask a running allocator (`base`: its HTTP root) for every job's targets by collector, as its API serves
    them: `{job: /jobs/<job>/targets answer}`."""
    base = base.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.get(f"{base}/jobs") as response:
            response.raise_for_status()
            jobs = await response.json(content_type=None)
        if not isinstance(jobs, dict):
            raise ValueError(f"{base}/jobs did not answer a JSON object")
        out: dict[str, dict[str, Any]] = {}
        for job, entry in jobs.items():
            link = entry.get("_link") if isinstance(entry, dict) else None
            if not isinstance(link, str):
                continue
            async with http.get(base + link) as response:
                response.raise_for_status()
                out[str(job)] = await response.json(content_type=None)
        return out


def render_text(findings: list[Any]) -> str:
    """One line per finding, ✓ or ✗, the fix indented under a problem; a summary line last."""
    lines = []
    for f in findings:
        lines.append(f"{'✓' if f.ok else '✗'} {f.subject}: {f.what}")
        if not f.ok and f.fix:
            lines.append(f"    fix: {f.fix}")
    count = sum(1 for f in findings if not f.ok)
    lines.append(f"{count} problem{'s' if count != 1 else ''} found" if count else "no problems found")
    return "\n".join(lines)
