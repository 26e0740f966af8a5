"""ScrapeConfig (v1alpha1) → scrape_config golden cases, from prometheus-operator's behaviour."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from otel_operator.prom.monitors.generate import generate_from_documents, generate_scrape_configs
from otel_operator.prom.monitors.options import GeneratorOptions
from tests.unit.prom.test_monitors_servicemonitor import COPY_RULE, JOB_RULE, SECRETS, Case, check, pem, sharding


def scfg(spec: str, name: str = "test", namespace: str = "default") -> str:
    return f"""---
apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{spec}
"""


CASES: list[Case] = [
    Case(
        "static targets: the job-name rule, spec.jobName as a replace, no shard block with one shard",
        scfg(
            """\
  jobName: node
  staticConfigs:
  - targets: ['10.0.0.1:9100', '10.0.0.2:9100']
    labels: {rack: r1, env: prod}
  - targets: ['10.0.0.3:9100']"""
        ),
        """\
- job_name: scrapeConfig/default/test
  static_configs:
  - targets: ['10.0.0.1:9100', '10.0.0.2:9100']
    labels: {env: prod, rack: r1}
  - targets: ['10.0.0.3:9100']
    labels: {}
  relabel_configs:
"""
        + JOB_RULE
        + "  - {target_label: job, action: replace, replacement: node}\n",
    ),
    Case(
        "scrape settings in prometheus-operator's order, before the service discovery blocks",
        SECRETS
        + scfg(
            """\
  honorTimestamps: false
  trackTimestampsStaleness: true
  honorLabels: true
  metricsPath: /federate
  params: {'match[]': ['{job="x"}']}
  enableCompression: false
  enableHTTP2: true
  scrapeInterval: 1m
  scrapeTimeout: 10s
  scrapeProtocols: [OpenMetricsText1.0.0]
  fallbackScrapeProtocol: PrometheusText0.0.4
  scheme: HTTPS
  proxyUrl: http://proxy:3128
  basicAuth: {username: {name: creds, key: user}, password: {name: creds, key: pass}}
  tlsConfig: {insecureSkipVerify: true}
  sampleLimit: 10
  bodySizeLimit: 1MB
  fileSDConfigs: [{files: [/etc/targets/*.json], refreshInterval: 5m}]
  relabelings: [{sourceLabels: [__address__], targetLabel: host, regex: '(.+):\\d+', replacement: $1}]
  metricRelabelings: [{action: drop, sourceLabels: [__name__], regex: up}]
  nameValidationScheme: Legacy
  nameEscapingScheme: Underscores"""
        ),
        """\
- job_name: scrapeConfig/default/test
  honor_timestamps: false
  track_timestamps_staleness: true
  honor_labels: true
  metrics_path: /federate
  params:
    match[]: ['{job="x"}']
  enable_compression: false
  enable_http2: true
  scrape_interval: 1m
  scrape_timeout: 10s
  scrape_protocols: [OpenMetricsText1.0.0]
  fallback_scrape_protocol: PrometheusText0.0.4
  scheme: https
  proxy_url: http://proxy:3128
  basic_auth: {username: admin, password: s3cr3t}
  tls_config: {insecure_skip_verify: true}
  sample_limit: 10
  body_size_limit: 1MB
  file_sd_configs:
  - {files: [/etc/targets/*.json], refresh_interval: 5m}
  relabel_configs:
"""
        + JOB_RULE
        + """\
  - {source_labels: [__address__], target_label: host, regex: '(.+):\\d+', replacement: $1}
  metric_relabel_configs:
  - {source_labels: [__name__], regex: up, action: drop}
  metric_name_validation_scheme: legacy
  metric_name_escaping_scheme: underscores
""",
    ),
    Case(
        "kubernetes SD: role lower-cased, client settings, TLS, then namespaces, selectors, attach_metadata",
        SECRETS
        + scfg(
            """\
  kubernetesSDConfigs:
  - role: EndpointSlice
    apiServer: https://k8s.example:6443
    authorization: {credentials: {name: creds, key: token}}
    followRedirects: true
    tlsConfig: {serverName: api}
    namespaces: {names: [a, b], ownNamespace: false}
    selectors: [{role: Service, label: 'app=x'}, {role: Pod, field: 'spec.nodeName=n1'}]
    attachMetadata: {node: true}
  - role: Node"""
        ),
        """\
- job_name: scrapeConfig/default/test
  kubernetes_sd_configs:
  - api_server: https://k8s.example:6443
    role: endpointslice
    authorization: {type: Bearer, credentials: token}
    follow_redirects: true
    tls_config: {server_name: api}
    namespaces: {names: [a, b], own_namespace: false}
    selectors:
    - {role: service, label: 'app=x'}
    - {role: pod, field: 'spec.nodeName=n1'}
    attach_metadata: {node: true}
  - role: node
  relabel_configs:
"""
        + JOB_RULE,
    ),
    Case(
        "HTTP SD: credentials, TLS, proxy and OAuth2 come before the URL; DNS SD after Kubernetes",
        SECRETS
        + scfg(
            """\
  httpSDConfigs:
  - url: https://sd.example/targets
    refreshInterval: 30s
    basicAuth: {username: {name: creds, key: user}, password: {name: creds, key: pass}}
    tlsConfig: {ca: {configMap: {name: ca, key: ca.crt}}}
    proxyUrl: http://proxy:3128
    enableHTTP2: false
  dnsSDConfigs:
  - {names: [_metrics._tcp.example], type: SRV, refreshInterval: 1m}
  - {names: [db.example], type: A, port: 9187}"""
        ),
        pem("""\
- job_name: scrapeConfig/default/test
  http_sd_configs:
  - basic_auth: {username: admin, password: s3cr3t}
    tls_config: {ca: $CA}
    proxy_url: http://proxy:3128
    url: https://sd.example/targets
    refresh_interval: 30s
    enable_http2: false
  dns_sd_configs:
  - {names: [_metrics._tcp.example], refresh_interval: 1m, type: SRV}
  - {names: [db.example], type: A, port: 9187}
  relabel_configs:
""")
        + JOB_RULE,
    ),
    Case(
        "more than one shard adds the shard block unless the user already hashes",
        scfg("  staticConfigs: [{targets: [a:1]}]", name="plain")
        + scfg(
            """\
  staticConfigs: [{targets: [a:1]}]
  relabelings: [{sourceLabels: [__address__], targetLabel: __tmp_hash, modulus: 4, action: hashmod}]""",
            name="own-hash",
        ),
        """\
- job_name: scrapeConfig/default/own-hash
  static_configs:
  - {targets: ['a:1'], labels: {}}
  relabel_configs:
"""
        + JOB_RULE
        + """\
  - {source_labels: [__address__], target_label: __tmp_hash, modulus: 4, action: hashmod}
- job_name: scrapeConfig/default/plain
  static_configs:
  - {targets: ['a:1'], labels: {}}
  relabel_configs:
"""
        + JOB_RULE
        + sharding(shards=3),
        GeneratorOptions(shards=3),
    ),
    Case(
        "the scrape class's relabelings come right after the job-name rule, before spec.jobName",
        scfg("  scrapeClass: tagged\n  jobName: j\n  staticConfigs: [{targets: [a:1]}]"),
        """\
- job_name: scrapeConfig/default/test
  static_configs:
  - {targets: ['a:1'], labels: {}}
  relabel_configs:
"""
        + JOB_RULE
        + """\
  - {target_label: cluster, replacement: east}
  - {target_label: job, action: replace, replacement: j}
""",
        GeneratorOptions(
            scrape_classes=({"name": "tagged", "relabelings": [{"targetLabel": "cluster", "replacement": "east"}]},)
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case) -> None:
    check(case)


BAD: list[tuple[str, str, str, str]] = [
    (
        "an SD mechanism the generator does not translate",
        "  consulSDConfigs: [{server: 'consul:8500'}]",
        "spec.consulSDConfigs",
        "not supported by otel-operator yet",
    ),
    (
        "a selector role the SD role does not allow",
        "  kubernetesSDConfigs: [{role: Pod, selectors: [{role: Node, label: a=b}]}]",
        "spec.kubernetesSDConfigs[0].selectors[0].role",
        "the pod role supports only pod selectors",
    ),
    (
        "a Kubernetes SD without a role",
        "  kubernetesSDConfigs: [{namespaces: {names: [a]}}]",
        "spec.kubernetesSDConfigs[0].role",
        "required field is missing",
    ),
    (
        "Kubernetes SD client settings without an API server (Prometheus would refuse every job)",
        "  kubernetesSDConfigs: [{role: Pod, tlsConfig: {insecureSkipVerify: true}}]",
        "spec.kubernetesSDConfigs[0].apiServer",
        "required when HTTP client settings are set (tls_config)",
    ),
    (
        "Kubernetes SD with redirects turned off and no API server",
        "  kubernetesSDConfigs: [{role: Pod, followRedirects: false}]",
        "spec.kubernetesSDConfigs[0].apiServer",
        "(follow_redirects)",
    ),
    (
        "an HTTP SD URL without a scheme",
        "  httpSDConfigs: [{url: sd.example}]",
        "spec.httpSDConfigs[0].url",
        "must be an http:// or https:// URL",
    ),
    (
        "a missing OAuth2 client secret",
        "  oauth2: {clientId: {secret: {name: creds, key: client-id}}, clientSecret: {name: creds, key: x}, tokenUrl: https://t}",
        "spec.oauth2.clientSecret.key",
        'Secret "default/creds" has no key "x"',
    ),
    (
        "an unknown name validation scheme",
        "  nameValidationScheme: ASCII",
        "spec.nameValidationScheme",
        '"ASCII" is not allowed',
    ),
]


@pytest.mark.parametrize(("name", "spec", "path", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_scrapeconfig_is_rejected_naming_the_field(name: str, spec: str, path: str, message: str) -> None:
    good = scfg("  staticConfigs: [{targets: ['a:1']}]", name="good")
    result = generate_from_documents(list(yaml.safe_load_all(SECRETS + scfg(spec) + good)), GeneratorOptions())
    assert [(e.obj, e.field) for e in result.errors] == [("ScrapeConfig default/test", path)]
    assert message in result.errors[0].message
    assert result.job_names == ("scrapeConfig/default/good",)


# --------------------------------------------------------------------------- relabelings under the job's name scheme

# Rules that Prometheus v3 loads in a UTF-8 job (the default) but refuses under `nameValidationScheme: Legacy`:
# (name, the list, the rule, the faulted field, what the message says).
LEGACY_ONLY_BAD: list[tuple[str, str, dict[str, Any], str, str]] = [
    (
        "replace into a dotted label",
        "relabelings",
        {"targetLabel": "service.name", "replacement": "x"},
        "targetLabel",
        '"service.name" is invalid targetLabel for replace action; with nameValidationScheme Legacy a label name is '
        "[a-zA-Z_][a-zA-Z0-9_]*",
    ),
    (
        "a templated target with a dash",
        "relabelings",
        {"sourceLabels": ["a"], "regex": "(.+)", "targetLabel": "x-${1}", "replacement": "y"},
        "targetLabel",
        '"x-${1}" is invalid targetLabel for replace action',
    ),
    (
        "hashmod into a name that starts with a digit",
        "relabelings",
        {"sourceLabels": ["a"], "targetLabel": "1st", "modulus": 2, "action": "hashmod"},
        "targetLabel",
        '"1st" is invalid targetLabel for hashmod action',
    ),
    (
        "labelmap into dashed names",
        "metricRelabelings",
        {"regex": "(.+)", "replacement": "k8s-$1", "action": "labelmap"},
        "replacement",
        '"k8s-$1" is invalid replacement for labelmap action; with nameValidationScheme Legacy',
    ),
]


def _with_rule(key: str, rule: dict[str, Any], scheme: str | None) -> dict[str, Any]:
    monitor: dict[str, Any] = yaml.safe_load(scfg("  staticConfigs: [{targets: ['a:1']}]"))
    monitor["spec"][key] = [rule]
    if scheme is not None:
        monitor["spec"]["nameValidationScheme"] = scheme
    return monitor


@pytest.mark.parametrize(
    ("name", "key", "rule", "field", "message"), LEGACY_ONLY_BAD, ids=[case[0] for case in LEGACY_ONLY_BAD]
)
def test_a_legacy_name_scheme_job_rejects_utf8_label_names_in_its_rules(
    name: str, key: str, rule: dict[str, Any], field: str, message: str
) -> None:
    legacy = generate_scrape_configs([_with_rule(key, rule, "Legacy")], [], GeneratorOptions())
    assert [(e.obj, e.field) for e in legacy.errors] == [("ScrapeConfig default/test", f"spec.{key}[0].{field}")]
    assert message in legacy.errors[0].message
    assert "or set nameValidationScheme: UTF8" in legacy.errors[0].message
    for scheme in (None, "UTF8"):
        accepted = generate_scrape_configs([_with_rule(key, rule, scheme)], [], GeneratorOptions())
        assert accepted.errors == (), scheme
        assert accepted.job_names == ("scrapeConfig/default/test",)


def test_the_scrape_class_rules_are_judged_by_the_jobs_name_scheme() -> None:
    options = GeneratorOptions(
        scrape_classes=({"name": "dotted", "relabelings": [{"targetLabel": "k8s.cluster", "replacement": "east"}]},)
    )
    legacy = _with_rule("relabelings", COPY_RULE, "Legacy")
    legacy["spec"]["scrapeClass"] = "dotted"
    utf8 = _with_rule("relabelings", COPY_RULE, None)
    utf8["metadata"]["name"] = "utf8"
    utf8["spec"]["scrapeClass"] = "dotted"
    result = generate_scrape_configs([legacy, utf8], [], options)
    assert [(e.obj, e.field) for e in result.errors] == [
        ("ScrapeConfig default/test", 'scrapeClasses["dotted"].relabelings[0].targetLabel')
    ]
    assert result.job_names == ("scrapeConfig/default/utf8",)
