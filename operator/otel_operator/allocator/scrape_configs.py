"""The body of the allocator's `GET /scrape_configs`: every job's scrape config as Prometheus would write it back
after loading it, rendered once with its secrets redacted and once with them in clear.

Why it looks like this:

- The collector reads the body with Prometheus's own `ScrapeConfig` unmarshaller and re-applies its scrape jobs
  whenever the parsed configs change, so the body must be valid Prometheus config and byte-stable for the same input:
  compact JSON, keys sorted at every level, no trailing newline, `{}` when there is no job.
- Upstream serves configs after Prometheus loaded them, so they carry the defaults Prometheus fills on load and
  writes back on marshal. Older collectors do not fill interval and timeout themselves (newer ones re-validate
  against their own `global`), so ours carry them too: the job's interval and timeout (from `global`, the timeout
  capped at the interval), metrics path, scheme, honor_timestamps, enable_compression, the HTTP client's
  follow_redirects/enable_http2 (also in kubernetes and http SD configs, which embed the same client), and each
  relabel rule's action/separator/regex/replacement. `regex` is removed from keepequal/dropequal rules, upstream's
  workaround for prometheus/prometheus#12534 (Prometheus writes the default regex back, then refuses it on load).
- Values are read as Go reads them into the field's type. The string fields a YAML number or YAML 1.1 boolean
  could land in (relabel rules, static targets and labels, params, secrets, the HTTP client's names) take the
  scalar's text (`regex: 0777` stays "0777", a label `env: yes` stays "yes"); anywhere else such a scalar is a
  number or a boolean. Durations are rewritten the way Prometheus prints them ("60s" → "1m"), an explicit null is
  the field's zero value, and a relabel action is lower-cased.
- Secrets: every non-empty `config.Secret` of prometheus/common's HTTP client (basic_auth.password,
  authorization.credentials, bearer_token, tls_config.key, oauth2.client_secret / client_certificate_key and its
  own tls_config.key and proxy headers, proxy_connect_header values, http_headers secrets), in the job and in every
  `*_sd_configs` entry, plus the secrets that service discoveries define themselves (consul token, ec2 secret_key,
  ...), is the literal "<secret>" in `redacted`. `full` keeps the values; it is for the HTTPS listener (or
  allow_insecure_auth_secrets). An empty secret stays empty in both.
- `$(SHARD)` stays literal: the collector substitutes it.

- Prometheus v3's `ScrapeConfig.Validate` also copies these from `global` (or its defaults) into every job, and
  upstream's allocator (v0.158, Prometheus v0.312) serves them, so ours does too: `track_timestamps_staleness`
  (false), `scrape_protocols` (the global's, else the default four, proto first when native histograms are
  scraped), `scrape_native_histograms`, `always_scrape_classic_histograms`, `convert_classic_histograms_to_nhcb`
  and `extra_scrape_metrics` (false), `metric_name_validation_scheme` ("utf8") and `metric_name_escaping_scheme`
  ("allow-utf-8"; "underscores" for legacy validation). A collector therefore scrapes a job the same way whichever
  allocator it asks. A Prometheus 2 loader (promtool 2.x) rejects these keys; collectors are Prometheus 3.

Differences from upstream's bytes, none of them visible to a JSON reader: Go escapes `<`, `>` and `&` as `\\u003c`
and friends, orjson does not. `kubeconfig_file` in kubernetes SD entries is not added (upstream writes its own
kubeconfig path there, which means nothing to a collector: the collector discovers through the allocator).

Pure: the input is never mutated and nothing here does I/O.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import orjson

from otel_operator.prom.goscalar import go_uint64
from otel_operator.prom.labels import NameScheme, go_quote
from otel_operator.prom.relabel import RelabelConfigError, scalar_text
from otel_operator.prom.targets import GlobalDefaults, ScrapeConfigError, format_duration, parse_duration

SECRET_TOKEN: Final = "<secret>"
EMPTY_BODY: Final = b"{}"
_INT_MIN: Final = -(1 << 63)
_INT_MAX: Final = (1 << 64) - 1  # orjson's range, and Go's (int64 and uint64 fields)

# Job-level defaults of Prometheus's DefaultScrapeConfig (with DefaultHTTPClientConfig inlined).
_JOB_BOOL_DEFAULTS: Final = ("honor_timestamps", "enable_compression", "enable_http2", "follow_redirects")
_JOB_STRING_DEFAULTS: Final = (("metrics_path", "/metrics"), ("scheme", "http"))
# SD configs whose defaults embed DefaultHTTPClientConfig (the ones our generator writes; others are left as given).
_SD_WITH_HTTP_DEFAULTS: Final = ("kubernetes_sd_configs", "http_sd_configs")
_HTTP_BOOL_DEFAULTS: Final = ("enable_http2", "follow_redirects")

# Prometheus v3's DefaultScrapeProtocols and DefaultProtoFirstScrapeProtocols (native histograms need protobuf).
DEFAULT_SCRAPE_PROTOCOLS: Final = (
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
)
PROTO_FIRST_SCRAPE_PROTOCOLS: Final = ("PrometheusProto", *DEFAULT_SCRAPE_PROTOCOLS)
_SCRAPE_PROTOCOLS: Final = frozenset(PROTO_FIRST_SCRAPE_PROTOCOLS)
_ESCAPING_SCHEMES: Final = ("allow-utf-8", "underscores", "dots", "values")
# *bool fields Validate fills from `global` (whose defaults are false); honored only when set in the job or global.
_GLOBAL_BOOLS: Final = (
    "scrape_native_histograms",
    "always_scrape_classic_histograms",
    "convert_classic_histograms_to_nhcb",
    "extra_scrape_metrics",
)

_RELABEL_LISTS: Final = ("relabel_configs", "metric_relabel_configs")
_RELABEL_DEFAULTS: Final = (("separator", ";"), ("regex", "(.*)"), ("replacement", "$1"))
_RELABEL_TEXT_FIELDS: Final = ("separator", "regex", "replacement", "target_label")
_NO_REGEX_ACTIONS: Final = ("keepequal", "dropequal")

# Secrets a service discovery defines next to its embedded HTTP client (Prometheus v3's discovery packages).
_SD_SECRETS: Final[Mapping[str, tuple[str, ...]]] = {
    "aws_sd_configs": ("secret_key",),
    "azure_sd_configs": ("client_secret",),
    "consul_sd_configs": ("token", "password"),
    "ec2_sd_configs": ("secret_key",),
    "ecs_sd_configs": ("secret_key",),
    "elasticache_sd_configs": ("secret_key",),
    "lightsail_sd_configs": ("secret_key",),
    "marathon_sd_configs": ("auth_token",),
    "msk_sd_configs": ("secret_key",),
    "oci_sd_configs": ("key_passphrase",),
    "openstack_sd_configs": ("password", "application_credential_secret"),
    "outscale_sd_configs": ("secret_key",),
    "ovhcloud_sd_configs": ("application_secret", "consumer_key"),
    "rds_sd_configs": ("secret_key",),
    "scaleway_sd_configs": ("secret_key",),
    "stackit_sd_configs": ("service_account_key", "private_key"),
    "uyuni_sd_configs": ("password",),
}


class ScrapeConfigsError(ScrapeConfigError):
    """One job cannot be served; `job` and `field` name it (`field` is a path such as `relabel_configs[2].action`)."""

    def __init__(self, job: str, field: str, message: str) -> None:
        super().__init__(f"job {go_quote(job)}: {field}: {message}" if field else f"job {go_quote(job)}: {message}")
        self.job = job
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ScrapeGlobals:
    """The `global` values Prometheus v3 copies into each job besides interval, timeout and validation scheme
    (those are GlobalDefaults'). `scrape_protocols` None: the default, chosen by the job's native histograms."""

    scrape_protocols: tuple[str, ...] | None = None
    scrape_native_histograms: bool = False
    always_scrape_classic_histograms: bool = False
    convert_classic_histograms_to_nhcb: bool = False
    extra_scrape_metrics: bool = False
    metric_name_escaping_scheme: str = ""  # "": from the validation scheme

    @classmethod
    def from_config(cls, raw: object) -> ScrapeGlobals:
        """From a Prometheus config's `global` mapping (None or anything else: the defaults). Raises
        ScrapeConfigsError (job "global") for a value Prometheus would refuse."""
        if not isinstance(raw, Mapping):
            return cls()
        fail = _failer("global")
        protocols = _protocols(raw, "scrape_protocols", fail)
        escaping = _text(raw.get("metric_name_escaping_scheme"), "metric_name_escaping_scheme", fail)
        if escaping and escaping not in _ESCAPING_SCHEMES:
            fail("metric_name_escaping_scheme", f"{go_quote(escaping)} is not one of {', '.join(_ESCAPING_SCHEMES)}")
        flags = {key: _bool(raw, key, key, False, fail) for key in _GLOBAL_BOOLS}
        return cls(scrape_protocols=protocols, metric_name_escaping_scheme=escaping, **flags)


@dataclass(frozen=True, slots=True)
class ScrapeConfigsBody:
    """The two precomputed response bodies and their strong ETags (quoted, as sent in the header)."""

    redacted: bytes
    full: bytes
    redacted_etag: str
    full_etag: str

    def select(self, *, with_secrets: bool) -> tuple[bytes, str]:
        """(body, ETag): the full one for a TLS request or allow_insecure_auth_secrets, else the redacted one."""
        return (self.full, self.full_etag) if with_secrets else (self.redacted, self.redacted_etag)


def etag(body: bytes) -> str:
    """A strong ETag: the quoted BLAKE2b-128 of the bytes (the same body always gives the same tag)."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def render_scrape_configs(
    configs: Mapping[str, object],
    defaults: GlobalDefaults | None = None,
    *,
    job_defaults: Mapping[str, GlobalDefaults] | None = None,
    on_error: Callable[[ScrapeConfigsError], None] | None = None,
    globals_: ScrapeGlobals | None = None,
    job_globals: Mapping[str, ScrapeGlobals] | None = None,
) -> ScrapeConfigsBody:
    """Both bodies for `configs` (job name → scrape config as plain data, Prometheus YAML keys).

    `defaults` and `globals_` are the `global` section's; `job_defaults` and `job_globals` override them for some
    jobs (Prometheus CR jobs, whose global interval is `prometheus_cr.scrape_interval` and whose global scrape
    protocols are `prometheus_cr.scrape_protocols`). A bad job raises ScrapeConfigsError; with `on_error`, it is
    reported there and left out instead.
    """
    defaults = defaults or GlobalDefaults()
    job_defaults = job_defaults or {}
    globals_ = globals_ or ScrapeGlobals()
    job_globals = job_globals or {}
    full: list[bytes] = []
    redacted: list[bytes] = []
    # Job by job, in name order (what OPT_SORT_KEYS does to the whole map), so that whatever fails is one job's.
    for job in sorted(configs):
        try:
            job_global = job_globals.get(job, globals_)
            prepared = prepare_scrape_config(job, configs[job], job_defaults.get(job, defaults), job_global)
            name = _dump_job(job, job)
            job_full, job_redacted = _dump_job(job, prepared), _dump_job(job, redact_scrape_config(prepared))
        except ScrapeConfigsError as err:
            if on_error is None:
                raise
            on_error(err)
            continue
        full.append(name + b":" + job_full)
        redacted.append(name + b":" + job_redacted)
    full_body, redacted_body = b"{" + b",".join(full) + b"}", b"{" + b",".join(redacted) + b"}"
    return ScrapeConfigsBody(redacted_body, full_body, etag(redacted_body), etag(full_body))


