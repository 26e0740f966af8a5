"""Role `pod`, and the pod labels that roles endpoints and endpointslice merge into targets backed by a Pod.

A Pod is parsed once into a `PodInfo` (its shared labels and container ports precomputed); every role that
refers to the pod reuses it, so an EndpointSlice with a hundred endpoints does not re-read a hundred pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from otel_operator.prom.discovery.common import (
    EMPTY,
    META,
    NAMESPACE,
    AttachMetadata,
    Key,
    Obj,
    Role,
    add_metadata_labels,
    bool_label,
    controller_ref,
    join_host_port,
    metadata_of,
    source,
)
from otel_operator.prom.labels import ADDRESS
from otel_operator.prom.model import Labels, TargetGroup

POD_IP = META + "pod_ip"
POD_READY = META + "pod_ready"
POD_PHASE = META + "pod_phase"
POD_NODE_NAME = META + "pod_node_name"
POD_HOST_IP = META + "pod_host_ip"
POD_UID = META + "pod_uid"
POD_CONTROLLER_KIND = META + "pod_controller_kind"
POD_CONTROLLER_NAME = META + "pod_controller_name"
POD_DEPLOYMENT_NAME = META + "pod_deployment_name"
POD_JOB_NAME = META + "pod_job_name"
POD_CRONJOB_NAME = META + "pod_cronjob_name"
CONTAINER_NAME = META + "pod_container_name"
CONTAINER_IMAGE = META + "pod_container_image"
CONTAINER_ID = META + "pod_container_id"
CONTAINER_INIT = META + "pod_container_init"
CONTAINER_PORT_NAME = META + "pod_container_port_name"
CONTAINER_PORT_NUMBER = META + "pod_container_port_number"
CONTAINER_PORT_PROTOCOL = META + "pod_container_port_protocol"


@dataclass(frozen=True, slots=True)
class ContainerPort:
    number: int
    name: str
    protocol: str


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    image: str
    init: bool  # from spec.initContainers (which Prometheus appends after spec.containers)
    id: str  # from status.(init)containerStatuses by name; "" when not reported yet
    ports: tuple[ContainerPort, ...]


@dataclass(frozen=True, slots=True)
class PodInfo:
    """The parts of a Pod that discovery reads. Equal infos produce equal targets in every role."""

    namespace: str
    name: str
    ip: str  # status.podIP
    node_name: str  # spec.nodeName
    labels: Labels  # podLabels(): shared by roles pod, endpoints and endpointslice; never mutated
    containers: tuple[Container, ...]  # spec.containers then spec.initContainers
    controller: tuple[str, str] | None = None  # (kind, name) of the controlling owner
    # Derived from the fields above (so left out of equality), precomputed for the endpoint roles:
    # container labels for an endpoint port number (the last container with a matching port wins, as in Prometheus)
    by_port: Mapping[int, Labels] = field(default_factory=dict, compare=False, repr=False)
    # (number, address, container labels) per container port: the targets for the ports no endpoint port covers
    # (none without a pod IP)
    extras: tuple[tuple[int, str, Labels], ...] = field(default=(), compare=False, repr=False)

    @property
    def key(self) -> Key:
        return self.namespace, self.name


def _ready(status: Obj) -> str:
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            return str(cond.get("status") or "").lower()
    return "unknown"


def _container_ids(statuses: Iterable[Obj] | None) -> dict[str, str]:
    ids: dict[str, str] = {}
    for s in statuses or ():
        ids.setdefault(s.get("name") or "", s.get("containerID") or "")  # the first status of a name wins
    return ids


def pod_info(pod: Obj) -> PodInfo:
    """Parse one Pod (as the API returns it) into what discovery needs."""
    meta = metadata_of(pod)
    spec: Obj = pod.get("spec") or EMPTY
    status: Obj = pod.get("status") or EMPTY
    ip = status.get("podIP") or ""
    labels: Labels = {
        POD_IP: ip,
        POD_READY: _ready(status),
        POD_PHASE: status.get("phase") or "",
        POD_NODE_NAME: spec.get("nodeName") or "",
        POD_HOST_IP: status.get("hostIP") or "",
        POD_UID: meta.get("uid") or "",
    }
    add_metadata_labels(labels, Role.POD, meta)
    controller = controller_ref(meta)
    if controller is not None:
        if controller[0]:
            labels[POD_CONTROLLER_KIND] = controller[0]
        if controller[1]:
            labels[POD_CONTROLLER_NAME] = controller[1]

    containers: list[Container] = []
    for init, specs, statuses in (
        (False, spec.get("containers"), status.get("containerStatuses")),
        (True, spec.get("initContainers"), status.get("initContainerStatuses")),
    ):
        if not specs:
            continue
        ids = _container_ids(statuses)
        for c in specs:
            name = c.get("name") or ""
            ports = tuple(
                ContainerPort(int(p.get("containerPort") or 0), p.get("name") or "", p.get("protocol") or "")
                for p in c.get("ports") or ()
            )
            containers.append(Container(name, c.get("image") or "", init, ids.get(name, ""), ports))

    by_port: dict[int, Labels] = {}
    extras: list[tuple[int, str, Labels]] = []
    for c in containers:
        matched: set[int] = set()
        for p in c.ports:
            port_labels = {
                CONTAINER_NAME: c.name,
                CONTAINER_IMAGE: c.image,
                CONTAINER_PORT_NAME: p.name,
                CONTAINER_PORT_NUMBER: str(p.number),
                CONTAINER_PORT_PROTOCOL: p.protocol,
                CONTAINER_INIT: bool_label(c.init),
            }
            # Prometheus breaks out of a container's port loop at the first match, then goes on to later
            # containers: so the first port of a container wins, and a later container overrides an earlier one.
            if p.number not in matched:
                matched.add(p.number)
                by_port[p.number] = port_labels
            if ip:
                extras.append((p.number, join_host_port(ip, p.number), port_labels))
    return PodInfo(
        namespace=meta.get("namespace") or "",
        name=meta.get("name") or "",
        ip=ip,
        node_name=spec.get("nodeName") or "",
        labels=labels,
        containers=tuple(containers),
        controller=controller,
        by_port=by_port,
        extras=tuple(extras),
    )


def workload_labels(
    pod: PodInfo,
    attach: AttachMetadata,
    replicasets: Mapping[Key, tuple[str, str] | None],
    jobs: Mapping[Key, tuple[str, str] | None],
) -> Labels:
    """`attach_metadata` deployment/job/cronjob (Prometheus v3.11+): names of the workloads above the pod.

    `replicasets` and `jobs` map the known ReplicaSets and Jobs (namespace, name) to their controller's (kind,
    name). A Deployment or CronJob is named only when the ReplicaSet or Job in between is known; a Job's own name
    comes straight from the pod's controller reference.
    """
    labels: Labels = {}
    if pod.controller is None:
        return labels
    kind, name = pod.controller
    if kind == "ReplicaSet" and attach.deployment:
        owner = replicasets.get((pod.namespace, name))
        if owner is not None and owner[0] == "Deployment":
            labels[POD_DEPLOYMENT_NAME] = owner[1]
    elif kind == "Job":
        if attach.job:
            labels[POD_JOB_NAME] = name
        if attach.cronjob:
            owner = jobs.get((pod.namespace, name))
            if owner is not None and owner[0] == "CronJob":
                labels[POD_CRONJOB_NAME] = owner[1]
    return labels


def with_workload_labels(
    pod: PodInfo,
    attach: AttachMetadata,
    replicasets: Mapping[Key, tuple[str, str] | None],
    jobs: Mapping[Key, tuple[str, str] | None],
) -> PodInfo:
    """`pod` with `workload_labels` added to its pod labels (the same object when there are none)."""
    extra = workload_labels(pod, attach, replicasets, jobs)
    return replace(pod, labels={**pod.labels, **extra}) if extra else pod


def pod_source(namespace: str, name: str) -> str:
    return source("pod", namespace, name)


def build_pod(
    pod: PodInfo,
    *,
    nodes: Mapping[str, Labels] | None = None,
    namespace_labels: Labels | None = None,
) -> TargetGroup:
    """Role `pod`: one target per container port, or one per port-less container (address = bare pod IP).

    `nodes` is given only with `attach_metadata.node` (node name → `node_metadata_labels`); a pod whose node is not
    known yet yields an empty group, as in Prometheus. `namespace_labels` comes from `attach_metadata.namespace`.
    No phase filtering: Succeeded and Failed pods with an IP still have targets.
    """
    src = pod_source(pod.namespace, pod.name)
    if not pod.ip:  # starting, or evicted
        return TargetGroup(src)
    group: Labels = dict(pod.labels)
    group[NAMESPACE] = pod.namespace
    if nodes is not None:
        node = nodes.get(pod.node_name)
        if node is None:
            return TargetGroup(src)
        group.update(node)
    if namespace_labels:
        group.update(namespace_labels)

    targets: list[Labels] = []
    for c in pod.containers:
        init = bool_label(c.init)
        if not c.ports:
            targets.append(
                {
                    ADDRESS: pod.ip,
                    CONTAINER_NAME: c.name,
                    CONTAINER_ID: c.id,
                    CONTAINER_IMAGE: c.image,
                    CONTAINER_INIT: init,
                }
            )
            continue
        for p in c.ports:
            number = str(p.number)
            targets.append(
                {
                    ADDRESS: join_host_port(pod.ip, number),
                    CONTAINER_NAME: c.name,
                    CONTAINER_ID: c.id,
                    CONTAINER_IMAGE: c.image,
                    CONTAINER_PORT_NUMBER: number,
                    CONTAINER_PORT_NAME: p.name,
                    CONTAINER_PORT_PROTOCOL: p.protocol,
                    CONTAINER_INIT: init,
                }
            )
    return TargetGroup(src, tuple(targets), group)
