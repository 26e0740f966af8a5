"""The ClusterRole and binding the collector's components need, and the environment some of them expect: upstream's
RBAC generation (`internal/components/*`, operator reference §3.7), for the components the service uses.

What each component is granted (get, list, watch unless said otherwise):
- k8sattributes: pods and namespaces; replicasets.apps when it extracts the default metadata, or
  `k8s.deployment.name` / `k8s.deployment.uid` / `service.name`; nodes for any `k8s.node.*`; jobs.batch for
  `k8s.cronjob.uid` or labels/annotations `from: job`; jobs and cronjobs.batch for `from: cronjob`.
- kubeletstats: get nodes/stats; also get nodes/proxy with `extra_metadata_labels` or any of the
  `*_limit_utilization` / `*_request_utilization` metrics enabled. It also gets `K8S_NODE_NAME` (`receiver_env`).
- k8s_cluster and k8s_events: the core objects they report on (events, namespaces, nodes, pods,
  replicationcontrollers, resourcequotas, services and some of their status subresources), the apps/extensions
  workloads, jobs and cronjobs, horizontalpodautoscalers; k8s_cluster with `distribution: openshift` also
  clusterresourcequotas.quota.openshift.io.
- k8sobjects: per entry of `objects`, list on `<name>` in `<group>`, plus get (`mode: pull`, except events) or watch
  (`mode: watch`).
- resourcedetection: get and list nodes for the `k8snode` detector; infrastructures(.status).config.openshift.io
  for `openshift`.
- k8s_observer: list and watch pods / services / nodes, per `observe_pods` / `observe_services` / `observe_nodes`.
- k8s_leader_elector: leases.coordination.k8s.io, all the verbs a lease holder uses.

The rules are upstream's, in its order (receivers, exporters, processors, extensions), each component's in the
order the service first names it; identical rules appear once. Component types match with or without underscores
(`k8sattributes` and its newer name `k8s_attributes`, `resourcedetection` / `resource_detection`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from otel_operator.manifests import components, naming
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import CollectorParams
from otel_operator.manifests.problems import Problems

RBAC_API: Final = "rbac.authorization.k8s.io/v1"
Rule = dict[str, Any]
_READ: Final = ("get", "list", "watch")


def _rule(group: str, resources: list[str], verbs: tuple[str, ...] | list[str] = _READ) -> Rule:
    return {"apiGroups": [group], "resources": resources, "verbs": list(verbs)}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- per component ---------------------------------------------------------------------------------------------------

_ATTR_VERBS: Final = ("get", "watch", "list")  # upstream's order for k8sattributes
_DEPLOYMENT_FIELDS: Final = frozenset({"k8s.deployment.uid", "k8s.deployment.name", "service.name"})


def k8sattributes_rules(conf: Mapping[str, Any]) -> list[Rule]:
    extract = _mapping(conf.get("extract"))
    metadata = [str(m) for m in _list(extract.get("metadata"))]
    replicasets = _rule("apps", ["replicasets"], _ATTR_VERBS)
    jobs, cronjobs = _rule("batch", ["jobs"], _ATTR_VERBS), _rule("batch", ["cronjobs"], _ATTR_VERBS)
    out = [_rule("", ["pods", "namespaces"], _ATTR_VERBS)]
    if not metadata:  # the processor's defaults include the deployment name
        out.append(replicasets)
    for field in metadata:
        if field in _DEPLOYMENT_FIELDS:
            out.append(replicasets)
        elif "k8s.node" in field:
            out.append(_rule("", ["nodes"], _ATTR_VERBS))
        elif field == "k8s.cronjob.uid":
            out.append(jobs)
    for source in (*_list(extract.get("labels")), *_list(extract.get("annotations"))):
        origin = _mapping(source).get("from")
        if origin == "job":
            out.append(jobs)
        elif origin == "cronjob":
            out += [jobs, cronjobs]
    return out


_UTILIZATION_METRICS: Final = tuple(
    f"k8s.{obj}.{resource}_{kind}_utilization"
    for obj in ("container", "pod")
    for resource in ("cpu", "memory")
    for kind in ("limit", "request")
)


def kubeletstats_rules(conf: Mapping[str, Any]) -> list[Rule]:
    out = [_rule("", ["nodes/stats"], ("get",))]
    metrics = _mapping(conf.get("metrics"))
    utilization = any(_mapping(metrics.get(m)).get("enabled") is True for m in _UTILIZATION_METRICS)
    if _list(conf.get("extra_metadata_labels")) or utilization:  # read from the kubelet's /pods
        out.append(_rule("", ["nodes/proxy"], ("get",)))
    return out


def _cluster_reads() -> list[Rule]:
    core = [
        "events",
        "namespaces",
        "namespaces/status",
        "nodes",
        "nodes/spec",
        "persistentvolumeclaims",
        "persistentvolumes",
        "pods",
        "pods/status",
        "replicationcontrollers",
        "replicationcontrollers/status",
        "resourcequotas",
        "services",
    ]
    return [
        _rule("", core),
        _rule("apps", ["daemonsets", "deployments", "replicasets", "statefulsets"]),
        _rule("extensions", ["daemonsets", "deployments", "replicasets"]),
        _rule("batch", ["jobs", "cronjobs"]),
        _rule("autoscaling", ["horizontalpodautoscalers"]),
    ]


def k8s_cluster_rules(conf: Mapping[str, Any]) -> list[Rule]:
    out = _cluster_reads()
    if conf.get("distribution") == "openshift":
        out.append(_rule("quota.openshift.io", ["clusterresourcequotas"]))
    return out


def k8s_events_rules(conf: Mapping[str, Any]) -> list[Rule]:
    """Upstream's (receivers/k8sevents.go): the events, nothing else."""
    return [_rule("", ["events"])]


