"""NetworkPolicies of the collector and the target allocator (upstream 0.158, gate `operand.networkpolicy`).

Both exist when `spec.networkPolicy.enabled` is true, and also when it is unset while the gate is on (beta, so on,
in 0.158: upstream's webhook writes `enabled: true`; otel-operator decides the same in memory). `enabled: false`
turns them off.

- `<name>-collector-networkpolicy` (not for a sidecar, whose pods are the application's): ingress only on the ports
  the collector container opens (receivers, exporters, extensions, `metrics`, `spec.ports`), each with its own
  protocol. Upstream writes TCP for every port, which drops UDP receivers (statsd, jaeger thrift_compact) under
  an enforcing CNI; otel-operator keeps the container port's protocol. Egress is not restricted: exporters send
  anywhere.
- `<name>-targetallocator-networkpolicy`: ingress on the allocator container's ports (8080, 8443 with mTLS,
  `spec.ports`), from anywhere, so its collectors (and Prometheus) reach it. Egress only TCP to the API server:
  every `(ip, port)` of `BuildOptions.api_server_endpoints` as `<ip>/32` (`/128` for IPv6), one rule per port.
  Upstream allows no DNS; the allocator needs none (the in-cluster client dials the API server by IP, and it runs
  only kubernetes and static discovery). Without known endpoints (`render`, no cluster) the policy restricts
  ingress only: a policy that cuts the allocator off from the API server would be worse than none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Final

from otel_operator.manifests import featuregates, labels, naming
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import AllocatorParams, CollectorParams
from otel_operator.manifests.podspec import allocator_container, container_ports
from otel_operator.manifests.problems import Problems

API_VERSION: Final = "networking.k8s.io/v1"


def enabled(spec: Mapping[str, Any], options: BuildOptions) -> bool:
    """`spec.networkPolicy.enabled`, or the gate `operand.networkpolicy` when unset."""
    given = (spec.get("networkPolicy") or {}).get("enabled")
    if given is None:
        return options.gate(featuregates.OPERAND_NETWORK_POLICY)
    return bool(given)


def _ingress_ports(ports: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Container ports as NetworkPolicy ports, each (protocol, number) once, in the container's order."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for port in ports:
        key = (str(port.get("protocol") or "TCP"), int(port["containerPort"]))
        if key not in seen:
            seen.add(key)
            out.append({"protocol": key[0], "port": key[1]})
    return out


def _policy(metadata: dict[str, Any], selector: Mapping[str, str], spec: dict[str, Any]) -> Object:
    return {
        "apiVersion": API_VERSION,
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {"podSelector": {"matchLabels": dict(selector)}, **spec},
    }


def collector_network_policy(p: CollectorParams) -> Object | list[Object] | None:
    if p.mode == "sidecar" or not enabled(p.spec, p.options):
        return None
    ports = _ingress_ports(container_ports(p))
    if not ports:  # upstream: nothing to open, no policy
        return None
    name = naming.collector_network_policy(p.name)
    return _policy(
        p.resource.metadata(name, p.labels(name)),
        p.selector_labels,
        {"ingress": [{"ports": ports}], "policyTypes": ["Ingress"]},
    )


def _cidr(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    return f"{address}/{address.max_prefixlen}"


def api_server_egress(endpoints: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """One egress rule per API server port, to that port's addresses; [] when none is usable."""
    by_port: dict[int, list[str]] = {}
    for ip, port in endpoints:
        cidr = _cidr(ip)
        if cidr is not None and 0 < int(port) < 65536 and cidr not in by_port.setdefault(int(port), []):
            by_port[int(port)].append(cidr)
    return [
        {"ports": [{"protocol": "TCP", "port": port}], "to": [{"ipBlock": {"cidr": c}} for c in sorted(cidrs)]}
        for port, cidrs in sorted(by_port.items())
        if cidrs
    ]


def allocator_network_policy(a: AllocatorParams) -> Object | list[Object] | None:
    if not enabled(a.spec, a.options):
        return None
    name = naming.allocator_network_policy(a.name)
    # upstream takes the version label from the image the allocator runs (its status.image), not spec.image
    object_labels = labels.object_labels(
        a.resource.labels,
        namespace=a.namespace,
        name=a.name,
        object_name=name,
        image=a.image,
        component=labels.ALLOCATOR_COMPONENT,
        filters=a.options.label_filters,
    )
    spec: dict[str, Any] = {"ingress": [{"ports": _ingress_ports(allocator_container(a)["ports"])}]}
    egress = api_server_egress(a.options.api_server_endpoints)
    if egress:
        spec["egress"] = egress
        spec["policyTypes"] = ["Ingress", "Egress"]
    else:
        spec["policyTypes"] = ["Ingress"]
    # upstream selects by the selector labels without app.kubernetes.io/name
    selector = labels.selector_labels(a.namespace, a.name, labels.ALLOCATOR_COMPONENT)
    return _policy(a.resource.metadata(name, object_labels), selector, spec)


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern this module's objects: none (any
    `networkPolicy` the schema accepts can be built)."""


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded):
    none, as for the collector."""
