"""Prometheus config files (`global` + `scrape_configs` with `static_configs`), and what
`promtool check service-discovery CONFIG JOB` prints for them.

Takes config text, never paths. Every problem surfaces as a `PromConfigError` whose message names the job and the
field; nothing here lets a traceback through for bad input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

from otel_operator.prom.goscalar import resolve_plain
from otel_operator.prom.labels import ADDRESS, NameScheme, go_quote, is_valid_label_name, is_valid_utf8
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.relabel import RelabelConfigError, scalar_text
from otel_operator.prom.targets import AssembledTarget, GlobalDefaults, Mode, ScrapeConfigError, ScrapeJob

_STATIC_CONFIG_KEYS: Final = ("targets", "labels")
# What Go's json.MarshalIndent escapes that Python's json.dumps(ensure_ascii=False) leaves alone.
_GO_JSON_ESCAPES: Final = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class PromConfigError(ValueError):
    """A Prometheus config that Prometheus would refuse to load, or a job that cannot be checked."""


# --- YAML as Go's yaml.v2 reads it --------------------------------------------------------------------------------


class _YamlInt(int):
    """An integer scalar that remembers its text: Go reads `regex: 0777` into a string field as "0777"."""

    yaml_text: str


class _YamlFloat(float):
    yaml_text: str


class _YamlBool(str):
    """A boolean scalar as its text (Go reads `on: yes` into a label as "on": "yes"), with its truth value for the
    boolean fields (`yaml_bool`)."""

    yaml_bool: bool


class _YamlGoScalar(str):
    """A plain scalar that Go's yaml.v2 reads as a number (`1e3`, `0o17`, `08`) or a timestamp and PyYAML, as
    loaded here, as text: text for the string fields, its `yaml_text` resolved again (goscalar) for the number
    fields."""

    yaml_text: str


_GO_SCALAR_TAG: Final = "tag:otel-operator,2026:go-scalar"
_STR_TAG: Final = "tag:yaml.org,2002:str"
_BOOL_TAG: Final = "tag:yaml.org,2002:bool"
_GO_ONLY_FIRST: Final = frozenset("+-.0123456789yYnN")  # where yaml.v2 finds a number or bool PyYAML does not


class _Loader(yaml.SafeLoader):
    """Safe YAML read as Go's yaml.v2 reads it into Prometheus's types: duplicate keys are errors, numbers and
    booleans keep their source text for string fields, and plain scalars that yaml.v2 reads as numbers (`1e3`,
    `0o17`) but YAML 1.1 as text are marked as such."""

    go_booleans: bool = False  # also `y`/`n` as booleans (yaml.v2 does; YAML 1.1's patterns and yaml.v3 do not)

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        tag: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]  # PyYAML's stubs
        if tag == _STR_TAG and kind is yaml.ScalarNode and implicit[0] and value[:1] in _GO_ONLY_FIRST:
            go_tag, _ = resolve_plain(value)
            if go_tag in ("!!int", "!!float", "!!timestamp"):
                return _GO_SCALAR_TAG
            if go_tag == "!!bool" and self.go_booleans:
                return _BOOL_TAG
        return tag


class _PrometheusLoader(_Loader):
    """A Prometheus config file, as Prometheus reads it: `honor_labels: y` is true. (The allocator's own file,
    which embeds one, keeps `y` as text: its reader refuses booleans where it wants strings.)"""

    go_booleans = True


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            continue  # an unhashable key: the constructor below reports it
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"mapping key {key!r} already defined", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=True)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    value = _YamlInt(yaml.SafeLoader.construct_yaml_int(loader, node))
    value.yaml_text = node.value
    return value


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    value = _YamlFloat(yaml.SafeLoader.construct_yaml_float(loader, node))
    value.yaml_text = node.value
    return value


def _construct_bool(loader: _Loader, node: yaml.ScalarNode) -> str:
    value = _YamlBool(node.value)
    truth = resolve_plain(node.value)[1]  # yaml.v2's words, `y` and `n` too
    value.yaml_bool = truth if isinstance(truth, bool) else yaml.SafeLoader.construct_yaml_bool(loader, node)
    return value


def _construct_go_scalar(loader: _Loader, node: yaml.ScalarNode) -> str:
    value = _YamlGoScalar(node.value)
    value.yaml_text = node.value
    return value


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor(_GO_SCALAR_TAG, _construct_go_scalar)
# Go reads a date-like scalar into a string field as its text; PyYAML would make it a datetime.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, *, prometheus: bool = False) -> object:
    """Parse config text; PromConfigError (with the line) if it is not YAML. `prometheus`: the text is a whole
    Prometheus config file (yaml.v2's booleans)."""
    try:
        return yaml.load(text, Loader=_PrometheusLoader if prometheus else _Loader)  # SafeLoader subclasses
    except yaml.YAMLError as err:
        raise PromConfigError(f"parsing YAML: {err}") from None


# --- The config -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromConfig:
    """A loaded Prometheus config: the global defaults, the scrape jobs in file order, each job's static targets
    as target groups (sources "0", "1", ... as Prometheus names them) and which other discovery it uses."""

    defaults: GlobalDefaults
    jobs: tuple[ScrapeJob, ...]
    static_groups: Mapping[str, tuple[TargetGroup, ...]]
    other_discovery: Mapping[str, tuple[str, ...]]  # job → its `*_sd_configs` keys other than static_configs

    def job(self, name: str) -> ScrapeJob:
        for job in self.jobs:
            if job.job_name == name:
                return job
        known = ", ".join(go_quote(job.job_name) for job in self.jobs) or "none"
        raise PromConfigError(f"job {go_quote(name)} not found in scrape_configs (jobs: {known})")


def parse_config(text: str) -> PromConfig:
    """Load a Prometheus config file's text as Prometheus would (the parts that decide targets)."""
    return config_from_data(load_yaml(text, prometheus=True))


def config_from_data(raw: object) -> PromConfig:
    """The same from the config as plain data (YAML already read, or built in code): what `parse_config` does after
    reading the text."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise PromConfigError(f"the config must be a mapping, got {type(raw).__name__}")
    try:
        defaults = GlobalDefaults.from_config(raw.get("global"))
        entries = raw.get("scrape_configs") or []
        if not isinstance(entries, list):
            raise PromConfigError(f"scrape_configs: must be a list, got {type(entries).__name__}")
        jobs: list[ScrapeJob] = []
        groups: dict[str, tuple[TargetGroup, ...]] = {}
        others: dict[str, tuple[str, ...]] = {}
        for index, entry in enumerate(entries):
            if entry is None:
                raise PromConfigError(f"scrape_configs[{index}]: empty or null scrape config section")
            job = ScrapeJob.from_config(entry, defaults)
            if job.job_name in groups:
                raise PromConfigError(f"found multiple scrape configs with job name {go_quote(job.job_name)}")
            jobs.append(job)
            assert isinstance(entry, Mapping)  # ScrapeJob.from_config refuses anything else
            groups[job.job_name] = static_target_groups(
                entry.get("static_configs"), job.job_name, check_addresses=not job.settings.relabel_configs
            )
            others[job.job_name] = tuple(
                key
                for key in entry
                if isinstance(key, str) and key.endswith("_sd_configs") and key != "static_configs" and entry[key]
            )
    except (ScrapeConfigError, RelabelConfigError) as err:
        raise PromConfigError(str(err)) from None
    return PromConfig(defaults, tuple(jobs), groups, others)


def static_target_groups(raw: object, job: str, *, check_addresses: bool = True) -> tuple[TargetGroup, ...]:
    """A job's `static_configs` as target groups. `check_addresses`: refuse targets that look like URLs, as
    Prometheus does when the job has no relabel rules that could fix them."""
    if raw is None:
        return ()
    where = f"job {go_quote(job)}: static_configs"
    if not isinstance(raw, list):
        raise PromConfigError(f"{where}: must be a list, got {type(raw).__name__}")
    groups = []
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        entry = {} if item is None else item
        if not isinstance(entry, Mapping):
            raise PromConfigError(f"{at}: must be a mapping with targets and labels, got {type(entry).__name__}")
        for key in entry:
            if key not in _STATIC_CONFIG_KEYS:
                raise PromConfigError(f"{at}: unknown field {go_quote(str(key))} (known: targets, labels)")
        targets = _static_targets(entry.get("targets"), at, check_addresses)
        labels = _static_labels(entry.get("labels"), at)
        groups.append(TargetGroup(source=str(index), targets=tuple({ADDRESS: t} for t in targets), labels=labels))
    return tuple(groups)


def _static_targets(raw: object, at: str, check_addresses: bool) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PromConfigError(f"{at}.targets: must be a list of host:port strings, got {type(raw).__name__}")
    targets = []
    for i, value in enumerate(raw):
        try:
            target = scalar_text(value, "targets")
        except RelabelConfigError:
            raise PromConfigError(f"{at}.targets[{i}]: must be a string, got {type(value).__name__}") from None
        if check_addresses and "/" in target:
            raise PromConfigError(f"{at}.targets[{i}]: {go_quote(target)} is not a valid hostname")
        targets.append(target)
    return targets


def _static_labels(raw: object, at: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PromConfigError(f"{at}.labels: must be a mapping of label names to values, got {type(raw).__name__}")
    labels = {}
    for key, value in raw.items():
        # A null key is the empty name, and Prometheus lets it through (it refuses only an explicit "").
        name = "" if key is None else str(getattr(key, "yaml_text", key))
        if key is not None and not is_valid_label_name(name, NameScheme.UTF8):
            raise PromConfigError(f"{at}.labels: {go_quote(name)} is not a valid label name")
        try:
            text = scalar_text(value, name)
        except RelabelConfigError:
            raise PromConfigError(f"{at}.labels.{name}: must be a string, got {type(value).__name__}") from None
        if not is_valid_utf8(text):
            raise PromConfigError(f"{at}.labels.{name}: {go_quote(text)} is not a valid label value")
        labels[name] = text
    return labels


# --- promtool check service-discovery --------------------------------------------------------------------------------


def service_discovery_targets(config_text: str | PromConfig, job: str) -> list[AssembledTarget]:
    """The targets `promtool check service-discovery CONFIG JOB` reports, with Prometheus's own reason for each
    refused one in `error` (promtool prints a refusal only as `"error": {}`). Takes the config's text or the config
    already loaded."""
    config = parse_config(config_text) if isinstance(config_text, str) else config_text
    scrape_job = config.job(job)
    if config.other_discovery.get(job):
        kinds = ", ".join(config.other_discovery[job])
        raise PromConfigError(f"job {go_quote(job)}: uses {kinds}; only static_configs can be checked offline")
    results: list[AssembledTarget] = []
    for group in config.static_groups.get(job, ()):
        # promtool leaves out a target whose whole result repeats an earlier one of the same group
        seen: set[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...] | None, str | None]] = set()
        for target in scrape_job.assemble_group(group, Mode.PROMETHEUS):
            key = (tuple(target.discovered_labels.items()), target.final_labels, target.error)
            if key not in seen:
                seen.add(key)
                results.append(target)
    return results


def service_discovery(config_text: str | PromConfig, job: str) -> list[dict[str, Any]]:
    """Exactly the structure `promtool check service-discovery CONFIG JOB` prints for static configs: per target
    `discoveredLabels` and `labels` (`{}` when dropped), plus `"error": {}` when Prometheus refuses the target.
    Targets are in config order (promtool's order between static_configs entries is random)."""
    out: list[dict[str, Any]] = []
    for target in service_discovery_targets(config_text, job):
        entry: dict[str, Any] = {"discoveredLabels": target.discovered_labels, "labels": target.labels}
        if target.error is not None:
            entry["error"] = {}  # Go's json encodes an error value as an empty object
        out.append(entry)
    return out


def render_json(value: Sequence[Any] | Mapping[str, Any]) -> str:
    """JSON as Go's `json.MarshalIndent(v, "", "  ")` writes it (promtool prints that, with no final newline)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    if any(ch in text for ch in _GO_JSON_ESCAPES):
        text = "".join(_GO_JSON_ESCAPES.get(ch, ch) for ch in text)
    return text
