"""The diagnosis: from a collector's settings and the cluster's objects to findings, in the troubleshooting guide's
order (the collector, its allocator, prometheusCR, monitor selection, what each monitor matched, what relabeling
dropped, where each kept target went).

Pure and deterministic: the same inputs give the same findings in the same order. Everything that decides is the
product's own code (the operator's allocator configuration, the allocator's selection, prometheus-operator's scrape
config generation, discovery and relabeling); this module asks it and explains the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_operator.allocator.config import AllocatorConfig, ConfigError, LabelSelector, load_config
from otel_operator.allocator.discovery import DiscoveryConfigError, KubernetesSD, job_discovery
from otel_operator.allocator.monitors import generator_options, selects
from otel_operator.diagnose.model import Finding, Inputs, Obj, labels_of, name_of, namespace_of, subject
from otel_operator.diagnose.relabeling import Drop, dropping_rule, user_rules_span
from otel_operator.diagnose.selection import CR_FIELDS, CR_PATH, from_api, label_fix, monitor_selection, unmet
from otel_operator.manifests import defaults
from otel_operator.manifests.allocator_config import allocator_config, allocator_yaml
from otel_operator.manifests.collector_config import PROMETHEUS, prometheus_config
from otel_operator.manifests.labels import TARGET_ALLOCATOR_LABEL
from otel_operator.prom.discovery.common import AttachMetadata, Role
from otel_operator.prom.discovery.index import DiscoveryIndex
from otel_operator.prom.monitors.generate import generate_scrape_configs
from otel_operator.prom.promconfig import PromConfigError, static_target_groups
from otel_operator.prom.relabel import RelabelConfigError
from otel_operator.prom.targets import Mode, ScrapeConfigError, ScrapeJob

COLLECTOR = "OpenTelemetryCollector"
TA_PATH = "spec.targetAllocator"
# Per monitor kind: what it selects, where its endpoints are, the meta label naming the object a target came from.
_TARGET_KIND = {"ServiceMonitor": "Service", "PodMonitor": "Pod"}
_ENDPOINTS = {"ServiceMonitor": "endpoints", "PodMonitor": "podMetricsEndpoints"}
_OBJECT_NAME_LABEL = {"ServiceMonitor": "__meta_kubernetes_service_name", "PodMonitor": "__meta_kubernetes_pod_name"}
_PORT_NAME_LABELS = frozenset(
    {
        "__meta_kubernetes_endpointslice_port_name",
        "__meta_kubernetes_endpoint_port_name",
        "__meta_kubernetes_pod_container_port_name",
        "__meta_kubernetes_pod_container_port_number",
    }
)


def diagnose(inputs: Inputs, namespace: str, collector: str | None = None, focus: str | None = None) -> list[Finding]:
    """Findings for the collector `namespace/collector` (every collector in `namespace` when None). `focus` (a
    subject, "Service ns/name") keeps the collectors' own findings and those about that object."""
    findings: list[Finding] = []
    findings += _missing_kinds(inputs)
    wanted = [
        c
        for c in sorted(inputs.collectors, key=name_of)
        if namespace_of(c) == namespace and (collector is None or name_of(c) == collector)
    ]
    if not wanted:
        who = subject(COLLECTOR, f"{namespace}/{collector}") if collector else f"namespace {namespace}"
        what = "not found" if collector else f"has no {COLLECTOR}"
        findings.append(
            Finding(
                who,
                False,
                what,
                f"apply the {COLLECTOR} to namespace {namespace}, or name the right one with "
                "--collector NAME -n NAMESPACE",
            )
        )
        return findings
    world = _World(inputs)
    for resource in wanted:
        findings += _collector(resource, inputs, world)
    if focus is not None:
        findings = _focused(findings, focus, inputs)
    return findings


