"""Sidecar mode: which collector a pod asked for, and the pod with that collector's `otc-container` in it.

Pure functions over plain dicts; the admission handler does the lookups (the Namespace, the candidate collectors,
the pod's ReplicaSet and Deployment) and passes what it found. As upstream (0.158, `pkg/sidecar`):

- The annotation `sidecar.opentelemetry.io/inject` on the pod and on its namespace decide together
  (`annotation_value`): a value set on one side only counts; a pod's `"false"` or collector name beats the
  namespace; a pod's `"true"` takes the namespace's collector name, but not the namespace's `"false"`.
- `"true"`: the one collector in sidecar mode in the pod's namespace. `"<name>"`: that collector in the pod's
  namespace. `"<namespace>/<name>"`: that collector in any namespace (upstream allows other namespaces: the config
  travels in the pod spec, so nothing of the other namespace is mounted). `"false"`: no sidecar, and an
  `otc-container` the pod brings is removed.
- Nothing that fits (none, several, not in sidecar mode, not found) never fails the pod: it is created without a
  sidecar, and the admission response carries a warning saying why and what to change.
- The injected container is the collector's container as its workloads get it (`podspec.collector_container`),
  except that the config is passed in the environment (`--config=env:OTEL_CONFIG`) instead of the ConfigMap
  volume, plus the k8s resource attributes of the pod (`OTEL_RESOURCE_ATTRIBUTES` and the downward-API variables it
  refers to). On Kubernetes 1.29+ (upstream's check) it is a native sidecar: the last init container, with
  `restartPolicy: Always` and its readiness probe as startup probe; otherwise the last container.
- The pod gets the label `sidecar.opentelemetry.io/injected: <namespace>.<name>` of the collector.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_operator.admission.names import INJECT_ANNOTATION
from otel_operator.manifests import naming
from otel_operator.manifests.params import CollectorParams
from otel_operator.manifests.podspec import collector_container

INJECTED_LABEL: Final = "sidecar.opentelemetry.io/injected"
CONFIG_ENV: Final = "OTEL_CONFIG"
RESOURCE_ATTRIBUTES_ENV: Final = "OTEL_RESOURCE_ATTRIBUTES"
POD_NAME_ENV: Final = "OTEL_RESOURCE_ATTRIBUTES_POD_NAME"
POD_UID_ENV: Final = "OTEL_RESOURCE_ATTRIBUTES_POD_UID"
NODE_NAME_ENV: Final = "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME"
SIDECAR_MODE: Final = "sidecar"
# The first Kubernetes version whose API server takes native sidecars by default (upstream's check).
NATIVE_SIDECAR_VERSION: Final = (1, 29)
_WITHOUT: Final = "it is created without a sidecar"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _annotation(obj: Mapping[str, Any]) -> str:
    return str((_meta(obj).get("annotations") or {}).get(INJECT_ANNOTATION) or "")


def _is(value: str, word: str) -> bool:
    return value.lower() == word  # upstream compares "true"/"false" case-insensitively


def annotation_value(pod: Mapping[str, Any], namespace: Mapping[str, Any]) -> str:
    """The inject annotation in effect for `pod` in `namespace` (the Namespace object), "" when neither asks."""
    on_pod, on_namespace = _annotation(pod), _annotation(namespace)
    if not on_namespace:
        return on_pod
    if not on_pod:
        return on_namespace
    if not _is(on_pod, "true") or _is(on_namespace, "false"):
        return on_pod  # a pod's "false" or collector wins; so does its "true" over the namespace's "false"
    return on_namespace  # the pod says "true" and the namespace names a collector (or says "true" too)


def pod_namespace(pod: Mapping[str, Any], namespace: Mapping[str, Any]) -> str:
    """The pod's namespace: a pod being created may not carry it yet, its Namespace object does."""
    return str(_meta(pod).get("namespace") or _meta(namespace).get("name") or "")


