"""Pod templates: the collector's (shared by its StatefulSet, Deployment and DaemonSet) and the allocator's."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

from otel_operator.api.crds import PROBE_TIMINGS
from otel_operator.manifests import collector_rbac, components, featuregates, labels, mtls, naming
from otel_operator.manifests.model import ALLOCATOR_ARGS, BuildOptions
from otel_operator.manifests.params import AllocatorParams, CollectorParams, prune_empty

ALLOCATOR_HTTP_PORT: Final = 8080
ALLOCATOR_HTTPS_PORT: Final = 8443
# Where spec.configmaps are mounted: <this>/<mountpath>/configmap-<name>.
EXTRA_CONFIG_MAP_DIR: Final = "/var/conf"
# Pod-level fields copied from the spec as they are (spec key → pod spec key).
_POD_FIELDS: Final = (
    ("nodeSelector", "nodeSelector"),
    ("tolerations", "tolerations"),
    ("affinity", "affinity"),
    ("podSecurityContext", "securityContext"),
    ("priorityClassName", "priorityClassName"),
    ("topologySpreadConstraints", "topologySpreadConstraints"),
    ("terminationGracePeriodSeconds", "terminationGracePeriodSeconds"),
    ("hostNetwork", "hostNetwork"),
    ("hostPID", "hostPID"),
    ("hostUsers", "hostUsers"),
    ("hostAliases", "hostAliases"),
    ("shareProcessNamespace", "shareProcessNamespace"),
    ("podDnsConfig", "dnsConfig"),
)
_CONTAINER_FIELDS: Final = ("imagePullPolicy", "resources", "securityContext", "lifecycle", "envFrom")


def _copy(spec: Mapping[str, Any], pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {to: copy.deepcopy(spec[key]) for key, to in pairs if spec.get(key) not in (None, "", [], {})}


def _args(spec: Mapping[str, Any]) -> list[str]:
    """`spec.args` as sorted `--key=value` (`config` is the operator's own)."""
    return [f"--{k}={v}" for k, v in sorted((spec.get("args") or {}).items()) if k != "config"]


def _env(user: Iterable[Mapping[str, Any]], inferred: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The user's variables, then the inferred ones the user does not define."""
    out = [dict(e) for e in user]
    defined = {e.get("name") for e in out}
    return out + [e for e in inferred if e["name"] not in defined]


def _field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _resource(name: str, container: str, resource: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"resourceFieldRef": {"containerName": container, "resource": resource}}}


def _golang_env(options: BuildOptions, container: str) -> list[dict[str, Any]]:
    """GOMEMLIMIT and GOMAXPROCS from the container's own limits (gate operator.golang.flags): the Go runtime then
    stays within them. Harmless for a program that is not Go."""
    if not options.gate(featuregates.GOLANG_FLAGS):
        return []
    return [_resource("GOMEMLIMIT", container, "limits.memory"), _resource("GOMAXPROCS", container, "limits.cpu")]


def join_path(*parts: str) -> str:
    """Go's `path.Join`: the non-empty parts joined by `/`, then cleaned (no `//`, `.` or resolvable `..`)."""
    joined = "/".join(part for part in parts if part)
    if not joined:
        return ""
    rooted = joined.startswith("/")
    out: list[str] = []
    for element in joined.split("/"):
        if element in ("", "."):
            continue
        if element == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")  # a relative path keeps the `..` it cannot resolve; a rooted one drops it
            continue
        out.append(element)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def _dns_policy(spec: Mapping[str, Any]) -> str:
    if spec.get("dnsPolicy"):
        return str(spec["dnsPolicy"])
    if (spec.get("podDnsConfig") or {}).get("nameservers"):
        return "None"
    return "ClusterFirstWithHostNet" if spec.get("hostNetwork") else "ClusterFirst"


def _probe(handler: dict[str, Any] | None, timing: Any) -> dict[str, Any] | None:
    if handler is None:
        return None
    probe = copy.deepcopy(handler)
    if isinstance(timing, Mapping):
        probe.update({k: timing[k] for k in PROBE_TIMINGS if timing.get(k) is not None})
    return probe


# --- collector ------------------------------------------------------------------------------------------------------


def container_ports(p: CollectorParams) -> list[dict[str, Any]]:
    """Every port the config listens on, `metrics`, then `spec.ports` (a declared name wins), sorted by name."""
    by_name: dict[str, dict[str, Any]] = {}
    for port in (*p.ports, *p.extension_ports):
        name = naming.truncate("%s", port.name, limit=naming.MAX_PORT_NAME)
        by_name[name] = components.Port(name, port.port, port.protocol).container_port()
    by_name[naming.METRICS_PORT_NAME] = components.Port(naming.METRICS_PORT_NAME, p.metrics_port).container_port()
    for declared in p.spec.get("ports") or []:
        port = components.Port(
            str(declared.get("name") or ""),
            int(declared["port"]),
            str(declared.get("protocol") or ""),
            host_port=declared.get("hostPort"),
        )
        by_name[port.name] = port.container_port()
    return [by_name[name] for name in sorted(by_name)]


def collector_pod_annotations(p: CollectorParams) -> dict[str, str]:
    """`spec.podAnnotations`, the resource's annotations, the Prometheus scrape hints, and the config hash (which
    changes with the config and so rolls the pods)."""
    out: dict[str, str] = dict(p.spec.get("podAnnotations") or {})
    for key, value in p.resource.annotations.items():
        out.setdefault(key, value)
    metrics = (p.spec.get("observability") or {}).get("metrics") or {}
    if not metrics.get("disablePrometheusAnnotations"):
        hints = {
            labels.PROMETHEUS_SCRAPE: "true",
            labels.PROMETHEUS_PORT: str(p.metrics_port),
            labels.PROMETHEUS_PATH: "/metrics",
        }
        added = [key for key in hints if key not in out]
        for key in added:
            out[key] = hints[key]
        if added:
            out[labels.PROMETHEUS_ADDED] = "true"
    out[labels.CONFIG_HASH] = p.config_hash
    return dict(sorted(out.items()))


def _client_tls(p: CollectorParams) -> bool:
    """Whether the collector talks mutual TLS to its allocator: its client certificate is then mounted at /tls."""
    return p.link is not None and p.link.https


def collector_container(p: CollectorParams) -> dict[str, Any]:
    spec = p.spec
    config_path = f"{naming.COLLECTOR_CONFIG_DIR}/{naming.COLLECTOR_CONFIG_KEY}"
    name = naming.COLLECTOR_CONTAINER
    # Upstream's order: POD_NAME (the collector_id the allocator knows this pod by), the Go runtime limits, then
    # what the receivers read (kubeletstats: K8S_NODE_NAME).
    inferred = [
        _field("POD_NAME", "metadata.name"),
        *_golang_env(p.options, name),
        *collector_rbac.receiver_env(p.config),
    ]
    mounts: list[dict[str, Any]] = [{"name": naming.COLLECTOR_CONFIG_VOLUME, "mountPath": naming.COLLECTOR_CONFIG_DIR}]
    if _client_tls(p):
        mounts.append(mtls.collector_volume(p.name)[1])
    mounts += [dict(m) for m in spec.get("volumeMounts") or []]
    for extra in spec.get("configmaps") or []:
        volume = naming.extra_config_map_volume(extra["name"])
        mount_path = join_path(EXTRA_CONFIG_MAP_DIR, str(extra.get("mountpath") or ""), volume)
        mounts.append({"name": volume, "mountPath": mount_path})
    # The health_check extension gives all three probes their handler; spec.<kind>Probe only tunes the timing.
    health = components.health_probe(p.config)
    container: dict[str, Any] = {
        "name": name,
        "image": p.image,
        "command": list(spec["command"]) if spec.get("command") else None,
        "args": [f"--config={config_path}", *_args(spec)],
        "env": _env(spec.get("env") or [], inferred),
        "ports": container_ports(p),
        "volumeMounts": mounts,
        "livenessProbe": _probe(health, spec.get("livenessProbe")),
        "readinessProbe": _probe(health, spec.get("readinessProbe")),
        "startupProbe": _probe(health, spec.get("startupProbe")),
        **_copy(spec, ((k, k) for k in _CONTAINER_FIELDS)),
    }
    return prune_empty(container)


def collector_pod_template(p: CollectorParams) -> dict[str, Any]:
    spec = p.spec
    volumes: list[dict[str, Any]] = [
        {
            "name": naming.COLLECTOR_CONFIG_VOLUME,
            "configMap": {
                "name": p.config_map_name,
                "items": [{"key": naming.COLLECTOR_CONFIG_KEY, "path": naming.COLLECTOR_CONFIG_KEY}],
            },
        }
    ]
    if _client_tls(p):
        volumes.append(mtls.collector_volume(p.name)[0])
    volumes += [copy.deepcopy(v) for v in spec.get("volumes") or []]
    for extra in spec.get("configmaps") or []:
        volumes.append({"name": naming.extra_config_map_volume(extra["name"]), "configMap": {"name": extra["name"]}})
    pod: dict[str, Any] = {
        "serviceAccountName": p.service_account,
        "initContainers": copy.deepcopy(spec["initContainers"]) if spec.get("initContainers") else None,
        "containers": [collector_container(p), *copy.deepcopy(spec.get("additionalContainers") or [])],
        "volumes": volumes,
        "dnsPolicy": _dns_policy(spec),
        **_copy(spec, _POD_FIELDS),
    }
    return {
        "metadata": {"labels": p.labels(naming.collector(p.name)), "annotations": collector_pod_annotations(p)},
        "spec": prune_empty(pod),
    }


# --- allocator ------------------------------------------------------------------------------------------------------


def allocator_pod_annotations(a: AllocatorParams) -> dict[str, str]:
    out: dict[str, str] = dict(a.spec.get("podAnnotations") or {})
    out.update(a.resource.annotations)
    out[labels.ALLOCATOR_CONFIG_HASH] = labels.sha256(a.config_text)
    return dict(sorted(out.items()))


def _allocator_probe(a: AllocatorParams, key: str, path: str) -> dict[str, Any]:
    given = a.spec.get(key)
    if isinstance(given, Mapping) and given:
        return copy.deepcopy(dict(given))
    return {"httpGet": {"path": path, "port": ALLOCATOR_HTTP_PORT}}


def allocator_container(a: AllocatorParams) -> dict[str, Any]:
    spec = a.spec
    ports: list[dict[str, Any]] = [
        {"name": naming.ALLOCATOR_PORT_NAME, "containerPort": ALLOCATOR_HTTP_PORT, "protocol": "TCP"}
    ]
    if a.mtls:
        ports.append(
            {"name": naming.ALLOCATOR_HTTPS_PORT_NAME, "containerPort": ALLOCATOR_HTTPS_PORT, "protocol": "TCP"}
        )
    for declared in spec.get("ports") or []:
        ports.append(
            components.Port(
                str(declared.get("name") or ""),
                int(declared["port"]),
                str(declared.get("protocol") or ""),
                host_port=declared.get("hostPort"),
            ).container_port()
        )
    mounts: list[dict[str, Any]] = [{"name": naming.ALLOCATOR_CONFIG_VOLUME, "mountPath": naming.ALLOCATOR_CONFIG_DIR}]
    if a.mtls:  # the serving certificate and the CA that client certificates must chain to
        mounts.append(mtls.allocator_volume(a.name)[1])
    mounts += [dict(m) for m in spec.get("volumeMounts") or []]
    container: dict[str, Any] = {
        "name": naming.ALLOCATOR_CONTAINER,
        "image": a.image,
        "args": [*ALLOCATOR_ARGS, *_args(spec)],
        "env": _env(
            spec.get("env") or [],
            [_field("OTELCOL_NAMESPACE", "metadata.namespace"), *_golang_env(a.options, naming.ALLOCATOR_CONTAINER)],
        ),
        "ports": ports,
        "volumeMounts": mounts,
        "livenessProbe": _allocator_probe(a, "livenessProbe", "/livez"),
        "readinessProbe": _allocator_probe(a, "readinessProbe", "/readyz"),
        **_copy(spec, ((k, k) for k in _CONTAINER_FIELDS)),
    }
    return prune_empty(container)


def allocator_pod_template(a: AllocatorParams) -> dict[str, Any]:
    spec = a.spec
    volumes: list[dict[str, Any]] = [
        {
            "name": naming.ALLOCATOR_CONFIG_VOLUME,
            "configMap": {
                "name": a.object_name,
                "items": [{"key": naming.ALLOCATOR_CONFIG_KEY, "path": naming.ALLOCATOR_CONFIG_KEY}],
            },
        }
    ]
    if a.mtls:
        volumes.append(mtls.allocator_volume(a.name)[0])
    volumes += [copy.deepcopy(v) for v in spec.get("volumes") or []]
    pod: dict[str, Any] = {
        "serviceAccountName": a.service_account,
        "initContainers": copy.deepcopy(spec["initContainers"]) if spec.get("initContainers") else None,
        "containers": [*copy.deepcopy(spec.get("additionalContainers") or []), allocator_container(a)],
        "volumes": volumes,
        "dnsPolicy": _dns_policy(spec),
        **_copy(spec, _POD_FIELDS),
    }
    return {
        "metadata": {"labels": a.labels, "annotations": allocator_pod_annotations(a)},
        "spec": prune_empty(pod),
    }
