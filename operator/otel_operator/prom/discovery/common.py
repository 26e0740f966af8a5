"""Rules every Kubernetes discovery role shares: object metadata labels (names sanitised), addresses.

Objects are plain dicts as the API server returns them in JSON (camelCase keys). A JSON field that is absent
corresponds to a nil pointer in Prometheus's Go types, which is why "absent" and "empty" are kept apart here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from otel_operator.prom.labels import META_PREFIX, sanitize_label_name
from otel_operator.prom.model import Labels

Obj = Mapping[str, Any]  # one Kubernetes object (or sub-object) as decoded JSON
Key = tuple[str, str]  # (namespace, name)

META = META_PREFIX + "kubernetes_"
NAMESPACE = META + "namespace"
PRESENT = "true"  # the value of every *present* label
EMPTY: Obj = {}


class Role(StrEnum):
    POD = "pod"
    SERVICE = "service"
    ENDPOINTS = "endpoints"
    ENDPOINTSLICE = "endpointslice"
    NODE = "node"  # a role, and the metadata prefix of attach_metadata.node
    INGRESS = "ingress"
    NAMESPACE = "namespace"  # only as a metadata prefix (attach_metadata.namespace), not a role


@dataclass(frozen=True, slots=True)
class AttachMetadata:
    """`kubernetes_sd_configs[].attach_metadata`: extra labels from objects related to each target.

    `node` applies to roles pod, endpoints and endpointslice; `namespace` (Prometheus v3.6+) to every namespaced
    role (all but node);
    `deployment`, `job` and `cronjob` (v3.11+) add `__meta_kubernetes_pod_{deployment,job,cronjob}_name` wherever
    pod labels appear (roles pod, endpoints, endpointslice).
    """

    node: bool = False
    namespace: bool = False
    deployment: bool = False
    job: bool = False
    cronjob: bool = False

    @property
    def workloads(self) -> bool:
        return self.deployment or self.job or self.cronjob


def join_host_port(host: str, port: int | str) -> str:
    """Go's `net.JoinHostPort`: IPv6 literals (anything with a colon) are bracketed."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class _MetaKeys:
    name: str
    label: str
    labelpresent: str
    annotation: str
    annotationpresent: str


_META_KEYS = {
    role: _MetaKeys(
        f"{META}{role}_name",
        f"{META}{role}_label_",
        f"{META}{role}_labelpresent_",
        f"{META}{role}_annotation_",
        f"{META}{role}_annotationpresent_",
    )
    for role in Role
}


def add_metadata_labels(out: Labels, role: Role, metadata: Obj, *, with_name: bool = True) -> None:
    """`__meta_kubernetes_<role>_name` and the label/labelpresent/annotation/annotationpresent expansions.

    Two keys that sanitise alike collide; Go's map order picks the winner at random, here the later key wins.
    """
    keys = _META_KEYS[role]
    if with_name:
        out[keys.name] = metadata.get("name") or ""
    add_map_labels(out, metadata.get("labels"), keys.label, keys.labelpresent)
    add_map_labels(out, metadata.get("annotations"), keys.annotation, keys.annotationpresent)


def add_map_labels(out: Labels, values: Mapping[str, str] | None, prefix: str, present_prefix: str) -> None:
    """`<prefix><key>: value` and `<present_prefix><key>: "true"` for each entry of a string map, keys sanitised:
    how Prometheus exposes Kubernetes labels, annotations and topology. Later keys win a sanitised collision."""
    if values:
        for k, v in values.items():
            ln = sanitize_label_name(k)
            out[prefix + ln] = v
            out[present_prefix + ln] = PRESENT


def metadata_of(obj: Obj) -> Obj:
    meta: Obj | None = obj.get("metadata")
    return meta if meta is not None else EMPTY


def key_of(obj: Obj) -> Key:
    meta = metadata_of(obj)
    return meta.get("namespace") or "", meta.get("name") or ""


def node_metadata_labels(node: Obj) -> Labels:
    """What `attach_metadata.node` adds for one Node: `__meta_kubernetes_node_name`, labels and annotations."""
    out: Labels = {}
    add_metadata_labels(out, Role.NODE, metadata_of(node))
    return out


def namespace_metadata_labels(namespace: Obj) -> Labels:
    """What `attach_metadata.namespace` adds for one Namespace: its labels and annotations, but no `_name`."""
    out: Labels = {}
    add_metadata_labels(out, Role.NAMESPACE, metadata_of(namespace), with_name=False)
    return out


def controller_ref(metadata: Obj) -> tuple[str, str] | None:
    """(kind, name) of the first ownerReference with `controller: true` (apimachinery's `GetControllerOf`)."""
    for ref in metadata.get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("kind") or "", ref.get("name") or ""
    return None


def source(kind: str, namespace: str, name: str) -> str:
    """`targetgroup.Group.Source` for a namespaced object (`svc/…` for services, as Prometheus spells it)."""
    return f"{kind}/{namespace}/{name}"


def bool_label(value: object) -> str:
    """Go's `strconv.FormatBool` for a decoded JSON boolean."""
    return "true" if value else "false"