def diagnose_allocator(inputs: Inputs, config: AllocatorConfig, who: str = "target allocator") -> list[Finding]:
    """The same checks from inside a running allocator: its own configuration instead of a collector's spec."""
    findings = _missing_kinds(inputs)
    world = _World(inputs)
    if not config.prometheus_cr.enabled:
        findings.append(
            Finding(
                who,
                False,
                "prometheus_cr.enabled is false, so no ServiceMonitor or PodMonitor is read",
                f"set {CR_PATH}.enabled: true on the collector (prometheus_cr.enabled in targetallocator.yaml)",
            )
        )
        return findings
    findings.append(Finding(who, True, "Prometheus CR discovery is enabled"))
    findings += _selector_settings(config, who, inputs, world)
    for kind, monitors in (("ServiceMonitor", inputs.service_monitors), ("PodMonitor", inputs.pod_monitors)):
        for monitor in sorted(monitors, key=lambda m: (namespace_of(m), name_of(m))):
            findings += _monitor(kind, {**monitor, "kind": kind}, _Scope(who, config, world))
    return findings


def diagnose_static(
    config: AllocatorConfig, assignments: Mapping[str, Mapping[str, Any]] | None, who: str = "target allocator"
) -> list[Finding]:
    """The relabel part of the diagnosis, which needs no cluster: for every target of the file's `static_configs`,
    the rule that dropped it, or the collector it went to."""
    findings: list[Finding] = []
    for index, scrape_config in enumerate(config.config.scrape_configs):
        job_name = str(scrape_config.get("job_name", ""))
        where = f"config.scrape_configs[{index}]"
        try:
            job = ScrapeJob.from_config(scrape_config, config.config.defaults)
            groups = static_target_groups(scrape_config.get("static_configs"), job_name, check_addresses=False)
        except (ScrapeConfigError, RelabelConfigError, PromConfigError) as err:
            findings.append(Finding(f"job {job_name}", False, f"cannot run: {err}", f"correct {where}", (who,)))
            continue
        if not groups:
            continue
        assigned = _assignments(assignments, job_name)
        for group in groups:
            for target in job.assemble_group(group, Mode.ALLOCATOR):
                me = f"target {target.address} of job {job_name}"
                if target.kept:
                    findings.append(_kept(me, job_name, target.address, assigned, (who,)))
                    continue
                if target.error is not None:
                    findings.append(
                        Finding(me, False, f"refused after relabeling: {target.error}", f"correct {where}", (who,))
                    )
                    continue
                drop = dropping_rule(job, target)
                if drop is None:
                    continue
                findings.append(
                    Finding(
                        me,
                        False,
                        f"dropped by job {job_name} at {_rule_text(drop)}",
                        f"change or remove {where}.relabel_configs[{drop.index}] so that it keeps this target",
                        (who,),
                    )
                )
    return findings


def _missing_kinds(inputs: Inputs) -> list[Finding]:
    return [
        Finding(
            f"kind {kind}",
            False,
            f"the {kind} API is not installed in the cluster, so no {kind} can exist",
            f"install prometheus-operator's {kind} CRD (monitoring.coreos.com/v1)",
        )
        for kind in inputs.missing_kinds
    ]


def _focused(findings: list[Finding], focus: str, inputs: Inputs) -> list[Finding]:
    kind, _, key = focus.partition(" ")
    pools = {
        "ServiceMonitor": inputs.service_monitors,
        "PodMonitor": inputs.pod_monitors,
        "Service": inputs.services,
        "Pod": inputs.pods,
    }
    exists = any(f"{namespace_of(o)}/{name_of(o)}" == key for o in pools.get(kind, ()))
    kept = [f for f in findings if f.subject.startswith(COLLECTOR) or f.subject == focus or focus in f.related]
    if not exists:
        return [*kept, Finding(focus, False, "not found", f"check the name and namespace of the {kind}")]
    if not any(f.subject == focus or focus in f.related for f in kept):
        monitors = "a ServiceMonitor" if kind == "Service" else "a PodMonitor" if kind == "Pod" else "the collector"
        kept.append(
            Finding(
                focus,
                False,
                "no selected monitor reaches it: no selected monitor's namespaceSelector includes its namespace",
                f"create {monitors} whose spec.selector matches its labels and whose namespaceSelector includes "
                f"namespace {key.partition('/')[0]}",
            )
        )
    return kept


# --- the collector and its allocator ---------------------------------------------------------------------------


