"""What makes a resource unbuildable (errors) or likely wrong (warnings), beyond its schema (operator reference §6.2).

Errors name the field and say how to fix it; where upstream's webhook has a message for the same rule, ours starts
with upstream's words so that searching for them finds both. Warnings never stop a build.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_operator.api.validation import FieldError, describe, validate
from otel_operator.manifests import (
    collector_rbac,
    components,
    defaults,
    hpa,
    httproute,
    ingress,
    labels,
    mtls,
    networkpolicy,
    pdb,
    podmonitor,
    route,
    servicemonitor,
)
from otel_operator.manifests.allocator_config import go_duration
from otel_operator.manifests.collector_config import PROMETHEUS, prometheus_config
from otel_operator.manifests.model import Build, BuildOptions
from otel_operator.manifests.problems import Problems
from otel_operator.prom.scrape_schema import prometheus_config_problems, scrape_configs_problems

SUPPORTED_MODES: Final = ("deployment", "daemonset", "statefulset", "sidecar")
ALLOCATOR_MODES: Final = ("statefulset", "daemonset")
_PORT_NAME: Final = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

# The builder modules whose own checks run with these (each checks the fields of its objects).
_MODULES: Final = (hpa, pdb, networkpolicy, servicemonitor, podmonitor, ingress, route, httproute, collector_rbac)


def _is_set(value: Any) -> bool:
    return value not in (None, {}, [], "", False)


# --- collector ------------------------------------------------------------------------------------------------------


def _check_pipelines(config: Mapping[str, Any], found: Problems) -> None:
    """Every component a pipeline names must be defined (a connector may serve as receiver or exporter)."""
    service = config.get("service") or {}
    connectors = config.get("connectors") or {}
    for pipeline_name, pipeline in sorted((service.get("pipelines") or {}).items()):
        for kind in ("receivers", "processors", "exporters"):
            defined = config.get(kind) or {}
            for index, name in enumerate((pipeline or {}).get(kind) or []):
                if name in defined or (kind != "processors" and name in connectors):
                    continue
                found.error(
                    f"spec.config.service.pipelines.{pipeline_name}.{kind}[{index}]",
                    f'"{name}" is not defined under spec.config.{kind}'
                    + (" or spec.config.connectors" if kind != "processors" else "")
                    + "; define it there or remove it from the pipeline",
                )
    for index, name in enumerate(service.get("extensions") or []):
        if name not in (config.get("extensions") or {}):
            found.error(
                f"spec.config.service.extensions[{index}]",
                f'"{name}" is not defined under spec.config.extensions; define it there or remove it',
            )


def _null_components(config: Mapping[str, Any]) -> list[str]:
    nulls = []
    for kind in ("receivers", "exporters", "processors", "extensions", "connectors"):
        section = config.get(kind)
        if isinstance(section, Mapping):
            nulls += [f"{kind}.{name}" for name, conf in section.items() if conf is None]
    return sorted(nulls)


def _check_ports(spec: Mapping[str, Any], found: Problems) -> None:
    for index, port in enumerate(spec.get("ports") or []):
        name = str(port.get("name") or "")
        if not name or len(name) > 15 or not _PORT_NAME.match(name) or "--" in name or not re.search("[a-z]", name):
            found.error(
                f"spec.ports[{index}].name",
                f'"{name}" is not a valid port name: use at most 15 lower-case letters, digits and single dashes, '
                "with at least one letter, starting and ending with a letter or digit",
            )
        number = port.get("port")
        if not isinstance(number, int) or not 0 < number < 65536:
            found.error(f"spec.ports[{index}].port", f"{number!r} is not a port number; use 1 to 65535")


def _check_mode_fields(spec: Mapping[str, Any], mode: str, found: Problems) -> None:
    if mode == "sidecar":
        # the pod is the application's: where it runs and what else runs in it is the application's to say
        for key in ("tolerations", "priorityClassName", "affinity", "additionalContainers"):
            if _is_set(spec.get(key)):
                found.error(
                    f"spec.{key}",
                    f"the OpenTelemetry Collector mode is set to sidecar, which does not support the attribute "
                    f"'{key}'; remove it (set it on the application's pods instead), or use another mode",
                )
    if mode != "statefulset":
        for key in ("volumeClaimTemplates", "persistentVolumeClaimRetentionPolicy"):
            if _is_set(spec.get(key)):
                found.error(
                    f"spec.{key}",
                    f"the OpenTelemetry Collector mode is set to {mode}, which does not support the attribute "
                    f"'{key}'; remove it or use mode statefulset",
                )
    for key, only in (("daemonSetUpdateStrategy", "daemonset"), ("deploymentUpdateStrategy", "deployment")):
        if _is_set(spec.get(key)) and mode != only:
            found.error(
                f"spec.{key}",
                f"the OpenTelemetry Collector mode is set to {mode}, which does not support the attribute "
                f"'{key}'; remove it or use mode {only}",
            )


def _check_durations(spec: Mapping[str, Any], prefix: str, keys: tuple[str, ...], found: Problems) -> None:
    for key in keys:
        value = spec.get(key)
        if value is None:
            continue
        try:
            go_duration(str(value))
        except ValueError:
            found.error(f"{prefix}.{key}", f'"{value}" is not a duration; use e.g. 30s or 1m30s')


def check_selectors(cr: Mapping[str, Any], prefix: str, found: Problems) -> None:
    """The troubleshooting guide's pitfall: an absent monitor selector selects no monitors at all."""
    if not cr.get("enabled"):
        return
    for key, kind in (("serviceMonitorSelector", "ServiceMonitor"), ("podMonitorSelector", "PodMonitor")):
        if cr.get(key) is None:
            found.warn(
                f"{prefix}.prometheusCR.{key}",
                f"is not set, so the target allocator selects no {kind} at all; set it to {{}} to select every "
                f"{kind}, or to a label selector to select some",
            )


