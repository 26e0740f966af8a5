"""Every name the operator gives an object, container, volume or port. Nothing else formats these names.

The rules are upstream's (`internal/naming`): a name is the resource's name plus a suffix, shortened from the
resource's name until it fits 63 characters, then made DNS-safe. So existing dashboards, alerts and tooling that
look for `<name>-collector` or `<name>-targetallocator` keep working.

The allocator's ClusterRole and ClusterRoleBinding are ours (upstream creates no RBAC for the allocator). Being
cluster-scoped, their names must not collide between namespaces: `otel-operator:targetallocator:<ns>:<name>`.
Colons cannot occur in namespace or object names, so no two (namespace, name) pairs share a role name, whereas
a dash-joined `<ns>-<name>-...` would (`a-b`/`c` and `a`/`b-c`). RBAC names are path segments, so colons are
allowed (as in `system:controller:...`), and they have no 63-character limit.
"""

from __future__ import annotations

import re
from typing import Final

MAX_NAME: Final = 63
MAX_PORT_NAME: Final = 15

COLLECTOR_CONTAINER: Final = "otc-container"
COLLECTOR_CONFIG_VOLUME: Final = "otc-internal"
COLLECTOR_CONFIG_KEY: Final = "collector.yaml"
COLLECTOR_CONFIG_DIR: Final = "/conf"
ALLOCATOR_CONTAINER: Final = "ta-container"
ALLOCATOR_CONFIG_VOLUME: Final = "ta-internal"
ALLOCATOR_CONFIG_KEY: Final = "targetallocator.yaml"
ALLOCATOR_CONFIG_DIR: Final = "/conf"
ALLOCATOR_PORT_NAME: Final = "http"  # the container port the Service's targetPort names
ALLOCATOR_HTTPS_PORT_NAME: Final = "https"
ALLOCATOR_SERVICE_PORT_NAME: Final = "targetallocation"
ALLOCATOR_SERVICE_HTTPS_PORT_NAME: Final = "targetallocation-https"
METRICS_PORT_NAME: Final = "metrics"
MONITORING_PORT_NAME: Final = "monitoring"

_EDGE_JUNK = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")
_DNS_LABEL = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def truncate(template: str, *values: str, limit: int = MAX_NAME) -> str:
    """`template % values`, shortened to `limit` characters by cutting the first values first (usually the
    resource's name), then with non-alphanumerics trimmed from both ends. Upstream's `naming.Truncate`."""
    result = template % values
    excess = len(result) - limit
    if excess > 0:
        shortened = []
        for value in values:
            if excess > 0:
                cut = min(len(value), excess)
                shortened.append(value[: len(value) - cut])
                excess -= cut
            else:
                shortened.append(value)
        result = template % tuple(shortened)
    if len(result) > limit:
        return result[:limit]
    return _EDGE_JUNK.sub("", result)


def dns_name(name: str) -> str:
    """Lower-case, each character outside [a-z0-9] replaced by `-` (by `a` at either end). Length is kept."""
    lowered = name.lower()
    last = len(lowered) - 1
    return "".join(
        c if ("a" <= c <= "z" or "0" <= c <= "9") else ("a" if i in (0, last) else "-") for i, c in enumerate(lowered)
    )


def _name(template: str, *values: str) -> str:
    return dns_name(truncate(template, *values))


# --- collector ------------------------------------------------------------------------------------------------------


def collector(name: str) -> str:
    """The workload (StatefulSet, Deployment or DaemonSet), the ServiceAccount and the base Service."""
    return _name("%s-collector", name)


def collector_config_map(name: str, config_hash: str) -> str:
    """The versioned ConfigMap: a new name (and so a rollout) whenever the config changes."""
    return _name("%s-collector-%s", name, config_hash[:8])


def collector_service(name: str) -> str:
    return _name("%s-collector", name)


def headless_service(name: str) -> str:
    return _name("%s-headless", collector_service(name))


def monitoring_service(name: str) -> str:
    return _name("%s-monitoring", collector_service(name))


