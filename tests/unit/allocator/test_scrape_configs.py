"""The `/scrape_configs` bodies: Prometheus's load-time defaults, secret redaction, the byte format and ETags, bad
jobs, and an oracle check that what we serve loads in Prometheus (Debian's promtool 2.42 here; Prometheus v3 in
tests/integration/test_scrape_configs_promtool.py).

Inputs written as YAML text are loaded with promconfig's loader, as the allocator loads its config file, so the
cases also pin how YAML scalars are read (`0777`, `yes`) into Go's string and bool fields.
"""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from otel_operator.allocator.scrape_configs import (
    EMPTY_BODY,
    SECRET_TOKEN,
    ScrapeConfigsError,
    etag,
    prepare_scrape_config,
    redact_scrape_config,
    render_scrape_configs,
)
from otel_operator.prom.monitors.generate import generate_from_documents
from otel_operator.prom.monitors.options import GeneratorOptions
from otel_operator.prom.promconfig import load_yaml
from otel_operator.prom.targets import GlobalDefaults
from tests.tools import debian_tool
from tests.unit.prom import test_monitors_guide as guide
from tests.unit.prom.test_monitors_servicemonitor import PEMS, pem

ROOT = Path(__file__).resolve().parents[3]
GUIDE_YAML = ROOT / "examples" / "troubleshooting-guide.yaml"

# What every job gets when it says nothing (Prometheus's DefaultScrapeConfig and the global defaults 1m/10s).
JOB_DEFAULTS: dict[str, Any] = {
    "scrape_interval": "1m",
    "scrape_timeout": "10s",
    "metrics_path": "/metrics",
    "scheme": "http",
    "honor_timestamps": True,
    "enable_http2": True,
    "follow_redirects": True,
    "enable_compression": True,
}
RULE_DEFAULTS: dict[str, Any] = {"action": "replace", "separator": ";", "regex": "(.*)", "replacement": "$1"}


def load(text: str) -> dict[str, Any]:
    """One scrape config written as YAML, loaded as the allocator loads its config file."""
    value = load_yaml(text)
    assert isinstance(value, dict)
    return value


def prepare(text: str, defaults: GlobalDefaults | None = None) -> dict[str, Any]:
    raw = load(text)
    return prepare_scrape_config(str(raw["job_name"]), raw, defaults)


def at(value: Any, path: str) -> Any:
    """`value` at a path like `kubernetes_sd_configs[0].basic_auth.password` or `proxy_connect_header.X[1]`."""
    for part in path.replace("[", ".[").split("."):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


# --------------------------------------------------------------------------------------------- defaults


@dataclass(frozen=True)
class DefaultsCase:
    name: str
    given: str  # one scrape config, YAML
    expected: dict[str, Any]  # keys of the prepared config that must have these values
    defaults: GlobalDefaults = field(default_factory=GlobalDefaults)
    absent: tuple[str, ...] = ()  # paths that must not exist


