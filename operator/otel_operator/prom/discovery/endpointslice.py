"""Role `endpointslice`: one group per EndpointSlice, one target per endpoint x port x address.

Reads discovery.k8s.io/v1 and the older v1beta1 alike. The shapes differ only where Prometheus's labels come from:
v1 has `nodeName`, `zone` and `deprecatedTopology`; v1beta1 has `nodeName` and `topology` (no `zone`). Both
topology maps yield the `…_endpoint_topology_*` labels; `hints` (either version) yields no label.
"""

from __future__ import annotations

from collections.abc import Mapping

from otel_operator.prom.discovery.common import (
    EMPTY,
    META,
    NAMESPACE,
    Key,
    Obj,
    Role,
    add_map_labels,
    add_metadata_labels,
    bool_label,
    join_host_port,
    metadata_of,
    source,
)
from otel_operator.prom.discovery.pod import PodInfo
from otel_operator.prom.discovery.service import ServiceInfo
from otel_operator.prom.labels import ADDRESS
from otel_operator.prom.model import Labels, TargetGroup

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

ADDRESS_TYPE = META + "endpointslice_address_type"
PORT_NAME = META + "endpointslice_port_name"
PORT_PROTOCOL = META + "endpointslice_port_protocol"
PORT = META + "endpointslice_port"
PORT_APP_PROTOCOL = META + "endpointslice_port_app_protocol"
CONDITIONS_READY = META + "endpointslice_endpoint_conditions_ready"
CONDITIONS_SERVING = META + "endpointslice_endpoint_conditions_serving"
CONDITIONS_TERMINATING = META + "endpointslice_endpoint_conditions_terminating"
HOSTNAME = META + "endpointslice_endpoint_hostname"
NODE_NAME = META + "endpointslice_endpoint_node_name"
ZONE = META + "endpointslice_endpoint_zone"
TARGET_KIND = META + "endpointslice_address_target_kind"
TARGET_NAME = META + "endpointslice_address_target_name"
TOPOLOGY = META + "endpointslice_endpoint_topology_"
TOPOLOGY_PRESENT = META + "endpointslice_endpoint_topology_present_"

_CONDITIONS = (("ready", CONDITIONS_READY), ("serving", CONDITIONS_SERVING), ("terminating", CONDITIONS_TERMINATING))
_NO_PODS: Mapping[Key, PodInfo] = {}


def endpointslice_source(namespace: str, name: str) -> str:
    return source("endpointslice", namespace, name)


def service_name_of(eps: Obj) -> str | None:
    """The Service a slice belongs to (its `kubernetes.io/service-name` label), if it names one."""
    labels = metadata_of(eps).get("labels")
    return labels.get(SERVICE_NAME_LABEL) if labels else None


# while counting an object's targets: each pod it points at, with the port numbers the object gives it
PodPorts = dict[Key, tuple[PodInfo, set[int]]]


def pod_ref(ref: Obj | None) -> Key | None:
    """The (namespace, name) a targetRef points at when it is a Pod: the key Prometheus looks the pod up by."""
    if ref is None or ref.get("kind") != "Pod":
        return None
    return ref.get("namespace") or "", ref.get("name") or ""


def note_pod_ports(ref: Obj | None, numbers: set[int], pods: Mapping[Key, PodInfo], seen: PodPorts) -> None:
    """Note that the pod `ref` points at (when known) has the ports `numbers` in the object being counted."""
    key = pod_ref(ref)
    pod = pods.get(key) if key is not None else None
    if pod is not None:
        seen.setdefault(pod.key, (pod, set()))[1].update(numbers)


def uncovered_count(seen: PodPorts) -> int:
    """The targets Prometheus adds for the seen pods' container ports that no endpoint port covers."""
    return sum(1 for pod, covered in seen.values() for number, _, _ in pod.extras if number not in covered)


def node_ref(ep: Obj) -> str | None:
    """The node whose metadata `attach_metadata.node` adds: a Node targetRef's name, else `nodeName`."""
    ref = ep.get("targetRef")
    if ref is not None and ref.get("kind") == "Node":
        return ref.get("name") or ""
    name: str | None = ep.get("nodeName")
    return name


def _port_labels(port: Obj) -> tuple[int | None, str | None, Labels]:
    labels: Labels = {}
    if (name := port.get("name")) is not None:
        labels[PORT_NAME] = name
    if (protocol := port.get("protocol")) is not None:
        labels[PORT_PROTOCOL] = protocol
    number: int | None = port.get("port")
    text = None
    if number is not None:
        number = int(number)
        text = str(number)
        labels[PORT] = text
    if (app := port.get("appProtocol")) is not None:
        labels[PORT_APP_PROTOCOL] = app
    return number, text, labels


