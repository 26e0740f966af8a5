"""The target allocator's configuration file (`targetallocator.yaml`), parsed and validated before anything starts.

Wire-compatible with upstream's `internal/config`: the same keys, defaults and loading order (defaults → file →
environment → explicitly set flags → validation), and the file the upstream operator writes (lower-case
`matchlabels`/`matchexpressions`, Go duration strings) loads unchanged. Where upstream would exit, panic or silently
misbehave on a bad value, `load_config` instead raises one `ConfigError` listing every problem, each naming its key
path and the fix. No traceback escapes for bad input.

Decisions that differ from (or pin down) upstream, on purpose:

- `null` for any key keeps that key's default, as upstream's mapstructure decoding does. So a `null` monitor
  selector selects no monitors, `{}` selects all of them, and a `null` namespace selector still means all namespaces.
- `filter_strategy` takes only `relabel-config` or `""`. Upstream treats every other value as "no filtering", which
  turns a typo into a silent behaviour change.
- `allocation_fallback_strategy` is checked even when the strategy is not per-node (upstream panics only when
  per-node reaches it). It is accepted but unused with the other strategies, because the operator writes it with
  its feature gate whatever the strategy is.
- `collectors` (our addition) fixes the collector set for running without Kubernetes. It cannot be combined with a
  non-null `collector_selector`, because the selector means "discover collector pods". Neither can it be combined
  with `per-node`, because fixed collectors have no node to match targets against.
- `https.enabled` requires the three certificate paths here, rather than failing later when the server starts.
- YAML aliases are accepted as Prometheus accepts them, but only while they expand the file to at most 4,000,000
  characters or 10 times its written size (`otel_operator.yamlsafe`): a 1 KB alias bomb is refused at load, naming
  the line of its biggest alias, instead of being expanded later by whatever walks the config.
- A scrape config whose discovery the allocator cannot run (a `*_sd_configs` kind other than static, kubernetes,
  http, file and dns; a bad selector; ...) is a problem here, naming the job and the field, so `render` and the
  operator refuse it up front; upstream's allocator runs every Prometheus SD kind.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml

from otel_operator.allocator.discovery import DiscoveryConfigError, job_discovery
from otel_operator.api.validation import FieldError
from otel_operator.prom.labels import go_quote
from otel_operator.prom.promconfig import PromConfigError, load_yaml, static_target_groups
from otel_operator.prom.relabel import RelabelConfigError, parse_relabel_configs
from otel_operator.prom.scrape_schema import prometheus_config_problems, scrape_config_problems
from otel_operator.prom.targets import (
    GlobalDefaults,
    ScrapeConfigError,
    ScrapeSettings,
    format_duration,
    parse_duration,
)
from otel_operator.serving import MIN_IDLE_TIMEOUT, ServerLimits
from otel_operator.yamlsafe import YamlLimitError, check_aliases, describe

T = TypeVar("T")

DEFAULT_CONFIG_FILE: Final = "/conf/targetallocator.yaml"
DEFAULT_KUBECONFIG: Final = os.path.join(os.path.expanduser("~"), ".kube", "config")
ALLOCATION_STRATEGIES: Final = ("consistent-hashing", "least-weighted", "per-node")
FALLBACK_STRATEGIES: Final = ("consistent-hashing", "least-weighted")  # per-node cannot be its own fallback
FILTER_STRATEGIES: Final = ("relabel-config", "")
SCRAPE_PROTOCOLS: Final = (
    "PrometheusProto",
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
)
DEFAULT_SCRAPE_PROTOCOLS: Final = (
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
)
SELECTOR_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")
TEMPORALITY_PREFERENCES: Final = ("cumulative", "delta", "low_memory")
# Top-level sections of a Prometheus config. The allocator reads only `global` and `scrape_configs`; the rest is
# accepted (Prometheus' own unmarshaller accepts it) and kept as written.
_PROM_SECTIONS: Final = (
    "global",
    "scrape_configs",
    "scrape_config_files",
    "rule_files",
    "alerting",
    "remote_write",
    "remote_read",
    "storage",
    "tracing",
    "otlp",
    "runtime",
)
_DURATION_HINT: Final = "use e.g. 30s or 1m30s"


_WHOLE_FILE: Final = ("<file>", "<yaml>")  # problems that stop the file from being read at all


class ConfigError(ValueError):
    """The configuration cannot be used. `problems` holds every problem found, each naming its key path."""

    def __init__(self, source: str, problems: Sequence[FieldError]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        if count == 1 and self.problems[0].field in _WHOLE_FILE:  # nothing else was read: one line says it
            super().__init__(f"{source}: {self.problems[0].message}")
            return
        lines = [f"{source}: {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  {p.field}: {p.message}" for p in self.problems]
        super().__init__("\n".join(lines))


# --- The configuration ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SelectorRequirement:
    """One `matchExpressions` entry of a Kubernetes label selector."""

    key: str
    operator: str  # one of SELECTOR_OPERATORS
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes `metav1.LabelSelector`. The empty selector matches everything; "no selector" is `None` at the
    place that holds one, and what it means depends on that place."""

    match_labels: tuple[tuple[str, str], ...] = ()  # in name order
    match_expressions: tuple[SelectorRequirement, ...] = ()

    @property
    def selects_everything(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            r.matches(labels) for r in self.match_expressions
        )

    def query(self) -> str:
        """The selector as the API's `labelSelector` list parameter (`a=b,c in (x,y),!d`)."""
        parts = [f"{k}={v}" for k, v in self.match_labels]
        for r in sorted(self.match_expressions, key=lambda r: r.key):
            if r.operator in ("In", "NotIn"):
                parts.append(f"{r.key} {r.operator.lower()} ({','.join(sorted(r.values))})")
            else:
                parts.append(r.key if r.operator == "Exists" else f"!{r.key}")
        return ",".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """In the spelling the operator writes (lower-case keys, empty collections kept)."""
        return {
            "matchlabels": dict(self.match_labels),
            "matchexpressions": [
                {"key": r.key, "operator": r.operator, "values": list(r.values)} for r in self.match_expressions
            ],
        }


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    """The `config` key: a Prometheus config, of which the allocator uses the scrape configs."""

    global_config: Mapping[str, Any] = field(default_factory=dict)  # `global`, as written
    defaults: GlobalDefaults = field(default_factory=GlobalDefaults)
    scrape_configs: tuple[Mapping[str, Any], ...] = ()  # as written: /scrape_configs serves them
    jobs: tuple[ScrapeSettings, ...] = ()  # the same scrape configs, parsed, in the same order
    other_sections: Mapping[str, Any] = field(default_factory=dict)  # accepted, unused


