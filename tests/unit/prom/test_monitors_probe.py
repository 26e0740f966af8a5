"""Probe → scrape_config golden cases (static targets and the ingress role), from prometheus-operator's behaviour."""

from __future__ import annotations

import pytest
import yaml

from otel_operator.prom.monitors.generate import generate_from_documents
from otel_operator.prom.monitors.options import GeneratorOptions
from tests.unit.prom.test_monitors_servicemonitor import JOB_RULE, SECRETS, Case, check, pem, sharding


def probe(spec: str, name: str = "test", namespace: str = "default") -> str:
    return f"""---
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{spec}
"""


STATIC_RULES = """\
  - {source_labels: [__address__], target_label: __param_target}
  - {source_labels: [__param_target], target_label: instance}
  - {target_label: __address__, replacement: 'blackbox:9115'}
"""

CASES: list[Case] = [
    Case(
        "static targets: module first in params, namespace label defaulted, shard hash over __param_target",
        probe(
            """\
  jobName: http-get
  interval: 60s
  module: http_2xx
  params: [{name: module, values: [ignored]}, {name: debug, values: ['true']}]
  prober: {url: 'blackbox:9115', scheme: HTTP}
  targets:
    staticConfig:
      static: [https://example.com, https://example.org]
      labels: {env: prod}"""
        ),
        """\
- job_name: probe/default/test
  honor_timestamps: true
  metrics_path: /probe
  scrape_interval: 60s
  scheme: http
  params:
    module: [http_2xx]
    debug: ['true']
  static_configs:
  - targets: [https://example.com, https://example.org]
    labels: {env: prod, namespace: default}
  relabel_configs:
"""
        + JOB_RULE
        + "  - {target_label: job, replacement: http-get}\n"
        + STATIC_RULES
        + sharding("__param_target"),
    ),
    Case(
        "static targets with the prober's path and the user's relabelings after the prober rules",
        probe(
            """\
  prober: {url: 'blackbox:9115', path: /custom}
  targets:
    staticConfig:
      static: [example.com]
      labels: {namespace: elsewhere}
      relabelingConfigs: [{sourceLabels: [instance], targetLabel: site, action: replace}]
  metricRelabelings: [{action: labeldrop, regex: probe_ip_.*}]"""
        ),
        """\
- job_name: probe/default/test
  honor_timestamps: true
  metrics_path: /custom
  static_configs:
  - {targets: [example.com], labels: {namespace: elsewhere}}
  relabel_configs:
"""
        + JOB_RULE
        + STATIC_RULES
        + "  - {source_labels: [instance], target_label: site, action: replace}\n"
        + sharding("__param_target")
        + """\
  metric_relabel_configs:
  - {regex: probe_ip_.*, action: labeldrop}
""",
    ),
    Case(
        "ingress targets: selector rules, then the URL/namespace/ingress/address rules, role ingress SD",
        probe(
            """\
  prober: {url: 'blackbox:9115'}
  targets:
    ingress:
      selector:
        matchLabels: {probe: 'yes'}
        matchExpressions: [{key: tier, operator: NotIn, values: [internal]}]
      namespaceSelector: {matchNames: [web]}"""
        ),
        """\
- job_name: probe/default/test
  honor_timestamps: true
  metrics_path: /probe
  kubernetes_sd_configs:
  - {role: ingress, namespaces: {names: [web]}}
  relabel_configs:
"""
        + JOB_RULE
        + """\
  - action: keep
    source_labels: [__meta_kubernetes_ingress_label_probe, __meta_kubernetes_ingress_labelpresent_probe]
    regex: (yes);true
  - action: drop
    source_labels: [__meta_kubernetes_ingress_label_tier, __meta_kubernetes_ingress_labelpresent_tier]
    regex: (internal);true
  - source_labels: [__meta_kubernetes_ingress_scheme, __address__, __meta_kubernetes_ingress_path]
    separator: ;
    regex: (.+);(.+);(.+)
    target_label: __param_target
    replacement: ${1}://${2}${3}
    action: replace
  - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
  - {source_labels: [__meta_kubernetes_ingress_name], target_label: ingress}
  - source_labels: [__address__]
    separator: ;
    regex: (.*)
    target_label: __tmp_ingress_address
    replacement: $1
    action: replace
  - {source_labels: [__param_target], target_label: instance}
  - {target_label: __address__, replacement: 'blackbox:9115'}
"""
        + sharding("__param_target"),
    ),
    Case(
        "staticConfig wins when ingress is set too",
        probe(
            """\
  prober: {url: 'blackbox:9115'}
  targets:
    staticConfig: {static: [a.example]}
    ingress: {selector: {}}"""
        ),
        """\
- job_name: probe/default/test
  honor_timestamps: true
  metrics_path: /probe
  static_configs:
  - {targets: [a.example], labels: {namespace: default}}
  relabel_configs:
"""
        + JOB_RULE
        + STATIC_RULES
        + sharding("__param_target"),
    ),
    Case(
        "limits and proxy before the targets; TLS and credentials after relabel_configs",
        SECRETS
        + probe(
            """\
  prober: {url: 'blackbox:9115', proxyUrl: 'http://proxy:3128'}
  sampleLimit: 100
  targets: {staticConfig: {static: [a.example]}}
  tlsConfig: {ca: {configMap: {name: ca, key: ca.crt}}}
  basicAuth: {username: {name: creds, key: user}, password: {name: creds, key: pass}}"""
        ),
        """\
- job_name: probe/default/test
  honor_timestamps: true
  metrics_path: /probe
  sample_limit: 100
  proxy_url: http://proxy:3128
  static_configs:
  - {targets: [a.example], labels: {namespace: default}}
  relabel_configs:
"""
        + JOB_RULE
        + STATIC_RULES
        + sharding("__param_target")
        + pem("""\
  tls_config: {ca: $CA}
  basic_auth: {username: admin, password: s3cr3t}
"""),
    ),
    Case(
        "a probe's bearer token and authorization are written after tls_config",
        SECRETS
        + probe(
            """\
  prober: {url: blackbox}
  targets: {staticConfig: {static: [a.example]}}
  bearerTokenSecret: {name: creds, key: token}""",
            name="bearer",
        )
        + probe(
            """\
  prober: {url: blackbox}
  targets: {staticConfig: {static: [a.example]}}
  tlsConfig: {serverName: x}
  authorization: {credentials: {name: creds, key: token}}""",
            name="authz",
        ),
        """\
- job_name: probe/default/authz
  honor_timestamps: true
  metrics_path: /probe
  static_configs:
  - {targets: [a.example], labels: {namespace: default}}
  relabel_configs:
"""
        + JOB_RULE
        + STATIC_RULES.replace("'blackbox:9115'", "blackbox")
        + sharding("__param_target")
        + """\
  tls_config: {server_name: x}
  authorization: {type: Bearer, credentials: token}
- job_name: probe/default/bearer
  honor_timestamps: true
  metrics_path: /probe
  static_configs:
  - {targets: [a.example], labels: {namespace: default}}
  relabel_configs:
"""
        + JOB_RULE
        + STATIC_RULES.replace("'blackbox:9115'", "blackbox")
        + sharding("__param_target")
        + """\
  bearer_token: token
""",
    ),
    Case(
        "overrideHonorTimestamps turns the probe's honor_timestamps off",
        probe("  prober: {url: 'blackbox:9115'}\n  targets: {staticConfig: {static: [a.example]}}"),
        """\
- job_name: probe/default/test
  honor_timestamps: false
  metrics_path: /probe
  static_configs:
  - {targets: [a.example], labels: {namespace: default}}
  relabel_configs:
"""
        + JOB_RULE
        + STATIC_RULES
        + sharding("__param_target"),
        GeneratorOptions(override_honor_timestamps=True),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case) -> None:
    check(case)


BAD: list[tuple[str, str, str, str]] = [
    ("no targets", "  prober: {url: 'blackbox:9115'}", "spec.targets", "set staticConfig or ingress"),
    (
        "a prober URL with a scheme",
        "  prober: {url: 'http://blackbox:9115'}\n  targets: {staticConfig: {static: [a]}}",
        "spec.prober.url",
        "use host or host:port",
    ),
    (
        "a prober URL with a bad port",
        "  prober: {url: 'blackbox:99999'}\n  targets: {staticConfig: {static: [a]}}",
        "spec.prober.url",
        'invalid port "99999"',
    ),
    (
        "a missing Secret",
        "  prober: {url: blackbox}\n  targets: {staticConfig: {static: [a]}}\n"
        "  bearerTokenSecret: {name: gone, key: t}",
        "spec.bearerTokenSecret.name",
        'Secret "default/gone" not found',
    ),
    (
        "an invalid static relabeling",
        "  prober: {url: blackbox}\n"
        "  targets: {staticConfig: {static: [a], relabelingConfigs: [{action: keepequal, regex: x}]}}",
        "spec.targets.staticConfig.relabelingConfigs[0].targetLabel",
        "relabel configuration for keepequal action requires targetLabel value; set targetLabel",
    ),
    (
        "an ingress relabeling hashing without a modulus",
        "  prober: {url: blackbox}\n  targets: {ingress: {selector: {}, relabelingConfigs: "
        "[{sourceLabels: [__param_target], targetLabel: shard, action: hashmod}]}}",
        "spec.targets.ingress.relabelingConfigs[0].modulus",
        "requires non-zero modulus; set modulus",
    ),
    (
        "a metric relabeling with \\Z",
        "  prober: {url: blackbox}\n  targets: {staticConfig: {static: [a]}}\n"
        "  metricRelabelings: [{sourceLabels: [__name__], regex: 'probe_.*\\Z', action: drop}]",
        "spec.metricRelabelings[0].regex",
        "invalid escape sequence: `\\Z`",
    ),
]


@pytest.mark.parametrize(("name", "spec", "path", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_probe_is_rejected_naming_the_field(name: str, spec: str, path: str, message: str) -> None:
    good = probe("  prober: {url: blackbox}\n  targets: {staticConfig: {static: [a]}}", name="good")
    result = generate_from_documents(list(yaml.safe_load_all(SECRETS + probe(spec) + good)), GeneratorOptions())
    assert [(e.obj, e.field) for e in result.errors] == [("Probe default/test", path)]
    assert message in result.errors[0].message
    assert result.job_names == ("probe/default/good",)
