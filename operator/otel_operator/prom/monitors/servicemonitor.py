"""ServiceMonitor → one scrape_config per `spec.endpoints[i]`, job `serviceMonitor/<ns>/<name>/<i>`.

Targets come from the endpointslice (or endpoints) role; the injected relabel chain selects the Services by
label, keeps the endpoint's port, and sets the namespace/service/pod/container/node/endpoint/job labels, in
the order prometheus-operator writes them.
"""

from __future__ import annotations

from otel_operator.prom.monitors import auth, common, endpoint, selectors
from otel_operator.prom.monitors.common import Config, Invalid, Obj, Port, join
from otel_operator.prom.monitors.context import Context
from otel_operator.prom.monitors.options import ROLE_ENDPOINTS, ROLE_ENDPOINTSLICE

ROLES = {ROLE_ENDPOINTS: "endpoints", ROLE_ENDPOINTSLICE: "endpointslice"}


def _role(ctx: Context, spec: Obj) -> str:
    override = common.opt_str(spec, "serviceDiscoveryRole", "spec")
    if override is not None and override not in ROLES:
        raise Invalid(
            "spec.serviceDiscoveryRole",
            f'"{override}" is not allowed; use "{ROLE_ENDPOINTSLICE}" or "{ROLE_ENDPOINTS}"',
        )
    return ROLES[override or ctx.options.service_discovery_role]


def _port(ep: Obj, path: str) -> Port:
    """The endpoint's port name or targetPort (a number or a name), with their types checked."""
    port = ep.get("port")
    if port is not None and not isinstance(port, str):
        raise Invalid(
            join(path, "port"),
            f"expected the name of a Service port, got {port!r}; use targetPort for a container port number",
        )
    target_port = common.target_port(ep, path)
    return Port(name=port or "", target=target_port)


class FileAccess(Invalid):
    """An endpoint reads the allocator's (so the collector's) file system, which denyFSAccessThroughSMs forbids."""


def _check_fs_access(ep: Obj, path: str) -> None:
    if common.string(ep, "bearerTokenFile", path):
        raise FileAccess(
            join(path, "bearerTokenFile"),
            "reads the allocator's file system, which denyFSAccessThroughSMs forbids; use authorization instead",
        )
    if auth.uses_files(common.opt_obj(ep, "tlsConfig", path), join(path, "tlsConfig")):
        raise FileAccess(
            join(path, "tlsConfig"),
            "caFile/certFile/keyFile read the allocator's file system, which denyFSAccessThroughSMs forbids; "
            "use ca/cert/keySecret instead",
        )


def _relabelings(ctx: Context, spec: Obj, ep: Obj, path: str, *, role: str, port: Port) -> list[Config]:
    meta = "endpoint" if role == "endpoints" else "endpointslice"
    rules = common.init_relabelings()
    if endpoint.selector_mechanism(spec) == "RelabelSelector":
        rules += selectors.relabel_rules(
            common.opt_obj(spec, "selector", "spec"), "__meta_kubernetes_service_", "spec.selector"
        )

    rules += common.port_filter(port, f"__meta_kubernetes_{meta}_port_name")

    address_target = [f"__meta_kubernetes_{meta}_address_target_kind", f"__meta_kubernetes_{meta}_address_target_name"]
    for kind, label in (("Node", "node"), ("Pod", "pod")):
        rules.append(
            {
                "source_labels": list(address_target),  # a list each, or YAML would alias them
                "separator": ";",
                "regex": f"{kind};(.*)",
                "replacement": "${1}",
                "target_label": label,
            }
        )
    rules += [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
    ]
    if common.opt_bool(ep, "filterRunning", path) is not False:
        rules.append(common.running_filter())

    rules += common.label_copies("__meta_kubernetes_service_label_", common.str_list(spec, "targetLabels", "spec"))
    rules += endpoint.pod_target_labels(ctx, spec)

    # The service name is the job unless jobLabel names a Service label that is set.
    rules.append({"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"})
    rules += endpoint.job_label(spec, "__meta_kubernetes_service_label_")

    rules += common.endpoint_rule(port)
    return rules + endpoint.relabel_tail(ctx, ep, path)


def endpoint_config(ctx: Context, spec: Obj, ep: Obj, index: int) -> Config:
    """The scrape_config for `spec.endpoints[index]`."""
    path = f"spec.endpoints[{index}]"
    port = _port(ep, path)
    auth.check_exclusive(ep, path)
    authz = auth.endpoint_authorization(ep, path)
    if ctx.options.deny_fs_access_through_sms:
        _check_fs_access(ep, path)
    role = _role(ctx, spec)

    cfg: Config = {"job_name": f"serviceMonitor/{ctx.namespace}/{ctx.name}/{index}"}
    endpoint.honor_flags(ctx, cfg, ep, path)
    cfg["kubernetes_sd_configs"] = endpoint.kubernetes_sd_configs(ctx, spec, role, (role, "service"))
    endpoint.scrape_settings(ctx, cfg, ep, path)
    # Proxy and OAuth2 before TLS and the other credentials, unlike a PodMonitor.
    cfg.update(auth.render_proxy(ctx, ep, path))
    common.set_if(cfg, "oauth2", auth.render_oauth2(ctx, common.opt_obj(ep, "oauth2", path), join(path, "oauth2")))
    tls = common.opt_obj(ep, "tlsConfig", path)
    common.set_if(cfg, "tls_config", auth.merged_tls(ctx, tls, join(path, "tlsConfig"), safe=False))
    common.set_if(cfg, "bearer_token_file", common.string(ep, "bearerTokenFile", path) or None)
    bearer = common.opt_obj(ep, "bearerTokenSecret", path)
    if bearer is not None and common.string(bearer, "name", join(path, "bearerTokenSecret")):
        cfg["bearer_token"] = ctx.store.secret_key(ctx.namespace, bearer, join(path, "bearerTokenSecret"))
    basic = common.opt_obj(ep, "basicAuth", path)
    common.set_if(cfg, "basic_auth", auth.render_basic_auth(ctx, basic, join(path, "basicAuth")))
    common.set_if(cfg, "authorization", auth.merged_authorization(ctx, authz, join(path, "authorization")))

    cfg["relabel_configs"] = _relabelings(ctx, spec, ep, path, role=role, port=port)
    endpoint.after_relabelings(ctx, cfg, spec, ep, path)
    return cfg


def scrape_configs(ctx: Context, monitor: Obj) -> list[Config]:
    spec = common.obj_or_empty(monitor, "spec", "")
    selectors.validate(common.opt_obj(spec, "selector", "spec"), "spec.selector")
    endpoints = common.obj_list(spec, "endpoints", "spec")
    configs: list[Config] = []
    denied: list[FileAccess] = []
    for i, ep in enumerate(endpoints):
        try:
            configs.append(endpoint_config(ctx, spec, ep, i))
        except FileAccess as err:  # left out, the monitor's other endpoints kept, as upstream's allocator does
            denied.append(err)
    if denied:
        message = "; ".join(f"{e.field}: {e.message}" for e in denied[1:])
        raise common.EndpointsDropped(
            denied[0].field,
            denied[0].message
            + (f"; also {message}" if message else "")
            + ". That endpoint is left out; the monitor's other endpoints are served",
            configs,
        )
    return configs
