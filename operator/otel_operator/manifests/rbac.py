"""The allocator's ClusterRole and ClusterRoleBinding: exactly what `otel-operator allocator` reads for this
configuration (upstream creates none and leaves RBAC to the user; its allocator then fails to watch).

What the allocator reads, and so what is granted (get, list, watch unless said otherwise):
- pods: always (it discovers its collectors' pods);
- for the static scrape configs' `kubernetes_sd_configs`: the role's objects (pod: pods; service: services;
  endpoints: endpoints, pods, services; endpointslice: endpointslices.discovery.k8s.io, pods, services) and, for
  `attach_metadata`, nodes (`node`), namespaces (`namespace`), replicasets.apps (`deployment`) and jobs.batch
  (`cronjob`);
- with `prometheus_cr.enabled`: servicemonitors, podmonitors, probes and scrapeconfigs (monitoring.coreos.com),
  namespaces (namespace selectors), secrets and configmaps (credentials and CAs the monitors reference), what the
  monitors' scrape configs discover (endpoints, endpointslices, pods, services, nodes: a monitor may attach
  node metadata, and ingresses: a Probe's or a ScrapeConfig's role ingress), create on events (it reports
  monitors it rejects as Events) and patch on the monitors' status (its Accepted condition on a skipped monitor,
  allocator/monitor_status.py).

A ClusterRole because the allocator watches across namespaces. It binds to the ServiceAccount the allocator runs
as, also one the resource names (permissions only add up; nothing is taken away from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from otel_operator.manifests import naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.params import AllocatorParams

RBAC_API: Final = "rbac.authorization.k8s.io/v1"
READ: Final = ("get", "list", "watch")
_ROLE_READS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "pod": (("", "pods"),),
    "service": (("", "services"),),
    "endpoints": (("", "endpoints"), ("", "pods"), ("", "services")),
    "endpointslice": (("discovery.k8s.io", "endpointslices"), ("", "pods"), ("", "services")),
    "node": (("", "nodes"),),
    "ingress": (("networking.k8s.io", "ingresses"),),
}
_ATTACH_READS: Final[Mapping[str, tuple[str, str]]] = {
    "node": ("", "nodes"),
    "namespace": ("", "namespaces"),
    "deployment": ("apps", "replicasets"),
    "cronjob": ("batch", "jobs"),
}
_MONITORING_READS: Final = (
    ("monitoring.coreos.com", "servicemonitors"),
    ("monitoring.coreos.com", "podmonitors"),
    ("monitoring.coreos.com", "probes"),
    ("monitoring.coreos.com", "scrapeconfigs"),
    ("", "namespaces"),
    ("", "secrets"),
    ("", "configmaps"),
    ("", "endpoints"),
    ("discovery.k8s.io", "endpointslices"),
    ("", "pods"),
    ("", "services"),
    ("", "nodes"),
    ("networking.k8s.io", "ingresses"),  # a Probe's or ScrapeConfig's role ingress
)
MONITOR_STATUSES: Final = ("servicemonitors/status", "podmonitors/status", "probes/status", "scrapeconfigs/status")
_GROUP_ORDER: Final = ("", "discovery.k8s.io", "apps", "batch", "networking.k8s.io", "monitoring.coreos.com")


def _sd_reads(scrape_config: Mapping[str, Any]) -> set[tuple[str, str]]:
    reads: set[tuple[str, str]] = set()
    for sd in scrape_config.get("kubernetes_sd_configs") or []:
        if not isinstance(sd, Mapping):
            continue
        reads.update(_ROLE_READS.get(str(sd.get("role") or ""), ()))
        attach = sd.get("attach_metadata") or {}
        if isinstance(attach, Mapping):
            reads.update(read for key, read in _ATTACH_READS.items() if attach.get(key) is True)
    return reads


def rules(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The least-privilege rules for an allocator running `config` (targetallocator.yaml as data)."""
    reads: set[tuple[str, str]] = {("", "pods")}
    for scrape_config in (config.get("config") or {}).get("scrape_configs") or []:
        if isinstance(scrape_config, Mapping):
            reads |= _sd_reads(scrape_config)
    cr = (config.get("prometheus_cr") or {}).get("enabled") is True
    if cr:
        reads.update(_MONITORING_READS)
    out = []
    for group in sorted({g for g, _ in reads}, key=lambda g: (_GROUP_ORDER.index(g) if g in _GROUP_ORDER else 99, g)):
        resources = sorted(r for g, r in reads if g == group)
        out.append({"apiGroups": [group], "resources": resources, "verbs": list(READ)})
    if cr:
        out.append({"apiGroups": [""], "resources": ["events"], "verbs": ["create"]})
        out.append({"apiGroups": ["monitoring.coreos.com"], "resources": list(MONITOR_STATUSES), "verbs": ["patch"]})
    return out


def allocator_cluster_role(a: AllocatorParams) -> Object | None:
    if not a.options.allocator_rbac:
        return None
    name = naming.allocator_cluster_role(a.namespace, a.name)
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRole",
        "metadata": a.resource.metadata(name, a.labels, namespaced=False),
        "rules": rules(a.config),
    }


def allocator_cluster_role_binding(a: AllocatorParams) -> Object | None:
    if not a.options.allocator_rbac:
        return None
    name = naming.allocator_cluster_role(a.namespace, a.name)
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRoleBinding",
        "metadata": a.resource.metadata(name, a.labels, namespaced=False),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": a.service_account, "namespace": a.namespace}],
    }