DEFAULTS_CASES = [
    DefaultsCase("a bare job gets every default", "job_name: j", JOB_DEFAULTS),
    DefaultsCase(
        "interval and timeout come from global",
        "job_name: j",
        {"scrape_interval": "15s", "scrape_timeout": "5s"},
        GlobalDefaults(scrape_interval=15_000, scrape_timeout=5_000),
    ),
    DefaultsCase(
        "only the interval set: the global timeout is capped at it",
        "{job_name: j, scrape_interval: 5s}",
        {"scrape_interval": "5s", "scrape_timeout": "5s"},
    ),
    DefaultsCase(
        "only the timeout set: the global interval stays",
        "{job_name: j, scrape_timeout: 30s}",
        {"scrape_interval": "1m", "scrape_timeout": "30s"},
    ),
    DefaultsCase(
        "durations are written as Prometheus prints them",
        "{job_name: j, scrape_interval: 90s, scrape_timeout: 60000ms}",
        {"scrape_interval": "1m30s", "scrape_timeout": "1m"},
    ),
    DefaultsCase("a zero interval means unset", "{job_name: j, scrape_interval: 0s}", {"scrape_interval": "1m"}),
    DefaultsCase("a null interval means unset", "{job_name: j, scrape_interval: null}", {"scrape_interval": "1m"}),
    DefaultsCase(
        "given values are kept",
        "{job_name: j, metrics_path: /m, scheme: https, honor_timestamps: false, enable_http2: false,"
        " follow_redirects: false, enable_compression: false, honor_labels: true}",
        {
            "metrics_path": "/m",
            "scheme": "https",
            "honor_timestamps": False,
            "enable_http2": False,
            "follow_redirects": False,
            "enable_compression": False,
            "honor_labels": True,
        },
    ),
    DefaultsCase(
        "null booleans are Go's false; an empty path or scheme is dropped on marshal, so the default",
        "{job_name: j, honor_timestamps: null, enable_compression: null, metrics_path: '', scheme: null}",
        {"honor_timestamps": False, "enable_compression": False, "metrics_path": "/metrics", "scheme": "http"},
    ),
    DefaultsCase(
        "YAML 1.1 booleans read as Go reads them",
        "{job_name: j, honor_labels: yes, follow_redirects: off}",
        {"honor_labels": True, "follow_redirects": False},
    ),
    DefaultsCase(
        "a relabel rule gets every default",
        "{job_name: j, relabel_configs: [{source_labels: [a], target_label: b}]}",
        {"relabel_configs": [{**RULE_DEFAULTS, "source_labels": ["a"], "target_label": "b"}]},
    ),
    DefaultsCase(
        "metric relabel rules too, and given fields are kept",
        "{job_name: j, metric_relabel_configs: [{action: drop, regex: 'go_.*', source_labels: [__name__]}]}",
        {
            "metric_relabel_configs": [
                {**RULE_DEFAULTS, "action": "drop", "regex": "go_.*", "source_labels": ["__name__"]}
            ]
        },
    ),
    DefaultsCase(
        "keepequal and dropequal get no regex (prometheus#12534), not even a given one",
        "job_name: j\nrelabel_configs:\n"
        "- {action: keepequal, source_labels: [a], target_label: b}\n"
        "- {action: DropEqual, source_labels: [a], target_label: b, regex: '(.*)'}\n",
        {
            "relabel_configs": [
                {
                    "action": "keepequal",
                    "separator": ";",
                    "replacement": "$1",
                    "source_labels": ["a"],
                    "target_label": "b",
                },
                {
                    "action": "dropequal",
                    "separator": ";",
                    "replacement": "$1",
                    "source_labels": ["a"],
                    "target_label": "b",
                },
            ]
        },
    ),
    DefaultsCase(
        "the action is lower-cased, as Prometheus loads it",
        "{job_name: j, relabel_configs: [{action: HashMod, source_labels: [__address__], target_label: h,"
        " modulus: 3}]}",
        {
            "relabel_configs": [
                {
                    **RULE_DEFAULTS,
                    "action": "hashmod",
                    "source_labels": ["__address__"],
                    "target_label": "h",
                    "modulus": 3,
                }
            ]
        },
    ),
    DefaultsCase(
        "string fields take the YAML text; explicit null and empty stay empty",
        "job_name: j\nrelabel_configs:\n"
        "- {source_labels: [0777, yes], regex: 0777, replacement: on, target_label: t}\n"
        "- {regex: null, separator: '', replacement: null, target_label: t}\n",
        {
            "relabel_configs": [
                {
                    **RULE_DEFAULTS,
                    "source_labels": ["0777", "yes"],
                    "regex": "0777",
                    "replacement": "on",
                    "target_label": "t",
                },
                {**RULE_DEFAULTS, "regex": "", "separator": "", "replacement": "", "target_label": "t"},
            ]
        },
    ),
    DefaultsCase(
        "the $(SHARD) keep rule is served literally",
        "{job_name: j, relabel_configs: [{action: keep, source_labels: [__tmp_hash, __tmp_disable_sharding],"
        " regex: '$(SHARD);|.+;.+'}]}",
        {
            "relabel_configs": [
                {
                    **RULE_DEFAULTS,
                    "action": "keep",
                    "regex": "$(SHARD);|.+;.+",
                    "source_labels": ["__tmp_hash", "__tmp_disable_sharding"],
                }
            ]
        },
    ),
    DefaultsCase(
        "empty target_label, zero modulus and null source_labels are left out, as Prometheus marshals them",
        "{job_name: j, relabel_configs: [{action: labeldrop, regex: tmp_.*, target_label: '', modulus: 0,"
        " source_labels: null}]}",
        {"relabel_configs": [{**RULE_DEFAULTS, "action": "labeldrop", "regex": "tmp_.*"}]},
    ),
    DefaultsCase(
        "static targets, labels and params are Go strings",
        "job_name: j\nparams: {format: [prometheus, 1]}\n"
        "static_configs: [{targets: ['h:80'], labels: {env: yes, zone: 0777, n: 1.50}}]",
        {
            "params": {"format": ["prometheus", "1"]},
            "static_configs": [{"targets": ["h:80"], "labels": {"env": "yes", "zone": "0777", "n": "1.50"}}],
        },
    ),
    DefaultsCase(
        "kubernetes and http SD configs get their HTTP client defaults",
        "job_name: j\nkubernetes_sd_configs: [{role: pod}, {role: node, enable_http2: false}]\n"
        "http_sd_configs: [{url: 'http://sd/targets', follow_redirects: false}]",
        {
            "kubernetes_sd_configs": [
                {"role": "pod", "enable_http2": True, "follow_redirects": True},
                {"role": "node", "enable_http2": False, "follow_redirects": True},
            ],
            "http_sd_configs": [{"url": "http://sd/targets", "enable_http2": True, "follow_redirects": False}],
        },
    ),
    DefaultsCase(
        "other SD configs and unknown keys pass through",
        "{job_name: j, file_sd_configs: [{files: [a.json]}], sample_limit: 5, scrape_protocols: [PrometheusProto]}",
        {"file_sd_configs": [{"files": ["a.json"]}], "sample_limit": 5, "scrape_protocols": ["PrometheusProto"]},
    ),
    DefaultsCase(
        "no relabel keys are added when there are none",
        "job_name: j",
        {},
        absent=("relabel_configs", "metric_relabel_configs", "static_configs", "params"),
    ),
]


