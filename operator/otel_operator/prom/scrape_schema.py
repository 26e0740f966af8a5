"""The keys Prometheus v3.14 knows in a configuration, and the unknown ones a configuration has.

Prometheus reads its configuration strictly (gopkg.in/yaml.v2's `UnmarshalStrict`): a key that no field of the
section's Go type carries refuses the whole file (`field scrape_intervall not found in type config.ScrapeConfig`).
A lenient reader would instead drop the key and keep the default, so a typo such as `scrape_intervall: 5s` would
be served while the interval silently stays 1m. This module finds those keys, at every nesting level whose schema
is written down here, and suggests the closest known key.

The key sets are facts of Prometheus v3.14 (prometheus/prometheus v0.314.0, prometheus/common v0.70.1): the
top-level `Config`, `GlobalConfig`, `ScrapeConfig` (with the inlined HTTP client config and its inlined proxy
settings), relabel rules, static target groups, and the service-discovery configs. Every SD type Prometheus
registers is a known `<name>_sd_configs` key; the inner keys are checked for the kinds described here
(kubernetes, file, http, dns) and left alone for the others (a key this module does not know is never refused).
Sections Prometheus has but whose inner schema is not described here (`alerting`, `remote_write`, ...) are known
keys whose contents are not checked.

Pure: `prometheus_config_problems` and `scrape_configs_problems` return (dotted field path, message) pairs, in
document order; a value of the wrong type (a list where a mapping belongs) is not this module's to report and is
skipped.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

Problem = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Section:
    """A mapping whose keys are exactly `fields` (each with the schema of its value, None: not checked)."""

    fields: Mapping[str, Node]

    def names(self) -> tuple[str, ...]:
        return tuple(self.fields)


@dataclass(frozen=True, slots=True)
class ListOf:
    """A list whose entries are each `entry`."""

    entry: Section


@dataclass(frozen=True, slots=True)
class MapOf:
    """A mapping with keys of the user's choosing (header names), each value a `value`."""

    value: Section


Node = Section | ListOf | MapOf | None


def _section(*parts: Mapping[str, Node] | Sequence[str]) -> Section:
    """A section from key lists (values not checked) and mappings (values checked), in the order given."""
    fields: dict[str, Node] = {}
    for part in parts:
        if isinstance(part, Mapping):
            fields.update(part)
        else:
            fields.update(dict.fromkeys(part))
    return Section(fields)


# --- prometheus/common config: the HTTP client --------------------------------------------------------------------

TLS_CONFIG: Final = _section(
    (
        "ca",
        "cert",
        "key",
        "ca_file",
        "cert_file",
        "key_file",
        "ca_ref",
        "cert_ref",
        "key_ref",
        "server_name",
        "insecure_skip_verify",
        "min_version",
        "max_version",
    )
)
PROXY_KEYS: Final = ("proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header")
BASIC_AUTH: Final = _section(("username", "username_file", "username_ref", "password", "password_file", "password_ref"))
AUTHORIZATION: Final = _section(("type", "credentials", "credentials_file", "credentials_ref"))
OAUTH2: Final = _section(
    (
        "client_id",
        "client_secret",
        "client_secret_file",
        "client_secret_ref",
        "client_certificate_key_id",
        "client_certificate_key",
        "client_certificate_key_file",
        "client_certificate_key_ref",
        "grant_type",
        "signature_algorithm",
        "iss",
        "audience",
        "claims",
        "scopes",
        "token_url",
        "endpoint_params",
    ),
    {"tls_config": TLS_CONFIG},
    PROXY_KEYS,
)
HTTP_HEADER: Final = _section(("values", "secrets", "files"))
# HTTPClientConfig, which Prometheus inlines into the scrape config and into several SD configs
HTTP_CLIENT: Final = _section(
    {"basic_auth": BASIC_AUTH, "authorization": AUTHORIZATION, "oauth2": OAUTH2},
    ("bearer_token", "bearer_token_file"),
    {"tls_config": TLS_CONFIG},
    ("follow_redirects", "enable_http2"),
    PROXY_KEYS,
    {"http_headers": MapOf(HTTP_HEADER)},
)

# --- prometheus/prometheus: relabeling, static targets, service discovery -----------------------------------------

RELABEL_CONFIG: Final = _section(
    ("source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action")
)
STATIC_CONFIG: Final = _section(("targets", "labels"))
KUBERNETES_SD: Final = _section(
    ("api_server", "role", "kubeconfig_file"),
    HTTP_CLIENT.fields,
    {
        "namespaces": _section(("own_namespace", "names")),
        "selectors": ListOf(_section(("role", "label", "field"))),
        "attach_metadata": _section(("node", "namespace", "deployment", "job", "cronjob")),
    },
)
FILE_SD: Final = _section(("files", "refresh_interval"))
HTTP_SD: Final = _section(HTTP_CLIENT.fields, ("refresh_interval", "url"))
DNS_SD: Final = _section(("names", "refresh_interval", "type", "port"))
# The names every SD type registers itself under (`<name>_sd_configs`), in Prometheus v3.14.
SD_NAMES: Final = (
    "aws",
    "azure",
    "consul",
    "digitalocean",
    "dns",
    "docker",
    "dockerswarm",
    "ec2",
    "ecs",
    "elasticache",
    "eureka",
    "file",
    "gce",
    "hetzner",
    "http",
    "ionos",
    "kubernetes",
    "kuma",
    "lightsail",
    "linode",
    "marathon",
    "msk",
    "nerve",
    "nomad",
    "oci",
    "openstack",
    "outscale",
    "ovhcloud",
    "puppetdb",
    "rds",
    "scaleway",
    "serverset",
    "stackit",
    "triton",
    "uyuni",
    "vultr",
)
_SD_SCHEMAS: Final[Mapping[str, Section]] = {
    "kubernetes": KUBERNETES_SD,
    "file": FILE_SD,
    "http": HTTP_SD,
    "dns": DNS_SD,
}
SD_CONFIGS: Final[Mapping[str, Node]] = {
    f"{name}_sd_configs": ListOf(_SD_SCHEMAS[name]) if name in _SD_SCHEMAS else None for name in SD_NAMES
}

