"""ScrapeConfig (monitoring.coreos.com/v1alpha1) → one scrape_config, job `scrapeConfig/<ns>/<name>`.

A ScrapeConfig is close to a raw Prometheus job: prometheus-operator injects only the job-name rule, the scrape
class rules and `spec.jobName`, and adds the shard block only when there is more than one shard and no hashmod
rule of the user's. Static, file, HTTP, Kubernetes and DNS service discovery are supported; a ScrapeConfig
using another mechanism (Consul, EC2, ...) is reported rather than half-translated.
"""

from __future__ import annotations

from collections.abc import Callable

from otel_operator.prom.labels import NameScheme
from otel_operator.prom.monitors import auth, common
from otel_operator.prom.monitors.common import Config, Invalid, Obj, join
from otel_operator.prom.monitors.context import Context
from otel_operator.prom.monitors.relabelings import metric_relabelings, relabel_configs

K8S_ROLES = ("pod", "service", "endpoints", "endpointslice", "node", "ingress")
# Which selector roles each Kubernetes SD role accepts (Prometheus rejects the others).
K8S_SELECTOR_ROLES = {
    "pod": ("pod",),
    "service": ("service",),
    "endpoints": ("pod", "service", "endpoints"),
    "endpointslice": ("pod", "service", "endpointslice"),
    "node": ("node",),
    "ingress": ("ingress",),
}
DNS_TYPES = ("SRV", "A", "AAAA", "MX", "NS")
NAME_VALIDATION = {"UTF8": "utf8", "Legacy": "legacy"}
NAME_ESCAPING = {"AllowUTF8": "allow-utf-8", "Underscores": "underscores", "Dots": "dots", "Values": "values"}


def _http_client(ctx: Context, sd: Obj, path: str) -> Config:
    """basic_auth, authorization, oauth2 and proxy of a service-discovery block, in the given order of keys."""
    out: Config = {}
    common.set_if(
        out, "basic_auth", auth.render_basic_auth(ctx, common.opt_obj(sd, "basicAuth", path), join(path, "basicAuth"))
    )
    authz = common.opt_obj(sd, "authorization", path)
    common.set_if(out, "authorization", auth.render_authorization(ctx, authz, join(path, "authorization")))
    return out


def _tls(ctx: Context, sd: Obj, path: str) -> Config:
    tls = auth.render_safe_tls(ctx, common.opt_obj(sd, "tlsConfig", path), join(path, "tlsConfig"))
    return {} if tls is None else {"tls_config": tls}


def _oauth2(ctx: Context, sd: Obj, path: str) -> Config:
    oauth2 = auth.render_oauth2(ctx, common.opt_obj(sd, "oauth2", path), join(path, "oauth2"))
    return {} if oauth2 is None else {"oauth2": oauth2}


def _static(ctx: Context, sc: Obj, where: str) -> Config:
    return {"targets": common.str_list(sc, "targets", where), "labels": common.str_map(sc, "labels", where)}


def _file(ctx: Context, sd: Obj, where: str) -> Config:
    cfg: Config = {"files": common.str_list(sd, "files", where)}
    common.set_if(cfg, "refresh_interval", common.duration(sd, "refreshInterval", where) or None)
    return cfg


def _http(ctx: Context, sd: Obj, where: str) -> Config:
    url = common.string(sd, "url", where)
    if not url.startswith(("http://", "https://")):
        raise Invalid(join(where, "url"), f'"{url}" must be an http:// or https:// URL')
    auth.check_exclusive(sd, where)
    cfg = _http_client(ctx, sd, where)
    cfg.update(_tls(ctx, sd, where))
    cfg.update(auth.render_proxy(ctx, sd, where))
    cfg.update(_oauth2(ctx, sd, where))
    cfg["url"] = url
    common.set_if(cfg, "refresh_interval", common.duration(sd, "refreshInterval", where) or None)
    common.set_if(cfg, "follow_redirects", common.opt_bool(sd, "followRedirects", where))
    common.set_if(cfg, "enable_http2", common.opt_bool(sd, "enableHTTP2", where))
    return cfg


# Prometheus HTTP client settings: any of them (or redirects/HTTP2 turned off) makes a Kubernetes SD config need an
# explicit api_server.
_CLIENT_KEYS = frozenset(
    {
        "authorization",
        "basic_auth",
        "oauth2",
        "tls_config",
        "bearer_token",
        "bearer_token_file",
        "proxy_url",
        "no_proxy",
        "proxy_from_environment",
        "proxy_connect_header",
        "http_headers",
    }
)


