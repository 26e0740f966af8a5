"""Role `node`: one group per Node, with one target, the node's kubelet.

As Prometheus v3.14 builds it: the group carries the node's metadata (`__meta_kubernetes_node_name`, labels,
annotations), its provider ID and one label per status condition; the target is the node's preferred address with
the kubelet's port (`status.daemonEndpoints.kubeletEndpoint.Port`, 0 when unset) and `instance` set to the node's
name, plus the first address of each address type.
"""

from __future__ import annotations

from otel_operator.prom.discovery.common import (
    EMPTY,
    META,
    Obj,
    Role,
    add_metadata_labels,
    join_host_port,
    metadata_of,
)
from otel_operator.prom.labels import ADDRESS, INSTANCE, sanitize_label_name
from otel_operator.prom.model import Labels, TargetGroup

PROVIDER_ID = META + "node_provider_id"
CONDITION = META + "node_condition_"
ADDRESS_PREFIX = META + "node_address_"

# which address becomes the target's, best first (Prometheus's nodeAddress, after kubernetes' pkg/util/node)
ADDRESS_PREFERENCE = ("InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname")


def node_source(name: str) -> str:
    """`node/<name>`: Nodes are cluster-scoped, so their sources have no namespace."""
    return f"node/{name}"


def node_addresses(node: Obj) -> dict[str, str]:
    """The first address of each type in `status.addresses`, types in first-seen order."""
    status: Obj = node.get("status") or EMPTY
    first: dict[str, str] = {}
    for address in status.get("addresses") or ():
        first.setdefault(address.get("type") or "", address.get("address") or "")
    return first


def preferred_address(addresses: dict[str, str]) -> str | None:
    """The address Prometheus scrapes the kubelet at; None when the node has none of the known types."""
    for kind in ADDRESS_PREFERENCE:
        if kind in addresses:
            return addresses[kind]
    return None


def kubelet_port(node: Obj) -> int:
    status: Obj = node.get("status") or EMPTY
    endpoints: Obj = status.get("daemonEndpoints") or EMPTY
    kubelet: Obj = endpoints.get("kubeletEndpoint") or EMPTY
    return int(kubelet.get("Port") or 0)  # the API spells this field with a capital P


def node_labels(node: Obj) -> Labels:
    """The group labels: provider ID (even when empty), one label per condition, then the node's metadata."""
    spec: Obj = node.get("spec") or EMPTY
    status: Obj = node.get("status") or EMPTY
    labels: Labels = {PROVIDER_ID: spec.get("providerID") or ""}
    for condition in status.get("conditions") or ():
        kind = str(condition.get("type") or "").lower()
        labels[CONDITION + sanitize_label_name(kind)] = str(condition.get("status") or "").lower()
    add_metadata_labels(labels, Role.NODE, metadata_of(node))
    return labels


def build_node(node: Obj) -> TargetGroup:
    """The group Prometheus v3 sends for one Node.

    A node with no address of a known type gets an empty group here. Prometheus sends nothing for it, so a
    Prometheus that started after the node lost its addresses has no group for it, while one that saw the node
    before keeps its stale group; the empty group gives the former's answer in both cases.
    """
    name = metadata_of(node).get("name") or ""
    src = node_source(name)
    addresses = node_addresses(node)
    host = preferred_address(addresses)
    if host is None:
        return TargetGroup(src)
    target: Labels = {ADDRESS: join_host_port(host, kubelet_port(node)), INSTANCE: name}
    for kind, address in addresses.items():
        target[ADDRESS_PREFIX + sanitize_label_name(kind)] = address
    return TargetGroup(src, (target,), node_labels(node))