# --- prometheus/prometheus config: the scrape config, the global section, the file --------------------------------

SCRAPE_CONFIG: Final = _section(
    (
        "job_name",
        "honor_labels",
        "honor_timestamps",
        "track_timestamps_staleness",
        "params",
        "scrape_interval",
        "scrape_timeout",
        "scrape_protocols",
        "fallback_scrape_protocol",
        "scrape_native_histograms",
        "always_scrape_classic_histograms",
        "convert_classic_histograms_to_nhcb",
        "scrape_failure_log_file",
        "metrics_path",
        "scheme",
        "enable_compression",
        "body_size_limit",
        "sample_limit",
        "target_limit",
        "label_limit",
        "label_name_length_limit",
        "label_value_length_limit",
        "native_histogram_bucket_limit",
        "native_histogram_min_bucket_factor",
        "keep_dropped_targets",
        "metric_name_validation_scheme",
        "metric_name_escaping_scheme",
        "extra_scrape_metrics",
    ),
    HTTP_CLIENT.fields,
    {"static_configs": ListOf(STATIC_CONFIG)},
    SD_CONFIGS,
    {"relabel_configs": ListOf(RELABEL_CONFIG), "metric_relabel_configs": ListOf(RELABEL_CONFIG)},
)
GLOBAL_CONFIG: Final = _section(
    (
        "scrape_interval",
        "scrape_timeout",
        "scrape_protocols",
        "evaluation_interval",
        "rule_query_offset",
        "query_log_file",
        "scrape_failure_log_file",
        "external_labels",
        "body_size_limit",
        "sample_limit",
        "target_limit",
        "label_limit",
        "label_name_length_limit",
        "label_value_length_limit",
        "keep_dropped_targets",
        "metric_name_validation_scheme",
        "metric_name_escaping_scheme",
        "scrape_native_histograms",
        "convert_classic_histograms_to_nhcb",
        "always_scrape_classic_histograms",
        "extra_scrape_metrics",
    )
)
PROMETHEUS_CONFIG: Final = _section(
    {"global": GLOBAL_CONFIG},
    ("runtime", "alerting", "rule_files", "scrape_config_files"),
    {"scrape_configs": ListOf(SCRAPE_CONFIG)},
    ("storage", "tracing", "remote_write", "remote_read", "otlp"),
)


# --- checking -------------------------------------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def unknown_key_message(key: str, known: Sequence[str]) -> str:
    """`unknown key; did you mean "x"?` (a key that differs only in case first), or the known keys."""
    same_but_case = [name for name in known if name.lower() == key.lower()]
    guess = same_but_case or difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if guess:
        return f'unknown key; did you mean "{guess[0]}"?'
    return f"unknown key; known keys: {', '.join(known)}"


def _check(value: object, node: Node, path: str, found: list[Problem]) -> None:
    if node is None or value is None:
        return
    if isinstance(node, ListOf):
        if isinstance(value, list | tuple):
            for index, entry in enumerate(value):
                _check(entry, node.entry, f"{path}[{index}]", found)
        return
    if not isinstance(value, Mapping):
        return
    if isinstance(node, MapOf):
        for name, item in value.items():
            _check(item, node.value, _join(path, str(name)), found)
        return
    for key, item in value.items():
        name = str(key)
        if name not in node.fields:
            found.append((_join(path, name), unknown_key_message(name, node.names())))
        else:
            _check(item, node.fields[name], _join(path, name), found)


def prometheus_config_problems(config: object, path: str = "") -> list[Problem]:
    """The unknown keys of a whole Prometheus configuration (`global`, `scrape_configs`, ...) at `path`."""
    found: list[Problem] = []
    _check(config, PROMETHEUS_CONFIG, path, found)
    return found


def scrape_configs_problems(entries: object, path: str = "scrape_configs") -> list[Problem]:
    """The unknown keys of a `scrape_configs` list at `path` (entries that are not mappings are skipped)."""
    found: list[Problem] = []
    _check(entries, ListOf(SCRAPE_CONFIG), path, found)
    return found


def scrape_config_problems(entry: object, path: str, skip: Sequence[str] = ()) -> list[Problem]:
    """The unknown keys of one scrape config at `path`, e.g. `config.scrape_configs[2]`; the subtrees of the keys in
    `skip` (e.g. `relabel_configs`, when the caller's relabel reader reports its own unknown keys) are not looked
    into."""
    found: list[Problem] = []
    if isinstance(entry, Mapping) and skip:
        entry = {key: value for key, value in entry.items() if str(key) not in skip}
    _check(entry, SCRAPE_CONFIG, path, found)
    return found
