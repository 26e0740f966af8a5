"""The target allocator's `targetallocator.yaml` (operator reference §5.2), as upstream writes it: yaml.v2 style,
keys sorted, label selectors as `{matchlabels, matchexpressions}` in that order, durations as Go writes them.

`collector_namespace` is not written, as upstream does not: the allocator takes it from `OTELCOL_NAMESPACE`, which
the Deployment sets from the downward API (`metadata.namespace`). A caller that runs the file on its own (outside a
pod, e.g. `diagnose`) may ask for it with `namespace=`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from otel_operator.allocator.config import format_go_duration, parse_go_duration
from otel_operator.manifests import mtls
from otel_operator.manifests.text import Ordered, yaml_v2

DEFAULT_STRATEGY: Final = "consistent-hashing"
_MONITOR_KINDS: Final = (
    ("service_monitor", "serviceMonitor"),
    ("pod_monitor", "podMonitor"),
    ("scrape_config", "scrapeConfig"),
    ("probe", "probe"),
)


def selector(value: Any) -> Ordered | None:
    """A `metav1.LabelSelector` as yaml.v2 writes the Go struct: lower-case field names, empty parts kept."""
    if value is None:
        return None
    match_labels = value.get("matchLabels") or {}
    expressions = [
        Ordered(key=e.get("key", ""), operator=e.get("operator", ""), values=list(e.get("values") or []))
        for e in value.get("matchExpressions") or []
    ]
    return Ordered(matchlabels=dict(sorted(match_labels.items())), matchexpressions=expressions)


def _unescape(scrape_config: Mapping[str, Any]) -> dict[str, Any]:
    """`$$` → `$` in relabel replacements: the collector's config escapes `$` from its own env expansion, the
    allocator's does not need to."""
    out = dict(scrape_config)
    for key in ("relabel_configs", "metric_relabel_configs"):
        rules = out.get(key)
        if isinstance(rules, list):
            out[key] = [
                {**r, "replacement": r["replacement"].replace("$$", "$")}
                if isinstance(r, Mapping) and isinstance(r.get("replacement"), str)
                else r
                for r in rules
            ]
    return out


def go_duration(text: str) -> str:
    """A Go duration string as Go prints it back (`1m` → `1m0s`). ValueError when it is not one."""
    return format_go_duration(parse_go_duration(text))


def prometheus_cr(cr: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": True}
    for key, field in _MONITOR_KINDS:
        out[f"{key}_selector"] = selector(cr.get(f"{field}Selector"))
        out[f"{key}_namespace_selector"] = selector(cr.get(f"{field}NamespaceSelector"))
    for key, field in (("scrape_interval", "scrapeInterval"), ("evaluation_interval", "evaluationInterval")):
        if cr.get(field):
            out[key] = cr[field]
    for key, field in (
        ("scrape_protocols", "scrapeProtocols"),
        ("scrape_classes", "scrapeClasses"),
        ("allow_namespaces", "allowNamespaces"),
        ("deny_namespaces", "denyNamespaces"),
        ("secret_namespaces", "secretNamespaces"),
    ):
        if cr.get(field):
            out[key] = list(cr[field])
    if cr.get("denyFSAccessThroughSMs"):
        out["deny_fs_access_through_sms"] = True
    return out


def allocator_config(
    spec: Mapping[str, Any],
    *,
    namespace: str | None = None,
    collector_selector: Mapping[str, str] | None,
    collector_prometheus: Mapping[str, Any],
    fallback_strategy: bool = False,
) -> dict[str, Any]:
    """The allocator's configuration as data. `spec` has a TargetAllocator's spec shape; `collector_prometheus` is
    the collector's prometheus receiver `config` ({} when there is no collector). `fallback_strategy` is the gate
    operator.targetallocator.fallbackstrategy: upstream then writes `allocation_fallback_strategy:
    consistent-hashing` whatever the strategy (only per-node uses it: targets without a node still get a collector).
    `namespace`, when given, is written as `collector_namespace` (upstream never writes it; see the module doc)."""
    out: dict[str, Any] = {
        "allocation_strategy": spec.get("allocationStrategy") or DEFAULT_STRATEGY,
        "collector_selector": (
            Ordered(matchlabels=dict(sorted(collector_selector.items())), matchexpressions=[])
            if collector_selector is not None
            else None
        ),
        "filter_strategy": spec.get("filterStrategy") or "",
    }
    if namespace:
        out["collector_namespace"] = namespace
    if fallback_strategy:
        out["allocation_fallback_strategy"] = DEFAULT_STRATEGY
    prom: dict[str, Any] = {}
    global_config = spec.get("global") or collector_prometheus.get("global")
    if global_config:
        prom["global"] = dict(global_config)
    scrape_configs: Sequence[Any] = [
        *(spec.get("scrapeConfigs") or []),
        *(_unescape(c) if isinstance(c, Mapping) else c for c in collector_prometheus.get("scrape_configs") or []),
    ]
    if scrape_configs:
        prom["scrape_configs"] = list(scrape_configs)
    if prom:
        out["config"] = prom
    cr = spec.get("prometheusCR") or {}
    if cr.get("enabled"):
        out["prometheus_cr"] = prometheus_cr(cr)
    if mtls.enabled(spec.get("mtls")):
        out["https"] = mtls.allocator_https()
    if spec.get("allowInsecureAuthSecrets"):
        out["allow_insecure_auth_secrets"] = True
    grace = spec.get("collectorNotReadyGracePeriod")
    if grace:
        out["collector_not_ready_grace_period"] = go_duration(str(grace))
    return out


def allocator_yaml(config: Mapping[str, Any]) -> str:
    return yaml_v2(config)
