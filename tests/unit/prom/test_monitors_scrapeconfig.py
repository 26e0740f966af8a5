"""ScrapeConfig (v1alpha1) → scrape_config golden cases, from prometheus-operator's behaviour."""

from __future__ import annotations

import pytest
import yaml

from otel_operator.prom.monitors.generate import generate_from_documents
from otel_operator.prom.monitors.options import GeneratorOptions
from tests.unit.prom.test_monitors_servicemonitor import JOB_RULE, SECRETS, Case, check, sharding


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
  - role: endpointslice
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
        """\
- job_name: scrapeConfig/default/test
  http_sd_configs:
  - basic_auth: {username: admin, password: s3cr3t}
    tls_config: {ca: CA}
    proxy_url: http://proxy:3128
    url: https://sd.example/targets
    refresh_interval: 30s
    enable_http2: false
  dns_sd_configs:
  - {names: [_metrics._tcp.example], refresh_interval: 1m, type: SRV}
  - {names: [db.example], type: A, port: 9187}
  relabel_configs:
"""
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