def _prometheus_receiver(config: Mapping[str, Any], found: Problems) -> bool:
    receivers = config.get("receivers") or {}
    if PROMETHEUS in receivers:
        return True
    named = sorted(n for n in receivers if str(n).startswith(f"{PROMETHEUS}/"))
    if named:
        found.error(
            "spec.config.receivers",
            'the target allocator requires a receiver named exactly "prometheus", but only named instances were '
            f'found: {", ".join(named)}; rename one of them to "prometheus"',
        )
    else:
        found.error(
            "spec.config.receivers.prometheus",
            "the OpenTelemetry Spec Prometheus configuration is incorrect, no prometheus available as part of the "
            "configuration; the target allocator feeds a receiver named prometheus: add one (it may be empty, "
            "prometheus: {}) and use it in a metrics pipeline",
        )
    return False


def _check_prometheus_keys(config: Mapping[str, Any], found: Problems) -> None:
    """Every prometheus receiver's `config` is a Prometheus configuration, which Prometheus reads strictly: an unknown
    key (a typo such as `scrape_intervall`) makes the collector refuse it, where a lenient reader would drop it and
    scrape with the default. Only the `config` subtree is Prometheus's; the receiver's own keys beside it
    (`target_allocator`, `trim_metric_suffixes`, ...) are the receiver's."""
    receivers = config.get("receivers")
    if not isinstance(receivers, Mapping):
        return
    for name, receiver in receivers.items():
        if str(name) != PROMETHEUS and not str(name).startswith(f"{PROMETHEUS}/"):
            continue
        if isinstance(receiver, Mapping):
            at = f"spec.config.receivers.{name}.config"
            for path, message in prometheus_config_problems(receiver.get("config"), at):
                found.error(path, message)


def _check_embedded_allocator(
    spec: Mapping[str, Any], mode: str, config: Mapping[str, Any], options: BuildOptions, found: Problems
) -> None:
    ta = spec.get("targetAllocator") or {}
    strategy = ta.get("allocationStrategy") or "consistent-hashing"
    if mode not in ALLOCATOR_MODES:
        found.error(
            "spec.mode",
            f"the OpenTelemetry Collector mode is set to {mode}, which does not support the target allocation "
            "deployment; use mode statefulset (or daemonset with allocationStrategy per-node), or set "
            "spec.targetAllocator.enabled to false",
        )
    elif mode == "daemonset" and strategy != "per-node":
        found.error(
            "spec.targetAllocator.allocationStrategy",
            "the OpenTelemetry Collector mode is set to daemonset, which must be used with target allocation "
            f'strategy per-node; "{strategy}" would give some collectors targets on other nodes: set it to per-node',
        )
    if strategy == "per-node" and mode != "daemonset":
        found.error(
            "spec.targetAllocator.allocationStrategy",
            "target allocation strategy per-node is only supported in OpenTelemetry Collector mode daemonset; use "
            "consistent-hashing or least-weighted, or mode daemonset",
        )
    has_receiver = _prometheus_receiver(config, found)
    cr_enabled = bool((ta.get("prometheusCR") or {}).get("enabled"))
    if has_receiver and not cr_enabled and not prometheus_config(config).get("scrape_configs"):
        found.error(
            "spec.config.receivers.prometheus.config.scrape_configs",
            "either at least one scrape config needs to be defined or PrometheusCR needs to be enabled: the target "
            "allocator would have nothing to allocate; add a scrape config, or set "
            "spec.targetAllocator.prometheusCR.enabled: true",
        )
    mtls.check(ta.get("mtls"), "spec.targetAllocator.mtls", found)
    _check_durations(
        ta, "spec.targetAllocator", ("collectorTargetReloadInterval", "collectorNotReadyGracePeriod"), found
    )
    check_selectors(ta.get("prometheusCR") or {}, "spec.targetAllocator", found)
    for module in _MODULES:
        module.check_allocator(ta, "spec.targetAllocator", options, found)