@dataclass(frozen=True, slots=True)
class PrometheusCRConfig:
    """`prometheus_cr`: the prometheus-operator resources the allocator turns into scrape configs."""

    enabled: bool = False
    scrape_interval: int = 30_000  # ms
    evaluation_interval: int = 0  # ms
    scrape_protocols: tuple[str, ...] = DEFAULT_SCRAPE_PROTOCOLS
    scrape_classes: tuple[Mapping[str, Any], ...] = ()  # prometheus-operator ScrapeClass objects, camelCase
    # None selects no monitors (prometheus-operator semantics); an empty selector selects them all.
    service_monitor_selector: LabelSelector | None = None
    pod_monitor_selector: LabelSelector | None = None
    scrape_config_selector: LabelSelector | None = None
    probe_selector: LabelSelector | None = None
    service_monitor_namespace_selector: LabelSelector = LabelSelector()
    pod_monitor_namespace_selector: LabelSelector = LabelSelector()
    scrape_config_namespace_selector: LabelSelector = LabelSelector()
    probe_namespace_selector: LabelSelector = LabelSelector()
    allow_namespaces: tuple[str, ...] = ()  # empty: all namespaces
    deny_namespaces: tuple[str, ...] = ()
    secret_namespaces: tuple[str, ...] = ()  # empty: the collector namespace
    deny_fs_access_through_sms: bool = False


@dataclass(frozen=True, slots=True)
class HttpsConfig:
    """`https`: the mTLS listener that serves scrape configs with their secrets."""

    enabled: bool = False
    listen_addr: str = ":8443"
    ca_file_path: str = ""
    tls_cert_file_path: str = ""
    tls_key_file_path: str = ""


@dataclass(frozen=True, slots=True)
class OtlpExporter:
    protocol: str  # "grpc" (`otlp_grpc`) or "http" (`otlp_http`)
    endpoint: str = ""  # `${env:VAR}` is expanded when the exporter starts, not here
    headers: tuple[tuple[str, str], ...] = ()
    temporality_preference: str = ""
    insecure: bool = False  # `tls.insecure`, gRPC only


@dataclass(frozen=True, slots=True)
class PeriodicReader:
    exporter: OtlpExporter
    interval: int = 60_000  # ms, as otelconf writes it
    timeout: int = 30_000  # ms


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """`telemetry.metrics.readers`: OTLP push of the allocator's own metrics."""

    readers: tuple[PeriodicReader, ...] = ()


@dataclass(frozen=True, slots=True)
class TargetLimits:
    """`target_limits` (ours; upstream has no cap): the most candidate targets one job may have, and all served jobs
    together, before a job is skipped (not served, with a Warning). 0 turns a cap off. Defaults: 200,000 per job is
    above a target for every Pod of the largest cluster Kubernetes supports (150,000 Pods) and twice what one
    EndpointSlice can hold (1,000 endpoints x 100 ports); 1,000,000 in total is about 7 GB of allocator memory
    (docs/reliability.md), the point where one allocator stops being the right tool anyway."""

    per_job: int = 200_000
    total: int = 1_000_000


@dataclass(frozen=True, slots=True)
class AllocatorConfig:
    """The whole `targetallocator.yaml`, defaults applied. Durations are in milliseconds."""

    listen_addr: str = ":8080"
    kube_config_file_path: str = DEFAULT_KUBECONFIG
    collector_selector: LabelSelector | None = None  # None lists every pod in the namespace (upstream quirk)
    collector_namespace: str = ""
    collectors: tuple[str, ...] | None = None  # ours: a fixed collector set instead of discovering pods
    config: PrometheusConfig = PrometheusConfig()
    allocation_strategy: str = "consistent-hashing"
    allocation_fallback_strategy: str = ""
    filter_strategy: str = "relabel-config"
    prometheus_cr: PrometheusCRConfig = PrometheusCRConfig()
    https: HttpsConfig = HttpsConfig()
    allow_insecure_auth_secrets: bool = False
    collector_not_ready_grace_period: int = 30_000  # ms; 0 disables readiness filtering
    telemetry: TelemetryConfig = TelemetryConfig()
    http_server: ServerLimits = field(default_factory=ServerLimits)  # ours: the listeners' idle timeout, connection cap
    target_limits: TargetLimits = TargetLimits()  # ours: the per-job and total target caps

    @property
    def uses_kubernetes(self) -> bool:
        """Whether the allocator needs an API server: to discover collectors or to watch Prometheus CRs."""
        return self.collectors is None or self.prometheus_cr.enabled


_TOP_KEYS: Final = tuple(f.name for f in dataclasses.fields(AllocatorConfig))
_CR_KEYS: Final = tuple(f.name for f in dataclasses.fields(PrometheusCRConfig))
_HTTPS_KEYS: Final = tuple(f.name for f in dataclasses.fields(HttpsConfig))
_HTTP_SERVER_KEYS: Final = ("idle_timeout", "max_connections")
_TARGET_LIMIT_KEYS: Final = tuple(f.name for f in dataclasses.fields(TargetLimits))
_MONITOR_SELECTORS: Final = ("service_monitor", "pod_monitor", "scrape_config", "probe")


# --- Durations ------------------------------------------------------------------------------------------------------

_GO_UNITS_NS: Final = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9}
_GO_UNITS_NS_H: Final = {**_GO_UNITS_NS, "h": 3600 * 10**9}
_GO_DURATION: Final = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int:
    """Go's `time.ParseDuration` (`1m30.5s`, `2m0s`, `300ms`, `-1h`), in whole milliseconds (truncated). Upstream
    decodes `collector_not_ready_grace_period` with it; Prometheus durations (`parse_duration`) have no fractions."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    if not body:
        raise ValueError(f"invalid duration {go_quote(text)}")
    total = Decimal(0)
    pos = 0
    while pos < len(body):
        m = _GO_DURATION.match(body, pos)
        if m is None or m.group(1) in ("", "."):
            raise ValueError(f"invalid duration {go_quote(text)}")
        try:
            total += Decimal(m.group(1)) * _GO_UNITS_NS_H[m.group(2)]
        except InvalidOperation:
            raise ValueError(f"invalid duration {go_quote(text)}") from None
        pos = m.end()
    if total >= 1 << 63:
        raise ValueError(f"invalid duration {go_quote(text)}")
    ms = int(total // 10**6)
    return -ms if text.startswith("-") else ms


def format_go_duration(ms: int) -> str:
    """Go's `time.Duration.String()` for a whole number of milliseconds: `30s`, `2m0s`, `1m30.5s`, `500ms`."""
    if ms == 0:
        return "0s"
    if ms < 0:
        return "-" + format_go_duration(-ms)
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest // 1000}" + (f".{rest % 1000:03d}".rstrip("0") if rest % 1000 else "")
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


