"""PodMonitor → one scrape_config per `spec.podMetricsEndpoints[i]`, job `podMonitor/<ns>/<name>/<i>`.

Targets come from the pod role. Unlike a ServiceMonitor, the phase filter comes before the selector rules, the
job label is the literal `<ns>/<name>`, and TLS is written before the credentials.
"""

from __future__ import annotations

from otel_operator.prom.monitors import auth, common, endpoint, selectors
from otel_operator.prom.monitors.common import Config, Invalid, Obj, Port, join
from otel_operator.prom.monitors.context import Context


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
    if endpoint.selector_mechanism(spec) == "RelabelSelector":
        rules += selectors.relabel_rules(
            common.opt_obj(spec, "selector", "spec"), "__meta_kubernetes_pod_", "spec.selector"
        )

    rules += common.port_filter(port, "__meta_kubernetes_pod_container_port_name")

    rules += [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    rules += endpoint.pod_target_labels(ctx, spec)

    rules.append({"target_label": "job", "replacement": f"{ctx.namespace}/{ctx.name}"})
    rules += endpoint.job_label(spec, "__meta_kubernetes_pod_label_")

    # portNumber alone gives no endpoint label, as in prometheus-operator.
    rules += common.endpoint_rule(port)
    return rules + endpoint.relabel_tail(ctx, ep, path)


def endpoint_config(ctx: Context, spec: Obj, ep: Obj, index: int) -> Config:
    """The scrape_config for `spec.podMetricsEndpoints[index]`."""
    path = f"spec.podMetricsEndpoints[{index}]"
    port = _port(ep, path)
    auth.check_exclusive(ep, path)
    authz = auth.endpoint_authorization(ep, path)

    cfg: Config = {"job_name": f"podMonitor/{ctx.namespace}/{ctx.name}/{index}"}
    endpoint.honor_flags(ctx, cfg, ep, path)
    cfg["kubernetes_sd_configs"] = endpoint.kubernetes_sd_configs(ctx, spec, "pod", ("pod",))
    endpoint.scrape_settings(ctx, cfg, ep, path)
    # TLS before the credentials, unlike a ServiceMonitor.
    tls = common.opt_obj(ep, "tlsConfig", path)
    common.set_if(cfg, "tls_config", auth.merged_tls(ctx, tls, join(path, "tlsConfig"), safe=True))
    bearer = common.opt_obj(ep, "bearerTokenSecret", path)
    if bearer is not None and common.string(bearer, "name", join(path, "bearerTokenSecret")):
        cfg["bearer_token"] = ctx.store.secret_key(ctx.namespace, bearer, join(path, "bearerTokenSecret"))
    basic = common.opt_obj(ep, "basicAuth", path)
    common.set_if(cfg, "basic_auth", auth.render_basic_auth(ctx, basic, join(path, "basicAuth")))
    common.set_if(cfg, "oauth2", auth.render_oauth2(ctx, common.opt_obj(ep, "oauth2", path), join(path, "oauth2")))
    cfg.update(auth.render_proxy(ctx, ep, path))
    common.set_if(cfg, "authorization", auth.merged_authorization(ctx, authz, join(path, "authorization")))

    cfg["relabel_configs"] = _relabelings(ctx, spec, ep, path, port)
    endpoint.after_relabelings(ctx, cfg, spec, ep, path)
    return cfg


def scrape_configs(ctx: Context, monitor: Obj) -> list[Config]:
    spec = common.obj_or_empty(monitor, "spec", "")
    selectors.validate(common.opt_obj(spec, "selector", "spec"), "spec.selector")
    endpoints = common.obj_list(spec, "podMetricsEndpoints", "spec")
    return [endpoint_config(ctx, spec, ep, i) for i, ep in enumerate(endpoints)]