def _kubernetes(ctx: Context, sd: Obj, where: str) -> Config:
    cfg: Config = {}
    api_server = common.opt_str(sd, "apiServer", where)
    common.set_if(cfg, "api_server", api_server)
    role = common.lower_enum(sd, "role", where, K8S_ROLES)
    if role is None:
        raise Invalid(join(where, "role"), f"required field is missing; use one of {', '.join(K8S_ROLES)}")
    cfg["role"] = role
    auth.check_exclusive(sd, where)
    cfg.update(_http_client(ctx, sd, where))
    cfg.update(_oauth2(ctx, sd, where))
    cfg.update(auth.render_proxy(ctx, sd, where))
    common.set_if(cfg, "follow_redirects", common.opt_bool(sd, "followRedirects", where))
    common.set_if(cfg, "enable_http2", common.opt_bool(sd, "enableHTTP2", where))
    cfg.update(_tls(ctx, sd, where))
    custom = sorted(k for k in cfg if k in _CLIENT_KEYS) + [
        k for k in ("follow_redirects", "enable_http2") if cfg.get(k) is False
    ]
    if custom and api_server is None:
        # Prometheus refuses the whole configuration then ("to use custom HTTP client configuration please provide
        # the 'api_server' URL explicitly"), and a collector reads /scrape_configs as one document: one such job
        # would stop every job of every collector, so it is rejected here, alone
        raise Invalid(
            join(where, "apiServer"),
            f"required when HTTP client settings are set ({', '.join(custom)}): Prometheus accepts custom client "
            "settings only for an explicit API server; set apiServer, or remove them to use the in-cluster API",
        )
    namespaces = common.opt_obj(sd, "namespaces", where)
    if namespaces is not None:
        ns_path = join(where, "namespaces")
        own = common.opt_bool(namespaces, "ownNamespace", ns_path)
        if own and api_server is not None:
            raise Invalid(join(ns_path, "ownNamespace"), "cannot be used together with apiServer")
        block: Config = {"names": common.str_list(namespaces, "names", ns_path)}
        common.set_if(block, "own_namespace", own)
        cfg["namespaces"] = block
    selectors = []
    for j, selector in enumerate(common.obj_list(sd, "selectors", where)):
        sel_path = join(join(where, "selectors"), j)
        sel_role = common.lower_enum(selector, "role", sel_path, K8S_ROLES)
        if sel_role not in K8S_SELECTOR_ROLES[role]:
            allowed = ", ".join(K8S_SELECTOR_ROLES[role])
            raise Invalid(join(sel_path, "role"), f"the {role} role supports only {allowed} selectors")
        item: Config = {"role": sel_role}
        common.set_if(item, "label", common.opt_str(selector, "label", sel_path))
        common.set_if(item, "field", common.opt_str(selector, "field", sel_path))
        selectors.append(item)
    if selectors:
        cfg["selectors"] = selectors
    metadata = common.opt_obj(sd, "attachMetadata", where)
    if metadata is not None and role in ("pod", "endpoints", "endpointslice"):
        cfg["attach_metadata"] = {"node": common.opt_bool(metadata, "node", join(where, "attachMetadata"))}
    return cfg


def _dns(ctx: Context, sd: Obj, where: str) -> Config:
    cfg: Config = {"names": common.str_list(sd, "names", where)}
    common.set_if(cfg, "refresh_interval", common.duration(sd, "refreshInterval", where) or None)
    kind = common.opt_str(sd, "type", where)
    if kind is not None and kind not in DNS_TYPES:
        raise Invalid(join(where, "type"), f'"{kind}" is not allowed; use one of {", ".join(DNS_TYPES)}')
    common.set_if(cfg, "type", kind)
    common.set_if(cfg, "port", common.opt_int(sd, "port", where))
    return cfg


SdBuilder = Callable[[Context, Obj, str], Config]  # one list item (and its path) → one Prometheus *_sd_configs entry

# The service discovery a ScrapeConfig may use: its list field, the Prometheus key and the item builder, in the
# order prometheus-operator writes them.
SD_CONFIGS: tuple[tuple[str, str, SdBuilder], ...] = (
    ("staticConfigs", "static_configs", _static),
    ("fileSDConfigs", "file_sd_configs", _file),
    ("httpSDConfigs", "http_sd_configs", _http),
    ("kubernetesSDConfigs", "kubernetes_sd_configs", _kubernetes),
    ("dnsSDConfigs", "dns_sd_configs", _dns),
)
SUPPORTED_SD = tuple(field for field, _, _ in SD_CONFIGS)


def _service_discovery(ctx: Context, spec: Obj) -> Config:
    """Each non-empty `spec.<list>` of SD_CONFIGS, translated item by item."""
    out: Config = {}
    for field, key, build in SD_CONFIGS:
        items = common.obj_list(spec, field, "spec")
        common.set_if(out, key, [build(ctx, item, f"spec.{field}[{i}]") for i, item in enumerate(items)] or None)
    return out