def _dump_job(job: str, value: object) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as err:  # e.g. a lone surrogate in a string
        raise ScrapeConfigsError(job, "", f"cannot be served as JSON: {err}") from None


# --- Defaults ---------------------------------------------------------------------------------------------------


def prepare_scrape_config(
    job: str, raw: object, defaults: GlobalDefaults | None = None, globals_: ScrapeGlobals | None = None
) -> dict[str, Any]:
    """One job's config with Prometheus's defaults filled and secrets in clear, as a new plain-data dict.

    Idempotent: preparing a prepared config changes nothing.
    """
    defaults = defaults or GlobalDefaults()
    globals_ = globals_ or ScrapeGlobals()
    if not isinstance(raw, Mapping):
        what = "empty or null" if raw is None else f"a {type(raw).__name__}"
        raise ScrapeConfigsError(job, "", f"a scrape config must be a mapping, got {what}")
    fail = _failer(job)
    if "job_name" not in raw:
        fail("job_name", f"missing; it must equal the job's key {go_quote(job)}")
    name = _text(raw["job_name"], "job_name", fail)
    if name != job:
        fail("job_name", f"{go_quote(name)} does not match the job's key {go_quote(job)}")

    # The relabel lists are read rule by rule below (a modulus as Go reads it, past what _plain lets through).
    out: dict[str, Any] = {
        _key(k, "", fail): _plain(v, str(k), fail) for k, v in raw.items() if k not in _RELABEL_LISTS
    }
    out["job_name"] = name
    _fill_intervals(raw, out, defaults, fail)
    for key, default in _JOB_STRING_DEFAULTS:
        # An empty or null value is omitted when Prometheus marshals it, so the reader takes the default.
        value = _text(raw.get(key), key, fail)
        out[key] = value or default
    for key in _JOB_BOOL_DEFAULTS:
        out[key] = _bool(raw, key, key, True, fail)
    _fill_v3_globals(raw, out, defaults, globals_, fail)
    if "params" in raw:
        out["params"] = _params(raw["params"], fail)
    for list_name in _RELABEL_LISTS:
        if list_name in raw:
            out[list_name] = _relabel_configs(raw[list_name], list_name, fail)
    if "static_configs" in raw:
        out["static_configs"] = _static_configs(raw["static_configs"], fail)
    for sd_key in _SD_WITH_HTTP_DEFAULTS:
        for i, sd in enumerate(_sd_entries(raw.get(sd_key), sd_key, fail)):
            for key in _HTTP_BOOL_DEFAULTS:
                out[sd_key][i][key] = _bool(sd, key, f"{sd_key}[{i}].{key}", True, fail)
    _text_fields(out, raw, fail)
    return out


