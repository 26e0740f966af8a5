"""The collector's `collector.yaml`, its hash, and the rewrite that points its prometheus receiver at the target
allocator (operator reference §4).

- The hash (`opentelemetry-operator-config/sha256`, and the first 8 characters in the ConfigMap's name) is the
  SHA-256 of Go's JSON of the *defaulted* `spec.config`, before any rewrite. Go serialises the config as a struct:
  `receivers, exporters, processors, connectors, extensions, service{extensions, telemetry, pipelines}`, each
  pipeline `exporters, processors, receivers`, with empty optional parts left out and keys inside sorted.
- Without an allocator, `collector.yaml` is that struct as YAML (indent 2).
- With one, the config goes through a generic map: every key sorted, indent 4, and the receiver named `prometheus`
  loses `config.scrape_configs` (they move to the allocator) and gains `target_allocator`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_operator.manifests import labels, mtls, naming
from otel_operator.manifests.text import Ordered, collector_yaml, go_json, sort_keys

PROMETHEUS: Final = "prometheus"
COLLECTOR_ID: Final = "${POD_NAME}"  # the collector pod's name, from the POD_NAME variable the container gets


def struct_order(config: Mapping[str, Any]) -> Ordered:
    """The config as Go's `v1beta1.Config` holds it: known sections only, in field order, empty optional ones left
    out (maps inside stay maps)."""
    out = Ordered()
    out["receivers"] = config.get("receivers")
    out["exporters"] = config.get("exporters")
    for optional in ("processors", "connectors", "extensions"):
        if config.get(optional) is not None:
            out[optional] = config[optional]
    service = config.get("service") or {}
    svc = Ordered()
    if service.get("extensions"):
        svc["extensions"] = service["extensions"]
    if service.get("telemetry") is not None:
        svc["telemetry"] = service["telemetry"]
    pipelines: dict[str, Any] = {}
    for name, pipeline in (service.get("pipelines") or {}).items():
        if pipeline is None:
            pipelines[name] = None
            continue
        entry = Ordered(exporters=pipeline.get("exporters"))
        if pipeline.get("processors"):
            entry["processors"] = pipeline["processors"]
        entry["receivers"] = pipeline.get("receivers")
        pipelines[name] = entry
    svc["pipelines"] = pipelines
    out["service"] = svc
    return out


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of Go's JSON of the defaulted config: the pod-template annotation and the ConfigMap suffix."""
    return labels.sha256(go_json(struct_order(config)))


def plain_yaml(config: Mapping[str, Any]) -> str:
    """`collector.yaml` without a target allocator."""
    return collector_yaml(sort_keys(struct_order(config)), indent=2)


@dataclass(frozen=True, slots=True)
class AllocatorLink:
    """Where the collector's prometheus receiver gets its targets."""

    allocator_name: str  # the collector's name, or the TargetAllocator's it is labelled with
    interval: str = "30s"  # Go duration string
    https: bool = False  # mutual TLS (the embedded allocator's mtls.enabled)


def _plain(value: Any) -> Any:
    """Ordered mappings as plain ones (the rewrite goes through a generic map, which is then sorted)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def rewrite_for_allocator(config: Mapping[str, Any], link: AllocatorLink) -> dict[str, Any]:
    """The config the collector runs with an allocator: the `prometheus` receiver keeps everything but its scrape
    configs (`config: {}` stays when nothing else is left), and `target_allocator` points at the allocator."""
    out: dict[str, Any] = _plain(copy.deepcopy(struct_order(config)))
    receivers = out.get("receivers")
    if not isinstance(receivers, dict) or PROMETHEUS not in receivers:
        return out
    receiver = receivers[PROMETHEUS]
    receiver = dict(receiver) if isinstance(receiver, Mapping) else {}
    prom_config = receiver.get("config")
    if isinstance(prom_config, Mapping):
        receiver["config"] = {k: v for k, v in prom_config.items() if k != "scrape_configs"}
    target = receiver.get("target_allocator")
    target = dict(target) if isinstance(target, Mapping) else {}
    target["endpoint"] = naming.allocator_endpoint(link.allocator_name, https=link.https)
    target["interval"] = link.interval
    target["collector_id"] = COLLECTOR_ID
    if link.https:  # the allocator's mutual-TLS listener, with the client certificate mounted at /tls
        target["tls"] = mtls.collector_tls()
    receiver["target_allocator"] = target
    receivers[PROMETHEUS] = receiver
    return out


def allocator_yaml(config: Mapping[str, Any], link: AllocatorLink) -> str:
    """`collector.yaml` with a target allocator."""
    return collector_yaml(sort_keys(rewrite_for_allocator(config, link)), indent=4)


def prometheus_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `prometheus` receiver's `config` (global, scrape_configs, ...), {} when it has none."""
    receiver = (config.get("receivers") or {}).get(PROMETHEUS)
    prom = receiver.get("config") if isinstance(receiver, Mapping) else None
    return prom if isinstance(prom, Mapping) else {}