def _enum(spec: Obj, key: str, mapping: dict[str, str]) -> str | None:
    value = common.opt_str(spec, key, "spec")
    if value is None:
        return None
    if value not in mapping:
        raise Invalid(join("spec", key), f'"{value}" is not allowed; use one of {", ".join(mapping)}')
    return mapping[value]


def scrape_configs(ctx: Context, monitor: Obj) -> list[Config]:
    spec = common.obj_or_empty(monitor, "spec", "")
    unsupported = sorted(k for k in spec if k.endswith("SDConfigs") and k not in SUPPORTED_SD and spec[k])
    if unsupported:
        raise Invalid(
            join("spec", unsupported[0]),
            f"not supported by otel-operator yet; supported: {', '.join(SUPPORTED_SD)}",
        )
    auth.check_exclusive(spec, "spec")
    options = ctx.options
    # The job's name validation scheme decides which label names its rules (the scrape class's too) may write.
    validation = _enum(spec, "nameValidationScheme", NAME_VALIDATION)
    scheme = NameScheme(validation) if validation else NameScheme.UTF8

    cfg: Config = {"job_name": f"scrapeConfig/{ctx.namespace}/{ctx.name}"}
    rules = common.init_relabelings()
    rules += relabel_configs(ctx.scrape_class, "relabelings", ctx.scrape_class_path, scheme=scheme)
    job_name = common.opt_str(spec, "jobName", "spec")
    if job_name is not None:
        rules.append({"target_label": "job", "action": "replace", "replacement": job_name})

    timestamps = common.opt_bool(spec, "honorTimestamps", "spec")
    if timestamps is not None:
        common.honor_timestamps(cfg, timestamps, options)
    common.set_if(cfg, "track_timestamps_staleness", common.opt_bool(spec, "trackTimestampsStaleness", "spec"))
    labels = common.opt_bool(spec, "honorLabels", "spec")
    if labels is not None:
        common.honor_labels(cfg, labels, options)
    common.set_if(cfg, "metrics_path", common.opt_str(spec, "metricsPath", "spec"))
    common.set_if(cfg, "params", common.str_list_map(spec, "params", "spec") or None)
    common.set_if(cfg, "enable_compression", common.opt_bool(spec, "enableCompression", "spec"))
    common.set_if(cfg, "enable_http2", common.opt_bool(spec, "enableHTTP2", "spec"))
    interval = common.duration(spec, "scrapeInterval", "spec")
    timeout = common.duration(spec, "scrapeTimeout", "spec")
    common.check_timeout(interval, timeout, options, "spec", "scrapeTimeout")
    common.set_if(cfg, "scrape_interval", common.opt_str(spec, "scrapeInterval", "spec"))
    common.set_if(cfg, "scrape_timeout", common.opt_str(spec, "scrapeTimeout", "spec"))
    common.scrape_protocols(cfg, spec, ctx.scrape_class, "spec")
    common.set_if(cfg, "scheme", common.lower_enum(spec, "scheme", "spec", common.SCHEMES))
    cfg.update(auth.render_proxy(ctx, spec, "spec"))
    common.set_if(
        cfg, "basic_auth", auth.render_basic_auth(ctx, common.opt_obj(spec, "basicAuth", "spec"), "spec.basicAuth")
    )
    authz = common.opt_obj(spec, "authorization", "spec")
    common.set_if(cfg, "authorization", auth.merged_authorization(ctx, authz, "spec.authorization"))
    common.set_if(cfg, "oauth2", auth.render_oauth2(ctx, common.opt_obj(spec, "oauth2", "spec"), "spec.oauth2"))
    tls = common.opt_obj(spec, "tlsConfig", "spec")
    common.set_if(cfg, "tls_config", auth.merged_tls(ctx, tls, "spec.tlsConfig", safe=True))
    common.limits(cfg, spec, options, "spec")
    common.native_histograms(cfg, spec, "spec")
    common.body_size_limit(cfg, spec, "spec")

    cfg.update(_service_discovery(ctx, spec))

    rules += relabel_configs(spec, "relabelings", "spec", scheme=scheme)
    rules += common.enforced_namespace_rule(options, ctx.namespace)
    if options.shards != 1 and not any(rule.get("action") == "hashmod" for rule in rules):
        rules += common.sharding_rules(options.shards)
    cfg["relabel_configs"] = rules

    metric_relabelings(ctx, cfg, spec, "spec", scheme=scheme)
    common.set_if(cfg, "metric_name_validation_scheme", validation)
    common.set_if(cfg, "metric_name_escaping_scheme", _enum(spec, "nameEscapingScheme", NAME_ESCAPING))
    return [cfg]