Fail = Callable[[str, str], NoReturn]  # raises ScrapeConfigsError for (field, message)


def _failer(job: str) -> Fail:
    def fail(field: str, message: str) -> NoReturn:
        raise ScrapeConfigsError(job, field, message)

    return fail


def _fill_intervals(raw: Mapping[str, Any], out: dict[str, Any], defaults: GlobalDefaults, fail: Fail) -> None:
    """Prometheus's `ScrapeConfig.Validate`: 0 or unset takes the global interval; an unset timeout takes the
    global timeout, capped at the job's interval; an explicit timeout above the interval is an error."""
    interval = _duration(raw, "scrape_interval", fail) or defaults.scrape_interval
    timeout = _duration(raw, "scrape_timeout", fail)
    if timeout > interval:
        fail(
            "scrape_timeout",
            f"{format_duration(timeout)} is greater than scrape_interval {format_duration(interval)}; "
            "lower it or raise the interval",
        )
    if timeout == 0:
        timeout = min(defaults.scrape_timeout, interval)
    out["scrape_interval"] = format_duration(interval)
    out["scrape_timeout"] = format_duration(timeout)


def _fill_v3_globals(
    raw: Mapping[str, Any], out: dict[str, Any], defaults: GlobalDefaults, globals_: ScrapeGlobals, fail: Fail
) -> None:
    """The rest of Prometheus v3's `ScrapeConfig.Validate`: what a job does not set, it takes from `global`."""
    out["track_timestamps_staleness"] = _bool(
        raw, "track_timestamps_staleness", "track_timestamps_staleness", False, fail
    )
    for key in _GLOBAL_BOOLS:
        out[key] = (
            _bool(raw, key, key, getattr(globals_, key), fail) if raw.get(key) is not None else getattr(globals_, key)
        )
    protocols = _protocols(raw, "scrape_protocols", fail)
    if protocols is None:
        protocols = globals_.scrape_protocols
    if protocols is None:
        protocols = PROTO_FIRST_SCRAPE_PROTOCOLS if out["scrape_native_histograms"] else DEFAULT_SCRAPE_PROTOCOLS
    out["scrape_protocols"] = list(protocols)
    validation = _text(raw.get("metric_name_validation_scheme"), "metric_name_validation_scheme", fail)
    if validation not in ("", NameScheme.UTF8, NameScheme.LEGACY):
        fail("metric_name_validation_scheme", f"{go_quote(validation)} is not one of '', legacy, utf8")
    escaping = _text(raw.get("metric_name_escaping_scheme"), "metric_name_escaping_scheme", fail)
    if escaping and escaping not in _ESCAPING_SCHEMES:
        fail("metric_name_escaping_scheme", f"{go_quote(escaping)} is not one of {', '.join(_ESCAPING_SCHEMES)}")
    if not escaping:
        if not validation:  # both unset: the global's escaping, itself from the global validation when unset
            legacy_global = defaults.name_scheme is NameScheme.LEGACY
            escaping = globals_.metric_name_escaping_scheme or ("underscores" if legacy_global else "allow-utf-8")
        else:
            escaping = "underscores" if validation == NameScheme.LEGACY else "allow-utf-8"
    validation = validation or str(defaults.name_scheme)
    if escaping == "allow-utf-8" and validation != NameScheme.UTF8:
        fail("metric_name_escaping_scheme", "utf8 metric names requested but validation scheme is not set to UTF8")
    out["metric_name_validation_scheme"] = validation
    out["metric_name_escaping_scheme"] = escaping