@pytest.mark.parametrize("case", DEFAULTS_CASES, ids=lambda c: c.name)
def test_defaults(case: DefaultsCase) -> None:
    prepared = prepare(case.given, case.defaults)
    assert {key: prepared.get(key) for key in case.expected} == case.expected
    for key in case.absent:
        assert key not in prepared
    for key, value in JOB_DEFAULTS.items():
        assert key in prepared, key
        assert isinstance(prepared[key], type(value)), key


@pytest.mark.parametrize("case", DEFAULTS_CASES, ids=lambda c: c.name)
def test_preparing_twice_changes_nothing(case: DefaultsCase) -> None:
    once = prepare(case.given, case.defaults)
    assert prepare_scrape_config(once["job_name"], once, case.defaults) == once


def test_the_input_is_not_mutated() -> None:
    raw = load(SECRET_JOBS_YAML)
    jobs = {str(c["job_name"]): c for c in raw["scrape_configs"]}
    before = copy.deepcopy(jobs)
    render_scrape_configs(jobs)
    assert jobs == before


# --------------------------------------------------------------------------------------------- bad jobs


@pytest.mark.parametrize(
    ("job", "raw", "field", "says"),
    [
        ("j", None, "", "empty or null"),
        ("j", ["job_name", "j"], "", "must be a mapping"),
        ("j", "job_name: j", "", "must be a mapping"),
        ("j", {"scrape_interval": "1m"}, "job_name", "missing"),
        ("j", {"job_name": "other"}, "job_name", '"other" does not match the job\'s key "j"'),
        ("j", {"job_name": "j", "scrape_interval": "10s", "scrape_timeout": "20s"}, "scrape_timeout", "greater"),
        ("j", {"job_name": "j", "scrape_interval": "soon"}, "scrape_interval", "not a valid duration"),
        ("j", {"job_name": "j", "scrape_timeout": 30}, "scrape_timeout", "not a valid duration"),
        ("j", {"job_name": "j", "enable_http2": "true"}, "enable_http2", "must be true or false"),
        ("j", {"job_name": "j", "relabel_configs": {"action": "keep"}}, "relabel_configs", "must be a list"),
        ("j", {"job_name": "j", "relabel_configs": ["keep"]}, "relabel_configs[0]", "must be a mapping"),
        ("j", {"job_name": "j", "relabel_configs": [{}, {"action": None}]}, "relabel_configs[1].action", "empty"),
        ("j", {"job_name": "j", "relabel_configs": [{"regex": ["a"]}]}, "relabel_configs[0].regex", "string"),
        ("j", {"job_name": "j", "static_configs": [{"labels": ["a"]}]}, "static_configs[0].labels", "mapping"),
        ("j", {"job_name": "j", "kubernetes_sd_configs": [None]}, "kubernetes_sd_configs[0]", "mapping"),
        ("j", {"job_name": "j", "basic_auth": {"password": {"name": "s"}}}, "basic_auth.password", "string"),
        ("j", {"job_name": "j", "sample_limit": 1 << 70}, "sample_limit", "64-bit"),
        ("j", {"job_name": "j", "labels": {1, 2}}, "labels", "cannot be served as JSON"),
        ("j", {"job_name": "j", "labels": {"a": "\ud800"}}, "", "cannot be served as JSON"),
    ],
)
def test_a_bad_job_names_the_job_and_field(job: str, raw: object, field: str, says: str) -> None:
    with pytest.raises(ScrapeConfigsError) as err:
        render_scrape_configs({job: raw})
    assert err.value.job == job
    assert err.value.field == field
    assert says in str(err.value)
    assert str(err.value).startswith(f'job "{job}": {field}')
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("text", "served"),
    [("2.5", 2), ("1e3", 1000), ("0o17", 15), ("18446744073709551615", (1 << 64) - 1),
     ("18446744073709551616", 1 << 63), ("-1.5", (1 << 64) - 1)],
)  # fmt: skip
def test_a_modulus_is_served_as_the_number_prometheus_read(text: str, served: int) -> None:
    """The Go allocator serves the uint64 it parsed; a text like "1e3" or a float would not load in the collector."""
    rule = f"relabel_configs: [{{action: hashmod, source_labels: [a], target_label: h, modulus: {text}}}]"
    assert prepare(f"job_name: j\n{rule}\n")["relabel_configs"][0]["modulus"] == served