def check_collector(resource: Mapping[str, Any], options: BuildOptions | None = None) -> Problems:
    """An OpenTelemetryCollector (schema-valid, defaults applied): what stops it being built, and what to warn of."""
    options = options or BuildOptions()
    found = Problems(resource)
    meta = resource.get("metadata") or {}
    spec = resource.get("spec") or {}
    config = spec.get("config") or {}
    mode = str(spec.get("mode") or "deployment")
    if not meta.get("namespace"):
        found.error("metadata.namespace", "required; the objects are created in the collector's namespace")
    if mode not in SUPPORTED_MODES:
        found.error("spec.mode", f'"{mode}" is not a mode; use one of {", ".join(SUPPORTED_MODES)}')
    _check_pipelines(config, found)
    _check_prometheus_keys(config, found)
    nulls = _null_components(config)
    if nulls:
        found.warn(
            "spec.config",
            f"Collector config spec.config has null objects: {', '.join(nulls)}. For compatibility with other "
            "tooling, such as kustomize and kubectl edit, it is recommended to use empty objects e.g. batch: {}.",
        )
    _check_ports(spec, found)
    _check_mode_fields(spec, mode, found)
    for module in _MODULES:
        module.check_collector(spec, options, found)
    linked = (meta.get("labels") or {}).get(labels.TARGET_ALLOCATOR_LABEL)
    embedded = bool((spec.get("targetAllocator") or {}).get("enabled"))
    if linked:
        _prometheus_receiver(config, found)
        if embedded:
            found.warn(
                "spec.targetAllocator.enabled",
                f'ignored: the label {labels.TARGET_ALLOCATOR_LABEL}="{linked}" makes the collector use the '
                f'TargetAllocator "{linked}" instead; remove the label or set enabled to false',
            )
    elif embedded:
        _check_embedded_allocator(spec, mode, config, options, found)
    elif ((spec.get("targetAllocator") or {}).get("prometheusCR") or {}).get("enabled"):
        # the troubleshooting guide's first pitfall: configuring the allocator does not enable it
        found.warn(
            "spec.targetAllocator.enabled",
            "prometheusCR is enabled but the target allocator is not, so no ServiceMonitor or PodMonitor is read "
            "and the collector scrapes only its own scrape_configs; set spec.targetAllocator.enabled: true",
        )
    if not found.errors:
        try:
            components.ports(config)
        except components.ComponentError as err:
            found.error(f"spec.config.{err.path}", err.message)
    return found


def check_target_allocator(
    resource: Mapping[str, Any], has_collector: bool, options: BuildOptions | None = None
) -> Problems:
    """A TargetAllocator (schema-valid, defaults applied)."""
    options = options or BuildOptions()
    found = Problems(resource)
    meta = resource.get("metadata") or {}
    spec = resource.get("spec") or {}
    if not meta.get("namespace"):
        found.error("metadata.namespace", "required; the objects are created in the allocator's namespace")
    embedded = any(
        r.get("kind") == "OpenTelemetryCollector" and r.get("controller") for r in meta.get("ownerReferences") or []
    )
    mtls.check(spec.get("mtls"), "spec.mtls", found)
    if mtls.enabled(spec.get("mtls")) and not embedded:
        # the collectors labelled to use it would need the client certificate and the https endpoint
        found.error(
            "spec.mtls.enabled",
            "mutual TLS for a standalone TargetAllocator is not supported yet by otel-operator (it is for the "
            "allocator embedded in a collector: spec.targetAllocator.mtls.enabled); set it to false",
        )
    _check_durations(spec, "spec", ("collectorNotReadyGracePeriod",), found)
    for path, message in scrape_configs_problems(spec.get("scrapeConfigs"), "spec.scrapeConfigs"):
        found.error(path, message)
    if not has_collector and not spec.get("scrapeConfigs") and not (spec.get("prometheusCR") or {}).get("enabled"):
        found.warn(
            "spec.scrapeConfigs",
            "no scrape configs and prometheusCR is not enabled, so the allocator has nothing to allocate; add "
            "spec.scrapeConfigs, set spec.prometheusCR.enabled: true, or label a collector that has scrape configs",
        )
    check_selectors(spec.get("prometheusCR") or {}, "spec", found)
    if not has_collector:
        found.warn(
            "metadata.name",
            f"no collector uses this allocator: label an OpenTelemetryCollector in the namespace with "
            f"{labels.TARGET_ALLOCATOR_LABEL}={meta.get('name')}; until then it considers every pod in its namespace "
            "a collector",
        )
    for module in _MODULES:
        module.check_allocator(spec, "spec", options, found)
    return found


