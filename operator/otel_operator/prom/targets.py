"""Target assembly: from service-discovery target groups and one scrape config to scrape targets.

Two readings of the same pipeline (merge group and target labels, fill in the scrape defaults, relabel):

- `Mode.PROMETHEUS` is what Prometheus v3 (and `promtool check service-discovery`) does with the target: relabel
  with the job's rules, then refuse a target without `__address__` (or with a bad one, bad interval/timeout, or a
  histogram setting that is not a boolean), drop the `__meta_*` labels and default `instance` to the address.
- `Mode.ALLOCATOR` is the target allocator's relabel-config filter: the rules run wrapped as
  `[noSharding] + relabel_configs + [dropTmp]`, so prometheus-operator's `$(SHARD)` keep rule passes (the collector
  substitutes the shard itself); a target is kept exactly when that Prometheus would keep it, its identity is its
  post-relabel label set, and what is served is the pre-relabel merged labels, which the collector relabels again.

Both modes seed the same labels before relabeling: `job`, interval, timeout, metrics path, scheme, the three
histogram settings of Prometheus v3.13+ (`__convert_classic_histograms_to_nhcb__`,
`__always_scrape_classic_histograms__`, `__scrape_native_histograms__`: "true"/"false" from the scrape config, else
`global`) and `__param_<k>`. The Go allocator v0.158 seeds all but the histogram three (see docs/fidelity.md); the
collector, which relabels again with Prometheus's code, seeds them, so keeping to Prometheus keeps the two in step.

`ScrapeJob` is built once per scrape config; `assemble_group`'s result depends on nothing but the group (the job
keeps only a memo of label names), so a change in one target group recomputes only that group.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from otel_operator.prom.labels import (
    ADDRESS,
    ALWAYS_SCRAPE_CLASSIC_HISTOGRAMS,
    CONVERT_CLASSIC_HISTOGRAMS_TO_NHCB,
    DISABLE_SHARDING,
    INSTANCE,
    JOB,
    META_PREFIX,
    METRICS_PATH,
    PARAM_PREFIX,
    SCHEME,
    SCRAPE_INTERVAL,
    SCRAPE_NATIVE_HISTOGRAMS,
    SCRAPE_TIMEOUT,
    NameScheme,
    go_quote,
    is_valid_utf8,
)
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.relabel import (
    Action,
    RelabelChain,
    RelabelConfig,
    RelabelConfigError,
    parse_relabel_configs,
    scalar_text,
)

Labels = dict[str, str]
LabelItems = tuple[tuple[str, str], ...]  # a label set in name order
Identity = tuple[str, LabelItems]  # (job name, post-relabel labels): equal exactly for the same target

# The allocator's wrapper rules (target allocator `addNoShardingConfig`): mark the target so that
# prometheus-operator's `$(SHARD);|.+;.+` keep rule passes, then remove the mark again.
NO_SHARDING: Final = RelabelConfig(target_label=DISABLE_SHARDING, replacement="true")
DROP_TMP: Final = RelabelConfig(action=Action.LABELDROP, regex=DISABLE_SHARDING)

_MS_PER_UNIT: Final = (
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
)
_DURATION: Final = re.compile("".join(rf"(?:([0-9]+){unit})?" for unit, _ in _MS_PER_UNIT))
DEFAULT_SCRAPE_INTERVAL: Final = 60_000  # ms
DEFAULT_SCRAPE_TIMEOUT: Final = 10_000  # ms
_NAME_MEMO_LIMIT: Final = 65_536
_MAX_DURATION_MS: Final = (1 << 63) // 1_000_000  # Go's time.Duration counts nanoseconds in an int64
# The histogram settings: (scrape config key, seeded label, what Prometheus's refusal calls it), in the order
# Prometheus seeds and checks them (scrape/target.go).
HISTOGRAM_SETTINGS: Final = (
    ("convert_classic_histograms_to_nhcb", CONVERT_CLASSIC_HISTOGRAMS_TO_NHCB, "convert classic histograms to nhcb"),
    ("always_scrape_classic_histograms", ALWAYS_SCRAPE_CLASSIC_HISTOGRAMS, "always scrape classic histograms"),
    ("scrape_native_histograms", SCRAPE_NATIVE_HISTOGRAMS, "scrape native histograms"),
)
# What Go's strconv.ParseBool accepts.
GO_BOOLS: Final = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"})


class Mode(StrEnum):
    PROMETHEUS = "prometheus"
    ALLOCATOR = "allocator"


class ScrapeConfigError(ValueError):
    """An invalid scrape config; the message names the job and the field."""


@functools.lru_cache(maxsize=1024)
def parse_duration(text: str) -> int:
    """Prometheus's `model.ParseDuration` (`1h30m`, `90s`, `0`) in milliseconds; ValueError in its words."""
    if text == "0":
        return 0
    if text == "":
        raise ValueError("empty duration string")
    m = _DURATION.fullmatch(text)
    if m is None:
        raise ValueError(f"not a valid duration string: {go_quote(text)}")
    total = 0
    for (_, unit_ms), digits in zip(_MS_PER_UNIT, m.groups(), strict=True):
        if digits is not None:
            total += int(digits) * unit_ms
    if total >= _MAX_DURATION_MS:
        raise ValueError("duration out of range")
    return total