def test_a_modulus_prometheus_refuses_is_refused_in_its_words() -> None:
    with pytest.raises(ScrapeConfigsError, match=r"relabel_configs\[0\]\.modulus: cannot unmarshal !!int `-1`"):
        prepare("job_name: j\nrelabel_configs: [{action: hashmod, target_label: h, modulus: -1}]\n")


def test_with_on_error_a_bad_job_is_left_out_and_reported() -> None:
    reported: list[ScrapeConfigsError] = []
    body = render_scrape_configs(
        {"bad": {"job_name": "other"}, "good": {"job_name": "good"}, "worse": 42}, on_error=reported.append
    )
    assert list(json.loads(body.full)) == ["good"]
    assert [(e.job, e.field) for e in reported] == [("bad", "job_name"), ("worse", "")]


# --------------------------------------------------------------------------------------------- secrets

# Every kind of secret, in the job and in service discovery. Jobs respect Prometheus's one-auth-per-client rule.
SECRET_JOBS_YAML = """
scrape_configs:
- job_name: basic
  basic_auth: {username: admin, password: pw-basic}
  tls_config: {ca: CA-TEXT, cert: CERT-TEXT, key: key-text, server_name: srv}
  proxy_url: http://proxy:3128
  proxy_connect_header: {X-Proxy-Token: [pw-proxy-1, pw-proxy-2], X-Empty: ['']}
  http_headers: {X-Api-Key: {values: [visible], secrets: [pw-header]}}
  static_configs: [{targets: ['a:1'], labels: {password: not-a-secret}}]
- job_name: authz
  authorization: {type: Custom, credentials: pw-authz}
- job_name: bearer
  bearer_token: pw-bearer
- job_name: oauth
  oauth2:
    client_id: client-id
    client_secret: pw-oauth
    client_certificate_key: pw-oauth-jwt
    token_url: https://auth/token
    tls_config: {key: oauth-key-text, cert: OAUTH-CERT}
    proxy_url: http://proxy:3128
    proxy_connect_header: {X-T: [pw-oauth-proxy]}
- job_name: sd
  basic_auth: {username: u, password: ''}
  kubernetes_sd_configs:
  - role: pod
    api_server: https://k8s
    basic_auth: {username: sd-user, password: pw-sd-basic}
    tls_config: {key: sd-key-text, cert: SD-CERT}
  - role: node
    api_server: https://k8s
    authorization: {credentials: pw-sd-authz}
  - role: service
    api_server: https://k8s
    oauth2:
      {client_id: c, client_secret: pw-sd-oauth, token_url: https://t, tls_config: {key: sd-oauth-key, cert: SD-CERT}}
  http_sd_configs:
  - url: http://sd/targets
    bearer_token: pw-http-sd
    proxy_url: http://proxy:3128
    proxy_connect_header: {X-T: [pw-http-sd-proxy]}
  consul_sd_configs: [{server: 'c:8500', token: pw-consul, password: pw-consul-basic}]
  ec2_sd_configs: [{region: eu-west-1, access_key: AK, secret_key: pw-ec2}]
  azure_sd_configs: [{subscription_id: s, tenant_id: t, client_id: c, client_secret: pw-azure}]
  openstack_sd_configs: [{role: instance, region: r, password: pw-os, application_credential_secret: pw-os-app}]
  marathon_sd_configs: [{servers: ['http://m'], auth_token: pw-marathon}]
  uyuni_sd_configs: [{server: 'https://u', username: u, password: pw-uyuni}]
- job_name: numbers
  basic_auth: {username: 007, password: 0123}
"""

