"""Incremental Kubernetes discovery for one role: feed it watch events, get back the target groups that changed.

One `DiscoveryIndex` plays the part of one Prometheus `kubernetes_sd_configs` entry: it keeps the objects the
role reads (its own objects plus the Pods, Services, Nodes, Namespaces, ReplicaSets and Jobs they refer to) and,
after each event, rebuilds only the groups that read the changed object, found through reverse indexes
(roles node and ingress read only their own objects, and ingress its Namespace):

- Pod → the EndpointSlices / Endpoints whose targetRefs name it (its own group in role pod);
- Service → its EndpointSlices (by the `kubernetes.io/service-name` label) or its Endpoints (same name);
- Node → the groups whose targets carry its metadata (`attach_metadata.node`);
- Namespace → every group in it (`attach_metadata.namespace`);
- ReplicaSet / Job → the Pods it controls, then as for a Pod (`attach_metadata.deployment` / `cronjob`).

Bounds (the allocator's target caps): with `max_group_targets` set, an EndpointSlice or Endpoints object whose
targets would number more is counted but not built: its group keeps its labels, has no targets, and `withheld`
maps its source to the count, so nothing the size of a runaway Service is ever materialised. With `namespaces`
set, only the own objects in those namespaces are built at all (the others are kept, unbuilt, until a reader asks
for their namespace): a Service no job reads costs its objects, not its targets.

A rebuilt group is returned only when it differs from the one last returned for its source. An empty group
(`TargetGroup(source)`) means "remove the group with this source", as Prometheus's discoverers send on delete.

The result always equals what Prometheus computes from the same objects. It can be fresher than a running
Prometheus: Prometheus's endpointslice role, for one, does not rebuild a slice when only a Pod changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from otel_operator.prom.discovery.common import (
    AttachMetadata,
    Key,
    Obj,
    Role,
    controller_ref,
    key_of,
    metadata_of,
    namespace_metadata_labels,
    node_metadata_labels,
)
from otel_operator.prom.discovery.endpoints import build_endpoints, count_endpoints_targets, endpoints_source
from otel_operator.prom.discovery.endpoints import node_ref as endpoints_node_ref
from otel_operator.prom.discovery.endpointslice import (
    build_endpointslice,
    count_endpointslice_targets,
    endpointslice_source,
    pod_ref,
    service_name_of,
)
from otel_operator.prom.discovery.endpointslice import node_ref as endpointslice_node_ref
from otel_operator.prom.discovery.ingress import build_ingress, ingress_source
from otel_operator.prom.discovery.node import build_node, node_source
from otel_operator.prom.discovery.pod import PodInfo, build_pod, pod_info, pod_source, with_workload_labels
from otel_operator.prom.discovery.service import ServiceInfo, build_service, service_info, service_source
from otel_operator.prom.model import Labels, TargetGroup

DISCOVERED_ROLES = (Role.POD, Role.SERVICE, Role.ENDPOINTS, Role.ENDPOINTSLICE, Role.NODE, Role.INGRESS)
# the roles whose targets come from Pods: only these attach node and workload metadata
_POD_ROLES = frozenset({Role.POD, Role.ENDPOINTS, Role.ENDPOINTSLICE})
_CLUSTER_SCOPED = frozenset({"Node", "Namespace"})

_OWN_KIND = {
    Role.POD: "Pod",
    Role.SERVICE: "Service",
    Role.ENDPOINTS: "Endpoints",
    Role.ENDPOINTSLICE: "EndpointSlice",
    Role.NODE: "Node",
    Role.INGRESS: "Ingress",
}
_SOURCE: dict[Role, Callable[[str, str], str]] = {
    Role.POD: pod_source,
    Role.SERVICE: service_source,
    Role.ENDPOINTS: endpoints_source,
    Role.ENDPOINTSLICE: endpointslice_source,
    Role.NODE: lambda _namespace, name: node_source(name),
    Role.INGRESS: ingress_source,
}

_Ref = TypeVar("_Ref", Key, str, tuple[str, str, str])  # what a reverse index is keyed by
Controller = tuple[str, str] | None  # (kind, name) of an object's controlling owner


@dataclass(frozen=True, slots=True)
class _Reads:
    """What one of the role's own objects reads besides itself: the reverse indexes are built from these."""

    pods: frozenset[Key] = frozenset()
    service: Key | None = None
    nodes: frozenset[str] = frozenset()


