"""OpenShift Routes for the collector (spec.ingress type route): one `<port name>-<name>-route` per exposed port
(receivers and `spec.ports`), to that port of the `<name>-collector` Service.

Built only where the cluster serves route.openshift.io/v1 (upstream asks the same of its OpenShift detection);
elsewhere the collector gets a warning instead. TLS termination defaults to edge (upstream's webhook default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from otel_operator.manifests import labels, naming
from otel_operator.manifests.ingress import section
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import CollectorParams
from otel_operator.manifests.problems import Problems
from otel_operator.manifests.service import exposed_ports

ROUTE_API: Final = "route.openshift.io/v1"
TERMINATIONS: Final = ("insecure", "edge", "passthrough", "reencrypt")
DEFAULT_TERMINATION: Final = "edge"


def _termination(ingress: Mapping[str, Any]) -> str:
    route = ingress.get("route")
    value = route.get("termination") if isinstance(route, Mapping) else None
    return str(value or DEFAULT_TERMINATION)


def collector_routes(p: CollectorParams) -> Object | list[Object] | None:
    """One Route per exposed port for spec.ingress type route; None for another type, without the Route API, or
    when nothing listens."""
    ingress = section(p.spec)
    if ingress.get("type") != "route" or not p.options.serves(ROUTE_API):
        return None
    termination = _termination(ingress)
    if termination not in TERMINATIONS:
        return None
    hostname = str(ingress.get("hostname") or "")
    instance = labels.selector_labels(p.namespace, p.name, labels.COLLECTOR_COMPONENT)[labels.INSTANCE]
    routes: list[Object] = []
    for port in exposed_ports(p.spec):
        target = naming.port_name(port["name"], port["port"])
        name = naming.route(p.name, port["name"])
        # upstream gives Routes only these four labels, not the collector's
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": p.namespace,
            "labels": {
                labels.COMPONENT: labels.COLLECTOR_COMPONENT,
                labels.INSTANCE: instance,
                labels.MANAGED_BY: labels.OPERATOR,
                labels.NAME: name,
            },
        }
        if ingress.get("annotations"):
            metadata["annotations"] = dict(ingress["annotations"])
        spec: dict[str, Any] = {
            "to": {"kind": "Service", "name": naming.collector_service(p.name)},
            "port": {"targetPort": target},
            "wildcardPolicy": "None",
        }
        if hostname:
            spec["host"] = f"{target}.{hostname}"
        if termination != "insecure":
            spec["tls"] = {"termination": termination}
        routes.append({"apiVersion": ROUTE_API, "kind": "Route", "metadata": metadata, "spec": spec})
    return routes or None


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern this module's objects."""
    ingress = section(spec)
    if ingress.get("type") != "route":
        return
    route = ingress.get("route")
    termination = route.get("termination") if isinstance(route, Mapping) else None
    if termination not in (None, "", *TERMINATIONS):
        found.error(
            "spec.ingress.route.termination",
            f'"{termination}" is not a TLS termination; use one of {", ".join(TERMINATIONS)} (default edge)',
        )
    if not options.serves(ROUTE_API):
        found.warn(
            "spec.ingress.type",
            f"route: this cluster does not serve {ROUTE_API} (OpenShift Routes), so no Route is created; use type "
            "ingress for a networking.k8s.io/v1 Ingress, or spec.httpRoute for the Gateway API",
        )
    elif not exposed_ports(spec):
        found.warn(
            "spec.ingress",
            "the config has no receiver ports (and spec.ports is empty), so no Route is created; add a receiver "
            "that listens, or a port to spec.ports",
        )


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded)."""