# (job, path) of every secret above, and its value.
SECRETS = {
    ("basic", "basic_auth.password"): "pw-basic",
    ("basic", "tls_config.key"): "key-text",
    ("basic", "proxy_connect_header.X-Proxy-Token[0]"): "pw-proxy-1",
    ("basic", "proxy_connect_header.X-Proxy-Token[1]"): "pw-proxy-2",
    ("basic", "http_headers.X-Api-Key.secrets[0]"): "pw-header",
    ("authz", "authorization.credentials"): "pw-authz",
    ("bearer", "bearer_token"): "pw-bearer",
    ("oauth", "oauth2.client_secret"): "pw-oauth",
    ("oauth", "oauth2.client_certificate_key"): "pw-oauth-jwt",
    ("oauth", "oauth2.tls_config.key"): "oauth-key-text",
    ("oauth", "oauth2.proxy_connect_header.X-T[0]"): "pw-oauth-proxy",
    ("sd", "kubernetes_sd_configs[0].basic_auth.password"): "pw-sd-basic",
    ("sd", "kubernetes_sd_configs[0].tls_config.key"): "sd-key-text",
    ("sd", "kubernetes_sd_configs[1].authorization.credentials"): "pw-sd-authz",
    ("sd", "kubernetes_sd_configs[2].oauth2.client_secret"): "pw-sd-oauth",
    ("sd", "kubernetes_sd_configs[2].oauth2.tls_config.key"): "sd-oauth-key",
    ("sd", "http_sd_configs[0].bearer_token"): "pw-http-sd",
    ("sd", "http_sd_configs[0].proxy_connect_header.X-T[0]"): "pw-http-sd-proxy",
    ("sd", "consul_sd_configs[0].token"): "pw-consul",
    ("sd", "consul_sd_configs[0].password"): "pw-consul-basic",
    ("sd", "ec2_sd_configs[0].secret_key"): "pw-ec2",
    ("sd", "azure_sd_configs[0].client_secret"): "pw-azure",
    ("sd", "openstack_sd_configs[0].password"): "pw-os",
    ("sd", "openstack_sd_configs[0].application_credential_secret"): "pw-os-app",
    ("sd", "marathon_sd_configs[0].auth_token"): "pw-marathon",
    ("sd", "uyuni_sd_configs[0].password"): "pw-uyuni",
    ("numbers", "basic_auth.password"): "0123",  # Go reads the text; as a YAML 1.1 int it would be 83
}
# Look like secrets, are not: they must be the same in both bodies.
NOT_SECRETS = {
    ("basic", "basic_auth.username"): "admin",
    ("basic", "tls_config.ca"): "CA-TEXT",
    ("basic", "tls_config.cert"): "CERT-TEXT",
    ("basic", "proxy_connect_header.X-Empty[0]"): "",  # an empty secret stays empty
    ("basic", "http_headers.X-Api-Key.values[0]"): "visible",
    ("basic", "static_configs[0].labels.password"): "not-a-secret",
    ("oauth", "oauth2.client_id"): "client-id",
    ("oauth", "oauth2.tls_config.cert"): "OAUTH-CERT",
    ("sd", "basic_auth.password"): "",
    ("sd", "kubernetes_sd_configs[0].basic_auth.username"): "sd-user",
    ("sd", "ec2_sd_configs[0].access_key"): "AK",
    ("numbers", "basic_auth.username"): "007",
}


# Every relabel action with only the fields it needs: Prometheus validates each action's fields against the
# defaults we fill, so the oracle sees every filled default (and every missing regex) once.
RELABEL_JOB_YAML = """
job_name: relabel
static_configs: [{targets: ['a:1']}]
relabel_configs:
- {source_labels: [a], target_label: b}
- {action: Keep, source_labels: [a], regex: x}
- {action: drop, source_labels: [a]}
- {action: hashmod, source_labels: [__address__], target_label: __tmp_hash, modulus: 2}
- {action: keep, source_labels: [__tmp_hash], regex: $(SHARD)}
- {action: labelmap, regex: __meta_(.+)}
- {action: labeldrop, regex: tmp_.*}
- {action: labelkeep, regex: .+}
- {action: lowercase, source_labels: [a], target_label: a_lower}
- {action: uppercase, source_labels: [a], target_label: a_upper}
- {action: keepequal, source_labels: [a], target_label: b}
- {action: dropequal, source_labels: [a], target_label: c}
metric_relabel_configs:
- {action: drop, source_labels: [__name__], regex: go_.*}
- {action: keepequal, source_labels: [a], target_label: b}
"""


def relabel_job() -> dict[str, Any]:
    return {"relabel": load(RELABEL_JOB_YAML)}


def secret_jobs() -> dict[str, Any]:
    return {str(c["job_name"]): c for c in load(SECRET_JOBS_YAML)["scrape_configs"]}


@pytest.fixture(scope="module")
def secret_bodies() -> tuple[dict[str, Any], dict[str, Any]]:
    body = render_scrape_configs(secret_jobs())
    return json.loads(body.redacted), json.loads(body.full)