# --- Reading the file -----------------------------------------------------------------------------------------------


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _describe(value: object) -> str:  # noqa: PLR0911 (one return per YAML type)
    """A value as a message shows it: its YAML type and, for scalars, its text."""
    if value is None:
        return "null"
    truth = getattr(value, "yaml_bool", None)
    if isinstance(truth, bool) or isinstance(value, bool):
        return f"boolean {value if not isinstance(value, bool) else str(value).lower()}"
    if isinstance(value, int):
        return f"integer {getattr(value, 'yaml_text', value)}"
    if isinstance(value, float):
        return f"number {getattr(value, 'yaml_text', value)}"
    if isinstance(value, str):
        return f"string {go_quote(value)}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _is_text(value: object) -> bool:
    """A YAML string; promconfig's loader keeps booleans as `str` subclasses, which are not strings here."""
    return isinstance(value, str) and not hasattr(value, "yaml_bool")


def _plain(value: Any) -> Any:
    """Loaded YAML as plain Python data: promconfig's loader keeps scalars' source text in subclasses of int, float
    and str, which serializers do not know."""
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    truth = getattr(value, "yaml_bool", None)
    if isinstance(truth, bool):
        return truth
    if isinstance(value, bool):
        return value
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


class _Reader:
    """Reads one file's keys into the dataclasses, recording every problem instead of stopping at the first. Every
    getter returns the default when the key is absent or null (mapstructure leaves the default alone for null)."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, value: object, path: str, known: Sequence[str]) -> Mapping[Any, Any] | None:
        """The mapping at `path` with unknown keys reported; None (after reporting) when it is not a mapping."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(path or "<root>", f"expected a mapping of keys, got {_describe(value)}")
            return None
        for key in value:
            if str(key) not in known:
                guess = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                hint = f'; did you mean "{guess[0]}"?' if guess else f"; known keys: {', '.join(known)}"
                self.fail(_join(path, str(key)), f"unknown key{hint}")
        return value

    def value(self, raw: Mapping[Any, Any], key: str, path: str, default: T, convert: Callable[[object, str], T]) -> T:
        value = raw.get(key)
        if value is None:
            return default
        at = _join(path, key)
        try:
            return convert(value, at)
        except _Problem as problem:
            self.fail(at, str(problem))
            return default

    def string(self, raw: Mapping[Any, Any], key: str, path: str, default: str = "") -> str:
        return self.value(raw, key, path, default, _text)

    def boolean(self, raw: Mapping[Any, Any], key: str, path: str, default: bool = False) -> bool:
        return self.value(raw, key, path, default, _boolean)

    def choice(self, raw: Mapping[Any, Any], key: str, path: str, default: str, allowed: Sequence[str]) -> str:
        def convert(value: object, at: str) -> str:
            text = _text(value, at)
            if text not in allowed:
                same_but_case = [a for a in allowed if a.lower() == text.lower()]  # values are case-sensitive
                guess = same_but_case or difflib.get_close_matches(text, [a for a in allowed if a], n=1, cutoff=0.6)
                hint = f'; did you mean "{guess[0]}"?' if guess else ""
                choices = ", ".join(go_quote(a) for a in allowed)
                raise _Problem(f"{go_quote(text)} is not allowed; use one of {choices}{hint}")
            return text

        return self.value(raw, key, path, default, convert)

    def strings(self, raw: Mapping[Any, Any], key: str, path: str) -> tuple[str, ...]:
        def convert(value: object, at: str) -> tuple[str, ...]:
            if not isinstance(value, list):
                raise _Problem(f"expected a list of strings, got {_describe(value)}")
            out = []
            for index, item in enumerate(value):
                if not _is_text(item):
                    self.fail(_join(at, index), f"expected a string, got {_describe(item)}")
                else:
                    out.append(str(item))
            return tuple(out)

        return self.value(raw, key, path, (), convert)

    def selector(self, value: object, path: str) -> LabelSelector | None:
        """A label selector in either key spelling (camelCase wins when both are given, as upstream); None for null
        or when it is broken (the problem is recorded)."""
        if value is None:
            return None
        spellings = ("matchLabels", "matchlabels", "matchExpressions", "matchexpressions")
        raw = self.mapping(value, path, spellings)
        if raw is None:
            return None
        problems = len(self.problems)
        labels_key = "matchLabels" if raw.get("matchLabels") is not None else "matchlabels"
        exprs_key = "matchExpressions" if raw.get("matchExpressions") is not None else "matchexpressions"
        labels: dict[str, str] = {}
        raw_labels = raw.get(labels_key)
        if raw_labels is not None:
            at = _join(path, labels_key)
            if not isinstance(raw_labels, Mapping):
                self.fail(at, f"expected a mapping of label names to values, got {_describe(raw_labels)}")
            else:
                for name, val in raw_labels.items():
                    if not _is_text(val):
                        self.fail(_join(at, str(name)), f"expected a string, got {_describe(val)}; quote it")
                    else:
                        labels[str(name)] = str(val)
        none: tuple[SelectorRequirement, ...] = ()
        exprs = self.value(raw, exprs_key, path, none, self._requirements)
        if len(self.problems) > problems:
            return None
        return LabelSelector(tuple(sorted(labels.items())), exprs)

    def _requirements(self, value: object, at: str) -> tuple[SelectorRequirement, ...]:
        if not isinstance(value, list):
            raise _Problem(f"expected a list of {{key, operator, values}}, got {_describe(value)}")
        out = []
        for index, item in enumerate(value):
            here = _join(at, index)
            entry = self.mapping(item, here, ("key", "operator", "values"))
            if entry is None:
                continue
            key = self.string(entry, "key", here)
            operator = self.choice(entry, "operator", here, "", SELECTOR_OPERATORS)
            values = self.strings(entry, "values", here)
            if not key:
                self.fail(_join(here, "key"), "required; name the label to test")
            if not operator and entry.get("operator") is None:
                self.fail(_join(here, "operator"), f"required; use one of {', '.join(SELECTOR_OPERATORS)}")
            elif operator in ("In", "NotIn") and not values:
                self.fail(_join(here, "values"), f"must not be empty for operator {operator}")
            elif operator in ("Exists", "DoesNotExist") and values:
                self.fail(_join(here, "values"), f"must be empty for operator {operator}")
            out.append(SelectorRequirement(key, operator, values))
        return tuple(out)