def _protocols(raw: Mapping[str, Any], key: str, fail: Fail) -> tuple[str, ...] | None:
    """`scrape_protocols`: None when unset; each one a protocol Prometheus knows, none repeated."""
    value = raw.get(key)
    if value is None:
        return None
    protocols = tuple(_text(p, f"{key}[{i}]", fail) for i, p in enumerate(_list(value, key, fail)))
    for i, protocol in enumerate(protocols):
        if protocol not in _SCRAPE_PROTOCOLS:
            fail(
                f"{key}[{i}]",
                f"unknown scrape protocol {go_quote(protocol)}; use one of {', '.join(sorted(_SCRAPE_PROTOCOLS))}",
            )
        if protocol in protocols[:i]:
            fail(f"{key}[{i}]", f"duplicated protocol in scrape_protocols, got {protocol}")
    return protocols


def _duration(raw: Mapping[str, Any], key: str, fail: Fail) -> int:
    value = raw.get(key)
    if value is None:
        return 0
    try:
        return parse_duration(_text(value, key, fail))
    except ValueError as err:
        fail(key, f"{err}; use e.g. 30s or 1m30s")


def _text(value: object, field: str, fail: Fail) -> str:
    """A YAML scalar read into a Go string field (its text; null is empty)."""
    try:
        return scalar_text(value, field)
    except RelabelConfigError as err:
        fail(field, err.message)


