"""Gateway API HTTPRoutes for the collector (spec.httpRoute): one `<name>-<port name>-httproute` per exposed HTTP
port (receivers and `spec.ports`; gRPC ports are left out, as upstream does), attached to the named Gateway.

Each route matches the path prefix `/<port name>`, rewrites it to `/` and sends the request to that port of the
`<name>-collector` Service. Built only where the cluster serves gateway.networking.k8s.io/v1; elsewhere the
collector gets a warning instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from otel_operator.manifests import naming
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import CollectorParams
from otel_operator.manifests.problems import Problems
from otel_operator.manifests.service import exposed_ports

GATEWAY_API: Final = "gateway.networking.k8s.io/v1"
_GATEWAY_GROUP: Final = "gateway.networking.k8s.io"
_GRPC: Final = ("grpc", "h2c")


def section(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    http_route = spec.get("httpRoute")
    return http_route if isinstance(http_route, Mapping) else {}


def http_ports(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The exposed ports an HTTPRoute can carry: not those whose appProtocol is gRPC."""
    return [port for port in exposed_ports(spec) if str(port.get("appProtocol", "")).lower() not in _GRPC]


def _route_spec(p: CollectorParams, http_route: Mapping[str, Any], port: Mapping[str, Any]) -> dict[str, Any]:
    parent = {
        "group": _GATEWAY_GROUP,
        "kind": "Gateway",
        "name": str(http_route["gateway"]),
        "namespace": str(http_route.get("gatewayNamespace") or p.namespace),
    }
    rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": f"/{port['name']}"}}],
        # the collector serves at `/`, so the prefix that chose the port is cut off
        "filters": [
            {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}
        ],
        "backendRefs": [{"name": naming.collector_service(p.name), "port": port["port"]}],
    }
    out: dict[str, Any] = {"parentRefs": [parent], "rules": [rule]}
    hostnames = [str(h) for h in http_route.get("hostnames") or []]
    if hostnames:
        out["hostnames"] = hostnames
    return out


def collector_http_routes(p: CollectorParams) -> Object | list[Object] | None:
    """One HTTPRoute per exposed HTTP port when spec.httpRoute is enabled and names a Gateway; None otherwise, or
    without the Gateway API."""
    http_route = section(p.spec)
    if http_route.get("enabled") is not True or not http_route.get("gateway"):
        return None
    if not p.options.serves(GATEWAY_API):
        return None
    routes: list[Object] = []
    for port in http_ports(p.spec):
        name = naming.http_route(p.name, port["name"])
        routes.append(
            {
                "apiVersion": GATEWAY_API,
                "kind": "HTTPRoute",
                # upstream: the collector's labels, no annotations
                "metadata": {"name": name, "namespace": p.namespace, "labels": p.labels(name)},
                "spec": _route_spec(p, http_route, port),
            }
        )
    return routes or None


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern this module's objects."""
    raw = spec.get("httpRoute")
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        found.error("spec.httpRoute", "must be an object ({enabled: true, gateway: <Gateway name>})")
        return
    enabled = raw.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        found.error("spec.httpRoute.enabled", "must be true or false")
    for key in ("gateway", "gatewayNamespace"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            found.error(f"spec.httpRoute.{key}", "must be a string (a Gateway's name or namespace)")
    hostnames = raw.get("hostnames")
    if hostnames is not None and not (isinstance(hostnames, list) and all(isinstance(h, str) for h in hostnames)):
        found.error("spec.httpRoute.hostnames", "must be a list of host names")
    if enabled is not True:
        return
    if not raw.get("gateway"):
        found.warn(
            "spec.httpRoute.gateway",
            "HTTPRoute is enabled but gateway name is not specified, skipping HTTPRoute; set it to the name of the "
            "Gateway the routes attach to (and gatewayNamespace when it is in another namespace)",
        )
    elif not options.serves(GATEWAY_API):
        found.warn(
            "spec.httpRoute.enabled",
            f"this cluster does not serve {GATEWAY_API} (the Gateway API), so no HTTPRoute is created; install the "
            "Gateway API CRDs, or use spec.ingress",
        )
    elif not http_ports(spec):
        found.warn(
            "spec.httpRoute",
            "the config has no HTTP receiver ports (gRPC ports are not routed, and spec.ports is empty), so no "
            "HTTPRoute is created; add an HTTP receiver (e.g. otlp with protocols.http) or a port to spec.ports",
        )


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded)."""
