"""What the cluster offers that shapes a build: which optional APIs it serves (prometheus-operator's ServiceMonitor,
OpenShift's Route, the Gateway API's HTTPRoute) and where its API server listens (the allocator's NetworkPolicy lets
it reach only that). Asked of the API server, remembered for a short while: CRDs come and go rarely, reconciles
are frequent."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from otel_operator.reconcile.kube import OPTIONAL_APIS, Kube, KubeError

CACHE_SECONDS = 30.0


async def served_apis(kube: Kube, candidates: Iterable[str] = OPTIONAL_APIS) -> frozenset[str]:
    """The `group/version`s among `candidates` that the API server serves (a 404 means not installed)."""
    served = set()
    for group_version in sorted(candidates):
        try:
            await kube.request("GET", f"/apis/{group_version}")
        except KubeError as err:
            if err.status in (404, 503):  # 503: an aggregated API that is down is as good as absent
                continue
            raise
        served.add(group_version)
    return frozenset(served)


async def api_server_endpoints(kube: Kube) -> tuple[tuple[str, int], ...]:
    """(ip, port) of the `kubernetes` Service: its cluster IPs and every endpoint (EndpointSlices of
    default/kubernetes), sorted."""
    path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    try:
        slices = await kube.list(path, "kubernetes.io/service-name=kubernetes")
    except KubeError as err:
        if err.status in (403, 404):  # not ours to read: the NetworkPolicy then does not restrict egress
            return ()
        raise
    found: set[tuple[str, int]] = set()
    # The Service's own addresses too: some network plugins (AWS VPC CNI) check egress before the Service address
    # is translated to an endpoint, and the allocator dials the Service.
    try:
        service = await kube.get("/api/v1/namespaces/default/services/kubernetes")
    except KubeError as err:
        if err.status != 403:
            raise
        service = None
    if service is not None:
        spec = service.get("spec") or {}
        ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
        service_ports = [int(p["port"]) for p in spec.get("ports") or [] if p.get("port")]
        found.update((str(ip), port) for ip in ips if ip and ip != "None" for port in service_ports)
    for item in slices:
        ports = [int(p["port"]) for p in item.get("ports") or [] if p.get("port") and p.get("name") in (None, "https")]
        for endpoint in item.get("endpoints") or []:
            for address in endpoint.get("addresses") or []:
                found.update((str(address), port) for port in ports)
    return tuple(sorted(found))


@dataclass(slots=True)
class ClusterFacts:
    """The two answers above, cached for CACHE_SECONDS."""

    apis: frozenset[str] = frozenset()
    endpoints: tuple[tuple[str, int], ...] = ()
    _at: float = field(default=-1e18)

    async def refresh(self, kube: Kube, *, now: float | None = None) -> ClusterFacts:
        moment = time.monotonic() if now is None else now
        if moment - self._at >= CACHE_SECONDS:
            self.apis = await served_apis(kube)
            self.endpoints = await api_server_endpoints(kube)
            self._at = moment
        return self