def _bool(raw: Mapping[str, Any], key: str, field: str, default: bool, fail: Fail) -> bool:
    """A Go bool field: absent keeps the default, null is false (Go's zero value), YAML 1.1 words count."""
    if key not in raw:
        return default
    value = raw[key]
    if value is None:
        return False
    truth = getattr(value, "yaml_bool", value)  # promconfig's loader keeps `yes`/`on` as text with its truth
    if not isinstance(truth, bool):
        fail(field, f"must be true or false, got {value!r}")
    return bool(truth)


def _key(key: object, path: str, fail: Fail) -> str:
    """A mapping key read into a Go map[string]…: its text."""
    return _text(key, path or "key", fail)


def _plain(value: object, path: str, fail: Fail) -> Any:
    """Loaded YAML as plain JSON data: booleans loaded as text (promconfig's loader) become booleans, numbers lose
    their remembered text, mappings get string keys. Everything else is refused, naming where it is."""
    if isinstance(value, Mapping):
        return {_key(k, path, fail): _plain(v, f"{path}.{k}" if path else str(k), fail) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{path}[{i}]", fail) for i, v in enumerate(value)]
    truth = getattr(value, "yaml_bool", None)
    if isinstance(truth, bool) or isinstance(value, bool) or value is None:
        return truth if isinstance(truth, bool) else value
    if isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
        fail(path, f"{value} does not fit a 64-bit integer")
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, datetime.date):  # an unquoted date or timestamp: Go keeps the text, isoformat is close
        return value.isoformat()
    return fail(path, f"cannot be served as JSON: {type(value).__name__}")


def _list(value: object, field: str, fail: Fail) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        fail(field, f"must be a list, got {type(value).__name__}")
    return list(value)