def _collector(resource: Obj, inputs: Inputs, world: _World) -> list[Finding]:
    who = subject(COLLECTOR, resource)
    out = [Finding(who, True, "exists")]
    spec = resource.get("spec") or {}
    ta = spec.get("targetAllocator") or {}
    cr = ta.get("prometheusCR") or {}
    linked = labels_of(resource).get(TARGET_ALLOCATOR_LABEL)
    if linked:
        out.append(
            Finding(
                who,
                False,
                f"uses the TargetAllocator {linked} (label {TARGET_ALLOCATOR_LABEL}), which this diagnosis does not "
                "read yet",
                f"diagnose with the allocator embedded in {TA_PATH}, or inspect TargetAllocator {linked} directly",
            )
        )
        return out
    if not ta.get("enabled"):
        extra = " (prometheusCR is set but has no effect without it)" if cr.get("enabled") else ""
        out.append(
            Finding(
                who,
                False,
                f"the target allocator is not enabled: {TA_PATH}.enabled is not true{extra}",
                f"set {TA_PATH}.enabled: true",
            )
        )
        return out
    out.append(Finding(who, True, f"the target allocator is enabled ({TA_PATH}.enabled: true)"))
    out += _receiver(resource, who)
    if not cr.get("enabled"):
        out.append(
            Finding(
                who,
                False,
                f"Prometheus CR discovery is off: {CR_PATH}.enabled is not true, so no ServiceMonitor or PodMonitor "
                "is read",
                f"set {CR_PATH}.enabled: true, with serviceMonitorSelector: {{}} and podMonitorSelector: {{}} to "
                "select all of them",
            )
        )
        return out
    out.append(Finding(who, True, f"Prometheus CR discovery is enabled ({CR_PATH}.enabled: true)"))
    loaded = _allocator_settings(resource, who)
    if isinstance(loaded, list):
        return out + loaded
    out += _selector_settings(loaded, who, inputs, world)
    for kind, monitors in (("ServiceMonitor", inputs.service_monitors), ("PodMonitor", inputs.pod_monitors)):
        for monitor in sorted(monitors, key=lambda m: (namespace_of(m), name_of(m))):
            out += _monitor(kind, {**monitor, "kind": kind}, _Scope(who, loaded, world))
    return out


def _receiver(resource: Obj, who: str) -> list[Finding]:
    receivers = ((resource.get("spec") or {}).get("config") or {}).get("receivers") or {}
    names = [str(n) for n in receivers if str(n) == PROMETHEUS or str(n).startswith(PROMETHEUS + "/")]
    if names:
        return []
    return [
        Finding(
            who,
            False,
            "the collector has no prometheus receiver, so nothing scrapes the targets the allocator assigns",
            "add receivers.prometheus (config: {scrape_configs: []} is enough) to spec.config and to a metrics "
            "pipeline",
        )
    ]


def _allocator_settings(resource: Obj, who: str) -> AllocatorConfig | list[Finding]:
    """The allocator's configuration as the operator writes it for this collector, loaded by the allocator."""
    try:
        defaulted = defaults.collector(resource)
        ta = defaults.embedded_allocator(defaulted)
        config = allocator_config(
            ta.get("spec") or {},
            namespace=namespace_of(resource),
            collector_selector=None,
            collector_prometheus=prometheus_config((defaulted.get("spec") or {}).get("config") or {}),
        )
        return load_config(allocator_yaml(config))
    except ConfigError as err:
        return [
            Finding(
                who,
                False,
                f"the allocator would refuse its configuration: {p.field}: {p.message}",
                f"correct {TA_PATH} (targetallocator.yaml key {p.field})",
            )
            for p in err.problems
        ]
    except (TypeError, ValueError, AttributeError) as err:
        return [
            Finding(
                who,
                False,
                f"the allocator's configuration cannot be built: {err}",
                "run `otel-operator check resources` on the collector and fix what it reports",
            )
        ]