def _endpoint_labels(ep: Obj, nodes: Mapping[str, Labels] | None) -> Labels:
    labels: Labels = {}
    conditions: Obj = ep.get("conditions") or EMPTY
    for field, label in _CONDITIONS:
        if (value := conditions.get(field)) is not None:
            labels[label] = bool_label(value)
    if (hostname := ep.get("hostname")) is not None:
        labels[HOSTNAME] = hostname
    if (ref := ep.get("targetRef")) is not None:
        labels[TARGET_KIND] = ref.get("kind") or ""
        labels[TARGET_NAME] = ref.get("name") or ""
    if (node_name := ep.get("nodeName")) is not None:
        labels[NODE_NAME] = node_name
    if (zone := ep.get("zone")) is not None:
        labels[ZONE] = zone
    # v1 calls it deprecatedTopology, v1beta1 topology; an object has at most one of them
    add_map_labels(labels, ep.get("deprecatedTopology") or ep.get("topology"), TOPOLOGY, TOPOLOGY_PRESENT)
    if nodes is not None and (node := node_ref(ep)) is not None and (node_labels := nodes.get(node)) is not None:
        labels.update(node_labels)
    return labels


def count_endpointslice_targets(
    eps: Obj, *, service: ServiceInfo | None = None, pods: Mapping[Key, PodInfo] = _NO_PODS
) -> int:
    """How many targets `build_endpointslice` makes of this slice, counted without making them: endpoint addresses
    x ports, plus the known pods' container ports that no slice port covers. Cheap (no label dict is built), so a
    caller can refuse a slice whose targets would not fit before paying for them."""
    address_type = eps.get("addressType") or ""
    if service is not None and service.primary_family is not None and address_type != service.primary_family:
        return 0
    ports = eps.get("ports") or ()
    if not ports:
        return 0
    numbers = {int(p["port"]) for p in ports if p.get("port") is not None}
    count = 0
    seen: PodPorts = {}
    for ep in eps.get("endpoints") or ():
        addresses = ep.get("addresses")
        if not addresses:
            continue
        count += len(addresses) * len(ports)
        note_pod_ports(ep.get("targetRef"), numbers, pods, seen)
    return count + uncovered_count(seen)


def build_endpointslice(
    eps: Obj,
    *,
    service: ServiceInfo | None = None,
    pods: Mapping[Key, PodInfo] = _NO_PODS,
    nodes: Mapping[str, Labels] | None = None,
    namespace_labels: Labels | None = None,
) -> TargetGroup:
    """Build the group Prometheus v3 sends for one EndpointSlice.

    `service` is the Service named by the slice's `kubernetes.io/service-name` label, if known; `pods` maps
    (namespace, name) to the known Pods; `nodes` is given only with `attach_metadata.node`, `namespace_labels`
    only with `attach_metadata.namespace`. Every endpoint yields targets whatever its conditions (they are
    labels only); an endpoint whose targetRef resolves to a known Pod gets the pod's labels and the labels of the
    container port matching the endpoint port, and the pod's container ports that no slice port covers become
    extra targets (in first-seen pod order; Go's map order makes Prometheus's order random).
    """
    meta = metadata_of(eps)
    namespace = meta.get("namespace") or ""
    address_type = eps.get("addressType") or ""
    src = endpointslice_source(namespace, meta.get("name") or "")
    group: Labels = {NAMESPACE: namespace, ADDRESS_TYPE: address_type}
    add_metadata_labels(group, Role.ENDPOINTSLICE, meta)
    if service is not None:
        group.update(service.labels)
    if namespace_labels:
        group.update(namespace_labels)
    if service is not None and service.primary_family is not None and address_type != service.primary_family:
        return TargetGroup(src, (), group)  # the secondary family of a dual-stack Service would duplicate targets

    ports = [_port_labels(p) for p in eps.get("ports") or ()]
    targets: list[Labels] = []
    seen: dict[Key, tuple[PodInfo, set[int]]] = {}
    for ep in eps.get("endpoints") or ():
        addresses = ep.get("addresses")
        if not addresses or not ports:
            continue
        ep_labels = _endpoint_labels(ep, nodes)
        ref = pod_ref(ep.get("targetRef"))
        pod = pods.get(ref) if ref is not None else None
        if pod is None:
            for _, text, port_labels in ports:
                for addr in addresses:
                    address = addr if text is None else join_host_port(addr, text)
                    targets.append({ADDRESS: address, **port_labels, **ep_labels})
            continue
        entry = seen.get(pod.key)
        if entry is None:
            entry = seen[pod.key] = (pod, set())
        for number, text, port_labels in ports:
            container = pod.by_port.get(number) if number is not None else None
            if number is not None:
                entry[1].add(number)
            for addr in addresses:
                address = addr if text is None else join_host_port(addr, text)
                target = {ADDRESS: address, **port_labels, **ep_labels, **pod.labels}
                if container is not None:
                    target.update(container)
                targets.append(target)

    for pod, seen_ports in seen.values():
        for number, address, container in pod.extras:  # none when the pod has no IP
            if number not in seen_ports:
                targets.append({ADDRESS: address, **container, **pod.labels})
    return TargetGroup(src, tuple(targets), group)
