"""What the operator knows about collector components: their default ports, how their config names a port, and
the defaults upstream's webhook writes into the config (operator reference §3.4, §4.2).

Only components used by the configuration count ("enabled": named in a pipeline, or in `service.extensions`), as
upstream. Ports are inferred from receivers and exporters (the collector Services) and extensions (the container
only); the telemetry port (`metrics`, default 8888) is separate.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_operator.manifests import naming

DEFAULT_ADDRESS: Final = "0.0.0.0"
DEFAULT_METRICS_PORT: Final = 8888
DEFAULT_HEALTH_CHECK_PORT: Final = 13133


@dataclass(frozen=True, slots=True)
class Port:
    """A port the collector listens on, as a Service port and as a container port."""

    name: str
    port: int
    protocol: str = ""  # "" leaves the API server's default (TCP)
    app_protocol: str = ""
    target_port: int | str | None = None
    node_port: int | None = None
    host_port: int | None = None

    def service_port(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "port": self.port}
        if self.protocol:
            out["protocol"] = self.protocol
        if self.app_protocol:
            out["appProtocol"] = self.app_protocol
        if self.target_port is not None:
            out["targetPort"] = self.target_port
        if self.node_port is not None:
            out["nodePort"] = self.node_port
        return out

    def container_port(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "containerPort": self.port, "protocol": self.protocol or "TCP"}
        if self.host_port is not None:
            out["hostPort"] = self.host_port
        return out


@dataclass(frozen=True, slots=True)
class _Known:
    """A component's default port. `port` 0: no default (the config must give one)."""

    port: int
    protocol: str = ""
    app_protocol: str = ""
    target: bool = True  # the Service targets the port by number (for the collector's known listeners)


# Receivers listening on one port per protocol (`protocols: {grpc: ..., http: ...}`).
_MULTI_PORT_RECEIVERS: Final[Mapping[str, Mapping[str, _Known]]] = {
    "otlp": {"grpc": _Known(4317, app_protocol="grpc"), "http": _Known(4318, app_protocol="http")},
    "skywalking": {"grpc": _Known(11800, app_protocol="grpc"), "http": _Known(12800, app_protocol="http")},
    "jaeger": {
        "grpc": _Known(14250, "TCP", "grpc"),
        "thrift_http": _Known(14268, "TCP", "http"),
        "thrift_compact": _Known(6831, "UDP"),
        "thrift_binary": _Known(6832, "UDP"),
    },
    "loki": {"grpc": _Known(9095, app_protocol="grpc"), "http": _Known(3100, app_protocol="http")},
}
# Receivers listening on one `endpoint` (or `listen_address`).
_SINGLE_PORT_RECEIVERS: Final[Mapping[str, _Known]] = {
    "awsxray": _Known(2000, "UDP"),
    "carbon": _Known(2003),
    "collectd": _Known(8081),
    "fluentforward": _Known(8006),
    "influxdb": _Known(8086),
    "opencensus": _Known(55678),
    "sapm": _Known(7276),
    "signalfx": _Known(9943),
    "splunk_hec": _Known(8088),
    "statsd": _Known(8125, "UDP"),
    "tcplog": _Known(0, "TCP", target=False),
    "udplog": _Known(0, "UDP", target=False),
    "wavefront": _Known(2003),
    "zipkin": _Known(9411, "TCP", "http"),
}
# Receivers that listen on nothing (scrapers, Kubernetes watchers): no ports, no defaults, whatever their config.
_NO_PORT_RECEIVERS: Final = frozenset(
    (
        "prometheus",
        "kubeletstats",
        "k8s_events",
        "k8s_cluster",
        "k8sobjects",
        "sshcheck",
        "cloudfoundry",
        "vcenter",
        "oracledb",
        "snmp",
        "googlecloudpubsub",
        "chrony",
        "jmx",
        "podman_stats",
        "pulsar",
        "docker_stats",
        "aerospike",
        "zookeeper",
        "prometheus_simple",
        "saphana",
        "riak",
        "redis",
        "rabbitmq",
        "purefb",
        "postgresql",
        "nsxt",
        "nginx",
        "mysql",
        "memcached",
        "httpcheck",
        "haproxy",
        "flinkmetrics",
        "couchdb",
        "filelog",
    )
)
# The snake_case names collector-contrib gave receivers (0.157 and before), each kept as an alias of its old
# spelling: upstream 0.158 registers the same parser under both, so both infer the same ports and defaults. Only
# the renames upstream knows are listed; another new name is an unknown receiver there too.
_RECEIVER_ALIASES: Final[Mapping[str, str]] = {
    "fluent_forward": "fluentforward",
    "tcp_log": "tcplog",
    "udp_log": "udplog",
    "kubelet_stats": "kubeletstats",
    "k8s_objects": "k8sobjects",
    "ssh_check": "sshcheck",
    "cloud_foundry": "cloudfoundry",
    "http_check": "httpcheck",
    "flink_metrics": "flinkmetrics",
}
_EXPORTERS: Final[Mapping[str, _Known]] = {"prometheus": _Known(8888, target=False)}
_EXTENSIONS: Final[Mapping[str, _Known]] = {
    "health_check": _Known(DEFAULT_HEALTH_CHECK_PORT, target=False),
    "jaeger_query": _Known(16686),
}

