"""What a ServiceMonitor endpoint and a PodMonitor endpoint turn into alike.

prometheus-operator builds both kinds' scrape_configs with the same steps around the parts that differ (the
discovery role, the target-selecting rules, the order of the credentials), so those steps live here once.
"""

from __future__ import annotations

from otel_operator.prom.labels import sanitize_label_name
from otel_operator.prom.monitors import common, selectors
from otel_operator.prom.monitors.common import Config, Invalid, Obj
from otel_operator.prom.monitors.context import Context
from otel_operator.prom.monitors.relabelings import metric_relabelings, relabel_configs

SELECTOR_MECHANISMS = ("RelabelSelector", "RoleSelector")


def selector_mechanism(spec: Obj) -> str:
    mechanism = common.opt_str(spec, "selectorMechanism", "spec") or "RelabelSelector"
    if mechanism not in SELECTOR_MECHANISMS:
        raise Invalid(
            "spec.selectorMechanism", f'"{mechanism}" is not allowed; use one of {", ".join(SELECTOR_MECHANISMS)}'
        )
    return mechanism


def honor_flags(ctx: Context, cfg: Config, ep: Obj, path: str) -> None:
    """honor_labels, honor_timestamps and track_timestamps_staleness, right after the job name."""
    common.honor_labels(cfg, common.opt_bool(ep, "honorLabels", path), ctx.options)
    common.honor_timestamps(cfg, common.opt_bool(ep, "honorTimestamps", path), ctx.options)
    common.set_if(cfg, "track_timestamps_staleness", common.opt_bool(ep, "trackTimestampsStaleness", path))


def kubernetes_sd_configs(ctx: Context, spec: Obj, role: str, selector_roles: tuple[str, ...]) -> list[Config]:
    """The monitor's discovery: its namespaces and attachMetadata, and with `selectorMechanism: RoleSelector` its
    label selector handed to the API server for each of `selector_roles`."""
    sd_selectors = None
    if selector_mechanism(spec) == "RoleSelector":
        label = selectors.selector_string(common.opt_obj(spec, "selector", "spec"), "spec.selector")
        sd_selectors = [{"role": selector_role, "label": label} for selector_role in selector_roles]
    names = common.namespaces(
        common.obj_or_empty(spec, "namespaceSelector", "spec"), ctx.namespace, ctx.options, "spec.namespaceSelector"
    )
    metadata = common.attach_metadata(spec, ctx.scrape_class, ctx.scrape_class_path)
    return common.kubernetes_sd(role, names, metadata, sd_selectors)


def scrape_settings(ctx: Context, cfg: Config, ep: Obj, path: str) -> None:
    """Interval, timeout, path, params, scheme and the HTTP flags, between the discovery and the credentials."""
    interval = common.duration(ep, "interval", path)
    timeout = common.duration(ep, "scrapeTimeout", path)
    common.check_timeout(interval, timeout, ctx.options, path, "scrapeTimeout")
    common.set_if(cfg, "scrape_interval", interval or None)
    common.set_if(cfg, "scrape_timeout", timeout or None)
    common.set_if(cfg, "metrics_path", common.string(ep, "path", path) or None)
    common.set_if(cfg, "params", common.str_list_map(ep, "params", path))
    common.set_if(cfg, "scheme", common.lower_enum(ep, "scheme", path, common.SCHEMES))
    common.set_if(cfg, "follow_redirects", common.opt_bool(ep, "followRedirects", path))
    common.set_if(cfg, "enable_http2", common.opt_bool(ep, "enableHttp2", path))


def pod_target_labels(ctx: Context, spec: Obj) -> list[Config]:
    """The copies of the pod labels named by podTargetLabels, the monitor's then the Prometheus resource's."""
    names = [*common.str_list(spec, "podTargetLabels", "spec"), *ctx.options.pod_target_labels]
    return common.label_copies("__meta_kubernetes_pod_label_", names)


def job_label(spec: Obj, meta_prefix: str) -> list[Config]:
    """jobLabel: the job becomes the value of the named Kubernetes label (`<meta_prefix><name>`), when it is set."""
    name = common.string(spec, "jobLabel", "spec")
    return [common.label_copy(meta_prefix + sanitize_label_name(name), "job")] if name else []


def relabel_tail(ctx: Context, ep: Obj, path: str) -> list[Config]:
    """How the relabel chain ends: the scrape class's relabelings, the endpoint's, the enforced namespace label
    and the shard block."""
    rules = relabel_configs(ctx.scrape_class, "relabelings", ctx.scrape_class_path)
    rules += relabel_configs(ep, "relabelings", path)
    rules += common.enforced_namespace_rule(ctx.options, ctx.namespace)
    rules += common.sharding_rules(ctx.options.shards)
    return rules


def after_relabelings(ctx: Context, cfg: Config, spec: Obj, ep: Obj, path: str) -> None:
    """What follows relabel_configs: the monitor's limits, histogram and protocol settings and body size limit,
    then the endpoint's metric relabelings."""
    common.limits(cfg, spec, ctx.options, "spec")
    common.native_histograms(cfg, spec, "spec")
    common.scrape_protocols(cfg, spec, ctx.scrape_class, "spec")
    common.body_size_limit(cfg, spec, "spec")
    metric_relabelings(ctx, cfg, ep, path)