def _selector_settings(config: AllocatorConfig, who: str, inputs: Inputs, world: _World) -> list[Finding]:
    cr = config.prometheus_cr
    out = []
    for kind, selector, monitors in (
        ("ServiceMonitor", cr.service_monitor_selector, inputs.service_monitors),
        ("PodMonitor", cr.pod_monitor_selector, inputs.pod_monitors),
    ):
        field_ = f"{CR_FIELDS[kind]}Selector"
        if selector is None:
            out.append(
                Finding(
                    who,
                    not monitors,
                    f"{field_} is unset: it selects no {kind}s (there {'are' if monitors else 'are no'} {kind}s "
                    "in the cluster)",
                    None if not monitors else f"set {CR_PATH}.{field_}: {{}} to select every {kind}, or a matchLabels",
                )
            )
            continue
        watched = [ns for ns in sorted(world.namespaces) if selects(cr, kind, _probe(ns), world.namespaces.get(ns))]
        scope = ", ".join(watched) if watched else "none"
        out.append(Finding(who, True, f"{field_}: {_describe(selector)}; {kind}s are read from namespaces: {scope}"))
    return out


def _describe(selector: LabelSelector) -> str:
    return selector.query() or "{} (every one)"


def _probe(namespace: str) -> Obj:
    """A monitor every label selector... does not matter: only its namespace is tested (`selects` with `{}`)."""
    return {"metadata": {"namespace": namespace, "labels": {}}}


# --- one monitor --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _World:
    """The cluster's objects, indexed once per diagnosis."""

    inputs: Inputs
    namespaces: dict[str, dict[str, str]] = field(init=False)
    _indexes: dict[tuple[Role, AttachMetadata], DiscoveryIndex] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.namespaces = {name_of(ns): labels_of(ns) for ns in self.inputs.namespaces}

    def index(self, role: Role, attach: AttachMetadata) -> DiscoveryIndex:
        key = (role, attach)
        if key not in self._indexes:
            index = DiscoveryIndex(role, attach)
            sources = {
                "Pod": self.inputs.pods,
                "Service": self.inputs.services,
                "EndpointSlice": self.inputs.endpoint_slices,
                "Endpoints": self.inputs.endpoints,
                "Namespace": self.inputs.namespaces,
            }
            for kind in sorted(index.kinds):
                index.replace(kind, sources.get(kind, ()))
            self._indexes[key] = index
        return self._indexes[key]


@dataclass(frozen=True, slots=True)
class _Match:
    obj: Obj
    endpoints: frozenset[int]  # the monitor's endpoints whose port this object has


@dataclass(frozen=True, slots=True)
class _Scope:
    """One collector's diagnosis: who it is, its allocator's configuration, the cluster."""

    who: str
    config: AllocatorConfig
    world: _World

    @property
    def inputs(self) -> Inputs:
        return self.world.inputs


def _monitor(kind: str, monitor: Obj, scope: _Scope) -> list[Finding]:
    me = subject(kind, monitor)
    who, world, inputs = scope.who, scope.world, scope.inputs
    cr = scope.config.prometheus_cr
    ok, what, fix = monitor_selection(cr, kind, monitor, world.namespaces)
    out = [Finding(me, ok, f"{what} of {who}", fix, (who,))]
    if not ok:
        return out
    generated = generate_scrape_configs([monitor], inputs.secrets, generator_options(cr))
    for err in generated.errors:
        out.append(
            Finding(
                me,
                False,
                f"rejected, so it has no jobs: {err.field}: {err.message}",
                f"correct {err.field} of the {kind}",
                (who,),
            )
        )
    if generated.errors:
        return out
    if not generated.scrape_configs:
        where = _ENDPOINTS[kind]
        out.append(
            Finding(me, False, f"has no spec.{where}, so it has no jobs", f"add spec.{where} with a port", (who,))
        )
        return out
    names = _watched_namespaces(generated.scrape_configs[0], namespace_of(monitor))
    matches, found = _match_objects(kind, monitor, names, inputs, (who, me))
    out += found
    for index, scrape_config in enumerate(generated.scrape_configs):
        out += _job(kind, monitor, scope, index=index, scrape_config=scrape_config, matches=matches)
    return out


