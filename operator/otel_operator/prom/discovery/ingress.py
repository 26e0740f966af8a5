"""Role `ingress`: one group per networking.k8s.io/v1 Ingress, one target per rule host and path.

As Prometheus v3.14 builds it: `__address__` is the rule's host (no port: the scheme says which), the scheme is
https when a TLS entry lists the host (exactly, or as a `*.` wildcard one label deep), an empty or missing path is
`/`, and a rule without `http` stands for the path `/`. A rule without a host yields a target with an empty
address, which Prometheus's scrape layer refuses; it is kept here, where discovery ends, as in Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterable

from otel_operator.prom.discovery.common import (
    EMPTY,
    META,
    NAMESPACE,
    Obj,
    Role,
    add_metadata_labels,
    metadata_of,
    source,
)
from otel_operator.prom.labels import ADDRESS
from otel_operator.prom.model import Labels, TargetGroup

SCHEME = META + "ingress_scheme"
HOST = META + "ingress_host"
PATH = META + "ingress_path"
CLASS_NAME = META + "ingress_class_name"


def ingress_source(namespace: str, name: str) -> str:
    return source("ingress", namespace, name)


def matches_hostname_pattern(pattern: str, host: str) -> bool:
    """A TLS host `pattern` covers `host`: equal, or `*.rest` where host has one label of its own before `rest`."""
    if pattern == host:
        return True
    pattern_parts = pattern.split(".")
    host_parts = host.split(".")
    if pattern_parts[0] != "*" or len(pattern_parts) != len(host_parts):
        return False
    return pattern_parts[1:] == host_parts[1:]


def rule_paths(rule: Obj) -> list[str]:
    """The paths a rule's targets stand for: `/` for a rule without `http`, an empty path as `/`."""
    http: Obj | None = rule.get("http")
    if http is None:
        return ["/"]
    return [p.get("path") or "/" for p in http.get("paths") or ()]


def tls_hosts(spec: Obj) -> list[str]:
    return [host for tls in spec.get("tls") or () for host in tls.get("hosts") or ()]


def _scheme(host: str, patterns: Iterable[str]) -> str:
    return "https" if any(matches_hostname_pattern(p, host) for p in patterns) else "http"


def build_ingress(ingress: Obj, *, namespace_labels: Labels | None = None) -> TargetGroup:
    """The group Prometheus v3 sends for one Ingress; `namespace_labels` comes from `attach_metadata.namespace`.

    An Ingress without rules (only a default backend) keeps its group labels and has no targets.
    """
    meta = metadata_of(ingress)
    namespace = meta.get("namespace") or ""
    spec: Obj = ingress.get("spec") or EMPTY
    group: Labels = {NAMESPACE: namespace}
    if (class_name := spec.get("ingressClassName")) is not None:
        group[CLASS_NAME] = class_name
    add_metadata_labels(group, Role.INGRESS, meta)
    if namespace_labels:
        group.update(namespace_labels)

    patterns = tls_hosts(spec)
    targets: list[Labels] = []
    for rule in spec.get("rules") or ():
        host = rule.get("host") or ""
        scheme = _scheme(host, patterns)
        for path in rule_paths(rule):
            targets.append({ADDRESS: host, SCHEME: scheme, HOST: host, PATH: path})
    return TargetGroup(ingress_source(namespace, meta.get("name") or ""), tuple(targets), group)
