"""Pieces every monitor kind shares: field access with precise errors, and the blocks prometheus-operator
injects into each scrape_config (job-name rule, namespaces, sharding, limits, honor_* flags, histograms).

Output dicts are built in the order prometheus-operator appends its yaml.MapSlice items, so that
`yaml.safe_dump(config, sort_keys=False)` shows the keys as prometheus-operator writes them. Where it marshals
a Go map instead (params, static labels, endpoint_params), keys are sorted, as yaml.v2 does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from otel_operator.prom.labels import ADDRESS, DISABLE_SHARDING, sanitize_label_name
from otel_operator.prom.monitors.options import GeneratorOptions

Config = dict[str, Any]  # one scrape_config, or a nested block of it, in output key order
Obj = Mapping[str, Any]  # a resource or a part of one, as parsed from YAML/JSON

SHARD_HASH_LABEL = "__tmp_hash"
SHARD_ENV_VAR = "SHARD"  # substituted by Prometheus's config-reloader; never by the allocator
SCHEMES = ("http", "https")  # the scrape schemes a monitor may name, written lower-cased

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


@dataclass(frozen=True, slots=True)
class Port:
    """Which port of a target an endpoint scrapes, as the monitor names it."""

    name: str = ""  # ServiceMonitor: the Service port's name; PodMonitor: the container port's name
    number: int = 0  # PodMonitor portNumber
    target: int | str | None = None  # targetPort: a container port number or name (deprecated for PodMonitor)

    @property
    def endpoint_label(self) -> str:
        """The `endpoint` label value; "" for none (portNumber alone gives none)."""
        if self.name:
            return self.name
        return "" if self.target is None else str(self.target)


class Invalid(Exception):
    """A monitor cannot be turned into scrape configs; `field` is the path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EndpointsDropped(Invalid):
    """Some of a monitor's endpoints are refused and left out, the others' scrape configs (`kept`) still served: what
    upstream's allocator does with endpoints that read files under denyFSAccessThroughSMs."""

    def __init__(self, field: str, message: str, kept: list[Config]) -> None:
        super().__init__(field, message)
        self.kept = kept


# ----------------------------------------------------------------------------------------------- field access


def join(path: str, name: str | int) -> str:
    return f"{path}[{name}]" if isinstance(name, int) else (f"{path}.{name}" if path else name)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )


def _wrong_type(path: str, expected: str, value: Any) -> Invalid:
    return Invalid(path, f"expected {expected}, got {_type_name(value)} {value!r}")