_NOTHING = _Reads()


class DiscoveryIndex:
    """The state of one Kubernetes discovery role, updated one object at a time.

    Not thread-safe; feed it from one task. Objects are dicts as the API returns them; `upsert` takes the kind
    from the object's `kind` or from the `kind` argument (list responses leave it out of their items). Objects of
    kinds the role does not read (see `kinds`) are ignored.
    """

    def __init__(self, role: Role | str, attach_metadata: AttachMetadata | None = None) -> None:
        self.role = Role(role)
        if self.role not in DISCOVERED_ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(DISCOVERED_ROLES)}")
        attach = attach_metadata or AttachMetadata()
        self.attach_metadata = attach
        with_pods = self.role in _POD_ROLES  # Prometheus ignores node and workload metadata for the others
        self._with_nodes = attach.node and with_pods
        self._with_namespaces = attach.namespace and self.role is not Role.NODE  # nodes are in no namespace
        self._with_workloads = attach.workloads and with_pods
        self._own_kind = _OWN_KIND[self.role]
        self._source = _SOURCE[self.role]

        self._objects: dict[Key, Obj] = {}  # own EndpointSlices / Endpoints / Services / Nodes / Ingresses (not Pods)
        self._pods: dict[Key, PodInfo] = {}  # with workload labels attached
        self._pod_base: dict[Key, PodInfo] = {}  # without them; kept only when workload metadata is on
        self._services: dict[Key, ServiceInfo] = {}
        self._nodes: dict[str, Labels] = {}
        self._namespaces: dict[str, Labels] = {}
        self._controllers: dict[str, dict[Key, Controller]] = {"ReplicaSet": {}, "Job": {}}
        self._groups: dict[Key, TargetGroup] = {}  # the last non-empty group returned, per own object
        self.max_group_targets = 0  # 0: no bound; else bigger EndpointSlices / Endpoints are counted, not built
        self.withheld: dict[str, int] = {}  # source → target count of each group counted but not built
        self._namespaces_built: frozenset[str] | None = None  # None: build every namespace's objects

        self._reads: dict[Key, _Reads] = {}
        self._by_pod: dict[Key, dict[Key, None]] = {}
        self._by_service: dict[Key, dict[Key, None]] = {}
        self._by_node: dict[str, dict[Key, None]] = {}
        self._by_namespace: dict[str, dict[Key, None]] = {}
        # (reverse indexes map to dicts, not sets: insertion order makes the order of returned groups repeatable)
        self._pods_by_controller: dict[tuple[str, str, str], dict[Key, None]] = {}  # (kind, namespace, name) → pods

        # what to do with an object (None: it was deleted) of each kind the role reads
        self._handlers: dict[str, Callable[[Key, Obj | None], list[TargetGroup]]] = {}
        if self.role is Role.POD:
            self._handlers["Pod"] = self._on_pod
        else:
            self._handlers[self._own_kind] = self._on_own
        if self.role in (Role.ENDPOINTS, Role.ENDPOINTSLICE):
            self._handlers |= {"Pod": self._on_pod, "Service": self._on_service}
        if self._with_nodes:
            self._handlers["Node"] = self._on_node
        if self._with_namespaces:
            self._handlers["Namespace"] = self._on_namespace
        if self._with_workloads and attach.deployment:
            self._handlers["ReplicaSet"] = partial(self._on_controller, "ReplicaSet")
        if self._with_workloads and attach.cronjob:  # only for the CronJob above a Job: the Job is the pod's controller
            self._handlers["Job"] = partial(self._on_controller, "Job")

    # ------------------------------------------------------------------------------------------ public API

    @property
    def kinds(self) -> frozenset[str]:
        """The object kinds this role reads: what its watcher should watch."""
        return frozenset(self._handlers)

    def upsert(self, obj: Obj, kind: str | None = None) -> list[TargetGroup]:
        """Add or update one object; return the groups whose content changed because of it."""
        kind = kind or obj.get("kind")
        if not kind:
            raise ValueError("object has no kind; pass kind=")
        handler = self._handlers.get(kind)
        return handler(key_of(obj), obj) if handler is not None else []

    def delete(self, kind: str, namespace: str, name: str) -> list[TargetGroup]:
        """Forget one object (cluster-scoped kinds ignore `namespace`); return the groups that changed."""
        handler = self._handlers.get(kind)
        return handler(("", name) if kind in _CLUSTER_SCOPED else (namespace, name), None) if handler else []

    def replace(self, kind: str, objs: Iterable[Obj]) -> list[TargetGroup]:
        """Make the objects of one kind exactly `objs` (after a re-list); return each changed group once."""
        changed: dict[str, TargetGroup] = {}
        present: set[Key] = set()
        for obj in objs:
            present.add(key_of(obj))  # ("", name) for Nodes and Namespaces, as _known() lists them
            for group in self.upsert(obj, kind):
                changed[group.source] = group
        for key in self._known(kind) - present:
            for group in self.delete(kind, *key):
                changed[group.source] = group
        return list(changed.values())

    def set_bounds(self, max_group_targets: int, namespaces: frozenset[str] | None) -> list[TargetGroup]:
        """Change the bounds (see the module doc); returns the groups that changed (built, withheld or dropped)."""
        old_limit, old_namespaces = self.max_group_targets, self._namespaces_built
        self.max_group_targets, self._namespaces_built = max_group_targets, namespaces
        if old_limit == max_group_targets and old_namespaces == namespaces:
            return []
        keys = self._pods if self.role is Role.POD else self._objects
        if old_limit == max_group_targets and self.role is not Role.NODE:
            wanted = [k for k in keys if _inside(k[0], old_namespaces) != _inside(k[0], namespaces)]
        else:
            wanted = list(keys)
        return self._rebuild(wanted)

    def groups(self) -> list[TargetGroup]:
        """Every current non-empty group."""
        return list(self._groups.values())

    def group(self, source: str) -> TargetGroup | None:
        """The current group with this source, if it has any content."""
        _, _, rest = source.partition("/")
        if self.role is Role.NODE:
            key: Key = ("", rest)  # node/<name>
        else:
            namespace, _, name = rest.partition("/")
            key = (namespace, name)
        group = self._groups.get(key)
        return group if group is not None and group.source == source else None

    # ------------------------------------------------------------------------------------------ event handlers

    def _on_own(self, key: Key, obj: Obj | None) -> list[TargetGroup]:
        """An object of the role's own kind (role pod's Pods go to `_on_pod`)."""
        if obj is None:
            self._objects.pop(key, None)
            self._index(key, None)
        else:
            self._objects[key] = obj
            self._index(key, self._reads_of(obj))
        return self._rebuild((key,))

    def _on_pod(self, key: Key, obj: Obj | None) -> list[TargetGroup]:
        return self._set_pod(key, pod_info(obj) if obj is not None else None)

    def _on_service(self, key: Key, obj: Obj | None) -> list[TargetGroup]:
        info = service_info(obj) if obj is not None else None
        if self._services.get(key) == info:
            return []
        if info is None:
            del self._services[key]
        else:
            self._services[key] = info
        return self._rebuild(self._by_service.get(key, ()))

    def _on_node(self, key: Key, obj: Obj | None) -> list[TargetGroup]:
        labels = node_metadata_labels(obj) if obj is not None else None
        return self._set_shared(self._nodes, self._by_node, key[1], labels)

    def _on_namespace(self, key: Key, obj: Obj | None) -> list[TargetGroup]:
        labels = namespace_metadata_labels(obj) if obj is not None else None
        return self._set_shared(self._namespaces, self._by_namespace, key[1], labels)

    def _on_controller(self, kind: str, key: Key, obj: Obj | None) -> list[TargetGroup]:
        """A ReplicaSet or Job: store its own controller, and refresh the Pods it controls."""
        store = self._controllers[kind]
        if obj is None:
            if key not in store:
                return []
            del store[key]
        else:
            controller = controller_ref(metadata_of(obj))
            if key in store and store[key] == controller:
                return []
            store[key] = controller
        rebuild: dict[Key, None] = {}  # ordered and without repeats: pods of one ReplicaSet share their slices
        for pod_key in tuple(self._pods_by_controller.get((kind, *key), ())):
            info = self._with_workload_labels(self._pod_base[pod_key])
            rebuild.update(dict.fromkeys(self._store_pod(pod_key, info)))
        return self._rebuild(rebuild)

    # ------------------------------------------------------------------------------------------ internals

    def _set_pod(self, key: Key, base: PodInfo | None) -> list[TargetGroup]:
        """Store (or, with None, drop) a Pod and rebuild the groups that read it."""
        if self._with_workloads:
            old_base = self._pod_base.get(key)
            if old_base == base:
                return []
            old_controller = _controller_key(old_base)
            if old_controller != _controller_key(base):
                if old_controller is not None:
                    _unlink(self._pods_by_controller, old_controller, key)
                if (new_controller := _controller_key(base)) is not None:
                    self._pods_by_controller.setdefault(new_controller, {})[key] = None
            if base is None:
                del self._pod_base[key]
            else:
                self._pod_base[key] = base
        info = self._with_workload_labels(base) if base is not None else None
        return self._rebuild(self._store_pod(key, info))

    def _store_pod(self, key: Key, info: PodInfo | None) -> Iterable[Key]:
        """Store a Pod as discovery sees it; the own objects to rebuild (none if nothing discovery reads changed)."""
        old = self._pods.get(key)
        if old == info:
            return ()  # only fields discovery does not read changed (most status updates)
        if info is None:
            del self._pods[key]
        else:
            self._pods[key] = info
        if self.role is not Role.POD:
            return tuple(self._by_pod.get(key, ()))
        if info is None:
            self._index(key, None)
        else:
            nodes = frozenset((info.node_name,)) if self._with_nodes else frozenset()
            self._index(key, _Reads(nodes=nodes) if nodes else _NOTHING)
        return (key,)

    def _with_workload_labels(self, base: PodInfo) -> PodInfo:
        if not self._with_workloads:
            return base
        controllers = self._controllers
        return with_workload_labels(base, self.attach_metadata, controllers["ReplicaSet"], controllers["Job"])

    def _set_shared(
        self, store: dict[str, Labels], readers: dict[str, dict[Key, None]], name: str, labels: Labels | None
    ) -> list[TargetGroup]:
        """Store (or, with None, drop) a Node's or Namespace's labels and rebuild the groups that carry them."""
        if store.get(name) == labels:
            return []
        if labels is None:
            del store[name]
        else:
            store[name] = labels
        return self._rebuild(readers.get(name, ()))

    def _reads_of(self, obj: Obj) -> _Reads:
        if self.role not in (Role.ENDPOINTS, Role.ENDPOINTSLICE):
            return _NOTHING
        pods: set[Key] = set()
        nodes: set[str] = set()
        if self.role is Role.ENDPOINTSLICE:
            svc = service_name_of(obj)
            service = (key_of(obj)[0], svc) if svc is not None else None
            for ep in obj.get("endpoints") or ():
                if (ref := pod_ref(ep.get("targetRef"))) is not None:
                    pods.add(ref)
                if self._with_nodes and (node := endpointslice_node_ref(ep)) is not None:
                    nodes.add(node)
        else:  # endpoints: the Service of the same name
            service = key_of(obj)
            for subset in obj.get("subsets") or ():
                for field in ("addresses", "notReadyAddresses"):
                    for addr in subset.get(field) or ():
                        if (ref := pod_ref(addr.get("targetRef"))) is not None:
                            pods.add(ref)
                        if self._with_nodes and (node := endpoints_node_ref(addr)) is not None:
                            nodes.add(node)
        return _Reads(frozenset(pods), service, frozenset(nodes))

    def _index(self, key: Key, reads: _Reads | None) -> None:
        """Point the reverse indexes at what `key` now reads (None: `key` is gone)."""
        old = self._reads.get(key)
        if old == reads:
            return
        if old is not None:
            for pod in old.pods:
                _unlink(self._by_pod, pod, key)
            if old.service is not None:
                _unlink(self._by_service, old.service, key)
            for node in old.nodes:
                _unlink(self._by_node, node, key)
        if reads is None:
            self._reads.pop(key, None)
            _unlink(self._by_namespace, key[0], key)
            return
        self._reads[key] = reads
        for pod in reads.pods:
            self._by_pod.setdefault(pod, {})[key] = None
        if reads.service is not None:
            self._by_service.setdefault(reads.service, {})[key] = None
        for node in reads.nodes:
            self._by_node.setdefault(node, {})[key] = None
        self._by_namespace.setdefault(key[0], {})[key] = None

    def _build(self, key: Key) -> TargetGroup:
        if self.role is not Role.NODE and not _inside(key[0], self._namespaces_built):
            return TargetGroup(self._source(*key))  # no reader wants this namespace: nothing to build
        namespace_labels = self._namespaces.get(key[0]) if self._with_namespaces else None
        nodes = self._nodes if self._with_nodes else None
        if self.role is Role.POD:
            pod = self._pods.get(key)
            return (
                TargetGroup(pod_source(*key))
                if pod is None
                else build_pod(pod, nodes=nodes, namespace_labels=namespace_labels)
            )
        obj = self._objects.get(key)
        if obj is None:
            return TargetGroup(self._source(*key))
        if self.role in (Role.ENDPOINTS, Role.ENDPOINTSLICE):
            return self._build_endpoints(key, obj, nodes, namespace_labels)
        if self.role is Role.NODE:
            return build_node(obj)
        build_own = build_service if self.role is Role.SERVICE else build_ingress
        return build_own(obj, namespace_labels=namespace_labels)

    def _build_endpoints(
        self, key: Key, obj: Obj, nodes: Mapping[str, Labels] | None, namespace_labels: Labels | None
    ) -> TargetGroup:
        """An EndpointSlice's or Endpoints' group; over `max_group_targets`, its labels only (counted, not built)."""
        reads = self._reads[key]
        service = self._services.get(reads.service) if reads.service is not None else None
        build = build_endpointslice if self.role is Role.ENDPOINTSLICE else build_endpoints
        if limit := self.max_group_targets:
            if self.role is Role.ENDPOINTSLICE:
                count = count_endpointslice_targets(obj, service=service, pods=self._pods)
                stripped = {**obj, "endpoints": []}
            else:
                count = count_endpoints_targets(obj, pods=self._pods)
                stripped = {**obj, "subsets": []}
            source = self._source(*key)
            if count > limit:  # the reader learns the count from `withheld`
                self.withheld[source] = count
                return build(stripped, service=service, nodes=nodes, namespace_labels=namespace_labels)
            self.withheld.pop(source, None)
        return build(obj, service=service, pods=self._pods, nodes=nodes, namespace_labels=namespace_labels)

    def _rebuild(self, keys: Iterable[Key]) -> list[TargetGroup]:
        changed: list[TargetGroup] = []
        withheld = self.withheld
        for key in tuple(keys):  # a copy: the reverse index it may come from is not ours to iterate while building
            before = withheld.get(self._source(*key)) if withheld else None
            group = self._build(key)
            old = self._groups.get(key)
            if not group.targets and not group.labels:
                withheld.pop(group.source, None)
                if old is not None:
                    del self._groups[key]
                    changed.append(group)
            elif group != old or withheld.get(group.source) != before:  # a withheld count changing is news too
                self._groups[key] = group
                changed.append(group)
        return changed

    def _known(self, kind: str) -> set[Key]:
        known: Mapping[Key, object]
        if kind == "Pod":
            known = self._pods
        elif kind == "Service" and self.role is not Role.SERVICE:
            known = self._services
        elif kind == self._own_kind:
            known = self._objects
        elif kind in self._controllers:
            known = self._controllers[kind]
        elif kind == "Node":
            return {("", name) for name in self._nodes}
        elif kind == "Namespace":
            return {("", name) for name in self._namespaces}
        else:
            return set()
        return set(known)


def _inside(namespace: str, namespaces: frozenset[str] | None) -> bool:
    return namespaces is None or namespace in namespaces


def _controller_key(pod: PodInfo | None) -> tuple[str, str, str] | None:
    if pod is None or pod.controller is None or pod.controller[0] not in ("ReplicaSet", "Job"):
        return None
    return pod.controller[0], pod.namespace, pod.controller[1]


def _unlink(index: dict[_Ref, dict[Key, None]], ref: _Ref, key: Key) -> None:
    readers = index.get(ref)
    if readers is not None:
        readers.pop(key, None)
        if not readers:
            del index[ref]