@dataclass(frozen=True, slots=True)
class Target:
    """What the pod asked for: the collector `name` in `namespace`, or (name None) the one sidecar collector there.
    The handler lists the collectors of `namespace` (or gets the one named) and passes them to `choose`."""

    namespace: str
    name: str | None = None


def target(pod: Mapping[str, Any], namespace: Mapping[str, Any]) -> Target | None:
    """Where to look for the pod's collector; None when the pod wants none ("", "false")."""
    value = annotation_value(pod, namespace)
    if not value or _is(value, "false"):
        return None
    own = pod_namespace(pod, namespace)
    if _is(value, "true"):
        return Target(own)
    other, slash, name = value.partition("/")
    return Target(other, name) if slash else Target(own, value)


def has_sidecar(pod: Mapping[str, Any]) -> bool:
    """Whether the pod already has an `otc-container`, as a container or as a native sidecar."""
    spec = pod.get("spec") or {}
    return any(
        c.get("name") == naming.COLLECTOR_CONTAINER
        for key in ("containers", "initContainers")
        for c in spec.get(key) or []
    )


@dataclass(frozen=True, slots=True)
class Choice:
    """The collector to inject (None: inject nothing), a warning for the admission response when the pod asked but
    nothing fits, and whether the pod opted out ("false": remove an `otc-container` it brings, see `remove`)."""

    collector: Mapping[str, Any] | None = None
    warning: str | None = None
    opt_out: bool = False


def _mode(collector: Mapping[str, Any]) -> str:
    return str((collector.get("spec") or {}).get("mode") or "deployment")


def _pod_name(pod: Mapping[str, Any], own: str) -> str:
    meta = _meta(pod)
    # pods of a ReplicaSet, a Job, ... are named by the API server after admission
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "<unnamed>")
    return f"{own}/{name}"


def _source(pod: Mapping[str, Any], namespace: Mapping[str, Any], value: str) -> str:
    if _annotation(pod) == value:
        return "on the pod"
    return f'on namespace "{_meta(namespace).get("name") or ""}"'


def choose(pod: Mapping[str, Any], namespace: Mapping[str, Any], collectors: Iterable[Mapping[str, Any]]) -> Choice:
    """Which collector to inject into `pod` (being created in `namespace`, the Namespace object).

    `collectors`: OpenTelemetryCollectors the handler listed for `target(pod, namespace)` (every collector of the
    target namespace, whatever its mode, so that "not in sidecar mode" can be told from "missing")."""
    value = annotation_value(pod, namespace)
    if not value:
        return Choice()
    if _is(value, "false"):
        return Choice(opt_out=True)
    if has_sidecar(pod):
        return Choice()  # injected already (or brought by the pod): leave it as it is, as upstream does
    wanted = target(pod, namespace)
    if wanted is None:  # not reached: the value is neither "" nor "false"
        return Choice()
    asked = (
        f"pod {_pod_name(pod, pod_namespace(pod, namespace))} asks for an OpenTelemetry Collector sidecar "
        f'({INJECT_ANNOTATION}: "{value}" {_source(pod, namespace, value)}), but'
    )
    in_namespace = [c for c in collectors if str(_meta(c).get("namespace") or "") == wanted.namespace]
    if wanted.name is None:
        return _only_sidecar(wanted.namespace, in_namespace, asked)
    return _named(wanted, in_namespace, asked)