@pytest.mark.parametrize(("job", "path"), list(SECRETS), ids=str)
def test_a_secret_is_redacted_and_served_in_full(
    secret_bodies: tuple[dict[str, Any], dict[str, Any]], job: str, path: str
) -> None:
    redacted, full = secret_bodies
    assert at(redacted[job], path) == SECRET_TOKEN
    assert at(full[job], path) == SECRETS[job, path]


@pytest.mark.parametrize(("job", "path"), list(NOT_SECRETS), ids=str)
def test_a_non_secret_is_the_same_in_both(
    secret_bodies: tuple[dict[str, Any], dict[str, Any]], job: str, path: str
) -> None:
    redacted, full = secret_bodies
    assert at(redacted[job], path) == at(full[job], path) == NOT_SECRETS[job, path]


def test_redaction_touches_nothing_but_the_secrets(secret_bodies: tuple[dict[str, Any], dict[str, Any]]) -> None:
    redacted, full = secret_bodies
    for job, path in SECRETS:
        parent, _, last = path.rpartition(".")
        container = at(full[job], parent) if parent else full[job]
        if last.endswith("]"):
            name, _, index = last[:-1].partition("[")
            container[name][int(index)] = SECRET_TOKEN
        else:
            container[last] = SECRET_TOKEN
    assert full == redacted
    assert not any(value in json.dumps(redacted) for value in SECRETS.values() if value.startswith("pw-"))


def test_redact_scrape_config_copies() -> None:
    prepared = prepare_scrape_config("bearer", secret_jobs()["bearer"])
    redacted = redact_scrape_config(prepared)
    assert redacted["bearer_token"] == SECRET_TOKEN
    assert prepared["bearer_token"] == "pw-bearer"


# What the generator inlines from Secrets: every value must be gone from the redacted body and in the full one.
# The TLS key is real (prometheus-operator rejects a cert and key that do not pair), so it is looked for as JSON
# writes it, newlines escaped.
TLS_KEY = json.dumps(PEMS["$KEY"])[1:-1]
MONITOR_SECRETS = (
    "pw-basic",
    "pw-bearer",
    TLS_KEY,
    "pw-oauth",
    "pw-proxy",
    "pw-authz",
    "pw-sd-basic",
    "pw-sd-authz",
)
MONITORS_YAML = pem("""
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: apps}
stringData:
  user: admin
  basic: pw-basic
  bearer: pw-bearer
  tls.key: $KEY
  tls.crt: $CERT
  oauth: pw-oauth
  client: client-id
  proxy: pw-proxy
  authz: pw-authz
  sd-basic: pw-sd-basic
  sd-authz: pw-sd-authz
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: app, namespace: apps}
spec:
  selector: {matchLabels: {app: app}}
  endpoints:
  - port: web
    scheme: https
    tlsConfig: {cert: {secret: {name: creds, key: tls.crt}}, keySecret: {name: creds, key: tls.key}}
    bearerTokenSecret: {name: creds, key: bearer}
  - port: web
    basicAuth: {username: {name: creds, key: user}, password: {name: creds, key: basic}}
  - port: web
    oauth2:
      clientId: {secret: {name: creds, key: client}}
      clientSecret: {name: creds, key: oauth}
      tokenUrl: https://auth/token
    proxyUrl: http://proxy:3128
    proxyConnectHeader:
      X-Token: [{name: creds, key: proxy}]
  - port: web
    authorization: {credentials: {name: creds, key: authz}}
---
apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {name: sd, namespace: apps}
spec:
  kubernetesSDConfigs:
  - role: Pod
    apiServer: https://k8s
    basicAuth: {username: {name: creds, key: user}, password: {name: creds, key: sd-basic}}
  httpSDConfigs:
  - url: http://sd/targets
    authorization: {credentials: {name: creds, key: sd-authz}}
""")


def generated(text: str) -> dict[str, Any]:
    result = generate_from_documents(list(yaml.safe_load_all(text)), GeneratorOptions())
    assert result.errors == ()
    return {c["job_name"]: c for c in result.scrape_configs}


def test_the_generators_inlined_secrets_are_all_redacted() -> None:
    jobs = generated(MONITORS_YAML)
    body = render_scrape_configs(jobs)
    for secret in MONITOR_SECRETS:
        assert secret.encode() in body.full, secret
        assert secret.encode() not in body.redacted, secret
    assert body.redacted.count(SECRET_TOKEN.encode()) == len(MONITOR_SECRETS)
    assert b"client-id" in body.redacted  # not secrets
    assert json.dumps(PEMS["$CERT"])[1:-1].encode() in body.redacted


# --------------------------------------------------------------------------------------------- bytes and ETags