def _watched_namespaces(scrape_config: Mapping[str, Any], own: str) -> frozenset[str] | None:
    sd = (scrape_config.get("kubernetes_sd_configs") or [{}])[0]
    names = (sd.get("namespaces") or {}).get("names")
    return frozenset(names) if names else None


def _ports(kind: str, obj: Obj) -> tuple[list[str], list[int]]:
    """The names (and numbers) of a Service's ports or of a Pod's container ports."""
    spec = obj.get("spec") or {}
    if kind == "ServiceMonitor":
        ports = list(spec.get("ports") or ())
    else:
        ports = [p for c in spec.get("containers") or () for p in (c.get("ports") or ())]
    names = [str(p["name"]) for p in ports if p.get("name")]
    numbers = [int(p.get("containerPort") or 0) for p in ports]
    return names, numbers


def _endpoint_port(kind: str, ep: Obj) -> tuple[str | None, int | None]:
    """The port an endpoint asks for by name (or, for a PodMonitor, by number); (None, None): any port."""
    name = ep.get("port")
    number = ep.get("portNumber") if kind == "PodMonitor" else None
    return (str(name) if name else None), (int(number) if isinstance(number, int) and number else None)


def _match_objects(
    kind: str, monitor: Obj, names: frozenset[str] | None, inputs: Inputs, related: tuple[str, ...]
) -> tuple[list[_Match], list[Finding]]:
    target_kind = _TARGET_KIND[kind]
    me = subject(kind, monitor)
    spec = monitor.get("spec") or {}
    selector = from_api(spec.get("selector")) or LabelSelector()
    endpoints = [ep for ep in spec.get(_ENDPOINTS[kind]) or () if isinstance(ep, Mapping)]
    pool = sorted(
        inputs.services if kind == "ServiceMonitor" else inputs.pods, key=lambda o: (namespace_of(o), name_of(o))
    )
    scope = "every namespace" if names is None else ", ".join(sorted(names))
    label_matched: list[Obj] = []
    mismatched: list[tuple[Obj, list[str]]] = []
    out: list[Finding] = []
    elsewhere: list[Obj] = []
    for obj in pool:
        reasons = unmet(selector, labels_of(obj))
        in_scope = names is None or namespace_of(obj) in names
        if in_scope and not reasons:
            label_matched.append(obj)
        elif in_scope:
            mismatched.append((obj, reasons))
        elif not reasons:
            elsewhere.append(obj)
    for obj in elsewhere:  # a problem when the monitor found nothing where it looks; else only a note
        negative = not label_matched
        out.append(
            Finding(
                subject(target_kind, obj),
                not negative,
                f"matches the selector of {me}, but its namespace {namespace_of(obj)} is not watched "
                f"(spec.namespaceSelector: {scope})",
                f"add {namespace_of(obj)} to spec.namespaceSelector.matchNames of the {kind} (or set "
                f"namespaceSelector: {{any: true}}), or move the {target_kind} to {scope}"
                if negative
                else None,
                related,
            )
        )
    for obj, reasons in mismatched:
        negative = not label_matched
        out.append(
            Finding(
                subject(target_kind, obj),
                not negative,
                f"not matched by {me}: {'; '.join(reasons)}",
                f"{label_fix(selector, f'the {target_kind} metadata.labels')}, or change spec.selector of the {kind}"
                if negative
                else None,
                related,
            )
        )
    if not pool or (not label_matched and not mismatched):
        out.append(
            Finding(
                me,
                False,
                f"matches no {target_kind}: there is no {target_kind} in its namespaces ({scope})",
                f"create the {target_kind}, or point spec.namespaceSelector at its namespace",
                related,
            )
        )
    matches: list[_Match] = []
    for obj in label_matched:
        found, match = _port_check(kind, obj, endpoints, me, related)
        out.append(found)
        if match is not None:
            matches.append(match)
    return matches, out


