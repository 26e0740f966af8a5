"""Services: the collector's base, headless, monitoring and extension Services, and the allocator's.

The base and headless Services exist only when the config (or `spec.ports`) yields a port: a collector that only
scrapes gets neither (upstream's behaviour; its StatefulSet still names the headless Service). The monitoring
Service (the collector's own metrics) always exists; the extension Service only when an extension listens
(health_check, jaeger_query).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

from otel_operator.manifests import components, labels, naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams

# The Service fields the collector's Services copy from its spec (upstream's base and monitoring Services).
_SERVICE_FIELDS: Final = (
    "ipFamilies",
    "ipFamilyPolicy",
    "trafficDistribution",
    "sessionAffinity",
    "sessionAffinityConfig",
)


def _declared_port(port: Mapping[str, Any]) -> dict[str, Any]:
    """A `spec.ports` entry as a Service port (`hostPort` is the container's business)."""
    keys = ("name", "port", "protocol", "appProtocol", "targetPort", "nodePort")
    return {k: port[k] for k in keys if port.get(k) not in (None, "")}


def _number_key(port: Mapping[str, Any]) -> tuple[Any, str]:
    # the API server defaults the protocol to TCP, so "" and TCP are the same port
    return port.get("port"), str(port.get("protocol") or "TCP")


def merged_ports(declared: Iterable[Mapping[str, Any]], inferred: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`spec.ports` first, then the inferred ports: one on a declared port number (and protocol) is left out, one
    with a declared name is renamed `port-<number>` (left out when that name is taken too). Upstream's rules."""
    out = [_declared_port(port) for port in declared]
    numbers = {_number_key(port) for port in out}
    names = {port.get("name") for port in out}
    for port in inferred:
        entry = dict(port)
        if _number_key(entry) in numbers:
            continue
        if entry["name"] in names:
            entry["name"] = f"port-{entry['port']}"
            if entry["name"] in names:
                continue
        out.append(entry)
        numbers.add(_number_key(entry))
        names.add(entry["name"])
    return out


def _routed(spec: Mapping[str, Any]) -> bool:
    ingress = spec.get("ingress")
    return isinstance(ingress, Mapping) and ingress.get("type") == "route"


def service_ports(p: CollectorParams) -> list[dict[str, Any]]:
    """`spec.ports` first, then the receivers' and exporters' ports (see `merged_ports`). With OpenShift Routes, a
    gRPC port's appProtocol is `h2c`: OpenShift's router (HAProxy) reads it to speak HTTP/2 in clear text."""
    inferred = [port.service_port() for port in p.ports]
    if _routed(p.spec):
        for port in inferred:
            if str(port.get("appProtocol", "")).lower() == "grpc":
                port["appProtocol"] = "h2c"
    return merged_ports(p.spec.get("ports") or [], inferred)


def exposed_ports(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What an Ingress, Route or HTTPRoute exposes: `spec.ports`, then the *receivers'* ports (not the exporters'),
    as upstream does. Empty when the config's ports cannot be derived (validation reports why)."""
    config = spec.get("config") or {}
    service = (config.get("service") if isinstance(config, Mapping) else None) or {}
    if not isinstance(config, Mapping) or not isinstance(service, Mapping):
        return []
    pipelines = service.get("pipelines") or {}
    # the same config with no exporters or extensions in use: what is left listening are the receivers
    receivers_only = {
        **config,
        "service": {
            **service,
            "extensions": [],
            "pipelines": {
                name: {**pipeline, "exporters": []} if isinstance(pipeline, Mapping) else pipeline
                for name, pipeline in (pipelines.items() if isinstance(pipelines, Mapping) else ())
            },
        },
    }
    try:
        listening, _ = components.ports(receivers_only)
    except components.ComponentError:
        return []
    return merged_ports(spec.get("ports") or [], [port.service_port() for port in listening])


def _copied_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(spec[k]) for k in _SERVICE_FIELDS if spec.get(k) not in (None, "", [], {})}


def _service(metadata: dict[str, Any], spec: dict[str, Any]) -> Object:
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def collector_service(p: CollectorParams) -> Object | None:
    """`<name>-collector`: every receiver and exporter port, for clients sending telemetry."""
    ports = service_ports(p)
    if not ports:
        return None
    object_labels = p.labels(naming.collector(p.name)) | {labels.SERVICE_TYPE: "base"}
    spec: dict[str, Any] = {
        "selector": p.selector_labels,
        "ports": ports,
        "internalTrafficPolicy": "Local" if p.mode == "daemonset" else "Cluster",
    }
    spec.update(_copied_fields(p.spec))
    return _service(p.resource.metadata(naming.collector_service(p.name), object_labels), spec)


def headless_service(p: CollectorParams) -> Object | None:
    """`<name>-collector-headless`: the base Service without a cluster IP (the StatefulSet's governing Service)."""
    base = collector_service(p)
    if base is None:
        return None
    out = copy.deepcopy(base)
    meta = out["metadata"]
    meta["name"] = naming.headless_service(p.name)
    meta["labels"] |= {labels.HEADLESS_SERVICE: "Exists", labels.SERVICE_TYPE: "headless"}
    meta["labels"] = dict(sorted(meta["labels"].items()))
    meta["annotations"] = dict(
        sorted(
            {**meta.get("annotations", {}), labels.OPENSHIFT_SERVING_CERT: naming.headless_tls_secret(p.name)}.items()
        )
    )
    out["spec"]["clusterIP"] = "None"
    return out


def monitoring_service(p: CollectorParams) -> Object:
    """`<name>-collector-monitoring`: the collector's own metrics (port `monitoring`)."""
    name = naming.monitoring_service(p.name)
    object_labels = p.labels(name) | {labels.MONITORING_SERVICE: "Exists", labels.SERVICE_TYPE: "monitoring"}
    spec: dict[str, Any] = {
        "selector": p.selector_labels,
        "ports": [{"name": naming.MONITORING_PORT_NAME, "port": p.metrics_port}],
    }
    # the same Service fields as the base Service: a session affinity or traffic distribution set for the collector
    # holds for its metrics endpoint too
    spec.update(_copied_fields(p.spec))
    return _service(p.resource.metadata(name, dict(sorted(object_labels.items()))), spec)


def allocator_service(a: AllocatorParams) -> Object:
    """`<name>-targetallocator`: port 80 (`targetallocation`) to the allocator's HTTP port."""
    ports: list[dict[str, Any]] = [
        {"name": naming.ALLOCATOR_SERVICE_PORT_NAME, "port": 80, "targetPort": naming.ALLOCATOR_PORT_NAME}
    ]
    if a.mtls:
        ports.append(
            {
                "name": naming.ALLOCATOR_SERVICE_HTTPS_PORT_NAME,
                "port": 443,
                "targetPort": naming.ALLOCATOR_HTTPS_PORT_NAME,
            }
        )
    spec: dict[str, Any] = {"selector": a.selector_labels, "ports": ports}
    spec.update(
        {k: copy.deepcopy(a.spec[k]) for k in ("ipFamilies", "ipFamilyPolicy", "trafficDistribution") if a.spec.get(k)}
    )
    return _service(a.resource.metadata(a.object_name, a.labels), spec)


def extension_service(p: CollectorParams) -> Object | None:
    """`<name>-collector-extension`: the ports of the extensions the service uses that listen (health_check,
    jaeger_query), so an Ingress or a client can reach them. None when no extension listens. Like upstream, only
    ports and selector: no `spec.ports`, no Service fields from the spec."""
    if not p.extension_ports:
        return None
    name = naming.extension_service(p.name)
    object_labels = p.labels(name) | {labels.SERVICE_TYPE: "extension"}
    spec: dict[str, Any] = {
        "selector": p.selector_labels,
        "ports": [port.service_port() for port in p.extension_ports],
    }
    return _service(p.resource.metadata(name, dict(sorted(object_labels.items()))), spec)