def _only_sidecar(namespace: str, collectors: list[Mapping[str, Any]], asked: str) -> Choice:
    """For "true": the one collector in sidecar mode of the pod's namespace."""
    sidecars = sorted((c for c in collectors if _mode(c) == SIDECAR_MODE), key=lambda c: str(_meta(c).get("name")))
    if len(sidecars) == 1:
        return Choice(collector=sidecars[0])
    if not sidecars:
        return Choice(
            warning=f'{asked} namespace "{namespace}" has no OpenTelemetryCollector with mode sidecar, so {_WITHOUT}; '
            "create one with spec.mode: sidecar, or set the annotation to the <namespace>/<name> of one elsewhere "
            '(or to "false")'
        )
    names = ", ".join(str(_meta(c).get("name")) for c in sidecars)
    return Choice(
        warning=f'{asked} namespace "{namespace}" has several OpenTelemetryCollectors with mode sidecar ({names}), '
        f"so {_WITHOUT}; set the annotation to the name of the one to inject"
    )


def _named(wanted: Target, collectors: list[Mapping[str, Any]], asked: str) -> Choice:
    """For "<name>" or "<namespace>/<name>": that collector, if it is in sidecar mode."""
    found = [c for c in collectors if str(_meta(c).get("name") or "") == wanted.name]
    where = f'"{wanted.namespace}/{wanted.name}"'
    if not found:
        return Choice(
            warning=f"{asked} there is no OpenTelemetryCollector {where}, so {_WITHOUT}; create it with spec.mode: "
            'sidecar, or correct the annotation ("true", "<name>" or "<namespace>/<name>")'
        )
    if _mode(found[0]) != SIDECAR_MODE:
        return Choice(
            warning=f"{asked} the OpenTelemetryCollector {where} has mode {_mode(found[0])}, not sidecar, so "
            f"{_WITHOUT}; name a collector with spec.mode: sidecar in the annotation"
        )
    return Choice(collector=found[0])


# --- the pod's owners -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Owner:
    name: str
    uid: str = ""


@dataclass(frozen=True, slots=True)
class Owners:
    """The pod's ReplicaSet and that ReplicaSet's Deployment, as the handler found them (upstream looks up only
    these two): their names and uids go into OTEL_RESOURCE_ATTRIBUTES."""

    replica_set: Owner | None = None
    deployment: Owner | None = None


def owner_name(obj: Mapping[str, Any], kind: str) -> str | None:
    """The name of `obj`'s first owner of `kind` (a pod's "ReplicaSet", a ReplicaSet's "Deployment"): what the
    handler gets to fill `Owners`."""
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("kind") == kind and ref.get("name"):
            return str(ref["name"])
    return None


def _field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def resource_attributes_env(namespace: str, owners: Owners = Owners()) -> list[dict[str, Any]]:
    """The pod's k8s resource attributes for the collector's own telemetry: the downward-API variables, then
    OTEL_RESOURCE_ATTRIBUTES referring to them, its keys sorted (upstream's order)."""
    attributes = {
        "k8s.namespace.name": namespace,
        "k8s.node.name": f"$({NODE_NAME_ENV})",
        "k8s.pod.name": f"$({POD_NAME_ENV})",
        "k8s.pod.uid": f"$({POD_UID_ENV})",
    }
    for kind, owner in (("deployment", owners.deployment), ("replicaset", owners.replica_set)):
        if owner is not None:
            attributes[f"k8s.{kind}.name"] = owner.name
            attributes[f"k8s.{kind}.uid"] = owner.uid
    return [
        _field(POD_NAME_ENV, "metadata.name"),
        _field(POD_UID_ENV, "metadata.uid"),
        _field(NODE_NAME_ENV, "spec.nodeName"),
        {"name": RESOURCE_ATTRIBUTES_ENV, "value": ",".join(f"{k}={v}" for k, v in sorted(attributes.items()))},
    ]


# --- injection ------------------------------------------------------------------------------------------------------


def native_sidecars(server_version: tuple[int, int]) -> bool:
    """Whether to inject a native sidecar into pods of an API server of this (major, minor) version."""
    return server_version >= NATIVE_SIDECAR_VERSION


