"""Role `endpoints`: one group per core/v1 Endpoints object, one target per subset port x address.

Differs from endpointslice in small ways that matter: ready and not-ready addresses both become targets, told
apart by `…_endpoint_ready`; a port's name and protocol are always set (possibly empty); and a target backed by
a Pod takes `…_pod_container_port_protocol` from the endpoint port, not from the container port.
"""

from __future__ import annotations

from collections.abc import Mapping

from otel_operator.prom.discovery.common import (
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
from otel_operator.prom.discovery.endpointslice import PodPorts, note_pod_ports, pod_ref, uncovered_count
from otel_operator.prom.discovery.pod import CONTAINER_PORT_PROTOCOL, PodInfo
from otel_operator.prom.discovery.service import ServiceInfo
from otel_operator.prom.labels import ADDRESS
from otel_operator.prom.model import Labels, TargetGroup

PORT_NAME = META + "endpoint_port_name"
PORT_PROTOCOL = META + "endpoint_port_protocol"
READY = META + "endpoint_ready"
NODE_NAME = META + "endpoint_node_name"
HOSTNAME = META + "endpoint_hostname"
TARGET_KIND = META + "endpoint_address_target_kind"
TARGET_NAME = META + "endpoint_address_target_name"

_NO_PODS: Mapping[Key, PodInfo] = {}


def endpoints_source(namespace: str, name: str) -> str:
    return source("endpoints", namespace, name)


def node_ref(addr: Obj) -> str | None:
    """The node whose metadata `attach_metadata.node` adds: `nodeName` first, else a Node targetRef's name."""
    if (name := addr.get("nodeName")) is not None:
        return str(name)
    ref = addr.get("targetRef")
    if ref is not None and ref.get("kind") == "Node":
        return ref.get("name") or ""
    return None


def _address_labels(addr: Obj, nodes: Mapping[str, Labels] | None) -> Labels:
    labels: Labels = {}
    if (ref := addr.get("targetRef")) is not None:
        labels[TARGET_KIND] = ref.get("kind") or ""
        labels[TARGET_NAME] = ref.get("name") or ""
    if (node_name := addr.get("nodeName")) is not None:
        labels[NODE_NAME] = node_name
    if hostname := addr.get("hostname"):
        labels[HOSTNAME] = hostname
    if nodes is not None and (node := node_ref(addr)) is not None and (node_labels := nodes.get(node)) is not None:
        labels.update(node_labels)
    return labels


def count_endpoints_targets(eps: Obj, *, pods: Mapping[Key, PodInfo] = _NO_PODS) -> int:
    """How many targets `build_endpoints` makes of this object, counted without making them (addresses x ports per
    subset, plus the known pods' uncovered container ports)."""
    count = 0
    seen: PodPorts = {}
    for subset in eps.get("subsets") or ():
        addresses = [*(subset.get("addresses") or ()), *(subset.get("notReadyAddresses") or ())]
        ports = subset.get("ports") or ()
        if not addresses or not ports:
            continue
        count += len(addresses) * len(ports)
        numbers = {int(port.get("port") or 0) for port in ports}
        for addr in addresses:
            note_pod_ports(addr.get("targetRef"), numbers, pods, seen)
    return count + uncovered_count(seen)


def build_endpoints(
    eps: Obj,
    *,
    service: ServiceInfo | None = None,
    pods: Mapping[Key, PodInfo] = _NO_PODS,
    nodes: Mapping[str, Labels] | None = None,
    namespace_labels: Labels | None = None,
) -> TargetGroup:
    """Build the group Prometheus v3 sends for one Endpoints object.

    `service` is the Service of the same namespace and name, if known; the other arguments are as for
    `build_endpointslice`. Endpoints marked over-capacity are not special here (Prometheus only logs them).
    """
    meta = metadata_of(eps)
    namespace = meta.get("namespace") or ""
    group: Labels = {NAMESPACE: namespace}
    if service is not None:
        group.update(service.labels)
    add_metadata_labels(group, Role.ENDPOINTS, meta)
    if namespace_labels:
        group.update(namespace_labels)

    targets: list[Labels] = []
    seen: dict[Key, tuple[PodInfo, set[int]]] = {}
    for subset in eps.get("subsets") or ():
        # each address's labels once per subset, not once per port
        addresses = [
            (addr, _address_labels(addr, nodes), ready)
            for field, ready in (("addresses", "true"), ("notReadyAddresses", "false"))
            for addr in subset.get(field) or ()
        ]
        if not addresses:
            continue
        # ready addresses, then not-ready ones, for each port in turn (Prometheus's loop order)
        for port in subset.get("ports") or ():
            number = int(port.get("port") or 0)
            text = str(number)
            name, protocol = port.get("name") or "", port.get("protocol") or ""
            for addr, addr_labels, ready in addresses:
                target: Labels = {
                    ADDRESS: join_host_port(addr.get("ip") or "", text),
                    PORT_NAME: name,
                    PORT_PROTOCOL: protocol,
                    READY: ready,
                    **addr_labels,
                }
                ref = pod_ref(addr.get("targetRef"))
                pod = pods.get(ref) if ref is not None else None
                if pod is not None:
                    entry = seen.get(pod.key)
                    if entry is None:
                        entry = seen[pod.key] = (pod, set())
                    entry[1].add(number)
                    target.update(pod.labels)
                    container = pod.by_port.get(number)
                    if container is not None:
                        target.update(container)
                        target[CONTAINER_PORT_PROTOCOL] = protocol
                targets.append(target)

    for pod, seen_ports in seen.values():
        for number, address, container in pod.extras:  # none when the pod has no IP
            if number not in seen_ports:
                targets.append({ADDRESS: address, **container, **pod.labels})
    return TargetGroup(endpoints_source(namespace, meta.get("name") or ""), tuple(targets), group)