def k8sobjects_rules(conf: Mapping[str, Any]) -> list[Rule]:
    out = []
    for obj in _list(conf.get("objects")):
        entry = _mapping(obj)
        name, mode = str(entry.get("name") or ""), entry.get("mode")
        if not name:  # reported by check_collector; a rule for no resource would be refused
            continue
        verbs = ["list"]
        if mode == "pull" and name not in ("events", "events.k8s.io"):
            verbs.append("get")
        elif mode == "watch":
            verbs.append("watch")
        out.append(_rule(str(entry.get("group") or ""), [name], verbs))
    return out


def resourcedetection_rules(conf: Mapping[str, Any]) -> list[Rule]:
    out = []
    for detector in _list(conf.get("detectors")):
        if detector == "k8snode":
            out.append(_rule("", ["nodes"], ("get", "list")))
        elif detector == "openshift":
            out.append(_rule("config.openshift.io", ["infrastructures", "infrastructures/status"], _ATTR_VERBS))
    return out


def k8s_observer_rules(conf: Mapping[str, Any]) -> list[Rule]:
    observed = (("observe_pods", "pods"), ("observe_services", "services"), ("observe_nodes", "nodes"))
    return [_rule("", [resource], ("list", "watch")) for key, resource in observed if conf.get(key) is True]


def k8s_leader_elector_rules(conf: Mapping[str, Any]) -> list[Rule]:
    verbs = ("get", "list", "watch", "create", "update", "patch", "delete")
    return [_rule("coordination.k8s.io", ["leases"], verbs)]


RuleGen = Callable[[Mapping[str, Any]], list[Rule]]
# By config section, then by component type without underscores.
_RULES: Final[Mapping[str, Mapping[str, RuleGen]]] = {
    "receivers": {
        "kubeletstats": kubeletstats_rules,
        "k8scluster": k8s_cluster_rules,
        "k8sevents": k8s_events_rules,
        "k8sobjects": k8sobjects_rules,
    },
    "exporters": {},
    "processors": {"k8sattributes": k8sattributes_rules, "resourcedetection": resourcedetection_rules},
    "extensions": {"k8sobserver": k8s_observer_rules, "k8sleaderelector": k8s_leader_elector_rules},
}


def _type_key(name: str) -> str:
    return components.component_type(name).replace("_", "")


def rules(config: Mapping[str, Any]) -> list[Rule]:
    """Every rule the components the service uses need, in upstream's order, each distinct rule once."""
    used = components.enabled(config)
    out: list[Rule] = []
    for section, generators in _RULES.items():
        confs = _mapping(config.get(section))
        for name in used[section]:
            generate = generators.get(_type_key(name))
            if generate is None:
                continue
            for rule in generate(_mapping(confs.get(name))):
                if rule not in out:
                    out.append(rule)
    return out


def receiver_env(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The variables upstream adds to the collector container for the receivers the service uses, sorted by name:
    `K8S_NODE_NAME` (the pod's node) for kubeletstats, whose `endpoint` and `node` settings use it."""
    names = {_type_key(n) for n in components.enabled(config)["receivers"]}
    out = []
    if "kubeletstats" in names:
        out.append({"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})
    return sorted(out, key=lambda e: str(e["name"]))


# --- objects ---------------------------------------------------------------------------------------------------------


def _wanted(p: CollectorParams) -> list[Rule]:
    return rules(p.config) if p.options.collector_rbac else []


def collector_cluster_role(p: CollectorParams) -> Object | list[Object] | None:
    wanted = _wanted(p)
    if not wanted:
        return None
    name = naming.collector_cluster_role(p.name, p.namespace)
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRole",
        "metadata": p.resource.metadata(name, p.labels(name), namespaced=False),
        "rules": wanted,
    }


def collector_cluster_role_binding(p: CollectorParams) -> Object | list[Object] | None:
    if not _wanted(p):
        return None
    name = naming.collector_cluster_role_binding(p.name, p.namespace)
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRoleBinding",
        "metadata": p.resource.metadata(name, p.labels(name), namespaced=False),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": naming.collector_cluster_role(p.name, p.namespace),
        },
        "subjects": [{"kind": "ServiceAccount", "name": p.service_account, "namespace": p.namespace}],
    }


# --- checks ----------------------------------------------------------------------------------------------------------


def _describe(rule: Rule) -> str:
    group = rule["apiGroups"][0]
    resources = ", ".join(f"{r}.{group}" if group else r for r in rule["resources"])
    return f"{'/'.join(rule['verbs'])} {resources}"


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern this module's objects."""
    config = _mapping(spec.get("config"))
    receivers = _mapping(config.get("receivers"))
    for name in components.enabled(config)["receivers"]:
        if _type_key(name) != "k8sobjects":
            continue
        for index, obj in enumerate(_list(_mapping(receivers.get(name)).get("objects"))):
            if not _mapping(obj).get("name"):
                found.warn(
                    f"spec.config.receivers.{name}.objects[{index}].name",
                    "the k8sobjects receiver needs the resource's name (e.g. pods, events); no permission is "
                    "granted for this entry until it has one",
                )
    if options.collector_rbac:
        return
    needed = rules(config)
    if needed:
        found.warn(
            "spec.config",
            "the collector's components need cluster-wide permissions ("
            + "; ".join(_describe(r) for r in needed)
            + ") and the operator creates no RBAC for collectors: bind them to the collector's service account "
            "yourself",
        )


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded)."""