def sidecar_container(
    p: CollectorParams, namespace: str, owners: Owners = Owners(), *, native: bool = True
) -> dict[str, Any]:
    """The collector's container as the pod gets it: the config in OTEL_CONFIG rather than in a mounted ConfigMap."""
    container = collector_container(p)
    config_arg = f"--config={naming.COLLECTOR_CONFIG_DIR}/{naming.COLLECTOR_CONFIG_KEY}"
    # the workloads' config file comes from the ConfigMap volume, which a sidecar does not get
    args = [a for a in container.get("args") or [] if a != config_arg]
    container["args"] = [*args, f"--config=env:{CONFIG_ENV}"]
    mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") != naming.COLLECTOR_CONFIG_VOLUME]
    if mounts:
        container["volumeMounts"] = mounts
    else:
        container.pop("volumeMounts", None)
    env = [*(container.get("env") or []), {"name": CONFIG_ENV, "value": p.config_text}]
    if not any(e.get("name") == RESOURCE_ATTRIBUTES_ENV for e in env):  # the user's own value stays
        env += resource_attributes_env(namespace, owners)
    container["env"] = env
    if native:
        container["restartPolicy"] = "Always"
        # the pod's other containers start once this probe passes: the collector is ready to receive
        if container.get("readinessProbe"):
            container["startupProbe"] = copy.deepcopy(container["readinessProbe"])
        else:
            container.pop("startupProbe", None)
    return container


def _volumes(p: CollectorParams) -> list[dict[str, Any]]:
    volumes = [copy.deepcopy(v) for v in p.spec.get("volumes") or []]
    # Upstream mounts spec.configmaps into the sidecar without adding their volumes, and the API server then
    # refuses the pod; the volumes make those mounts work (the ConfigMaps must be in the pod's namespace).
    for extra in p.spec.get("configmaps") or []:
        volumes.append({"name": naming.extra_config_map_volume(extra["name"]), "configMap": {"name": extra["name"]}})
    return volumes


def inject(
    pod: Mapping[str, Any],
    p: CollectorParams,
    *,
    namespace: str = "",
    owners: Owners = Owners(),
    native: bool = True,
) -> dict[str, Any]:
    """`pod` (a copy) with the collector of `p` injected; unchanged when it has an `otc-container` already.

    `namespace`: the pod's (a pod being created may not carry it; default: its metadata.namespace). `owners`: what
    the handler found of the pod's ReplicaSet and Deployment. `native`: a native sidecar (see `native_sidecars`).
    The collector's `spec.initContainers` run before it; its `spec.volumes` are added after the pod's, except those
    whose name the pod uses already (two volumes of one name would have the pod refused)."""
    out = copy.deepcopy(dict(pod))
    if has_sidecar(out):
        return out
    namespace = namespace or str(_meta(out).get("namespace") or "")
    container = sidecar_container(p, namespace, owners, native=native)
    spec = out.setdefault("spec", {})
    init = [*(spec.get("initContainers") or []), *copy.deepcopy(list(p.spec.get("initContainers") or []))]
    if native:
        init.append(container)
    else:
        spec["containers"] = [*(spec.get("containers") or []), container]
    if init:
        spec["initContainers"] = init
    taken = {v.get("name") for v in spec.get("volumes") or []}
    added = [v for v in _volumes(p) if v.get("name") not in taken]
    if added:
        spec["volumes"] = [*(spec.get("volumes") or []), *added]
    meta = out.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), INJECTED_LABEL: naming.truncate("%s.%s", p.namespace, p.name)}
    return out


def remove(pod: Mapping[str, Any]) -> dict[str, Any]:
    """`pod` (a copy) without `otc-container`, as a container or a native sidecar: what a pod that says "false"
    gets, as upstream does. Everything else, the injected label included, stays."""
    out = copy.deepcopy(dict(pod))
    spec = out.get("spec") or {}
    for key in ("containers", "initContainers"):
        if key in spec:
            spec[key] = [c for c in spec[key] or [] if c.get("name") != naming.COLLECTOR_CONTAINER]
    return out
