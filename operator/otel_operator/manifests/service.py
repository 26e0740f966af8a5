"""Services: the collector's base, headless and monitoring Services, and the allocator's.

The base and headless Services exist only when the config (or `spec.ports`) yields a port: a collector that only
scrapes gets neither (upstream's behaviour; its StatefulSet still names the headless Service). The monitoring
Service (the collector's own metrics) always exists.
"""

from __future__ import annotations

import copy
from typing import Any

from otel_operator.manifests import labels, naming
from otel_operator.manifests.model import Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams

_SERVICE_FIELDS = ("ipFamilies", "ipFamilyPolicy", "trafficDistribution", "sessionAffinity", "sessionAffinityConfig")


def _declared_port(port: dict[str, Any]) -> dict[str, Any]:
    """A `spec.ports` entry as a Service port (`hostPort` is the container's business)."""
    keys = ("name", "port", "protocol", "appProtocol", "targetPort", "nodePort")
    return {k: port[k] for k in keys if port.get(k) not in (None, "")}


def service_ports(p: CollectorParams) -> list[dict[str, Any]]:
    """`spec.ports` first, then the receivers' and exporters' ports: one on a declared port number is left out, one
    with a declared name is renamed `port-<number>`."""
    out = [_declared_port(dict(port)) for port in p.spec.get("ports") or []]
    numbers = {port.get("port") for port in out}
    names = {port.get("name") for port in out}
    for inferred in p.ports:
        if inferred.port in numbers:
            continue
        entry = inferred.service_port()
        if entry["name"] in names:
            entry["name"] = f"port-{inferred.port}"
        out.append(entry)
        numbers.add(inferred.port)
        names.add(entry["name"])
    return out


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
    spec.update({k: copy.deepcopy(p.spec[k]) for k in _SERVICE_FIELDS if p.spec.get(k) not in (None, "", [])})
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
    spec.update({k: copy.deepcopy(p.spec[k]) for k in ("ipFamilies", "ipFamilyPolicy") if p.spec.get(k)})
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
    """`<name>-collector-extension`: the ports of extensions that serve clients (jaeger_query, ...)."""
    return None
