"""Prometheus CRs → scrape configs, inside the allocator: selection, per-monitor generation, and merging.

Selection follows upstream: a monitor kind whose selector is unset selects nothing, `{}` selects everything; the
namespace must pass `allow_namespaces`/`deny_namespaces` and the kind's namespace selector (over the namespace's
labels). Generation is prometheus-operator's (`prom.monitors`), run per monitor and cached by the monitor's
resourceVersion and the Secret store's generation, so one ServiceMonitor edit regenerates one monitor, not all
of them (upstream regenerates everything on every CR event). A monitor that fails is left out with its error; the
rest keep their jobs.

Jobs are merged with the config file's: on a job-name clash the config file wins (upstream: map order decides) and
the clash is reported against the monitor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_operator.allocator.config import LabelSelector, PrometheusCRConfig
from otel_operator.api.validation import FieldError
from otel_operator.prom.monitors.generate import BUILDERS, generate_scrape_configs
from otel_operator.prom.monitors.options import GeneratorOptions
from otel_operator.prom.monitors.secrets import SecretStore
from otel_operator.prom.targets import format_duration

Obj = Mapping[str, Any]
MonitorKey = tuple[str, str, str]  # (kind, namespace, name)

MONITOR_KINDS = tuple(BUILDERS)  # ServiceMonitor, PodMonitor, Probe, ScrapeConfig: prometheus-operator's order


def _labels(obj: Obj) -> Mapping[str, str]:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


def monitor_key(kind: str, obj: Obj) -> MonitorKey:
    meta = obj.get("metadata") or {}
    return (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _selectors(cr: PrometheusCRConfig, kind: str) -> tuple[LabelSelector | None, LabelSelector]:
    return {
        "ServiceMonitor": (cr.service_monitor_selector, cr.service_monitor_namespace_selector),
        "PodMonitor": (cr.pod_monitor_selector, cr.pod_monitor_namespace_selector),
        "Probe": (cr.probe_selector, cr.probe_namespace_selector),
        "ScrapeConfig": (cr.scrape_config_selector, cr.scrape_config_namespace_selector),
    }[kind]


def selects(cr: PrometheusCRConfig, kind: str, monitor: Obj, namespace_labels: Mapping[str, str] | None) -> bool:
    """Whether the allocator's prometheusCR settings select this monitor. `namespace_labels` None: the namespace
    is not known (yet), which a namespace selector other than `{}` cannot match."""
    selector, namespace_selector = _selectors(cr, kind)
    if selector is None or not selector.matches(_labels(monitor)):
        return False
    namespace = monitor_key(kind, monitor)[1]
    if cr.allow_namespaces and namespace not in cr.allow_namespaces:
        return False
    if namespace in cr.deny_namespaces:
        return False
    if namespace_selector.selects_everything:
        return True
    return namespace_labels is not None and namespace_selector.matches(namespace_labels)


def generator_options(cr: PrometheusCRConfig) -> GeneratorOptions:
    return GeneratorOptions(
        scrape_interval=format_duration(cr.scrape_interval),
        evaluation_interval=format_duration(cr.evaluation_interval or cr.scrape_interval),
        scrape_classes=cr.scrape_classes,
        deny_fs_access_through_sms=cr.deny_fs_access_through_sms,
    )


@dataclass(frozen=True, slots=True)
class MonitorResult:
    configs: tuple[Mapping[str, Any], ...] = ()
    errors: tuple[FieldError, ...] = ()


@dataclass(slots=True)
class MonitorConfigs:
    """The selected monitors' scrape configs, regenerated one monitor at a time."""

    cr: PrometheusCRConfig
    options: GeneratorOptions = field(init=False)
    _monitors: dict[MonitorKey, Obj] = field(default_factory=dict)
    _namespaces: dict[str, Mapping[str, str]] = field(default_factory=dict)
    _store: SecretStore = field(default_factory=SecretStore)
    _store_generation: int = 0
    _cache: dict[MonitorKey, tuple[object, int, MonitorResult]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.options = generator_options(self.cr)

    # feeding --------------------------------------------------------------------------------------------------

    def upsert(self, kind: str, obj: Obj) -> None:
        self._monitors[monitor_key(kind, obj)] = obj

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self._monitors.pop((kind, namespace, name), None)
        self._cache.pop((kind, namespace, name), None)

    def replace(self, kind: str, objs: Iterable[Obj]) -> None:
        for key in [k for k in self._monitors if k[0] == kind]:
            del self._monitors[key]
        for obj in objs:
            self.upsert(kind, obj)

    def set_namespaces(self, namespaces: Mapping[str, Mapping[str, str]]) -> None:
        self._namespaces = dict(namespaces)

    def set_secrets(self, objects: Iterable[Obj]) -> None:
        """Every Secret and ConfigMap monitors may read; invalidates the cache (a value may have changed)."""
        self._store = SecretStore.from_objects(objects)
        self._store_generation += 1

    # computing ------------------------------------------------------------------------------------------------

    def _generate(self, key: MonitorKey, monitor: Obj) -> MonitorResult:
        meta = monitor.get("metadata") or {}
        version = meta.get("resourceVersion") or id(monitor)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == version and cached[1] == self._store_generation:
            return cached[2]
        result = generate_scrape_configs([{**monitor, "kind": key[0]}], self._store, self.options)
        out = MonitorResult(result.scrape_configs, result.errors)
        self._cache[key] = (version, self._store_generation, out)
        return out

    def compute(self) -> tuple[list[Mapping[str, Any]], list[tuple[MonitorKey, FieldError]]]:
        """The selected monitors' scrape configs in prometheus-operator's order, and each rejected monitor's error."""
        option_errors = generate_scrape_configs([], self._store, self.options).errors
        if option_errors:
            return [], [(("", "", ""), e) for e in option_errors]
        rank = {kind: i for i, kind in enumerate(MONITOR_KINDS)}
        configs: list[Mapping[str, Any]] = []
        errors: list[tuple[MonitorKey, FieldError]] = []
        selected = [
            key
            for key, monitor in self._monitors.items()
            if selects(self.cr, key[0], monitor, self._namespaces.get(key[1]))
        ]
        for key in set(self._cache) - set(selected):
            del self._cache[key]
        for key in sorted(selected, key=lambda k: (rank[k[0]], f"{k[1]}/{k[2]}")):  # prometheus-operator's order
            result = self._generate(key, self._monitors[key])
            configs += result.configs
            errors += [(key, e) for e in result.errors]
        return configs, errors

    def items(self) -> list[tuple[MonitorKey, Obj]]:
        """Every monitor held, selected or not (a monitor no longer selected may still carry our status entry)."""
        return list(self._monitors.items())

    def monitor(self, key: MonitorKey) -> Obj | None:
        return self._monitors.get(key)

    def jobs_by_monitor(self) -> dict[MonitorKey, tuple[str, ...]]:
        """The job names each selected, valid monitor produced at the last `compute`."""
        return {
            key: tuple(str(c["job_name"]) for c in result.configs)
            for key, (_, _, result) in self._cache.items()
            if result.configs
        }


def merge_jobs(
    file_configs: Iterable[Mapping[str, Any]], cr_configs: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """Config-file jobs first, then CR jobs; a CR job whose name the file already uses is dropped (and named)."""
    out: dict[str, Mapping[str, Any]] = {}
    for config in file_configs:
        out[str(config["job_name"])] = config
    clashes = []
    for config in cr_configs:
        name = str(config["job_name"])
        if name in out:
            clashes.append(name)
            continue
        out[name] = config
    return out, clashes