def extension_service(name: str) -> str:
    """`<name>-collector-extension`: the ports of extensions that serve clients."""
    return _name("%s-extension", collector_service(name))


def ingress(name: str) -> str:
    return _name("%s-ingress", name)


def route(name: str, port_name: str) -> str:
    """`<port>-<name>-route`: upstream passes the port name first, so it is the one shortened first."""
    return _name("%s-%s-route", port_name, name)


def http_route(name: str, port_name: str) -> str:
    return _name("%s-%s-httproute", name, port_name)


def collector_network_policy(name: str) -> str:
    return _name("%s-collector-networkpolicy", name)


def monitoring_service_monitor(name: str) -> str:
    """`<name>-monitoring-collector`; upstream formats `<name>-monitoring` first, so a long name loses
    `-monitoring` before `-collector`."""
    return _name("%s-collector", f"{name}-monitoring")


def collector_cluster_role(name: str, namespace: str) -> str:
    """Upstream's `<name>-<namespace>-cluster-role` for the collector's components (the namespace keeps collectors
    of different namespaces apart)."""
    return _name("%s-%s-cluster-role", name, namespace)


def collector_cluster_role_binding(name: str, namespace: str) -> str:
    """Upstream's `<name>-<namespace>-collector`."""
    return _name("%s-%s-collector", name, namespace)


def collector_service_account(name: str) -> str:
    return _name("%s-collector", name)


def headless_tls_secret(name: str) -> str:
    """The serving-certificate Secret OpenShift creates for the headless Service (upstream annotates it)."""
    return f"{headless_service(name)}-tls"


def extra_config_map_volume(config_map: str) -> str:
    """The volume for one of `spec.configmaps`."""
    return _name("configmap-%s", config_map)


# --- target allocator -----------------------------------------------------------------------------------------------


def allocator(name: str) -> str:
    """The allocator's Deployment, ConfigMap, Service and ServiceAccount (`name` is the collector's or the
    TargetAllocator's)."""
    return _name("%s-targetallocator", name)


def allocator_network_policy(name: str) -> str:
    return _name("%s-targetallocator-networkpolicy", name)


def allocator_endpoint(name: str, https: bool = False) -> str:
    """Where the collector's prometheus receiver asks the allocator for targets."""
    return f"https://{allocator(name)}:443" if https else f"http://{allocator(name)}:80"


def allocator_ca_certificate(name: str) -> str:
    """mTLS: the CA that signs the allocator's serving certificate and the collectors' client certificate (the
    cert-manager Certificate and its Secret, or the Secret the operator issues; `name` is the allocator's)."""
    return _name("%s-ca-cert", name)


def allocator_server_certificate(name: str) -> str:
    """mTLS: the allocator's serving certificate (Certificate, Secret and the Deployment's volume)."""
    return _name("%s-ta-server-cert", name)


def allocator_client_certificate(name: str) -> str:
    """mTLS: the collectors' client certificate (Certificate, Secret and the collector's volume; `name` is the
    collector's)."""
    return _name("%s-ta-client-cert", name)


def self_signed_issuer(name: str) -> str:
    """mTLS with cert-manager: the Issuer that self-signs the CA."""
    return _name("%s-self-signed-issuer", name)


def ca_issuer(name: str) -> str:
    """mTLS with cert-manager: the Issuer that signs with the CA."""
    return _name("%s-ca-issuer", name)


def allocator_cluster_role(namespace: str, name: str) -> str:
    """The allocator's ClusterRole and ClusterRoleBinding (cluster-scoped: the namespace is part of the name)."""
    return f"otel-operator:targetallocator:{namespace}:{name}"


# --- ports ----------------------------------------------------------------------------------------------------------


def port_name(component: str, port: int) -> str:
    """A container/Service port name for a config component (`otlp/2` → `otlp-2`): at most 15 characters and a
    DNS label, else `port-<number>`. Upstream's `naming.PortName`."""
    if len(component) > MAX_PORT_NAME:
        return f"port-{port}"
    candidate = component.replace("/", "-").replace("_", "-")
    if not _DNS_LABEL.match(candidate):
        return f"port-{port}"
    return candidate