def test_no_jobs_is_an_empty_object() -> None:
    body = render_scrape_configs({})
    assert body.redacted == body.full == EMPTY_BODY == b"{}"
    assert body.redacted_etag == body.full_etag == etag(b"{}")


def test_bodies_are_compact_sorted_json_without_a_newline() -> None:
    body = render_scrape_configs(secret_jobs())
    for data in (body.redacted, body.full):
        assert not data.endswith(b"\n")
        assert b"\n" not in data
        parsed = json.loads(data)
        assert data == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_the_body_is_the_sorted_map_dumped_at_once() -> None:
    jobs = {name: {"job_name": name} for name in ("b", "a", "Z", "é", "\U0001f600", "a/b", "a b")}
    expected = {name: prepare_scrape_config(name, raw) for name, raw in jobs.items()}
    assert render_scrape_configs(jobs).full == orjson.dumps(expected, option=orjson.OPT_SORT_KEYS)


def test_the_order_of_jobs_and_keys_does_not_matter() -> None:
    jobs = secret_jobs()
    shuffled = {job: dict(reversed(list(jobs[job].items()))) for job in reversed(list(jobs))}
    assert render_scrape_configs(jobs) == render_scrape_configs(shuffled)


def test_etags_follow_the_content() -> None:
    jobs = secret_jobs()
    body = render_scrape_configs(jobs)
    assert body.redacted_etag == etag(body.redacted)
    assert body.full_etag == etag(body.full)
    assert body.redacted_etag[0] == body.redacted_etag[-1] == '"'
    assert body.redacted_etag != body.full_etag

    changed_secret = copy.deepcopy(jobs)
    changed_secret["bearer"]["bearer_token"] = "pw-rotated"
    rotated = render_scrape_configs(changed_secret)
    assert rotated.full_etag != body.full_etag
    assert rotated.redacted == body.redacted  # nothing visible changed
    assert rotated.redacted_etag == body.redacted_etag

    changed_interval = copy.deepcopy(jobs)
    changed_interval["authz"]["scrape_interval"] = "15s"
    assert render_scrape_configs(changed_interval).redacted_etag != body.redacted_etag
    assert render_scrape_configs(jobs, GlobalDefaults(scrape_interval=30_000)).full_etag != body.full_etag


def test_some_jobs_can_have_their_own_global_defaults() -> None:
    jobs = {"file": {"job_name": "file"}, "cr": {"job_name": "cr"}}
    cr = GlobalDefaults(scrape_interval=30_000, scrape_timeout=10_000)
    served = json.loads(render_scrape_configs(jobs, GlobalDefaults(), job_defaults={"cr": cr}).full)
    assert (served["file"]["scrape_interval"], served["cr"]["scrape_interval"]) == ("1m", "30s")


def test_select_picks_the_body_for_the_request() -> None:
    body = render_scrape_configs(secret_jobs())
    assert body.select(with_secrets=True) == (body.full, body.full_etag)
    assert body.select(with_secrets=False) == (body.redacted, body.redacted_etag)


# --------------------------------------------------------------------------------------------- the guide's example


def guide_jobs() -> dict[str, Any]:
    return generated(GUIDE_YAML.read_text())


def test_the_troubleshooting_guide_renders_its_three_jobs() -> None:
    body = render_scrape_configs(guide_jobs())
    assert body.redacted == body.full  # no credentials in the guide
    served = json.loads(body.full)
    assert list(served) == [f"serviceMonitor/opentelemetry/sm-example/{i}" for i in range(3)]
    first = served["serviceMonitor/opentelemetry/sm-example/0"]
    assert {k: first[k] for k in JOB_DEFAULTS} == {**JOB_DEFAULTS, "scrape_interval": "1m", "scrape_timeout": "10s"}
    assert served["serviceMonitor/opentelemetry/sm-example/1"]["scrape_interval"] == "15s"
    assert first["kubernetes_sd_configs"] == [
        {
            "enable_http2": True,
            "follow_redirects": True,
            "namespaces": {"names": ["opentelemetry"]},
            "role": "endpointslice",
        }
    ]
    # The rules upstream serves for the same ServiceMonitor (target-allocator.md §1.3), field for field.
    assert first["relabel_configs"][0] == {
        **RULE_DEFAULTS,
        "source_labels": ["job"],
        "target_label": "__tmp_prometheus_job_name",
    }
    assert first["relabel_configs"][1] == {
        **RULE_DEFAULTS,
        "action": "keep",
        "regex": "(my-app);true",
        "source_labels": ["__meta_kubernetes_service_label_app", "__meta_kubernetes_service_labelpresent_app"],
    }
    assert first["relabel_configs"][-1]["regex"] == "$(SHARD);|.+;.+"
    for rule in first["relabel_configs"]:
        assert set(RULE_DEFAULTS) <= set(rule)