def opt_obj(obj: Obj, key: str, path: str) -> Obj | None:
    """`obj[key]` as an object; absent and null both mean "not set", as for a Go pointer."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _wrong_type(join(path, key), "object", value)
    return value


def obj_or_empty(obj: Obj, key: str, path: str) -> Obj:
    return opt_obj(obj, key, path) or {}


def opt_str(obj: Obj, key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(join(path, key), "string", value)
    return value


def string(obj: Obj, key: str, path: str) -> str:
    """A string field whose Go type is a plain string: absent is ""."""
    return opt_str(obj, key, path) or ""


def opt_bool(obj: Obj, key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _wrong_type(join(path, key), "boolean", value)
    return value


def opt_int(obj: Obj, key: str, path: str, *, minimum: int | None = 0) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(join(path, key), "integer", value)
    if minimum is not None and value < minimum:
        raise Invalid(join(path, key), f"{value} is out of range; must be at least {minimum}")
    return value


def opt_list(obj: Obj, key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong_type(join(path, key), "array", value)
    return value


def str_list(obj: Obj, key: str, path: str) -> list[str]:
    items = opt_list(obj, key, path)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise _wrong_type(join(join(path, key), i), "string", item)
    return list(items)


def obj_list(obj: Obj, key: str, path: str) -> list[Obj]:
    items = opt_list(obj, key, path)
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _wrong_type(join(join(path, key), i), "object", item)
    return list(items)


def str_map(obj: Obj, key: str, path: str) -> dict[str, str]:
    """A Go map[string]string, keys sorted as yaml.v2 marshals it."""
    value = opt_obj(obj, key, path) or {}
    out = {}
    for k in sorted(value):
        if not isinstance(value[k], str):
            raise _wrong_type(join(join(path, key), str(k)), "string", value[k])
        out[str(k)] = value[k]
    return out


def str_list_map(obj: Obj, key: str, path: str) -> dict[str, list[str]] | None:
    """A Go map[string][]string (scrape params): None when absent, keys sorted."""
    value = opt_obj(obj, key, path)
    if value is None:
        return None
    return {str(k): str_list(value, k, join(path, key)) for k in sorted(value)}


def target_port(obj: Obj, path: str) -> int | str | None:
    """An int-or-string `targetPort`: a container port number or name."""
    value = obj.get("targetPort")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | str)):
        raise _wrong_type(join(path, "targetPort"), "a port number or name", value)
    return value


def lower_enum(obj: Obj, key: str, path: str, allowed: Iterable[str]) -> str | None:
    """An enum field that prometheus-operator writes lower-cased (scheme, roles)."""
    value = opt_str(obj, key, path)
    if value is None:
        return None
    options = list(allowed)
    if value.lower() not in options:
        raise Invalid(join(path, key), f'"{value}" is not allowed; use one of {", ".join(options)}')
    return value.lower()


# ----------------------------------------------------------------------------------------------- values


def parse_duration_ms(text: str) -> int | None:
    """Milliseconds of a Prometheus duration ("1m30s"), or None when it is not one."""
    if text == "0":
        return 0
    match = _DURATION.match(text)
    if not match or not text:
        return None
    return sum(int(part) * unit for part, unit in zip(match.groups(), _DURATION_MS, strict=True) if part)


def duration(obj: Obj, key: str, path: str) -> str:
    """A Prometheus duration field; "" when unset."""
    value = string(obj, key, path)
    if value and parse_duration_ms(value) is None:
        raise Invalid(join(path, key), f'"{value}" is not a duration; use e.g. "30s", "1m" or "1h30m"')
    return value


def check_timeout(interval: str, timeout: str, options: GeneratorOptions, path: str, timeout_key: str) -> None:
    """prometheus-operator rejects a scrape timeout longer than the interval (or the default interval)."""
    if not timeout:
        return
    effective = interval or options.scrape_interval
    interval_ms, timeout_ms = parse_duration_ms(effective), parse_duration_ms(timeout)
    if interval_ms is not None and timeout_ms is not None and timeout_ms > interval_ms:
        raise Invalid(
            join(path, timeout_key),
            f'scrapeTimeout "{timeout}" greater than scrapeInterval "{effective}"; '
            "lower the timeout or raise the interval",
        )


# ----------------------------------------------------------------------------------------------- injected blocks


def init_relabelings() -> list[Config]:
    """Always the first rule: keeps the configured job name reachable after `job` is rewritten."""
    return [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]


def running_filter() -> Config:
    return {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"}


def port_filter(port: Port, name_label: str) -> list[Config]:
    """Keep only targets on the endpoint's port; no rule (every port) when the endpoint names none."""
    if port.name:
        return [{"action": "keep", "source_labels": [name_label], "regex": port.name}]
    if port.number:
        return [
            {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_number"], "regex": port.number}
        ]
    if isinstance(port.target, str) and port.target:
        return [
            {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": port.target}
        ]
    if isinstance(port.target, int) and port.target:
        # An int, as prometheus-operator writes it: `regex: 8080`.
        return [
            {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_number"], "regex": port.target}
        ]
    return []


def endpoint_rule(port: Port) -> list[Config]:
    value = port.endpoint_label
    return [{"target_label": "endpoint", "replacement": value}] if value else []


def label_copy(source: str, target: str) -> Config:
    """Copy a meta label onto the target only when it is non-empty (podTargetLabels, targetLabels, jobLabel)."""
    return {"source_labels": [source], "target_label": target, "regex": "(.+)", "replacement": "${1}"}


def label_copies(meta_prefix: str, names: Iterable[str]) -> list[Config]:
    """A `label_copy` of `<meta_prefix><name>` for each Kubernetes label name, onto the label of the same
    (sanitised) name: targetLabels and podTargetLabels."""
    return [label_copy(meta_prefix + name, name) for name in map(sanitize_label_name, names)]


def sharding_rules(shards: int, shard_label: str = ADDRESS) -> list[Config]:
    """The hashmod block prometheus-operator (>= v0.83) appends; `$(SHARD)` stays literal."""
    return [
        {
            "source_labels": [shard_label, SHARD_HASH_LABEL],
            "target_label": SHARD_HASH_LABEL,
            "regex": "(.+);",
            "replacement": "$1",
            "action": "replace",
        },
        {
            "source_labels": [SHARD_HASH_LABEL],
            "target_label": SHARD_HASH_LABEL,
            "modulus": shards,
            "action": "hashmod",
        },
        {
            "source_labels": [SHARD_HASH_LABEL, DISABLE_SHARDING],
            "regex": f"$({SHARD_ENV_VAR});|.+;.+",
            "action": "keep",
        },
    ]


def enforced_namespace_rule(options: GeneratorOptions, namespace: str) -> list[Config]:
    if not options.enforced_namespace_label:
        return []
    return [{"target_label": options.enforced_namespace_label, "replacement": namespace}]


def namespaces(selector: Obj, own_namespace: str, options: GeneratorOptions, path: str) -> list[str]:
    """The namespaces a kubernetes_sd_config watches; [] means all of them."""
    if options.ignore_namespace_selectors:
        return [own_namespace]
    if opt_bool(selector, "any", path):
        return []
    names = str_list(selector, "matchNames", path)
    return names or [own_namespace]


def honor_labels(cfg: Config, value: bool | None, options: GeneratorOptions) -> None:
    cfg["honor_labels"] = bool(value) and not options.override_honor_labels


def honor_timestamps(cfg: Config, value: bool | None, options: GeneratorOptions) -> None:
    # Left out unless set, so Prometheus's own default (true) applies.
    if value is None and not options.override_honor_timestamps:
        return
    cfg["honor_timestamps"] = bool(value) and not options.override_honor_timestamps


def set_if(cfg: Config, key: str, value: Any) -> None:
    if value is not None:
        cfg[key] = value


_LIMITS = (
    ("sampleLimit", "sample_limit"),
    ("targetLimit", "target_limit"),
    ("labelLimit", "label_limit"),
    ("labelNameLengthLimit", "label_name_length_limit"),
    ("labelValueLengthLimit", "label_value_length_limit"),
    ("keepDroppedTargets", "keep_dropped_targets"),
)


def limits(cfg: Config, spec: Obj, options: GeneratorOptions, path: str) -> None:
    for field, key in _LIMITS:
        user = opt_int(spec, field, path)
        enforced = options.enforced_limits.get(field)
        if not enforced:
            final = user
        elif not user:
            # Prometheus >= 2.45 applies the enforced limit from the global block, so the job leaves it out.
            final = None
        else:
            final = min(user, enforced)
        set_if(cfg, key, final)


def native_histograms(cfg: Config, spec: Obj, path: str) -> None:
    set_if(cfg, "scrape_native_histograms", opt_bool(spec, "scrapeNativeHistograms", path))
    set_if(cfg, "native_histogram_bucket_limit", opt_int(spec, "nativeHistogramBucketLimit", path))
    factor = spec.get("nativeHistogramMinBucketFactor")
    if factor is not None:
        try:
            cfg["native_histogram_min_bucket_factor"] = float(factor)
        except (TypeError, ValueError):
            raise Invalid(join(path, "nativeHistogramMinBucketFactor"), f"{factor!r} is not a number") from None
    # Prometheus 3 renamed scrape_classic_histograms.
    set_if(cfg, "always_scrape_classic_histograms", opt_bool(spec, "scrapeClassicHistograms", path))
    set_if(cfg, "convert_classic_histograms_to_nhcb", opt_bool(spec, "convertClassicHistogramsToNHCB", path))


SCRAPE_PROTOCOLS = (
    "PrometheusProto",
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
)


def _protocol(value: Any, path: str) -> str:
    if value not in SCRAPE_PROTOCOLS:
        raise Invalid(path, f"{value!r} is not allowed; use one of {', '.join(SCRAPE_PROTOCOLS)}")
    return str(value)


def scrape_protocols(cfg: Config, spec: Obj, scrape_class: Obj, path: str, *, with_fallback: bool = True) -> None:
    protocols = opt_list(spec, "scrapeProtocols", path)
    if protocols:
        cfg["scrape_protocols"] = [
            _protocol(p, join(join(path, "scrapeProtocols"), i)) for i, p in enumerate(protocols)
        ]
    if with_fallback:
        fallback_protocol(cfg, spec, scrape_class, path)


def fallback_protocol(cfg: Config, spec: Obj, scrape_class: Obj, path: str) -> None:
    fallback = spec.get("fallbackScrapeProtocol", scrape_class.get("fallbackScrapeProtocol"))
    if fallback is not None:
        cfg["fallback_scrape_protocol"] = _protocol(fallback, join(path, "fallbackScrapeProtocol"))


def body_size_limit(cfg: Config, spec: Obj, path: str) -> None:
    set_if(cfg, "body_size_limit", opt_str(spec, "bodySizeLimit", path) or None)


def attach_metadata(spec: Obj, scrape_class: Obj, class_path: str) -> Config | None:
    """The monitor's attachMetadata, else its scrape class's."""
    value, path = opt_obj(spec, "attachMetadata", "spec"), "spec.attachMetadata"
    if value is None:
        value, path = opt_obj(scrape_class, "attachMetadata", class_path), join(class_path, "attachMetadata")
    if value is None:
        return None
    return {"node": bool(opt_bool(value, "node", path))}


def kubernetes_sd(
    role: str,
    names: list[str],
    metadata: Config | None,
    selectors: list[Config] | None = None,
) -> list[Config]:
    """The single kubernetes_sd_configs entry prometheus-operator writes for SM/PM/Probe."""
    sd: Config = {"role": role}
    if names:
        sd["namespaces"] = {"names": names}
    if metadata is not None:
        sd["attach_metadata"] = metadata
    if selectors:
        sd["selectors"] = selectors
    return [sd]
