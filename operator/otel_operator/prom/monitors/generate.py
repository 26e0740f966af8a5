"""The entry point: prometheus-operator resources in, Prometheus scrape_configs out, as prometheus-operator does it.

Order: ServiceMonitors, PodMonitors, Probes, ScrapeConfigs; within a kind sorted by "<namespace>/<name>"; a
monitor's endpoints in order. A monitor that prometheus-operator would reject (bad selector, missing Secret,
invalid relabeling, ...) is left out with an error naming it and the field; the others are still generated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from otel_operator.api.validation import FieldError, describe
from otel_operator.prom.monitors import auth, podmonitor, probe, scrapeconfig, servicemonitor
from otel_operator.prom.monitors.common import Config, EndpointsDropped, Invalid, Obj, join, opt_obj
from otel_operator.prom.monitors.context import Context, context_for
from otel_operator.prom.monitors.options import GeneratorOptions
from otel_operator.prom.monitors.relabelings import relabel_configs
from otel_operator.prom.monitors.secrets import SecretStore

MONITORING_GROUP = "monitoring.coreos.com"
OPTIONS_OWNER = "TargetAllocator prometheusCR"

Builder = Callable[[Context, Obj], list[Config]]

# In prometheus-operator's order of kinds.
BUILDERS: dict[str, Builder] = {
    "ServiceMonitor": servicemonitor.scrape_configs,
    "PodMonitor": podmonitor.scrape_configs,
    "Probe": probe.scrape_configs,
    "ScrapeConfig": scrapeconfig.scrape_configs,
}
SECRET_KINDS = ("Secret", "ConfigMap")


@dataclass(frozen=True, slots=True)
class GenerationResult:
    scrape_configs: tuple[Config, ...]  # in prometheus-operator's order, keys in its order
    errors: tuple[FieldError, ...]  # one per rejected monitor (or per problem with the options)
    ignored: tuple[str, ...] = ()  # documents that are neither scrape resources nor Secrets/ConfigMaps

    @property
    def job_names(self) -> tuple[str, ...]:
        return tuple(str(c["job_name"]) for c in self.scrape_configs)


def _check_scrape_classes(options: GeneratorOptions) -> list[FieldError]:
    errors = []
    defaults = []
    for i, scrape_class in enumerate(options.scrape_classes):
        path = f"scrapeClasses[{i}]"
        try:
            if not isinstance(scrape_class.get("name"), str) or not scrape_class.get("name"):
                raise Invalid(join(path, "name"), "required field is missing")
            if scrape_class.get("default") is True:
                defaults.append(str(scrape_class["name"]))
            relabel_configs(scrape_class, "relabelings", path)
            relabel_configs(scrape_class, "metricRelabelings", path)
            tls = opt_obj(scrape_class, "tlsConfig", path)
            if tls is not None:
                auth.check_tls(tls, join(path, "tlsConfig"))
            authorization = opt_obj(scrape_class, "authorization", path)
            if authorization is not None:
                auth.check_authorization(authorization, join(path, "authorization"))
        except Invalid as err:
            errors.append(FieldError(OPTIONS_OWNER, err.field, err.message))
    if len(defaults) > 1:
        errors.append(
            FieldError(
                OPTIONS_OWNER,
                "scrapeClasses",
                f"only one scrape class may be the default; {', '.join(defaults)} all are",
            )
        )
    return errors


def _key(monitor: Obj) -> str:
    meta = monitor.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name') or ''}"


def generate_scrape_configs(
    monitors: Iterable[Mapping[str, Any]],
    secrets: SecretStore | Iterable[Mapping[str, Any]],
    options: GeneratorOptions,
) -> GenerationResult:
    """Scrape configs for `monitors` (ServiceMonitors, PodMonitors, Probes, ScrapeConfigs, any order).

    `secrets` is a SecretStore or the Secret/ConfigMap objects themselves (as the API returns them).
    """
    store = secrets if isinstance(secrets, SecretStore) else SecretStore.from_objects(secrets)
    option_errors = _check_scrape_classes(options)
    if option_errors:
        # prometheus-operator cannot build its generator at all then.
        return GenerationResult((), tuple(option_errors))

    by_kind: dict[str, dict[str, Obj]] = {kind: {} for kind in BUILDERS}
    errors: list[FieldError] = []
    for monitor in monitors:
        kind = monitor.get("kind")
        if kind not in BUILDERS:
            errors.append(
                FieldError(describe(monitor), "kind", f"not a scrape resource; use one of {', '.join(BUILDERS)}")
            )
            continue
        if not _key(monitor).partition("/")[2]:
            errors.append(FieldError(describe(monitor), "metadata.name", "required field is missing"))
            continue
        by_kind[str(kind)][_key(monitor)] = monitor  # a later copy of the same object wins

    configs: list[Config] = []
    for kind, builder in BUILDERS.items():
        for key in sorted(by_kind[kind]):
            monitor = by_kind[kind][key]
            try:
                ctx = context_for(monitor, store, options)
                configs += builder(ctx, monitor)
            except EndpointsDropped as err:  # the rest of the monitor is served, the error still reported
                configs += err.kept
                errors.append(FieldError(f"{kind} {key}", err.field, err.message))
            except Invalid as err:
                errors.append(FieldError(f"{kind} {key}", err.field, err.message))
    return GenerationResult(tuple(configs), tuple(errors))


def generate_from_documents(documents: Iterable[Any], options: GeneratorOptions) -> GenerationResult:
    """Scrape configs from parsed YAML documents holding monitors, Secrets and ConfigMaps in any mix.

    `kind: List` documents are flattened; empty documents are skipped; other kinds are listed as ignored.
    """
    objects = [obj for doc in documents for obj in _flatten(doc)]
    store = SecretStore.from_objects(obj for obj in objects if obj.get("kind") in SECRET_KINDS)
    # Anything of prometheus-operator's API group is checked (a misspelt kind is an error); the rest is ignored.
    monitors, ignored = [], []
    for obj in objects:
        if obj.get("kind") in BUILDERS or _group(obj) == MONITORING_GROUP:
            monitors.append(obj)
        elif obj.get("kind") not in SECRET_KINDS:
            ignored.append(describe(obj))
    result = generate_scrape_configs(monitors, store, options)
    return GenerationResult(result.scrape_configs, result.errors, tuple(ignored))


def _group(obj: Mapping[str, Any]) -> str:
    return str(obj.get("apiVersion") or "").rpartition("/")[0]


def _flatten(document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return []
    if document.get("kind") == "List" and isinstance(document.get("items"), list):
        return [item for item in document["items"] if isinstance(item, Mapping)]
    return [document]


def prometheus_config(result: GenerationResult, options: GeneratorOptions) -> Config:
    """A loadable Prometheus configuration around the generated jobs (what `promtool check config` takes)."""
    return {
        "global": {"scrape_interval": options.scrape_interval, "evaluation_interval": options.evaluation_interval},
        "scrape_configs": list(result.scrape_configs),
    }