def _mapping(value: object, field: str, fail: Fail) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        fail(field, f"must be a mapping, got {'null' if value is None else type(value).__name__}")
    return value


def _relabel_configs(value: object, list_name: str, fail: Fail) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    out = []
    for i, rule in enumerate(_list(value, list_name, fail)):
        where = f"{list_name}[{i}]"
        raw = _mapping(rule, where, fail)
        out.append(_relabel_config(raw, where, fail))
    return out


def _relabel_config(raw: Mapping[Any, Any], where: str, fail: Fail) -> dict[str, Any]:
    """One rule with Prometheus's defaults; what Prometheus marshals with omitempty is left out when empty."""
    rule: dict[str, Any] = {
        _key(k, where, fail): _plain(v, f"{where}.{k}", fail) for k, v in raw.items() if k != "modulus"
    }
    if "modulus" in raw:
        try:
            rule["modulus"] = go_uint64(raw["modulus"])  # the number Prometheus read (`2.5` is 2, `1e3` 1000)
        except ValueError as err:
            fail(f"{where}.modulus", str(err))
    if "action" in raw:
        if raw["action"] is None:
            fail(f"{where}.action", "relabel action cannot be empty")
        rule["action"] = _text(raw["action"], f"{where}.action", fail).lower()
    else:
        rule["action"] = "replace"
    for key in _RELABEL_TEXT_FIELDS:
        if key in raw:
            rule[key] = _text(raw[key], f"{where}.{key}", fail)
    for key, default in _RELABEL_DEFAULTS:
        rule.setdefault(key, default)
    if rule["action"] in _NO_REGEX_ACTIONS:
        del rule["regex"]  # prometheus/prometheus#12534: the default regex would make the rule invalid on load
    if "source_labels" in raw:
        sources = raw["source_labels"]
        if sources is None:
            del rule["source_labels"]
        else:
            field = f"{where}.source_labels"
            rule["source_labels"] = [_text(s, field, fail) for s in _list(sources, field, fail)]
    for key in ("target_label", "modulus"):
        if key in rule and not rule[key]:
            del rule[key]  # omitempty
    return rule


def _static_configs(value: object, fail: Fail) -> list[Any] | None:
    """Targets and labels are Go strings: their YAML text, not a boolean or a number."""
    if value is None:
        return None
    out: list[Any] = []
    for i, group in enumerate(_list(value, "static_configs", fail)):
        where = f"static_configs[{i}]"
        if group is None:
            out.append(None)
            continue
        raw = _mapping(group, where, fail)
        item: dict[str, Any] = {_key(k, where, fail): _plain(v, f"{where}.{k}", fail) for k, v in raw.items()}
        if raw.get("targets") is not None:
            field = f"{where}.targets"
            item["targets"] = [_text(t, field, fail) for t in _list(raw["targets"], field, fail)]
        if raw.get("labels") is not None:
            field = f"{where}.labels"
            labels = _mapping(raw["labels"], field, fail)
            item["labels"] = {_key(k, field, fail): _text(v, f"{field}.{k}", fail) for k, v in labels.items()}
        out.append(item)
    return out


def _params(value: object, fail: Fail) -> dict[str, list[str]] | None:
    """url.Values: a string → list-of-strings mapping."""
    if value is None:
        return None
    params = _mapping(value, "params", fail)
    out = {}
    for k, v in params.items():
        field = f"params.{k}"
        out[_key(k, "params", fail)] = [_text(s, field, fail) for s in _list(v, field, fail)]
    return out


def _sd_entries(value: object, sd_key: str, fail: Fail) -> list[Mapping[Any, Any]]:
    """The entries of one `*_sd_configs` list, each checked to be a mapping."""
    return [_mapping(sd, f"{sd_key}[{i}]", fail) for i, sd in enumerate(_list(value, sd_key, fail))]


# --- Secrets ------------------------------------------------------------------------------------------------------