def _port_check(
    kind: str, obj: Obj, endpoints: Sequence[Obj], me: str, related: tuple[str, ...]
) -> tuple[Finding, _Match | None]:
    target_kind = _TARGET_KIND[kind]
    where = _ENDPOINTS[kind]
    port_names, port_numbers = _ports(kind, obj)
    have, missing = [], []
    for i, ep in enumerate(endpoints):
        name, number = _endpoint_port(kind, ep)
        if (name is None or name in port_names) and (number is None or number in port_numbers):
            have.append(i)
        else:
            missing.append((i, name if name is not None else str(number)))
    own = "port" if kind == "ServiceMonitor" else "container port"
    listed = (
        ", ".join(port_names) if port_names else f"none has a name ({', '.join(map(str, port_numbers)) or 'no ports'})"
    )
    if not have:
        asked = ", ".join(f"{p} (spec.{where}[{i}])" for i, p in missing)
        first = missing[0][0] if missing else 0
        return (
            Finding(
                subject(target_kind, obj),
                False,
                f"matches the labels of {me}, but has no {own} named {asked}; its {own}s: {listed}",
                f"name a {own} of the {target_kind} {missing[0][1] if missing else ''}, or set "
                f"spec.{where}[{first}].port of the {kind} to one of: {listed}",
                related,
            ),
            None,
        )
    used = ", ".join(
        f"spec.{where}[{i}]" + (f" port {p}" if (p := _endpoint_port(kind, endpoints[i])[0]) else "") for i in have
    )
    note = ""
    if missing:
        note = "; not on this object: " + ", ".join(f"spec.{where}[{i}] ({p})" for i, p in missing)
    return Finding(subject(target_kind, obj), True, f"matched by {me} on {used}{note}", None, related), _Match(
        obj, frozenset(have)
    )


# --- one job: discovery, relabeling, assignment ---------------------------------------------------------------


def _job(
    kind: str,
    monitor: Obj,
    scope: _Scope,
    *,
    index: int,
    scrape_config: Mapping[str, Any],
    matches: Sequence[_Match],
) -> list[Finding]:
    me = subject(kind, monitor)
    related = (scope.who, me)
    world, inputs, global_defaults = scope.world, scope.inputs, scope.config.config.defaults
    job_name = str(scrape_config["job_name"])
    where = f"spec.{_ENDPOINTS[kind]}[{index}]"
    try:
        job = ScrapeJob.from_config(scrape_config, global_defaults)
        discovery = job_discovery(job_name, scrape_config, namespace_of(monitor))
    except (ScrapeConfigError, RelabelConfigError, DiscoveryConfigError) as err:
        return [Finding(me, False, f"job {job_name} cannot run in the allocator: {err}", f"correct {where}", related)]
    wanted = {(namespace_of(m.obj), name_of(m.obj)): m.obj for m in matches if index in m.endpoints}
    if not wanted:
        return []
    endpoint = ((monitor.get("spec") or {}).get(_ENDPOINTS[kind]) or [])[index]
    user_span = user_rules_span(scrape_config, endpoint, where)
    name_label = _OBJECT_NAME_LABEL[kind]
    target_kind = _TARGET_KIND[kind]
    assigned = _assignments(inputs.assignments, job_name)
    seen: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for sd in discovery.kubernetes:
        for group in _groups(world, sd):
            for target in job.assemble_group(group, Mode.ALLOCATOR):
                labels = target.served_labels
                key = (labels.get("__meta_kubernetes_namespace", ""), labels.get(name_label, ""))
                if key not in wanted:
                    continue
                obj_subject = subject(target_kind, f"{key[0]}/{key[1]}")
                rel = (*related, obj_subject)
                who = f"target {target.address} of {obj_subject}"
                if target.kept:
                    seen.add(key)
                    out.append(_kept(who, job_name, target.address, assigned, rel))
                    continue
                if target.error is not None:
                    seen.add(key)
                    out.append(
                        Finding(
                            who,
                            False,
                            f"refused by job {job_name} after relabeling: {target.error}",
                            f"correct the relabelings of {where} that set __address__ or the scrape interval",
                            rel,
                        )
                    )
                    continue
                drop = dropping_rule(job, target)
                if drop is None or _other_port(drop):
                    continue  # another port of the same object: not this endpoint's
                seen.add(key)
                out.append(_dropped(who, job_name, drop, user_span=user_span, where=where, kind=kind, related=rel))
    for key, obj in sorted(wanted.items()):
        if key not in seen:
            obj_subject = subject(target_kind, obj)
            out.append(
                Finding(
                    obj_subject,
                    False,
                    f"job {job_name} discovered no target for it: "
                    + (
                        "its EndpointSlices list no endpoint on the port"
                        if kind == "ServiceMonitor"
                        else "the Pod has no IP yet or is not running"
                    ),
                    "make sure the Service's spec.selector matches running, ready Pods that listen on the port"
                    if kind == "ServiceMonitor"
                    else "wait for the Pod to be scheduled and running, or check why it is not",
                    (*related, obj_subject),
                )
            )
    return out