_PORT_IN_ENDPOINT = re.compile(r":([0-9]+)")


class ComponentError(ValueError):
    """A component's configuration the operator cannot derive ports from. `path` is under `spec.config`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def component_type(name: str) -> str:
    """`otlp/internal` → `otlp`."""
    return name.partition("/")[0]


def receiver_kind(name: str) -> str:
    """The receiver's type as the port tables know it: `fluent_forward/logs` → `fluentforward`."""
    kind = component_type(name)
    return _RECEIVER_ALIASES.get(kind, kind)


def enabled(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """The components the service uses, per kind (`receivers`, `processors`, `exporters`, `extensions`), in the
    order first named (pipelines by name)."""
    service = config.get("service") or {}
    found: dict[str, dict[str, None]] = {"receivers": {}, "processors": {}, "exporters": {}, "extensions": {}}
    for name in service.get("extensions") or ():
        found["extensions"][str(name)] = None
    pipelines = service.get("pipelines") or {}
    for pipeline_name in sorted(pipelines):
        pipeline = pipelines[pipeline_name] or {}
        for kind in ("receivers", "processors", "exporters"):
            for name in pipeline.get(kind) or ():
                found[kind][str(name)] = None
    return {kind: list(names) for kind, names in found.items()}


def port_from_endpoint(endpoint: str) -> int | None:
    """The first `:<digits>` in an endpoint (`0.0.0.0:4317`, `${env:POD_IP}:4317`, `http://x:80/p`); None when there
    is none or it is 0."""
    match = _PORT_IN_ENDPOINT.search(endpoint)
    if match is None:
        return None
    port = int(match.group(1))
    return port if 0 < port < 2**31 else None


def _endpoint_port(conf: Any) -> int | None:
    if not isinstance(conf, Mapping):
        return None
    for key in ("endpoint", "listen_address"):
        value = conf.get(key)
        if isinstance(value, str) and value:
            return port_from_endpoint(value)
    return None


def _port(name: str, number: int, known: _Known) -> Port:
    return Port(
        name=naming.port_name(name, number),
        port=number,
        protocol=known.protocol,
        app_protocol=known.app_protocol,
        target_port=number if known.target else None,
    )


def _receiver_ports(name: str, conf: Any, path: str) -> list[Port]:
    kind = component_type(name)  # as written, for messages
    known_kind = receiver_kind(name)
    if known_kind in _NO_PORT_RECEIVERS:
        return []
    if known_kind in _MULTI_PORT_RECEIVERS:
        table = _MULTI_PORT_RECEIVERS[known_kind]
        protocols = conf.get("protocols") if isinstance(conf, Mapping) else None
        out = []
        for protocol, proto_conf in (protocols or {}).items() if isinstance(protocols, Mapping) else ():
            if protocol not in table:
                raise ComponentError(
                    f"{path}.protocols.{protocol}",
                    f"{kind} has no protocol {protocol!r}; use one of {', '.join(table)}",
                )
            known = table[protocol]
            out.append(_port(f"{name}-{protocol}", _endpoint_port(proto_conf) or known.port, known))
        return out
    single = _SINGLE_PORT_RECEIVERS.get(known_kind)
    found = _endpoint_port(conf)
    if single is None:  # a receiver the operator does not know: a port only when its endpoint names one
        return [Port(naming.port_name(name, found), found)] if found else []
    if found is None and not single.port:
        raise ComponentError(path, f"{kind} has no default port; set its endpoint (or listen_address) with a port")
    return [_port(name, found or single.port, single)]


def _single(name: str, conf: Any, known: _Known | None) -> list[Port]:
    if known is None:
        return []
    return [_port(name, _endpoint_port(conf) or known.port, known)]


def _jaeger_query_ports(name: str, conf: Any, known: _Known) -> list[Port]:
    """Upstream's jaeger_query parser: the HTTP port (`http.endpoint`, default 16686) and, when `grpc.endpoint`
    names another port, that one too as `<name>-2`."""
    conf = conf if isinstance(conf, Mapping) else {}
    http_port = _endpoint_port(conf.get("http")) or known.port
    out = [_port(name, http_port, known)]
    grpc_port = _endpoint_port(conf.get("grpc"))
    if grpc_port and grpc_port != http_port:
        out.append(_port(f"{name}-2", grpc_port, known))
    return out


def ports(config: Mapping[str, Any]) -> tuple[list[Port], list[Port]]:
    """(receiver and exporter ports, extension ports), each sorted by name. ComponentError when a receiver's
    config names an unknown protocol or a receiver without a default port has none."""
    used = enabled(config)
    listening: list[Port] = []
    receivers = config.get("receivers") or {}
    for name in used["receivers"]:
        listening += _receiver_ports(name, receivers.get(name), f"receivers.{name}")
    exporters = config.get("exporters") or {}
    for name in used["exporters"]:
        listening += _single(name, exporters.get(name), _EXPORTERS.get(component_type(name)))
    extension_confs = config.get("extensions") or {}
    extension_ports: list[Port] = []
    for name in used["extensions"]:
        if component_type(name) == "jaeger_query":
            extension_ports += _jaeger_query_ports(name, extension_confs.get(name), _EXTENSIONS["jaeger_query"])
            continue
        extension_ports += _single(name, extension_confs.get(name), _EXTENSIONS.get(component_type(name)))
    return sorted(listening, key=lambda p: p.name), sorted(extension_ports, key=lambda p: p.name)


# --- defaults -------------------------------------------------------------------------------------------------------


def _default_address(conf: Any, port: int) -> dict[str, Any]:
    """The component's config with `endpoint` defaulted to 0.0.0.0:<port>, or given a host when it has none."""
    out = dict(conf) if isinstance(conf, Mapping) else {}
    endpoint = out.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        out["endpoint"] = f"{DEFAULT_ADDRESS}:{_endpoint_port(conf) or port}"
    else:
        parts = endpoint.split(":")
        if len(parts) < 2 or parts[0] == "":
            out["endpoint"] = f"{DEFAULT_ADDRESS}:{parts[-1]}"
    return out


def _default_health_check(conf: Any) -> dict[str, Any]:
    out = dict(conf) if isinstance(conf, Mapping) else {}
    endpoint = out.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        out["endpoint"] = f"{DEFAULT_ADDRESS}:{DEFAULT_HEALTH_CHECK_PORT}"
    else:
        host, colon, port = endpoint.rpartition(":")
        if colon and not host and port:
            out["endpoint"] = f"{DEFAULT_ADDRESS}:{port}"
    if not out.get("path"):
        out["path"] = "/"
    return out


def _default_receiver(name: str, conf: Any) -> Any:
    kind = receiver_kind(name)
    if kind in _MULTI_PORT_RECEIVERS:
        table = _MULTI_PORT_RECEIVERS[kind]
        out = dict(conf) if isinstance(conf, Mapping) else {}
        protocols = out.get("protocols")
        if isinstance(protocols, Mapping) or protocols is None:
            out["protocols"] = {
                p: (_default_address(c, table[p].port) if p in table else c) for p, c in (protocols or {}).items()
            }
        return out
    known = _SINGLE_PORT_RECEIVERS.get(kind)
    if known is None or not known.port:
        return conf
    return _default_address(conf, known.port)


def _telemetry_defaults(service: dict[str, Any]) -> None:
    telemetry = service.get("telemetry")
    telemetry = dict(telemetry) if isinstance(telemetry, Mapping) else {}
    metrics = telemetry.get("metrics")
    metrics = dict(metrics) if isinstance(metrics, Mapping) else {}
    if not metrics.get("address") and not metrics.get("readers"):
        reader = {"pull": {"exporter": {"prometheus": {"host": DEFAULT_ADDRESS, "port": DEFAULT_METRICS_PORT}}}}
        metrics["readers"] = [reader]
    telemetry["metrics"] = metrics
    service["telemetry"] = telemetry


def apply_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as upstream's mutating webhook stores it: listening components used by the service get
    `endpoint: 0.0.0.0:<port>` when it is missing or has no host, `health_check` gets its path, and the
    collector's own metrics get a Prometheus reader on 0.0.0.0:8888 unless an address or readers are set. Every
    other key is kept."""
    out = copy.deepcopy(dict(config))
    service = out.get("service")
    if isinstance(service, Mapping):
        service = dict(service)
        _telemetry_defaults(service)
        out["service"] = service
    used = enabled(out)
    receivers = out.get("receivers")
    if isinstance(receivers, Mapping):
        out["receivers"] = {n: (_default_receiver(n, c) if n in used["receivers"] else c) for n, c in receivers.items()}
    exporters = out.get("exporters")
    if isinstance(exporters, Mapping):
        out["exporters"] = {
            n: (
                _default_address(c, _EXPORTERS[component_type(n)].port)
                if n in used["exporters"] and component_type(n) in _EXPORTERS
                else c
            )
            for n, c in exporters.items()
        }
    extensions = out.get("extensions")
    if isinstance(extensions, Mapping):
        defaulted: dict[str, Any] = {}
        for n, c in extensions.items():
            kind = component_type(n)
            if n not in used["extensions"]:
                defaulted[n] = c
            elif kind == "health_check":
                defaulted[n] = _default_health_check(c)
            elif kind == "jaeger_query":  # its addresses are http.endpoint and grpc.endpoint (upstream's defaulter)
                jaeger = dict(c) if isinstance(c, Mapping) else {}
                jaeger["http"] = _default_address(jaeger.get("http"), _EXTENSIONS[kind].port)
                grpc = jaeger.get("grpc")
                if isinstance(grpc, Mapping) and grpc.get("endpoint"):
                    jaeger["grpc"] = _default_address(grpc, 0)
                defaulted[n] = jaeger
            elif kind in _EXTENSIONS:
                defaulted[n] = _default_address(c, _EXTENSIONS[kind].port)
            else:
                defaulted[n] = c
        out["extensions"] = defaulted
    return out


# --- the collector's own telemetry, and probes ----------------------------------------------------------------------


def metrics_port(config: Mapping[str, Any]) -> int:
    """The port of the collector's own metrics: the `service.telemetry.metrics` address (without readers), else
    the first Prometheus pull reader's port, else 8888."""
    metrics = ((config.get("service") or {}).get("telemetry") or {}).get("metrics") or {}
    if not isinstance(metrics, Mapping):
        return DEFAULT_METRICS_PORT
    readers = metrics.get("readers") or []
    address = metrics.get("address")
    if isinstance(address, str) and address and not readers:
        return port_from_endpoint(address) or DEFAULT_METRICS_PORT
    for reader in readers if isinstance(readers, list) else ():
        prometheus = ((reader or {}).get("pull") or {}).get("exporter", {}).get("prometheus")
        if isinstance(prometheus, Mapping):
            port = prometheus.get("port")
            return port if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536 else 8888
    return DEFAULT_METRICS_PORT


def health_probe(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The HTTP probe the `health_check` extension serves, when the service uses one: the handler of the
    collector's liveness, readiness and startup probes (upstream derives all three from it)."""
    extensions = config.get("extensions") or {}
    for name in enabled(config)["extensions"]:
        if component_type(name) == "health_check":
            conf = extensions.get(name) if isinstance(extensions, Mapping) else None
            path = conf.get("path") if isinstance(conf, Mapping) else None
            port = _endpoint_port(conf) or DEFAULT_HEALTH_CHECK_PORT
            return {"httpGet": {"path": path or "/", "port": port}}
    return None
