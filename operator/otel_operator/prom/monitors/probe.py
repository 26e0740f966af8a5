"""Probe → one scrape_config, job `probe/<ns>/<name>`, scraping the prober with each target as `?target=`.

Targets are either a static list (`targets.staticConfig`, which wins when both are set) or Ingresses found by
the ingress role (`targets.ingress`). The shard hash is taken over `__param_target`, the probed target, not the
prober's address that every target shares.
"""

from __future__ import annotations

import re

from otel_operator.prom.monitors import auth, common, selectors
from otel_operator.prom.monitors.common import Config, Invalid, Obj, join
from otel_operator.prom.monitors.context import Context
from otel_operator.prom.monitors.relabelings import metric_relabelings, relabel_configs

DEFAULT_PROBER_PATH = "/probe"  # the CRD's default for spec.prober.path

_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[-A-Za-z0-9_]*[A-Za-z0-9])?)*\.?$"
)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def _check_prober_url(url: str, path: str) -> None:
    """prometheus-operator accepts `host` or `host:port` only (no scheme, no path)."""
    host, _, port = url.partition(":")
    hint = "; use host or host:port, e.g. blackbox-exporter.monitoring:9115"
    if not url:
        raise Invalid(path, f"required field is missing{hint}")
    if not (_HOST.match(host) or _IPV4.match(host)):
        raise Invalid(path, f'"{url}" has an invalid host "{host}"{hint}')
    if ":" in url and not (port.isdigit() and 0 < int(port) < 65536):
        raise Invalid(path, f'"{url}" has an invalid port "{port}"{hint}')


def _params(spec: Obj) -> Config | None:
    module = common.string(spec, "module", "spec")
    params: Config = {}
    if module:
        params["module"] = [module]
    for i, param in enumerate(common.obj_list(spec, "params", "spec")):
        where = f"spec.params[{i}]"
        name = common.string(param, "name", where)
        if not name:
            raise Invalid(join(where, "name"), "required field is missing")
        if module and name == "module":
            continue  # spec.module wins
        params[name] = common.str_list(param, "values", where)
    return params or None


def _static(ctx: Context, static: Obj, prober_url: str) -> tuple[Config, list[Config]]:
    path = "spec.targets.staticConfig"
    labels = common.str_map(static, "labels", path)
    labels.setdefault("namespace", ctx.namespace)
    sd: Config = {"targets": common.str_list(static, "static", path), "labels": dict(sorted(labels.items()))}
    rules: list[Config] = [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": prober_url},
    ]
    rules += relabel_configs(ctx.scrape_class, "relabelings", ctx.scrape_class_path)
    rules += relabel_configs(static, "relabelingConfigs", path)
    return {"static_configs": [sd]}, rules


def _ingress(ctx: Context, ingress: Obj, prober_url: str) -> tuple[Config, list[Config]]:
    path = "spec.targets.ingress"
    selector = common.opt_obj(ingress, "selector", path)
    rules = selectors.relabel_rules(selector, "__meta_kubernetes_ingress_", join(path, "selector"))
    ns_selector = common.obj_or_empty(ingress, "namespaceSelector", path)
    names = common.namespaces(ns_selector, ctx.namespace, ctx.options, join(path, "namespaceSelector"))
    rules += [
        {
            "source_labels": ["__meta_kubernetes_ingress_scheme", "__address__", "__meta_kubernetes_ingress_path"],
            "separator": ";",
            "regex": "(.+);(.+);(.+)",
            "target_label": "__param_target",
            "replacement": "${1}://${2}${3}",
            "action": "replace",
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_ingress_name"], "target_label": "ingress"},
        {
            "source_labels": ["__address__"],
            "separator": ";",
            "regex": "(.*)",
            "target_label": "__tmp_ingress_address",
            "replacement": "$1",
            "action": "replace",
        },
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": prober_url},
    ]
    rules += relabel_configs(ctx.scrape_class, "relabelings", ctx.scrape_class_path)
    rules += relabel_configs(ingress, "relabelingConfigs", path)
    return {"kubernetes_sd_configs": common.kubernetes_sd("ingress", names, None)}, rules


def scrape_configs(ctx: Context, monitor: Obj) -> list[Config]:
    spec = common.obj_or_empty(monitor, "spec", "")
    prober = common.obj_or_empty(spec, "prober", "spec")
    prober_url = common.string(prober, "url", "spec.prober")
    _check_prober_url(prober_url, "spec.prober.url")
    targets = common.obj_or_empty(spec, "targets", "spec")
    static = common.opt_obj(targets, "staticConfig", "spec.targets")
    ingress = common.opt_obj(targets, "ingress", "spec.targets")
    if static is None and ingress is None:
        raise Invalid("spec.targets", "set staticConfig or ingress; a Probe needs targets")

    auth.check_exclusive(spec, "spec")

    cfg: Config = {"job_name": f"probe/{ctx.namespace}/{ctx.name}"}
    common.honor_timestamps(cfg, True, ctx.options)
    cfg["metrics_path"] = common.string(prober, "path", "spec.prober") or DEFAULT_PROBER_PATH
    interval = common.duration(spec, "interval", "spec")
    timeout = common.duration(spec, "scrapeTimeout", "spec")
    common.check_timeout(interval, timeout, ctx.options, "spec", "scrapeTimeout")
    common.set_if(cfg, "scrape_interval", interval or None)
    common.set_if(cfg, "scrape_timeout", timeout or None)
    common.set_if(cfg, "scheme", common.lower_enum(prober, "scheme", "spec.prober", common.SCHEMES))
    common.set_if(cfg, "params", _params(spec))
    common.limits(cfg, spec, ctx.options, "spec")
    common.native_histograms(cfg, spec, "spec")
    common.scrape_protocols(cfg, spec, ctx.scrape_class, "spec")
    # A Probe's own bodySizeLimit is not used by prometheus-operator; only an enforced one would be.
    cfg.update(auth.render_proxy(ctx, prober, "spec.prober"))

    rules = common.init_relabelings()
    job_name = common.string(spec, "jobName", "spec")
    if job_name:
        rules.append({"target_label": "job", "replacement": job_name})
    if static is not None:
        sd, target_rules = _static(ctx, static, prober_url)
    else:
        assert ingress is not None
        sd, target_rules = _ingress(ctx, ingress, prober_url)
    cfg.update(sd)
    rules += target_rules
    rules += common.enforced_namespace_rule(ctx.options, ctx.namespace)
    rules += common.sharding_rules(ctx.options.shards, "__param_target")
    cfg["relabel_configs"] = rules

    tls = common.opt_obj(spec, "tlsConfig", "spec")
    common.set_if(cfg, "tls_config", auth.merged_tls(ctx, tls, "spec.tlsConfig", safe=True))
    bearer = common.opt_obj(spec, "bearerTokenSecret", "spec")
    if bearer is not None and common.string(bearer, "name", "spec.bearerTokenSecret"):
        cfg["bearer_token"] = ctx.store.secret_key(ctx.namespace, bearer, "spec.bearerTokenSecret")
    common.set_if(
        cfg, "basic_auth", auth.render_basic_auth(ctx, common.opt_obj(spec, "basicAuth", "spec"), "spec.basicAuth")
    )
    common.set_if(cfg, "oauth2", auth.render_oauth2(ctx, common.opt_obj(spec, "oauth2", "spec"), "spec.oauth2"))
    authz = common.opt_obj(spec, "authorization", "spec")
    common.set_if(cfg, "authorization", auth.merged_authorization(ctx, authz, "spec.authorization"))

    metric_relabelings(ctx, cfg, spec, "spec")
    return [cfg]