def format_duration(ms: int) -> str:
    """Prometheus's `model.Duration.String()`: `1m`, `1m30s`, `0s`; years and weeks only when exact."""
    if ms == 0:
        return "0s"
    out = []
    for unit, unit_ms in _MS_PER_UNIT:
        if unit in ("y", "w") and ms % unit_ms:
            continue
        if ms >= unit_ms:
            out.append(f"{ms // unit_ms}{unit}")
            ms %= unit_ms
    return "".join(out)


@dataclass(frozen=True, slots=True)
class GlobalDefaults:
    """The `global` section's values that scrape configs inherit (Prometheus's defaults: 1m, 10s, utf8, and the
    three histogram settings false)."""

    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL  # ms
    scrape_timeout: int = DEFAULT_SCRAPE_TIMEOUT  # ms
    name_scheme: NameScheme = NameScheme.UTF8
    convert_classic_histograms_to_nhcb: bool = False
    always_scrape_classic_histograms: bool = False
    scrape_native_histograms: bool = False

    @classmethod
    def from_config(cls, raw: object) -> GlobalDefaults:
        """From a Prometheus config's `global` mapping (None: all defaults)."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ScrapeConfigError(f"global: must be a mapping, got {type(raw).__name__}")
        interval = _duration(raw, "scrape_interval", "global") or DEFAULT_SCRAPE_INTERVAL
        timeout = _duration(raw, "scrape_timeout", "global")
        if timeout > interval:
            raise ScrapeConfigError("global: scrape_timeout: global scrape timeout greater than scrape interval")
        if timeout == 0:
            timeout = min(DEFAULT_SCRAPE_TIMEOUT, interval)
        flags = {key: _flag(raw, key, "global", False) for key, _, _ in HISTOGRAM_SETTINGS}
        return cls(interval, timeout, _name_scheme(raw, "global", NameScheme.UTF8), **flags)


def _flag(raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    """A Go bool field read by yaml.v2: absent or null keeps the default (Prometheus's `*bool` fields inherit
    `global` then; its plain `bool` ones default to false, which is also their global default), YAML 1.1 words
    count (`yes`, `on`; `y` in a Prometheus config file), a quoted "true" or a number does not."""
    value = raw.get(key)
    if value is None:
        return default
    value = getattr(value, "yaml_bool", value)  # a YAML boolean kept as text (promconfig's loader)
    if not isinstance(value, bool):
        raise ScrapeConfigError(f"{where}: {key}: must be true or false, got {value!r}")
    return value


def _duration(raw: Mapping[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if value is None:
        return 0
    try:
        return parse_duration(scalar_text(value, key))
    except (ValueError, RelabelConfigError) as err:
        raise ScrapeConfigError(f"{where}: {key}: {err}") from None


def _name_scheme(raw: Mapping[str, Any], where: str, default: NameScheme) -> NameScheme:
    value = raw.get("metric_name_validation_scheme")
    if value is None or value == "":
        return default
    try:
        return NameScheme(value)
    except ValueError:
        raise ScrapeConfigError(
            f"{where}: metric_name_validation_scheme: unknown name validation method specified, must be either "
            f"'', 'legacy' or 'utf8', got {value}"
        ) from None


@dataclass(frozen=True, slots=True)
class ScrapeSettings:
    """What of a scrape config decides its targets. Durations in milliseconds, defaults already applied."""

    job_name: str
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL
    scrape_timeout: int = DEFAULT_SCRAPE_TIMEOUT
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    honor_labels: bool = False
    name_scheme: NameScheme = NameScheme.UTF8
    relabel_configs: tuple[RelabelConfig, ...] = ()
    metric_relabel_configs: tuple[RelabelConfig, ...] = ()
    convert_classic_histograms_to_nhcb: bool = False
    always_scrape_classic_histograms: bool = False
    scrape_native_histograms: bool = False

    @classmethod
    def from_config(cls, raw: object, defaults: GlobalDefaults | None = None) -> ScrapeSettings:
        """From one `scrape_configs` entry as plain data (Prometheus YAML). Keys that do not affect targets (TLS,
        auth, limits, SD configs) are not read here."""
        defaults = defaults or GlobalDefaults()
        if not isinstance(raw, Mapping):
            raise ScrapeConfigError(f"a scrape config must be a mapping, got {type(raw).__name__}")
        try:
            job = scalar_text(raw.get("job_name"), "job_name")
        except RelabelConfigError as err:
            raise ScrapeConfigError(str(err)) from None
        if not job:
            raise ScrapeConfigError("job_name is empty")
        where = f"job {go_quote(job)}"
        interval = _duration(raw, "scrape_interval", where) or defaults.scrape_interval
        timeout = _duration(raw, "scrape_timeout", where)
        if timeout > interval:
            raise ScrapeConfigError(
                f"{where}: scrape_timeout: scrape timeout greater than scrape interval for scrape config with job "
                f"name {go_quote(job)}"
            )
        if timeout == 0:
            timeout = min(defaults.scrape_timeout, interval)
        scheme = _name_scheme(raw, where, defaults.name_scheme)
        honor_labels = _flag(raw, "honor_labels", where, False)
        flags = {key: _flag(raw, key, where, getattr(defaults, key)) for key, _, _ in HISTOGRAM_SETTINGS}
        try:
            return cls(
                job_name=job,
                scrape_interval=interval,
                scrape_timeout=timeout,
                metrics_path=scalar_text(raw["metrics_path"], "metrics_path") if "metrics_path" in raw else "/metrics",
                scheme=scalar_text(raw["scheme"], "scheme") if "scheme" in raw else "http",
                params=_params(raw.get("params"), where),
                honor_labels=honor_labels,
                name_scheme=scheme,
                relabel_configs=parse_relabel_configs(raw.get("relabel_configs"), job, scheme=scheme),
                metric_relabel_configs=parse_relabel_configs(
                    raw.get("metric_relabel_configs"), job, scheme=scheme, list_name="metric_relabel_configs"
                ),
                **flags,
            )
        except RelabelConfigError as err:
            if err.job is None:  # a scalar field of the scrape config itself
                raise ScrapeConfigError(f"{where}: {err}") from None
            raise

    def seeds(self) -> LabelItems:
        """The labels the scrape config fills in before relabeling when the target lacks them, in Prometheus's
        order (`__param_<k>` = the first value of each param, by name)."""
        seeds = [
            (JOB, self.job_name),
            (SCRAPE_INTERVAL, format_duration(self.scrape_interval)),
            (SCRAPE_TIMEOUT, format_duration(self.scrape_timeout)),
            (METRICS_PATH, self.metrics_path),
            (SCHEME, self.scheme),
        ]
        seeds += [(label, "true" if getattr(self, key) else "false") for key, label, _ in HISTOGRAM_SETTINGS]
        seeds += [(PARAM_PREFIX + key, values[0]) for key, values in self.params if values]
        return tuple((name, value) for name, value in seeds if value)  # an empty seed would delete: a no-op


def _params(raw: object, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ScrapeConfigError(f"{where}: params: must be a mapping of name to a list of values")
    out = []
    for key in sorted(raw, key=str):
        values = raw[key]
        if values is None:
            values = []
        if not isinstance(values, list | tuple):
            raise ScrapeConfigError(f"{where}: params.{key}: must be a list of values, got {type(values).__name__}")
        out.append((str(key), tuple(scalar_text(v, f"params.{key}") for v in values)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class AssembledTarget:
    """One discovered target after assembly.

    `served_labels` are the merged group and target labels before relabeling (what the allocator serves; the
    collector fills in the scrape defaults and relabels again), not necessarily in name order. `final_labels` are
    the labels after relabeling as Prometheus finishes them (no `__meta_*`, `instance` defaulted), in name order,
    or None when the target is dropped by a rule or refused (`error` says why, in Prometheus's words).
    """

    job_name: str
    served_labels: Mapping[str, str]
    final_labels: LabelItems | None
    error: str | None = None
    seeds: LabelItems = field(default=(), repr=False, compare=False)
    # the merged labels with their empty values, when there are any (else None: `served_labels` are the same)
    with_empty: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def allocator_labels(self) -> Mapping[str, str]:
        """What the allocator serves: the merged group and target labels as the Go allocator serves them, empty
        values included (a pod's `container_id` before its status names one). Prometheus drops an empty label
        before relabeling, so `served_labels` (its discovered labels) and relabeling never see one."""
        return self.with_empty if self.with_empty is not None else self.served_labels

    @property
    def kept(self) -> bool:
        return self.final_labels is not None

    @property
    def labels(self) -> Labels:
        """The post-relabel labels (`{}` when not kept), as promtool prints them."""
        return dict(self.final_labels) if self.final_labels is not None else {}

    @property
    def identity(self) -> Identity | None:
        """Two targets are the same target exactly when their identities are equal (None: not a target)."""
        return (self.job_name, self.final_labels) if self.final_labels is not None else None

    @property
    def address(self) -> str:
        """The discovered `__address__` (before relabeling): what the allocator's consistent hashing uses."""
        return self.served_labels.get(ADDRESS, "")

    @property
    def discovered_labels(self) -> Labels:
        """The labels relabeling starts from: merged labels plus the scrape defaults, in name order (promtool's
        `discoveredLabels`)."""
        labels = dict(self.served_labels)
        for name, value in self.seeds:
            labels.setdefault(name, value)
        return dict(sorted(labels.items()))


def _positive_duration(text: str, what: str) -> int:
    try:
        ms = parse_duration(text)
    except ValueError as err:
        raise ValueError(f"error parsing scrape {what}: {err}") from None
    if ms == 0:
        raise ValueError(f"scrape {what} cannot be 0")
    return ms


def _refusal(labels: Labels) -> str | None:
    """Why Prometheus refuses a relabeled target (scrape/target.go `PopulateLabels`), None if it does not."""
    address = labels.get(ADDRESS)
    if not address:
        return "no address"
    if "/" in address:
        return f"{go_quote(address)} is not a valid hostname"
    interval = labels.get(SCRAPE_INTERVAL, "")
    timeout = labels.get(SCRAPE_TIMEOUT, "")
    try:
        interval_ms = _positive_duration(interval, "interval")
        timeout_ms = _positive_duration(timeout, "timeout")
    except ValueError as err:
        return str(err)
    if timeout_ms > interval_ms:
        return f"scrape timeout cannot be greater than scrape interval ({go_quote(timeout)} > {go_quote(interval)})"
    for _, label, what in HISTOGRAM_SETTINGS:
        value = labels.get(label)
        if value and value not in GO_BOOLS:  # an absent (or emptied) setting is not checked
            return f"error parsing {what}: strconv.ParseBool: parsing {go_quote(value)}: invalid syntax"
    return None


class ScrapeJob:
    """One scrape config, compiled: its settings, its scrape-default labels and both relabel chains."""

    __slots__ = ("_chains", "_meta_names", "_seeds", "_seen_names", "job_name", "settings")

    def __init__(self, settings: ScrapeSettings) -> None:
        self.settings = settings
        self._seen_names: set[str] = set()
        self._meta_names: set[str] = set()
        self.job_name = settings.job_name
        self._seeds = settings.seeds()
        rules = settings.relabel_configs
        self._chains = {
            Mode.PROMETHEUS: RelabelChain(rules),
            Mode.ALLOCATOR: RelabelChain((NO_SHARDING, *rules, DROP_TMP)),
        }

    @classmethod
    def from_config(cls, raw: object, defaults: GlobalDefaults | None = None) -> ScrapeJob:
        return cls(ScrapeSettings.from_config(raw, defaults))

    def assemble(
        self, target: Mapping[str, str], group_labels: Mapping[str, str] | None = None, mode: Mode = Mode.ALLOCATOR
    ) -> AssembledTarget:
        """One target (its own labels, with `__address__`) of a group with `group_labels`."""
        return self._assemble(target, group_labels or {}, self._chains[mode])

    def assemble_group(self, group: TargetGroup, mode: Mode = Mode.ALLOCATOR) -> tuple[AssembledTarget, ...]:
        """Every target of the group, kept or not, in the group's order."""
        chain = self._chains[mode]
        return tuple(self._assemble(target, group.labels, chain) for target in group.targets)

    def _assemble(self, target: Mapping[str, str], common: Mapping[str, str], chain: RelabelChain) -> AssembledTarget:
        merged = {**common, **target}  # target labels win, and an empty one hides the group's
        with_empty = None
        if "" in merged.values():  # absent for Prometheus; the allocator still serves them
            with_empty, merged = merged, {name: value for name, value in merged.items() if value}
        touched: set[str] | None = None
        if chain.ordered:  # labelmap may see collisions: iterate as Prometheus's builder does
            merged = dict(sorted(merged.items()))
            touched = set()
        labels = dict(merged)
        for name, value in self._seeds:
            if name not in labels:
                labels[name] = value
                if touched is not None:
                    touched.add(name)
        if not chain.process(labels, touched):
            return AssembledTarget(self.job_name, merged, None, None, self._seeds, with_empty)
        final, error = self._finish(labels)
        return AssembledTarget(self.job_name, merged, final, error, self._seeds, with_empty)

    def _finish(self, labels: Labels) -> tuple[LabelItems | None, str | None]:
        """Prometheus's checks and clean-up after relabeling: refuse, or drop `__meta_*` and default `instance`."""
        error = _refusal(labels)
        if error is not None:
            return None, error
        names = labels.keys()
        unknown = names - self._seen_names
        if unknown:  # remember which names are meta labels: most targets of a job share them
            if len(self._seen_names) + len(unknown) > _NAME_MEMO_LIMIT:  # bounded: start over with these names
                self._seen_names.clear()
                self._meta_names.clear()
                unknown = set(names)
            self._meta_names.update(name for name in unknown if name.startswith(META_PREFIX))
            self._seen_names |= unknown
        items = [(name, labels[name]) for name in names - self._meta_names]
        if INSTANCE not in labels:
            items.append((INSTANCE, labels[ADDRESS]))
        items.sort()
        if not "".join([value for _, value in items]).isascii():
            for name, value in items:
                if not is_valid_utf8(value):
                    return None, f"invalid label value for {go_quote(name)}: {go_quote(value)}"
        return tuple(items), None

    def __repr__(self) -> str:
        return f"ScrapeJob({self.job_name!r})"


def dedupe(targets: Iterable[AssembledTarget]) -> dict[Identity, AssembledTarget]:
    """The kept targets by identity. Of several targets with one identity the last one wins (its served labels are
    the freshest), as in the target allocator."""
    out: dict[Identity, AssembledTarget] = {}
    for target in targets:
        if target.final_labels is not None:
            out[(target.job_name, target.final_labels)] = target
    return out


class JobTargets:
    """The kept targets of one job, maintained one target group at a time: a group replaces the earlier group with
    the same source, and a group without targets removes it."""

    __slots__ = ("_groups", "job", "mode")

    def __init__(self, job: ScrapeJob, mode: Mode = Mode.ALLOCATOR) -> None:
        self.job = job
        self.mode = mode
        self._groups: dict[str, tuple[AssembledTarget, ...]] = {}

    def update(self, group: TargetGroup) -> None:
        if not group.targets:
            self._groups.pop(group.source, None)
            return
        self._groups[group.source] = tuple(t for t in self.job.assemble_group(group, self.mode) if t.kept)

    def targets(self) -> dict[Identity, AssembledTarget]:
        return dedupe(itertools.chain.from_iterable(self._groups.values()))

    def __iter__(self) -> Iterator[AssembledTarget]:
        return iter(self.targets().values())

    def __len__(self) -> int:
        return len(self.targets())