def _groups(world: _World, sd: KubernetesSD) -> Iterable[Any]:
    return sorted((g for g in world.index(sd.role, sd.attach).groups() if sd.keeps(g)), key=lambda g: g.source)


def _other_port(drop: Drop) -> bool:
    """The endpoint's port filter dropped it: a target on another port of the same object, not a problem."""
    rule = drop.rule
    return (
        rule.action == "keep"
        and len(rule.source_labels or ()) == 1
        and (rule.source_labels or ("",))[0] in _PORT_NAME_LABELS
    )


def _dropped(
    who: str,
    job_name: str,
    drop: Drop,
    *,
    user_span: tuple[int, int] | None,
    where: str,
    kind: str,
    related: tuple[str, ...],
) -> Finding:
    rule = drop.rule
    described = _rule_text(drop)
    if user_span is not None and user_span[0] <= drop.index < user_span[0] + user_span[1]:
        own = f"{where}.relabelings[{drop.index - user_span[0]}]"
        return Finding(
            who,
            False,
            f"dropped by job {job_name} at {described}, which is {own}",
            f"change or remove {own} of the {kind} so that it keeps this target",
            related,
        )
    if rule.source_labels == ("__meta_kubernetes_pod_phase",):
        return Finding(
            who,
            False,
            f"dropped by job {job_name} at {described}: the Pod has finished",
            f"run the Pod again, or set {where}.filterRunning: false to scrape finished Pods",
            related,
        )
    return Finding(
        who,
        False,
        f"dropped by job {job_name} at {described}, a rule generated from the {kind}",
        f"check the {kind}'s selector, port and relabelings against the target's labels",
        related,
    )


def _rule_text(drop: Drop) -> str:
    """The dropping rule as the findings name it: its index, action, what its source labels read, its regex."""
    rule = drop.rule
    text = f"relabel_configs[{drop.index}] (action {rule.action}"
    if rule.source_labels:
        text += f", source_labels [{', '.join(rule.source_labels)}], which read {drop.source_value!r}"
    return text + f", regex {rule.effective_regex!r})"


def _assignments(assignments: Mapping[str, Mapping[str, Any]] | None, job: str) -> dict[str, str] | None:
    """`{address: collector}` for one job, from either accepted shape; None when no assignments were given."""
    if assignments is None:
        return None
    answer = assignments.get(job)
    if answer is None:
        return {}
    out: dict[str, str] = {}
    for key, value in answer.items():
        if isinstance(value, str):
            out[str(key)] = value  # {address: collector}
        elif isinstance(value, Mapping):  # {collector: {"targets": [{"targets": [address], "labels": {}}]}}
            for group in value.get("targets") or ():
                for address in group.get("targets") or ():
                    out[str(address)] = str(key)
    return out


def _kept(who: str, job_name: str, address: str, assigned: dict[str, str] | None, related: tuple[str, ...]) -> Finding:
    if assigned is None:
        return Finding(who, True, f"kept by job {job_name}", None, related)
    collector = assigned.get(address)
    if collector is None:
        return Finding(
            who,
            False,
            f"kept by job {job_name}, but the allocator assigned it to no collector",
            "check that the collector's pods are running and ready (the allocator assigns targets only to ready "
            "collectors) and that the allocator has reloaded since the monitor changed",
            related,
        )
    return Finding(who, True, f"kept by job {job_name}; scraped by collector {collector}", None, related)