def validate_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldError]:
    """What an update of an OpenTelemetryCollector may not change (the rules that need the old object)."""
    if new.get("kind") != "OpenTelemetryCollector":
        return []
    old_mode = str((old.get("spec") or {}).get("mode") or "deployment")
    new_mode = str((new.get("spec") or {}).get("mode") or "deployment")
    if old_mode == new_mode:
        return []
    return [
        FieldError(
            describe(new),
            "spec.mode",
            f"the OpenTelemetry Collector mode is set to {old_mode}, which does not support modification; set it "
            f"back to {old_mode}, or delete the collector and create it again with mode {new_mode}",
        )
    ]


# --- the one review -------------------------------------------------------------------------------------------------

COLLECTOR_API: Final = ("opentelemetry.io/v1beta1", "OpenTelemetryCollector")
ALLOCATOR_API: Final = ("opentelemetry.io/v1alpha1", "TargetAllocator")


@dataclass(frozen=True, slots=True)
class Review:
    """What the admission webhook, `otel-operator check resources` and the reconciler each decide about one resource:
    its defaulted form (the CRD's defaults and upstream's webhook defaults), the errors that refuse it, and the
    warnings that do not."""

    resource: Mapping[str, Any]
    errors: tuple[FieldError, ...] = ()
    warnings: tuple[str, ...] = ()
    # what it builds into, when allowed (the build's own checks, such as the allocator's config, are part of the
    # review: the webhook refuses what the reconciler could not build)
    built: Build | None = None

    @property
    def allowed(self) -> bool:
        return not self.errors


def review(
    resource: Mapping[str, Any],
    options: BuildOptions | None = None,
    *,
    old: Mapping[str, Any] | None = None,
    has_collector: bool | None = None,
    collector: Mapping[str, Any] | None = None,
) -> Review:
    """Check an OpenTelemetryCollector (v1beta1) or a TargetAllocator (v1alpha1) as the API returns it: its schema,
    then (when the schema holds) the rules of every builder module on the defaulted resource, then the build itself
    (the allocator's config is checked as the allocator will load it). `old` is the stored object of an update (the
    rules that compare both). For a TargetAllocator: `has_collector`, whether a collector is labelled to use it
    (None: unknown, so no warning about it), and `collector`, that collector when the caller has it (its scrape
    configs are part of the allocator's config)."""
    schema = validate(resource)
    if schema:
        return Review(resource, errors=tuple(schema))
    key = (resource.get("apiVersion"), resource.get("kind"))
    if key == COLLECTOR_API:
        defaulted = defaults.collector(resource)
        found = check_collector(defaulted, options)
        if old is not None:
            found.errors += validate_update(old, resource)
    elif key == ALLOCATOR_API:
        defaulted = defaults.target_allocator(resource)
        # unknown (None): no warnings that assume there is none
        found = check_target_allocator(defaulted, has_collector is not False or collector is not None, options)
    else:
        wanted = f"{COLLECTOR_API[1]} ({COLLECTOR_API[0]}) or {ALLOCATOR_API[1]} ({ALLOCATOR_API[0]})"
        refused = FieldError(describe(resource), "kind", f"otel-operator builds objects only for {wanted}")
        return Review(resource, errors=(refused,))
    if found.errors:
        return Review(defaulted, errors=tuple(found.errors), warnings=tuple(found.warnings))
    from otel_operator.manifests.build import build_collector, build_target_allocator  # (they import this module)

    checked = Review(defaulted, warnings=tuple(found.warnings))
    options = options or BuildOptions()
    if key == COLLECTOR_API:
        built = build_collector(checked, options)
    else:
        built = build_target_allocator(checked, options, collector)
    return Review(defaulted, errors=built.problems, warnings=built.warnings, built=built if built.ok else None)