class _Problem(ValueError):
    """A value that cannot be used; the message says why and, where known, the fix."""


def _text(value: object, at: str) -> str:
    if _is_text(value):
        return str(value)
    hint = "; quote it" if not isinstance(value, Mapping | list) else ""
    raise _Problem(f"expected a string, got {_describe(value)}{hint}")


def _boolean(value: object, at: str) -> bool:
    truth = getattr(value, "yaml_bool", value)
    if isinstance(truth, bool):
        return truth
    raise _Problem(f"expected true or false, got {_describe(value)}")


def _duration_text(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return "0"
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A bare number would be nanoseconds to Go's time.Duration and an error to Prometheus: never meant.
        raise _Problem(f"{getattr(value, 'yaml_text', value)} has no unit; {_DURATION_HINT}")
    if not _is_text(value):
        raise _Problem(f"expected a duration, got {_describe(value)}; {_DURATION_HINT}")
    return str(value)


def _prom_duration(value: object, at: str) -> int:
    """A Prometheus `model.Duration` (prometheus_cr intervals)."""
    text = _duration_text(value)
    try:
        return parse_duration(text)
    except ValueError:
        raise _Problem(f"{go_quote(text)} is not a duration; {_DURATION_HINT}") from None


def _go_duration(value: object, at: str) -> int:
    """A Go `time.Duration` (the readiness grace period)."""
    text = _duration_text(value)
    try:
        ms = parse_go_duration(text)
    except ValueError:
        raise _Problem(f"{go_quote(text)} is not a duration; {_DURATION_HINT}") from None
    if ms < 0:
        raise _Problem(f"{go_quote(text)} is negative; use 0 to turn the grace period off, or e.g. 30s")
    return ms


def _milliseconds(value: object, at: str) -> int:
    """otelconf's reader interval/timeout: an integer number of milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise _Problem(f"expected a non-negative integer number of milliseconds, got {_describe(value)}")


def _listen_addr(value: object, at: str) -> str:
    text = _text(value, at)
    _host, colon, port = text.rpartition(":")
    if not colon or (port and (not port.isdigit() or int(port) > 65535)):
        raise _Problem(f'{go_quote(text)} is not a host:port address; use e.g. ":8080" or "0.0.0.0:8080"')
    return text


def _read_prometheus(reader: _Reader, value: object, path: str) -> PrometheusConfig:
    raw = reader.mapping(value, path, _PROM_SECTIONS)
    if raw is None:
        return PrometheusConfig()
    defaults = GlobalDefaults()
    global_raw = raw.get("global")
    try:
        defaults = GlobalDefaults.from_config(global_raw)
    except ScrapeConfigError as err:
        # GlobalDefaults names the section itself ("global: scrape_timeout: ...").
        reader.fail(_join(path, "global"), str(err).removeprefix("global: "))
    for where, message in prometheus_config_problems({"global": global_raw}, path):
        reader.fail(where, message)
    entries = raw.get("scrape_configs")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        reader.fail(_join(path, "scrape_configs"), f"expected a list of scrape configs, got {_describe(entries)}")
        entries = []
    kept: list[Mapping[str, Any]] = []
    jobs: list[ScrapeSettings] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        at = _join(_join(path, "scrape_configs"), index)
        if not isinstance(entry, Mapping):
            what = "empty or null scrape config section" if entry is None else f"got {_describe(entry)}"
            reader.fail(at, f"expected a scrape config mapping; {what}")
            continue
        settings = _read_scrape_config(reader, entry, at, defaults)
        if settings is None:
            continue
        if settings.job_name in seen:
            reader.fail(
                _join(at, "job_name"), f"found multiple scrape configs with job name {go_quote(settings.job_name)}"
            )
            continue
        seen.add(settings.job_name)
        kept.append(entry)
        jobs.append(settings)
    other = {str(k): v for k, v in raw.items() if k not in ("global", "scrape_configs")}
    return PrometheusConfig(
        global_config=global_raw if isinstance(global_raw, Mapping) else {},
        defaults=defaults,
        scrape_configs=tuple(kept),
        jobs=tuple(jobs),
        other_sections=other,
    )


def _read_scrape_config(
    reader: _Reader, entry: Mapping[Any, Any], at: str, defaults: GlobalDefaults
) -> ScrapeSettings | None:
    """One scrape config, validated as Prometheus would; every problem found in it is reported, each once."""
    job = entry.get("job_name")
    job_name = str(job) if _is_text(job) else f"scrape_configs[{at.rsplit('[', 1)[-1]}"
    messages: list[str] = []
    # The relabel rules first and on their own, so a bad rule is reported even next to another problem.
    for list_name in ("relabel_configs", "metric_relabel_configs"):
        try:
            parse_relabel_configs(entry.get(list_name), job_name, list_name=list_name)
        except RelabelConfigError as err:
            messages.append(str(err))
    settings = None
    try:
        settings = ScrapeSettings.from_config(entry, defaults)
        static_target_groups(
            entry.get("static_configs"), settings.job_name, check_addresses=not settings.relabel_configs
        )
    except (ScrapeConfigError, RelabelConfigError, PromConfigError) as err:
        settings = None
        messages.append(str(err))
    if settings is not None:
        # what it discovers, as the allocator will run it: an SD kind it cannot run is refused here, by name, rather
        # than skipped at run time (the own namespace does not change what is valid)
        try:
            job_discovery(settings.job_name, entry)
        except DiscoveryConfigError as err:
            messages.append(str(err))
    # unknown keys, as Prometheus refuses them (a typo such as `scrape_intervall` would otherwise leave the default
    # in force silently), each at its own path with the key it meant; the relabel rules' own are reported above,
    # and the readers' vaguer words for the same keys give way
    unknown = scrape_config_problems(entry, at, skip=("relabel_configs", "metric_relabel_configs"))
    if unknown:
        messages = [m for m in messages if "relabel_configs[" in m or "unknown field" not in m]
    for message in dict.fromkeys(messages):  # in order, once each
        reader.fail(at, message)
    for where, message in unknown:
        reader.fail(where, message)
    return settings if not messages and not unknown else None


def _read_cr(reader: _Reader, value: object, path: str) -> PrometheusCRConfig:
    raw = reader.mapping(value, path, _CR_KEYS)
    if raw is None:
        return PrometheusCRConfig()
    base = PrometheusCRConfig()
    selectors: dict[str, Any] = {}
    for kind in _MONITOR_SELECTORS:
        sel, ns_sel = f"{kind}_selector", f"{kind}_namespace_selector"
        selectors[sel] = reader.selector(raw.get(sel), _join(path, sel))
        selectors[ns_sel] = reader.selector(raw.get(ns_sel), _join(path, ns_sel)) or LabelSelector()
    interval = reader.value(raw, "scrape_interval", path, base.scrape_interval, _prom_duration)
    if interval == 0:
        reader.fail(_join(path, "scrape_interval"), f"must be greater than 0; {_DURATION_HINT}")
    protocols = reader.value(raw, "scrape_protocols", path, base.scrape_protocols, _protocols)
    return PrometheusCRConfig(
        enabled=reader.boolean(raw, "enabled", path),
        scrape_interval=interval or base.scrape_interval,
        evaluation_interval=reader.value(raw, "evaluation_interval", path, 0, _prom_duration),
        scrape_protocols=protocols,
        scrape_classes=reader.value(raw, "scrape_classes", path, (), _scrape_classes),
        allow_namespaces=reader.strings(raw, "allow_namespaces", path),
        deny_namespaces=reader.strings(raw, "deny_namespaces", path),
        secret_namespaces=reader.strings(raw, "secret_namespaces", path),
        deny_fs_access_through_sms=reader.boolean(raw, "deny_fs_access_through_sms", path),
        **selectors,
    )


def _protocols(value: object, at: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(_is_text(v) for v in value):
        raise _Problem(f"expected a list of protocol names, got {_describe(value)}")
    for name in value:
        if name not in SCRAPE_PROTOCOLS:
            raise _Problem(f"{go_quote(name)} is not a scrape protocol; use any of {', '.join(SCRAPE_PROTOCOLS)}")
    if len(set(value)) != len(value):
        raise _Problem("lists a protocol twice; list each at most once")
    return tuple(str(v) for v in value)


def _scrape_classes(value: object, at: str) -> tuple[Mapping[str, Any], ...]:
    # prometheus-operator checks the contents when it generates jobs; here only what makes the list unusable.
    if not isinstance(value, list):
        raise _Problem(f"expected a list of scrape classes, got {_describe(value)}")
    names: set[str] = set()
    defaults = 0
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or not _is_text(item.get("name")) or not item.get("name"):
            raise _Problem(f"[{index}] must be a mapping with a non-empty name")
        if item["name"] in names:
            raise _Problem(f"[{index}] repeats the scrape class name {go_quote(item['name'])}; names must be unique")
        names.add(item["name"])
        defaults += getattr(item.get("default"), "yaml_bool", item.get("default")) is True
    if defaults > 1:
        raise _Problem("more than one scrape class has default: true; mark at most one")
    return tuple(value)


def _read_https(reader: _Reader, value: object, path: str) -> HttpsConfig:
    raw = reader.mapping(value, path, _HTTPS_KEYS)
    if raw is None:
        return HttpsConfig()
    return HttpsConfig(
        enabled=reader.boolean(raw, "enabled", path),
        listen_addr=reader.value(raw, "listen_addr", path, HttpsConfig().listen_addr, _listen_addr),
        ca_file_path=reader.string(raw, "ca_file_path", path),
        tls_cert_file_path=reader.string(raw, "tls_cert_file_path", path),
        tls_key_file_path=reader.string(raw, "tls_key_file_path", path),
    )


def _read_http_server(reader: _Reader, value: object, path: str) -> ServerLimits:
    raw = reader.mapping(value, path, _HTTP_SERVER_KEYS)
    if raw is None:
        return ServerLimits()

    def idle(value: object, at: str) -> float:
        ms = _go_duration(value, at)
        if ms < MIN_IDLE_TIMEOUT * 1000:
            text = go_quote(_duration_text(value))
            raise _Problem(f"{text} is too short for a client to send its request; use e.g. 30s")
        return ms / 1000

    def cap(value: object, at: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            what = _describe(value)
            raise _Problem(f"expected a whole number of connections (0: half the descriptor limit), got {what}")
        return value

    return ServerLimits(
        idle_timeout=reader.value(raw, "idle_timeout", path, ServerLimits().idle_timeout, idle),
        max_connections=reader.value(raw, "max_connections", path, 0, cap),
    )


def _read_target_limits(reader: _Reader, value: object, path: str) -> TargetLimits:
    raw = reader.mapping(value, path, _TARGET_LIMIT_KEYS)
    base = TargetLimits()
    if raw is None:
        return base

    def count(value: object, at: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Problem(f"expected a whole number of targets (0: no cap), got {_describe(value)}")
        return value

    return TargetLimits(
        per_job=reader.value(raw, "per_job", path, base.per_job, count),
        total=reader.value(raw, "total", path, base.total, count),
    )


def _read_telemetry(reader: _Reader, value: object, path: str) -> TelemetryConfig:
    raw = reader.mapping(value, path, ("metrics",))
    metrics = reader.mapping(raw.get("metrics") if raw else None, _join(path, "metrics"), ("readers",))
    readers_raw = metrics.get("readers") if metrics else None
    at = _join(_join(path, "metrics"), "readers")
    if readers_raw is None:
        return TelemetryConfig()
    if not isinstance(readers_raw, list):
        reader.fail(at, f"expected a list of readers, got {_describe(readers_raw)}")
        return TelemetryConfig()
    readers = []
    for index, item in enumerate(readers_raw):
        here = _join(at, index)
        entry = reader.mapping(item, here, ("periodic",))
        periodic = reader.mapping(entry.get("periodic") if entry else None, _join(here, "periodic"),
                                  ("interval", "timeout", "exporter"))  # fmt: skip
        if periodic is None or entry is None:
            continue
        pat = _join(here, "periodic")
        exporters = reader.mapping(periodic.get("exporter"), _join(pat, "exporter"), ("otlp_grpc", "otlp_http"))
        chosen = [k for k in ("otlp_grpc", "otlp_http") if exporters and exporters.get(k) is not None]
        if exporters is not None and len(chosen) != 1:
            reader.fail(_join(pat, "exporter"), "must configure exactly one of otlp_grpc, otlp_http")
            continue
        if exporters is None or not chosen:
            continue
        exporter = _read_exporter(reader, exporters[chosen[0]], _join(_join(pat, "exporter"), chosen[0]))
        readers.append(
            PeriodicReader(
                exporter=exporter,
                interval=reader.value(periodic, "interval", pat, 60_000, _milliseconds),
                timeout=reader.value(periodic, "timeout", pat, 30_000, _milliseconds),
            )
        )
    return TelemetryConfig(tuple(readers))


def _read_exporter(reader: _Reader, value: object, path: str) -> OtlpExporter:
    grpc = path.endswith("otlp_grpc")
    known = ("endpoint", "headers", "temporality_preference", *(("tls",) if grpc else ()))
    raw = reader.mapping(value, path, known) or {}
    headers: list[tuple[str, str]] = []
    raw_headers = raw.get("headers")
    if raw_headers is not None and not isinstance(raw_headers, list):
        reader.fail(_join(path, "headers"), f"expected a list of {{name, value}}, got {_describe(raw_headers)}")
    for index, item in enumerate(raw_headers if isinstance(raw_headers, list) else []):
        here = _join(_join(path, "headers"), index)
        entry = reader.mapping(item, here, ("name", "value"))
        if entry is not None:
            headers.append((reader.string(entry, "name", here), reader.string(entry, "value", here)))
    tls = reader.mapping(raw.get("tls"), _join(path, "tls"), ("insecure",)) if grpc else None
    endpoint = reader.string(raw, "endpoint", path)
    if not endpoint:
        reader.fail(_join(path, "endpoint"), "required; e.g. http://otel-collector:4317")
    return OtlpExporter(
        protocol="grpc" if grpc else "http",
        endpoint=endpoint,
        headers=tuple(headers),
        temporality_preference=reader.choice(raw, "temporality_preference", path, "", TEMPORALITY_PREFERENCES),
        insecure=reader.boolean(tls, "insecure", _join(path, "tls")) if tls else False,
    )


def _read_collectors(value: object, at: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Problem(f"expected a list of collector names, got {_describe(value)}")
    if not value:
        raise _Problem("is empty; list at least one collector name, or remove the key to discover collector pods")
    names: list[str] = []
    for index, item in enumerate(value):
        if not _is_text(item) or not str(item).strip():
            raise _Problem(f"[{index}] must be a non-empty collector name, got {_describe(item)}")
        if item in names:
            raise _Problem(f"[{index}] repeats {go_quote(str(item))}; each collector is listed once")
        names.append(str(item))
    return tuple(names)


def _read(raw_doc: object) -> tuple[AllocatorConfig, list[tuple[str, str]]]:
    reader = _Reader()
    raw = reader.mapping(raw_doc, "", _TOP_KEYS)
    if raw is None:
        return AllocatorConfig(), reader.problems
    base = AllocatorConfig()
    config = AllocatorConfig(
        listen_addr=reader.value(raw, "listen_addr", "", base.listen_addr, _listen_addr),
        kube_config_file_path=reader.string(raw, "kube_config_file_path", "", base.kube_config_file_path),
        collector_selector=reader.selector(raw.get("collector_selector"), "collector_selector"),
        collector_namespace=reader.string(raw, "collector_namespace", ""),
        collectors=reader.value(raw, "collectors", "", None, _read_collectors),
        config=_read_prometheus(reader, raw.get("config"), "config"),
        allocation_strategy=reader.choice(
            raw, "allocation_strategy", "", base.allocation_strategy, ALLOCATION_STRATEGIES
        ),
        allocation_fallback_strategy=_fallback(reader, raw),
        filter_strategy=reader.choice(raw, "filter_strategy", "", base.filter_strategy, FILTER_STRATEGIES),
        prometheus_cr=_read_cr(reader, raw.get("prometheus_cr"), "prometheus_cr"),
        https=_read_https(reader, raw.get("https"), "https"),
        allow_insecure_auth_secrets=reader.boolean(raw, "allow_insecure_auth_secrets", ""),
        collector_not_ready_grace_period=reader.value(
            raw, "collector_not_ready_grace_period", "", base.collector_not_ready_grace_period, _go_duration
        ),
        telemetry=_read_telemetry(reader, raw.get("telemetry"), "telemetry"),
        http_server=_read_http_server(reader, raw.get("http_server"), "http_server"),
        target_limits=_read_target_limits(reader, raw.get("target_limits"), "target_limits"),
    )
    return config, reader.problems


def _fallback(reader: _Reader, raw: Mapping[Any, Any]) -> str:
    if raw.get("allocation_fallback_strategy") == "per-node":
        reader.fail(
            "allocation_fallback_strategy",
            '"per-node" cannot be the fallback: the fallback places targets that have no node; '
            'use "consistent-hashing" or "least-weighted"',
        )
        return ""
    return reader.choice(raw, "allocation_fallback_strategy", "", "", ("", *FALLBACK_STRATEGIES))


# --- Cross-key rules ------------------------------------------------------------------------------------------------


def check(config: AllocatorConfig) -> list[tuple[str, str]]:
    """The rules that involve more than one key (upstream's `ValidateConfig`, plus ours). (key path, message)."""
    problems: list[tuple[str, str]] = []
    cr = config.prometheus_cr
    if not config.collector_namespace and config.uses_kubernetes:
        problems.append(
            (
                "collector_namespace",
                "required; set it in the file or with the OTELCOL_NAMESPACE environment variable "
                "(the operator sets that from the pod's namespace)",
            )
        )
    # No scrape configs and no prometheus_cr is not a problem: upstream's allocator then serves no jobs, and a
    # TargetAllocator that no collector uses yet must start (the operator warns about it instead).
    if cr.allow_namespaces and cr.deny_namespaces:
        problems.append(
            (
                "prometheus_cr.deny_namespaces",
                "cannot be used together with prometheus_cr.allow_namespaces; keep one of them",
            )
        )
    if config.collectors is not None:
        if config.collector_selector is not None:
            problems.append(
                (
                    "collectors",
                    "cannot be used together with collector_selector: collectors fixes the collector set, the "
                    "selector discovers collector pods; remove one of them",
                )
            )
        if config.allocation_strategy == "per-node":
            problems.append(
                (
                    "allocation_strategy",
                    '"per-node" needs each collector\'s node, which collectors: does not give; use '
                    '"consistent-hashing" or "least-weighted", or discover collector pods with collector_selector',
                )
            )
    if config.https.enabled:
        for key in ("ca_file_path", "tls_cert_file_path", "tls_key_file_path"):
            if not getattr(config.https, key):
                problems.append((f"https.{key}", "required when https.enabled is true; e.g. /tls/" + _TLS_FILES[key]))
    return problems


_TLS_FILES: Final = {"ca_file_path": "ca.crt", "tls_cert_file_path": "tls.crt", "tls_key_file_path": "tls.key"}


# --- Environment and flags ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flags:
    """The command-line flags upstream's `flags.go` defines. None: not given (only given flags override the file)."""

    config_file: str | None = None
    listen_addr: str | None = None
    kubeconfig_path: str | None = None
    enable_prometheus_cr_watcher: bool | None = None
    enable_https_server: bool | None = None
    listen_addr_https: str | None = None
    https_ca_file: str | None = None
    https_tls_cert_file: str | None = None
    https_tls_key_file: str | None = None
    allow_insecure_auth_secrets: bool | None = None
    zap: tuple[tuple[str, str], ...] = ()  # --zap-* logging flags, for the logging setup


_STRING_FLAGS: Final = (
    "config-file",
    "listen-addr",
    "kubeconfig-path",
    "listen-addr-https",
    "https-ca-file",
    "https-tls-cert-file",
    "https-tls-key-file",
)
_BOOL_FLAGS: Final = ("enable-prometheus-cr-watcher", "enable-https-server", "allow-insecure-auth-secrets")
_ZAP_FLAGS: Final = ("zap-log-level", "zap-devel", "zap-encoder", "zap-stacktrace-level", "zap-time-encoding")
_GO_BOOLS: Final = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_GO_BOOLS_FALSE: Final = {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def parse_flags(argv: Sequence[str]) -> Flags:
    """Go `flag`-style arguments (`-x v`, `--x=v`; a boolean flag takes no separate value). ConfigError on a bad one."""
    values: dict[str, Any] = {}
    zap: list[tuple[str, str]] = []
    problems: list[FieldError] = []
    known = (*_STRING_FLAGS, *_BOOL_FLAGS, *_ZAP_FLAGS)
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            problems.append(FieldError("command line", arg, "unexpected argument; flags look like --listen-addr=:8080"))
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        flag = f"--{name}"
        if name in _BOOL_FLAGS or name == "zap-devel":
            if not eq:
                value = "true"
            truth = _GO_BOOLS.get(value, _GO_BOOLS_FALSE.get(value))
            if truth is None:
                problems.append(FieldError("command line", flag, f"{go_quote(value)} is not true or false"))
            elif name == "zap-devel":
                zap.append((name, str(truth).lower()))
            else:
                values[name.replace("-", "_")] = truth
            continue
        if name not in known:
            guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f'; did you mean "--{guess[0]}"?' if guess else f"; known flags: --{', --'.join(known)}"
            problems.append(FieldError("command line", flag, f"unknown flag{hint}"))
            continue
        if not eq:
            if i >= len(args):
                problems.append(FieldError("command line", flag, "needs a value"))
                continue
            value = args[i]
            i += 1
        if name in _ZAP_FLAGS:
            zap.append((name, value))
        else:
            values[name.replace("-", "_")] = value
    if problems:
        raise ConfigError("command line", problems)
    return Flags(**values, zap=tuple(zap))


def _override(
    config: AllocatorConfig, env: Mapping[str, str] | None, flags: Flags | None
) -> tuple[AllocatorConfig, list[tuple[str, str]]]:
    """Environment, then the flags that were given, over the file's values (upstream's order)."""
    problems: list[tuple[str, str]] = []
    env = env or {}
    if env.get("OTELCOL_NAMESPACE"):
        config = dataclasses.replace(config, collector_namespace=env["OTELCOL_NAMESPACE"])
    insecure = env.get("ALLOW_INSECURE_AUTH_SECRETS")
    if insecure:
        truth = _GO_BOOLS.get(insecure, _GO_BOOLS_FALSE.get(insecure))
        if truth is None:
            problems.append(("$ALLOW_INSECURE_AUTH_SECRETS", f"{go_quote(insecure)} is not true or false"))
        else:
            config = dataclasses.replace(config, allow_insecure_auth_secrets=truth)
    if flags is None:
        return config, problems
    top: dict[str, Any] = {}
    https: dict[str, Any] = {}
    if flags.listen_addr is not None:
        try:
            top["listen_addr"] = _listen_addr(flags.listen_addr, "--listen-addr")
        except _Problem as err:
            problems.append(("--listen-addr", str(err)))
    if flags.listen_addr_https is not None:
        try:
            https["listen_addr"] = _listen_addr(flags.listen_addr_https, "--listen-addr-https")
        except _Problem as err:
            problems.append(("--listen-addr-https", str(err)))
    if flags.kubeconfig_path is not None:
        top["kube_config_file_path"] = flags.kubeconfig_path
    if flags.allow_insecure_auth_secrets is not None:
        top["allow_insecure_auth_secrets"] = flags.allow_insecure_auth_secrets
    if flags.enable_prometheus_cr_watcher is not None:
        top["prometheus_cr"] = dataclasses.replace(config.prometheus_cr, enabled=flags.enable_prometheus_cr_watcher)
    for flag_value, key in (
        (flags.enable_https_server, "enabled"),
        (flags.https_ca_file, "ca_file_path"),
        (flags.https_tls_cert_file, "tls_cert_file_path"),
        (flags.https_tls_key_file, "tls_key_file_path"),
    ):
        if flag_value is not None:
            https[key] = flag_value
    if https:
        top["https"] = dataclasses.replace(config.https, **https)
    return dataclasses.replace(config, **top), problems


def apply_overrides(
    config: AllocatorConfig, *, env: Mapping[str, str] | None = None, flags: Flags | None = None
) -> AllocatorConfig:
    """`config` with the environment (`OTELCOL_NAMESPACE`, `ALLOW_INSECURE_AUTH_SECRETS`) and the given flags
    applied, then checked again. ConfigError lists what is wrong with the result."""
    result, problems = _override(config, env, flags)
    problems += check(result)
    if problems:
        raise ConfigError("command line and environment", [FieldError("command line", p, m) for p, m in problems])
    return result


# --- Entry points ---------------------------------------------------------------------------------------------------


def load_config(
    text: str,
    source: str = "targetallocator.yaml",
    *,
    env: Mapping[str, str] | None = None,
    flags: Flags | None = None,
) -> AllocatorConfig:
    """Parse and validate the file's text; `env` and `flags` (when given) override it as upstream does. Raises
    ConfigError listing every problem; nothing else escapes for bad input."""
    try:
        check_aliases(text)  # before promconfig's loader builds it: that loader has no alias budget of its own
        raw = load_yaml(text)
    except YamlLimitError as err:
        raise ConfigError(source, [FieldError(source, "<yaml>", describe(err))]) from None
    except PromConfigError as err:
        raise ConfigError(source, [FieldError(source, "<yaml>", _yaml_message(err))]) from None
    except RecursionError:
        raise ConfigError(source, [FieldError(source, "<yaml>", "parsing YAML: nested too deeply")]) from None
    config, problems = _read(raw)
    config, more = _override(config, env, flags)
    problems += more
    bad = [path for path, _ in problems]
    problems += [(p, m) for p, m in check(config) if not _repeats(p, bad)]
    if problems:
        raise ConfigError(source, [FieldError(source, path, message) for path, message in problems])
    return config


# The keys a cross-key rule reads besides the one it reports on.
_READS: Final = {
    "collector_namespace": ("collectors", "prometheus_cr.enabled"),
    "config.scrape_configs": ("config", "prometheus_cr.enabled"),
    "prometheus_cr.deny_namespaces": ("prometheus_cr.allow_namespaces",),
    "collectors": ("collector_selector",),
    "allocation_strategy": ("collectors",),
}


def _overlaps(path: str, other: str) -> bool:
    """Whether one path is the other or lies inside it."""
    short, long = sorted((path, other), key=len)
    return long == short or long.startswith((short + ".", short + "["))


def _repeats(path: str, bad: Sequence[str]) -> bool:
    """Whether a cross-key problem at `path` would only restate a problem already found: it reads a key that was
    broken (and so left at its default)."""
    reads = (path, *_READS.get(path, ()), *(("https.enabled",) if path.startswith("https.") else ()))
    return any(_overlaps(r, b) for r in reads for b in bad)


def _yaml_message(err: PromConfigError) -> str:
    cause = err.__context__  # load_yaml re-raises the parser's error without chaining it
    if isinstance(cause, yaml.MarkedYAMLError) and cause.problem_mark is not None:
        return describe(cause)
    return " ".join(str(err).split())


def read_config(flags: Flags | None = None, env: Mapping[str, str] | None = None) -> AllocatorConfig:
    """The allocator's start-up: read `--config-file` (default /conf/targetallocator.yaml), then env and flags."""
    path = Path((flags.config_file if flags else None) or DEFAULT_CONFIG_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(
            str(path), [FieldError(str(path), "<file>", f"cannot read the config file: {reason}")]
        ) from None
    return load_config(text, str(path), env=env, flags=flags)


def to_dict(config: AllocatorConfig) -> dict[str, Any]:
    """The effective configuration as plain data in upstream's key names (what upstream would have in memory),
    with every default shown. Selectors use the operator's lower-case spelling; durations are strings."""
    cr = config.prometheus_cr

    def selector(value: LabelSelector | None) -> dict[str, Any] | None:
        return value.to_dict() if value is not None else None

    prom: dict[str, Any] = {}
    if config.config.global_config:
        prom["global"] = _plain(config.config.global_config)
    prom["scrape_configs"] = _plain(list(config.config.scrape_configs))
    prom.update(_plain(dict(config.config.other_sections)))
    out: dict[str, Any] = {
        "listen_addr": config.listen_addr,
        "kube_config_file_path": config.kube_config_file_path,
        "collector_selector": selector(config.collector_selector),
        "collector_namespace": config.collector_namespace,
        "config": prom,
        "allocation_strategy": config.allocation_strategy,
        "allocation_fallback_strategy": config.allocation_fallback_strategy,
        "filter_strategy": config.filter_strategy,
        "prometheus_cr": {
            "enabled": cr.enabled,
            "scrape_interval": format_duration(cr.scrape_interval),
            "evaluation_interval": format_duration(cr.evaluation_interval),
            "scrape_protocols": list(cr.scrape_protocols),
            "scrape_classes": _plain(list(cr.scrape_classes)),
            **{
                key: selector(getattr(cr, key))
                for kind in _MONITOR_SELECTORS
                for key in (f"{kind}_selector", f"{kind}_namespace_selector")
            },
            "allow_namespaces": list(cr.allow_namespaces),
            "deny_namespaces": list(cr.deny_namespaces),
            "secret_namespaces": list(cr.secret_namespaces),
            "deny_fs_access_through_sms": cr.deny_fs_access_through_sms,
        },
        "https": dataclasses.asdict(config.https),
        "allow_insecure_auth_secrets": config.allow_insecure_auth_secrets,
        "collector_not_ready_grace_period": format_go_duration(config.collector_not_ready_grace_period),
    }
    if config.http_server != ServerLimits():
        out["http_server"] = {
            "idle_timeout": format_go_duration(round(config.http_server.idle_timeout * 1000)),
            "max_connections": config.http_server.max_connections,
        }
    if config.target_limits != TargetLimits():
        out["target_limits"] = dataclasses.asdict(config.target_limits)
    if config.collectors is not None:
        out["collectors"] = list(config.collectors)
    if config.telemetry.readers:
        out["telemetry"] = {"metrics": {"readers": [_reader_dict(r) for r in config.telemetry.readers]}}
    return copy.deepcopy(out)


def _reader_dict(reader: PeriodicReader) -> dict[str, Any]:
    exp = reader.exporter
    body: dict[str, Any] = {"endpoint": exp.endpoint}
    if exp.headers:
        body["headers"] = [{"name": n, "value": v} for n, v in exp.headers]
    if exp.temporality_preference:
        body["temporality_preference"] = exp.temporality_preference
    if exp.protocol == "grpc" and exp.insecure:
        body["tls"] = {"insecure": True}
    return {
        "periodic": {
            "interval": reader.interval,
            "timeout": reader.timeout,
            "exporter": {f"otlp_{exp.protocol}": body},
        }
    }
