"""PodMonitor → one scrape_config per `spec.podMetricsEndpoints[i]`, job `podMonitor/<ns>/<name>/<i>`.

Targets come from the pod role. Unlike a ServiceMonitor, the phase filter comes before the selector rules, the
job label is the literal `<ns>/<name>`, and TLS is written before the credentials.
"""

from __future__ import annotations

from otel_operator.prom.monitors import auth, common, selectors
from otel_operator.prom.monitors.common import Config, Invalid, Obj, Port, join
from otel_operator.prom.monitors.context import Context
from otel_operator.prom.monitors.relabelings import relabel_configs
from otel_operator.prom.monitors.servicemonitor import SCHEMES, selector_mechanism


def _port(ep: Obj, path: str) -> Port:
    """The endpoint's port name, portNumber or deprecated targetPort, with their types checked."""
    port = ep.get("port")
    if port is not None and not isinstance(port, str):
        raise Invalid(
            join(path, "port"), f"expected the name of a container port, got {port!r}; use portNumber for a number"
        )
    number = common.opt_int(ep, "portNumber", path, minimum=0) or 0
    target_port = common.target_port(ep, path)
    return Port(name=port or "", number=number, target=target_port)


def _relabelings(ctx: Context, spec: Obj, ep: Obj, path: str, port: Port) -> list[Config]:
    rules = common.init_relabelings()
    if common.opt_bool(ep, "filterRunning", path) is not False:
        rules.append(common.running_filter())
    if selector_mechanism(spec) == "RelabelSelector":
        rules += selectors.relabel_rules(
            common.opt_obj(spec, "selector", "spec"), "__meta_kubernetes_pod_", "spec.selector"
        )

    rules += common.port_filter(port, "__meta_kubernetes_pod_container_port_name")

    rules += [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    for label in [*common.str_list(spec, "podTargetLabels", "spec"), *ctx.options.pod_target_labels]:
        name = common.sanitize_label_name(label)
        rules.append(common.label_copy(f"__meta_kubernetes_pod_label_{name}", name))

    rules.append({"target_label": "job", "replacement": f"{ctx.namespace}/{ctx.name}"})
    job_label = common.string(spec, "jobLabel", "spec")
    if job_label:
        rules.append(common.label_copy(f"__meta_kubernetes_pod_label_{common.sanitize_label_name(job_label)}", "job"))

    # portNumber alone gives no endpoint label, as in prometheus-operator.
    rules += common.endpoint_rule(port)

    rules += relabel_configs(ctx.scrape_class, "relabelings", ctx.scrape_class_path)
    rules += relabel_configs(ep, "relabelings", path)
    rules += common.enforced_namespace_rule(ctx.options, ctx.namespace)
    rules += common.sharding_rules(ctx.options.shards)
    return rules


def endpoint_config(ctx: Context, spec: Obj, ep: Obj, index: int) -> Config:
    """The scrape_config for `spec.podMetricsEndpoints[index]`."""
    path = f"spec.podMetricsEndpoints[{index}]"
    port = _port(ep, path)
    auth.check_exclusive(ep, path)

    cfg: Config = {"job_name": f"podMonitor/{ctx.namespace}/{ctx.name}/{index}"}
    common.honor_labels(cfg, common.opt_bool(ep, "honorLabels", path), ctx.options)
    common.honor_timestamps(cfg, common.opt_bool(ep, "honorTimestamps", path), ctx.options)
    common.set_if(cfg, "track_timestamps_staleness", common.opt_bool(ep, "trackTimestampsStaleness", path))

    sd_selectors = None
    if selector_mechanism(spec) == "RoleSelector":
        label = selectors.selector_string(common.opt_obj(spec, "selector", "spec"), "spec.selector")
        sd_selectors = [{"role": "pod", "label": label}]
    names = common.namespaces(
        common.obj_or_empty(spec, "namespaceSelector", "spec"), ctx.namespace, ctx.options, "spec.namespaceSelector"
    )
    metadata = common.attach_metadata(spec, ctx.scrape_class, ctx.scrape_class_path)
    cfg["kubernetes_sd_configs"] = common.kubernetes_sd("pod", names, metadata, sd_selectors)

    interval = common.duration(ep, "interval", path)
    timeout = common.duration(ep, "scrapeTimeout", path)
    common.check_timeout(interval, timeout, ctx.options, path, "scrapeTimeout")
    common.set_if(cfg, "scrape_interval", interval or None)
    common.set_if(cfg, "scrape_timeout", timeout or None)
    common.set_if(cfg, "metrics_path", common.string(ep, "path", path) or None)
    common.set_if(cfg, "params", common.str_list_map(ep, "params", path))
    common.set_if(cfg, "scheme", common.lower_enum(ep, "scheme", path, SCHEMES))
    common.set_if(cfg, "follow_redirects", common.opt_bool(ep, "followRedirects", path))
    common.set_if(cfg, "enable_http2", common.opt_bool(ep, "enableHttp2", path))
    tls = common.opt_obj(ep, "tlsConfig", path)
    common.set_if(cfg, "tls_config", auth.merged_tls(ctx, tls, join(path, "tlsConfig"), safe=True))
    bearer = common.opt_obj(ep, "bearerTokenSecret", path)
    if bearer is not None and common.string(bearer, "name", join(path, "bearerTokenSecret")):
        cfg["bearer_token"] = ctx.store.secret_key(ctx.namespace, bearer, join(path, "bearerTokenSecret"))
    basic = common.opt_obj(ep, "basicAuth", path)
    common.set_if(cfg, "basic_auth", auth.render_basic_auth(ctx, basic, join(path, "basicAuth")))
    common.set_if(cfg, "oauth2", auth.render_oauth2(ctx, common.opt_obj(ep, "oauth2", path), join(path, "oauth2")))
    cfg.update(auth.render_proxy(ctx, ep, path))
    authz = common.opt_obj(ep, "authorization", path)
    common.set_if(cfg, "authorization", auth.merged_authorization(ctx, authz, join(path, "authorization")))

    cfg["relabel_configs"] = _relabelings(ctx, spec, ep, path, port)

    common.limits(cfg, spec, ctx.options, "spec")
    common.native_histograms(cfg, spec, "spec")
    common.scrape_protocols(cfg, spec, ctx.scrape_class, "spec")
    common.body_size_limit(cfg, spec, "spec")
    metric_rules = relabel_configs(ctx.scrape_class, "metricRelabelings", ctx.scrape_class_path)
    metric_rules += relabel_configs(ep, "metricRelabelings", path)
    metric_rules += common.enforced_namespace_rule(ctx.options, ctx.namespace)
    if metric_rules:
        cfg["metric_relabel_configs"] = metric_rules
    return cfg


def scrape_configs(ctx: Context, monitor: Obj) -> list[Config]:
    spec = common.obj_or_empty(monitor, "spec", "")
    selectors.validate(common.opt_obj(spec, "selector", "spec"), "spec.selector")
    endpoints = common.obj_list(spec, "podMetricsEndpoints", "spec")
    return [endpoint_config(ctx, spec, ep, i) for i, ep in enumerate(endpoints)]