# Where a `config.Secret` sits inside an HTTP client config: each path ends at a secret; "*" steps into every value
# of a mapping (a header name), "[]" into every item of a list (a header's values).
_HTTP_CLIENT_SECRETS: Final[tuple[tuple[str, ...], ...]] = (
    ("basic_auth", "password"),
    ("authorization", "credentials"),
    ("bearer_token",),
    ("tls_config", "key"),
    ("proxy_connect_header", "*", "[]"),
    ("http_headers", "*", "secrets", "[]"),
    ("oauth2", "client_secret"),
    ("oauth2", "client_certificate_key"),
    ("oauth2", "tls_config", "key"),
    ("oauth2", "proxy_connect_header", "*", "[]"),
)

# Other Go string fields of the HTTP client that a YAML number or YAML 1.1 boolean could land in (`username: 007`).
_HTTP_CLIENT_TEXTS: Final[tuple[tuple[str, ...], ...]] = (
    ("basic_auth", "username"),
    ("authorization", "type"),
    ("oauth2", "client_id"),
    ("oauth2", "scopes", "[]"),
    ("oauth2", "endpoint_params", "*"),
    ("http_headers", "*", "values", "[]"),
)

# visit(container, key, value as loaded, field path): one secret, `container[key]` in the prepared copy.
Visit = Callable[[Any, str | int, object, str], None]


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


def _visit_secrets(cfg: dict[str, Any], raw: Mapping[Any, Any], visit: Visit, *, texts: bool = False) -> None:
    """Every secret of a prepared config (`cfg`), with the value it was loaded from (`raw`, the same shape: the
    prepared copy keeps every mapping's order): the job's HTTP client and each service discovery entry's. With
    `texts`, the HTTP client's other string fields too."""
    client = _HTTP_CLIENT_SECRETS + (_HTTP_CLIENT_TEXTS if texts else ())
    _visit_block(cfg, raw, "", client, visit)
    for (key, value), raw_value in zip(cfg.items(), raw.values(), strict=False):
        if not (key.endswith("_sd_configs") and isinstance(value, list) and isinstance(raw_value, list | tuple)):
            continue
        own = tuple((name,) for name in _SD_SECRETS.get(key, ()))
        for i, (sd, raw_sd) in enumerate(zip(value, raw_value, strict=False)):
            _visit_block(sd, raw_sd, f"{key}[{i}]", client + own, visit)


def _visit_block(block: Any, raw: Any, path: str, secret_paths: tuple[tuple[str, ...], ...], visit: Visit) -> None:
    for steps in secret_paths:
        _visit_path(block, raw, steps, path, visit)


def _visit_path(node: Any, raw: Any, steps: Sequence[str], path: str, visit: Visit) -> None:
    """Follow `steps` through `node` and `raw` side by side; a part that is absent (or of another shape) ends it."""
    step, rest = steps[0], steps[1:]
    children: list[tuple[str | int, Any, Any]] = []
    if step == "[]":
        if isinstance(node, list) and isinstance(raw, list | tuple):
            children = [(i, v, r) for i, (v, r) in enumerate(zip(node, raw, strict=False))]
    elif step == "*":
        if isinstance(node, dict) and isinstance(raw, Mapping):
            children = [(k, v, r) for (k, v), r in zip(node.items(), raw.values(), strict=False)]
    elif isinstance(node, dict) and isinstance(raw, Mapping) and step in node and step in raw:
        children = [(step, node[step], raw[step])]
    for key, child, raw_child in children:
        if rest:
            _visit_path(child, raw_child, rest, _join(path, key), visit)
        else:
            visit(node, key, raw_child, _join(path, key))


def _text_fields(cfg: dict[str, Any], raw: Mapping[Any, Any], fail: Fail) -> None:
    """Secrets and the HTTP client's other string fields are Go strings: the loaded scalar's text (a password
    `0123` stays "0123", not the octal 83)."""

    def visit(container: Any, key: str | int, loaded: object, path: str) -> None:
        if loaded is not None:
            container[key] = _text(loaded, path, fail)

    _visit_secrets(cfg, raw, visit, texts=True)


def _redact(container: Any, key: str | int, loaded: object, path: str) -> None:
    if container[key]:  # Prometheus writes an empty secret as empty, never as "<secret>"
        container[key] = SECRET_TOKEN


def redact_scrape_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a prepared config with every non-empty secret replaced by "<secret>"."""
    out = copy.deepcopy(dict(cfg))
    _visit_secrets(out, out, _redact)
    return out
