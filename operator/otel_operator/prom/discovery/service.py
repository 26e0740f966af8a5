"""Role `service`, and the service labels that roles endpoints and endpointslice put on their groups."""

from __future__ import annotations

from dataclasses import dataclass

from otel_operator.prom.discovery.common import (
    EMPTY,
    META,
    NAMESPACE,
    Key,
    Obj,
    Role,
    add_metadata_labels,
    join_host_port,
    metadata_of,
    source,
)
from otel_operator.prom.labels import ADDRESS
from otel_operator.prom.model import Labels, TargetGroup

SERVICE_PORT_NAME = META + "service_port_name"
SERVICE_PORT_NUMBER = META + "service_port_number"
SERVICE_PORT_PROTOCOL = META + "service_port_protocol"
SERVICE_TYPE = META + "service_type"
SERVICE_CLUSTER_IP = META + "service_cluster_ip"
SERVICE_EXTERNAL_NAME = META + "service_external_name"
SERVICE_LOADBALANCER_IP = META + "service_loadbalancer_ip"

_DUAL_STACK_POLICIES = frozenset({"PreferDualStack", "RequireDualStack"})


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """The parts of a Service that the endpoint roles read."""

    namespace: str
    name: str
    labels: Labels  # serviceLabels(): namespace, service name, labels and annotations; never mutated
    # ipFamilies[0] of a dual-stack Service: slices of the other family get no targets (Prometheus v3.11+)
    primary_family: str | None = None

    @property
    def key(self) -> Key:
        return self.namespace, self.name


def service_labels(svc: Obj) -> Labels:
    meta = metadata_of(svc)
    labels: Labels = {NAMESPACE: meta.get("namespace") or ""}
    add_metadata_labels(labels, Role.SERVICE, meta)
    return labels


def service_info(svc: Obj) -> ServiceInfo:
    meta = metadata_of(svc)
    spec: Obj = svc.get("spec") or EMPTY
    families = spec.get("ipFamilies") or ()
    primary = families[0] if families and spec.get("ipFamilyPolicy") in _DUAL_STACK_POLICIES else None
    return ServiceInfo(meta.get("namespace") or "", meta.get("name") or "", service_labels(svc), primary)


def service_source(namespace: str, name: str) -> str:
    return source("svc", namespace, name)


def build_service(svc: Obj, *, namespace_labels: Labels | None = None) -> TargetGroup:
    """Role `service`: one target per `spec.ports[]`, addressed `<name>.<namespace>.svc:<port>`.

    ExternalName services carry `external_name` instead of `cluster_ip` (headless ones have `cluster_ip: None`);
    LoadBalancer services add `spec.loadBalancerIP` (Prometheus v3.14 and earlier), empty when unset.
    """
    meta = metadata_of(svc)
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    spec: Obj = svc.get("spec") or EMPTY
    group = service_labels(svc)
    if namespace_labels:
        group.update(namespace_labels)
    svc_type = spec.get("type") or ""
    host = f"{name}.{namespace}.svc"
    targets: list[Labels] = []
    for port in spec.get("ports") or ():
        number = str(int(port.get("port") or 0))
        target: Labels = {
            ADDRESS: join_host_port(host, number),
            SERVICE_PORT_NAME: port.get("name") or "",
            SERVICE_PORT_NUMBER: number,
            SERVICE_PORT_PROTOCOL: port.get("protocol") or "",
            SERVICE_TYPE: svc_type,
        }
        if svc_type == "ExternalName":
            target[SERVICE_EXTERNAL_NAME] = spec.get("externalName") or ""
        else:
            target[SERVICE_CLUSTER_IP] = spec.get("clusterIP") or ""
        if svc_type == "LoadBalancer":
            target[SERVICE_LOADBALANCER_IP] = spec.get("loadBalancerIP") or ""
        targets.append(target)
    return TargetGroup(service_source(namespace, name), tuple(targets), group)