# --------------------------------------------------------------------------------------------- the promtool oracle

# Keys of the secret jobs' input (never ones we add) that an older promtool does not know, at any depth, with the
# release that added them. The guide helper strips the job-level ones (enable_compression among them), inline TLS
# and Kubernetes SD for an older or Debian promtool; anything else it rejects fails the test.
NESTED_NEWER_KEYS = {
    "proxy_connect_header": (2, 43),
    "no_proxy": (2, 43),
    "proxy_from_environment": (2, 43),
    "http_headers": (3, 0),
    "client_certificate_key": (3, 8),
}
# Job-level keys we add (Prometheus v3's Validate defaults) that the guide helper's list does not strip for an older
# promtool; Prometheus 3.12 (upstream allocator v0.158's) has it, 2.x does not.
JOB_NEWER_KEYS = {"extra_scrape_metrics": (3, 0)}
NO_CONSUL_SD = ("consul_sd_configs",)  # Debian's build leaves Consul out, as it does Kubernetes


def strip_newer(value: Any, version: tuple[int, int]) -> Any:
    if isinstance(value, dict):
        return {
            k: strip_newer(v, version)
            for k, v in value.items()
            if not (k in NESTED_NEWER_KEYS and version < NESTED_NEWER_KEYS[k])
        }
    if isinstance(value, list):
        return [strip_newer(v, version) for v in value]
    return value


def promtool_jobs(version: tuple[int, int], kubernetes_sd: bool, *, redacted: bool) -> list[dict[str, Any]]:
    """A body's configs for promtool: the secret jobs, every relabel action, the troubleshooting guide and every
    golden case of the monitor generator."""
    jobs = {**secret_jobs(), **relabel_job(), **guide_jobs()}
    for number, case in enumerate(guide.ALL_CASES):
        for config in guide.run(case).scrape_configs:
            if version < (3, 0) and guide._needs_utf8_names(config):
                continue  # Prometheus 2 refuses UTF-8 target labels; the guide's own promtool test skips them too
            name = f"{config['job_name']}/case{number}"
            jobs[name] = {**config, "job_name": name}
    body = render_scrape_configs(jobs)
    served = json.loads(body.redacted if redacted else body.full)
    out = []
    for config in served.values():
        for key in NO_CONSUL_SD:
            config.pop(key, None)
        out.append(for_promtool(strip_newer(config, version), version, kubernetes_sd))
    return out


def for_promtool(config: dict[str, Any], version: tuple[int, int], kubernetes_sd: bool) -> dict[str, Any]:
    out = guide._for_promtool(config, version, kubernetes_sd)
    for key, since in JOB_NEWER_KEYS.items():
        if version < since:
            out.pop(key, None)
    return out


def promtool_check(promtool: str, configs: list[dict[str, Any]], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "prometheus.yml"
    document = {"global": {"scrape_interval": "1m", "scrape_timeout": "10s"}, "scrape_configs": configs}
    path.write_text(json.dumps(document))  # JSON is YAML: the body's own bytes, as the collector reads them
    return subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(path)], check=False, capture_output=True, text=True
    )


@pytest.mark.parametrize("redacted", [False, True], ids=["full", "redacted"])
def test_promtool_accepts_what_we_serve(tmp_path: Path, redacted: bool) -> None:
    promtool = debian_tool("promtool", "prometheus")
    version = guide._promtool_version(promtool)
    configs = promtool_jobs(version, guide._has_kubernetes_sd(promtool, tmp_path), redacted=redacted)
    assert len(configs) >= 60
    checked = promtool_check(promtool, configs, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("name", "spoil"),
    [
        ("a keepequal rule with the default regex (prometheus#12534)", {"regex": "(.*)"}),
        ("an unknown relabel action", {"action": "keepalmost"}),
    ],
)
def test_promtool_refuses_a_spoilt_body(tmp_path: Path, name: str, spoil: dict[str, str]) -> None:
    """The oracle has teeth: the same body with one rule spoilt fails."""
    promtool = debian_tool("promtool", "prometheus")
    raw = {"job_name": "j", "relabel_configs": [{"action": "keepequal", "source_labels": ["a"], "target_label": "b"}]}
    config = json.loads(render_scrape_configs({"j": raw}).full)["j"]
    version = guide._promtool_version(promtool)
    assert promtool_check(promtool, [for_promtool(config, version, False)], tmp_path).returncode == 0
    config["relabel_configs"][0].update(spoil)
    checked = promtool_check(promtool, [for_promtool(config, version, False)], tmp_path)
    assert checked.returncode != 0, name
