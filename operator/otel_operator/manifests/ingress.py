"""The collector's Ingress (spec.ingress type ingress): `<name>-ingress`, routing to the receivers' ports of the
`<name>-collector` Service.

Rule types (upstream's): `path` (the default) puts every port on one host under `/<port name>`; `subdomain` gives
each port its own host, `<port name>.<hostname>`. Only receivers and `spec.ports` are exposed, not exporters.
The checks of the whole `spec.ingress` section (shared with route.py's type route) are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from otel_operator.manifests import naming
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import CollectorParams
from otel_operator.manifests.problems import Problems
from otel_operator.manifests.service import exposed_ports

INGRESS_API: Final = "networking.k8s.io/v1"
TYPES: Final = ("ingress", "route")
RULE_TYPES: Final = ("path", "subdomain")
DEFAULT_RULE_TYPE: Final = "path"  # upstream's webhook default for type ingress
_MODES: Final = ("deployment", "daemonset", "statefulset")


def section(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """`spec.ingress`, or {} when it is not set (or not an object; the checks say so)."""
    ingress = spec.get("ingress")
    return ingress if isinstance(ingress, Mapping) else {}


def _backend(service: str, port: Mapping[str, Any]) -> dict[str, Any]:
    return {"service": {"name": service, "port": {"name": naming.port_name(port["name"], port["port"])}}}


def _rules(p: CollectorParams, ingress: Mapping[str, Any], ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    service = naming.collector_service(p.name)
    hostname = str(ingress.get("hostname") or "")
    if (ingress.get("ruleType") or DEFAULT_RULE_TYPE) == "subdomain":
        rules = []
        for port in ports:
            name = naming.port_name(port["name"], port["port"])
            # the checks refuse subdomain without a real hostname; upstream falls back to the bare port name
            host = f"{name}.{hostname}" if hostname not in ("", "*") else name
            path = {"path": "/", "pathType": "Prefix", "backend": _backend(service, port)}
            rules.append({"host": host, "http": {"paths": [path]}})
        return rules
    paths = [{"path": f"/{port['name']}", "pathType": "Prefix", "backend": _backend(service, port)} for port in ports]
    rule: dict[str, Any] = {"http": {"paths": paths}}
    if hostname:
        rule["host"] = hostname
    return [rule]


def collector_ingress(p: CollectorParams) -> Object | list[Object] | None:
    """`<name>-ingress` for spec.ingress type ingress; None for another type, or when nothing listens."""
    ingress = section(p.spec)
    if ingress.get("type") != "ingress":
        return None
    ports = exposed_ports(p.spec)
    if not ports:
        return None
    name = naming.ingress(p.name)
    # upstream: the collector's labels, but only spec.ingress.annotations (not the collector's own)
    metadata: dict[str, Any] = {"name": name, "namespace": p.namespace, "labels": p.labels(name)}
    if ingress.get("annotations"):
        metadata["annotations"] = dict(ingress["annotations"])
    spec: dict[str, Any] = {"rules": _rules(p, ingress, ports)}
    if ingress.get("tls"):
        spec["tls"] = [dict(entry) for entry in ingress["tls"]]
    if ingress.get("ingressClassName"):
        spec["ingressClassName"] = str(ingress["ingressClassName"])
    return {"apiVersion": INGRESS_API, "kind": "Ingress", "metadata": metadata, "spec": spec}


# --- checks ---------------------------------------------------------------------------------------------------------


def _is_string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())


def _check_fields(ingress: Mapping[str, Any], found: Problems) -> None:
    """The field types of `spec.ingress` (the CRD keeps the section open, as upstream's own types do not)."""
    for key in ("hostname", "ingressClassName"):
        if ingress.get(key) is not None and not isinstance(ingress[key], str):
            found.error(f"spec.ingress.{key}", "must be a string")
    if ingress.get("annotations") is not None and not _is_string_map(ingress["annotations"]):
        found.error("spec.ingress.annotations", 'must map names to strings; quote values such as "true"')
    tls = ingress.get("tls")
    if tls is not None:
        if not isinstance(tls, list):
            found.error("spec.ingress.tls", "must be a list of {hosts: [...], secretName: ...} (an Ingress's spec.tls)")
        else:
            for index, entry in enumerate(tls):
                if not isinstance(entry, Mapping):
                    found.error(f"spec.ingress.tls[{index}]", "must be an object {hosts: [...], secretName: ...}")
    if ingress.get("route") is not None and not isinstance(ingress["route"], Mapping):
        found.error("spec.ingress.route", "must be an object ({termination: ...})")


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) OpenTelemetryCollector spec that concern this module's objects."""
    raw = spec.get("ingress")
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        found.error("spec.ingress", "must be an object ({type: ingress, hostname: ...})")
        return
    ingress = raw
    kind = ingress.get("type")
    rule_type = ingress.get("ruleType")
    hostname = ingress.get("hostname")
    if kind not in (None, "", *TYPES):
        found.error(
            "spec.ingress.type",
            f'"{kind}" is not an ingress type; use ingress (a networking.k8s.io/v1 Ingress) or route (OpenShift '
            "Routes, one per port)",
        )
    if rule_type not in (None, "", *RULE_TYPES):
        found.error(
            "spec.ingress.ruleType",
            f'"{rule_type}" is not a rule type; use path (one host, a path per port) or subdomain (a host per port)',
        )
    _check_fields(ingress, found)
    mode = str(spec.get("mode") or "deployment")
    if kind == "ingress" and mode == "sidecar":
        found.error(
            "spec.ingress.type",
            "the OpenTelemetry Spec Ingress configuration is incorrect. Ingress can only be used in combination "
            f"with the modes: {', '.join(_MODES)}; change spec.mode or remove spec.ingress",
        )
    if rule_type == "subdomain" and hostname in (None, "", "*"):
        found.error(
            "spec.ingress.hostname",
            "a valid Ingress hostname has to be defined for subdomain ruleType; set it to a domain (each port is "
            "served at <port name>.<hostname>) or use ruleType path",
        )
    if not kind:
        set_fields = sorted(k for k, v in ingress.items() if k != "type" and v not in (None, "", [], {}))
        if set_fields:
            found.warn(
                "spec.ingress.type",
                f"not set, so spec.ingress ({', '.join(set_fields)}) is ignored and no Ingress or Route is created; "
                "set it to ingress or route",
            )
    elif kind == "ingress" and mode != "sidecar" and not exposed_ports(spec):
        found.warn(
            "spec.ingress",
            "the config has no receiver ports (and spec.ports is empty), so no Ingress is created; add a receiver "
            "that listens, or a port to spec.ports",
        )


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded)."""
