"""PodMonitor → scrape_config golden cases (role pod), from prometheus-operator's behaviour."""

from __future__ import annotations

import pytest
import yaml

from otel_operator.prom.monitors.generate import generate_from_documents
from otel_operator.prom.monitors.options import GeneratorOptions
from tests.unit.prom.test_monitors_servicemonitor import JOB_RULE, PHASE_DROP, SECRETS, Case, check, pem, sharding


def pm(spec: str, name: str = "test", namespace: str = "default") -> str:
    return f"""---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{spec}
"""


def head(name: str = "test", namespace: str = "default", index: int = 0) -> str:
    return f"""\
- job_name: podMonitor/{namespace}/{name}/{index}
  honor_labels: false
  kubernetes_sd_configs:
  - {{role: pod, namespaces: {{names: [{namespace}]}}}}
"""


POD_LABELS = """\
  - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
  - {source_labels: [__meta_kubernetes_pod_container_name], target_label: container}
  - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
"""
WEB_PORT = "  - {action: keep, source_labels: [__meta_kubernetes_pod_container_port_name], regex: web}\n"
WEB_ENDPOINT = "  - {target_label: endpoint, replacement: web}\n"


def job(namespace: str = "default", name: str = "test") -> str:
    return f"  - {{target_label: job, replacement: {namespace}/{name}}}\n"


def chain(port_rule: str = WEB_PORT, endpoint_rule: str = WEB_ENDPOINT, selector_rules: str = "") -> str:
    return (
        "  relabel_configs:\n"
        + JOB_RULE
        + PHASE_DROP
        + selector_rules
        + port_rule
        + POD_LABELS
        + job()
        + endpoint_rule
        + sharding()
    )


CASES: list[Case] = [
    Case(
        "prometheus-operator's enforced-namespace golden: phase drop first, literal job, ns rule after user rules",
        pm(
            """\
  selector: {}
  podTargetLabels: [example, env]
  podMetricsEndpoints:
  - port: web
    interval: 30s
    relabelings:
    - {action: replace, regex: (.*), replacement: $1, sourceLabels: [__meta_kubernetes_pod_ready],
       targetLabel: pod_ready}
    metricRelabelings:
    - {action: drop, regex: my-job-pod-.+, sourceLabels: [pod_name], targetLabel: my-ns}""",
            name="testpodmonitor1",
            namespace="pod-monitor-ns",
        ),
        """\
- job_name: podMonitor/pod-monitor-ns/testpodmonitor1/0
  honor_labels: false
  kubernetes_sd_configs:
  - role: pod
    namespaces:
      names:
      - pod-monitor-ns
  scrape_interval: 30s
  relabel_configs:
  - source_labels:
    - job
    target_label: __tmp_prometheus_job_name
  - action: drop
    source_labels:
    - __meta_kubernetes_pod_phase
    regex: (Failed|Succeeded)
  - action: keep
    source_labels:
    - __meta_kubernetes_pod_container_port_name
    regex: web
  - source_labels:
    - __meta_kubernetes_namespace
    target_label: namespace
  - source_labels:
    - __meta_kubernetes_pod_container_name
    target_label: container
  - source_labels:
    - __meta_kubernetes_pod_name
    target_label: pod
  - source_labels:
    - __meta_kubernetes_pod_label_example
    target_label: example
    regex: (.+)
    replacement: ${1}
  - source_labels:
    - __meta_kubernetes_pod_label_env
    target_label: env
    regex: (.+)
    replacement: ${1}
  - target_label: job
    replacement: pod-monitor-ns/testpodmonitor1
  - target_label: endpoint
    replacement: web
  - source_labels:
    - __meta_kubernetes_pod_ready
    target_label: pod_ready
    regex: (.*)
    replacement: $1
    action: replace
  - target_label: ns-key
    replacement: pod-monitor-ns
  - source_labels:
    - __address__
    - __tmp_hash
    target_label: __tmp_hash
    regex: (.+);
    replacement: $1
    action: replace
  - source_labels:
    - __tmp_hash
    target_label: __tmp_hash
    modulus: 1
    action: hashmod
  - source_labels:
    - __tmp_hash
    - __tmp_disable_sharding
    regex: $(SHARD);|.+;.+
    action: keep
  metric_relabel_configs:
  - source_labels:
    - pod_name
    target_label: my-ns
    regex: my-job-pod-.+
    action: drop
  - target_label: ns-key
    replacement: pod-monitor-ns
""",
        GeneratorOptions(enforced_namespace_label="ns-key"),
    ),
    Case(
        "the selector acts on pod labels after the phase drop; the default scrape class's TLS files follow",
        pm("  selector: {matchLabels: {group: group1}}\n  podMetricsEndpoints: [{port: web}]"),
        head()
        + "  tls_config: {ca_file: /etc/ca.crt, cert_file: /etc/tls.crt, key_file: /etc/tls.key}\n"
        + chain(
            selector_rules="""\
  - action: keep
    source_labels: [__meta_kubernetes_pod_label_group, __meta_kubernetes_pod_labelpresent_group]
    regex: (group1);true
"""
        ),
        GeneratorOptions(
            scrape_classes=(
                {
                    "name": "default",
                    "default": True,
                    "tlsConfig": {"caFile": "/etc/ca.crt", "certFile": "/etc/tls.crt", "keyFile": "/etc/tls.key"},
                },
            )
        ),
    ),
    Case(
        "portNumber filters on the number (an int regex); the endpoint label comes from targetPort only",
        pm("  selector: {}\n  podMetricsEndpoints: [{portNumber: 1024, targetPort: 10240}]"),
        head()
        + chain(
            port_rule="  - {action: keep, source_labels: [__meta_kubernetes_pod_container_port_number], regex: 1024}\n",
            endpoint_rule="  - {target_label: endpoint, replacement: '10240'}\n",
        ),
    ),
    Case(
        "portNumber alone gives no endpoint label",
        pm("  selector: {}\n  podMetricsEndpoints: [{portNumber: 8080}]"),
        head()
        + chain(
            port_rule="  - {action: keep, source_labels: [__meta_kubernetes_pod_container_port_number], regex: 8080}\n",
            endpoint_rule="",
        ),
    ),
    Case(
        "the deprecated targetPort name filters on the container port name and labels the endpoint",
        pm("  selector: {}\n  podMetricsEndpoints: [{targetPort: metrics}]"),
        head()
        + chain(
            port_rule="  - {action: keep, source_labels: [__meta_kubernetes_pod_container_port_name], "
            "regex: metrics}\n",
            endpoint_rule="  - {target_label: endpoint, replacement: metrics}\n",
        ),
    ),
    Case(
        "filterRunning false, jobLabel after the literal job, podTargetLabels then the Prometheus-level ones",
        pm(
            """\
  selector: {}
  jobLabel: app
  podTargetLabels: [team.io/name]
  podMetricsEndpoints: [{port: web, filterRunning: false}]"""
        ),
        head()
        + "  relabel_configs:\n"
        + JOB_RULE
        + WEB_PORT
        + POD_LABELS
        + """\
  - {source_labels: [__meta_kubernetes_pod_label_team_io_name], target_label: team_io_name, regex: (.+),
     replacement: '${1}'}
  - {source_labels: [__meta_kubernetes_pod_label_zone], target_label: zone, regex: (.+), replacement: '${1}'}
"""
        + job()
        + "  - {source_labels: [__meta_kubernetes_pod_label_app], target_label: job, regex: (.+), "
        "replacement: '${1}'}\n" + WEB_ENDPOINT + sharding(),
        GeneratorOptions(pod_target_labels=("zone",)),
    ),
    Case(
        "credentials in PodMonitor order: tls_config, then bearer_token/basic_auth/oauth2, proxy, authorization",
        SECRETS
        + pm(
            """\
  selector: {}
  podMetricsEndpoints:
  - port: web
    scheme: https
    path: /metrics
    params: {'collect[]': [cpu]}
    followRedirects: true
    enableHttp2: false
    tlsConfig: {ca: {secret: {name: creds, key: tls.crt}}, insecureSkipVerify: true}
    bearerTokenSecret: {name: creds, key: token}
  - port: web
    basicAuth: {username: {name: creds, key: user}, password: {name: creds, key: pass}}
    proxyUrl: http://proxy:3128
  - port: web
    oauth2:
      clientId: {configMap: {name: ca, key: ca.crt}}
      clientSecret: {name: creds, key: client-secret}
      tokenUrl: https://auth/token
      tlsConfig: {serverName: auth}
    proxyUrl: http://proxy:3128
  - port: web
    proxyUrl: http://proxy:3128
    proxyConnectHeader:
      X-Token: [{name: creds, key: token}]
    authorization: {type: Custom, credentials: {name: creds, key: pass}}"""
        ),
        head()
        + pem("""\
  metrics_path: /metrics
  params:
    collect[]: [cpu]
  scheme: https
  follow_redirects: true
  enable_http2: false
  tls_config: {insecure_skip_verify: true, ca: $CERT}
  bearer_token: token
""")
        + chain()
        + head(index=1)
        + """\
  basic_auth: {username: admin, password: s3cr3t}
  proxy_url: http://proxy:3128
"""
        + chain()
        + head(index=2)
        + pem("""\
  oauth2:
    client_id: $CA
    client_secret: client-secret
    token_url: https://auth/token
    tls_config: {server_name: auth}
  proxy_url: http://proxy:3128
""")
        + chain()
        + head(index=3)
        + """\
  proxy_url: http://proxy:3128
  proxy_connect_header:
    X-Token: [token]
  authorization: {type: Custom, credentials: s3cr3t}
"""
        + chain(),
    ),
    Case(
        "an empty tlsConfig on a PodMonitor counts as none",
        pm("  selector: {}\n  podMetricsEndpoints: [{port: web, tlsConfig: {}}]"),
        head() + chain(),
    ),
    Case(
        "RoleSelector adds a pod-role SD selector and no selector rules",
        pm(
            """\
  selectorMechanism: RoleSelector
  selector: {matchLabels: {app: a}, matchExpressions: [{key: tier, operator: Exists}]}
  podMetricsEndpoints: [{port: web}]"""
        ),
        """\
- job_name: podMonitor/default/test/0
  honor_labels: false
  kubernetes_sd_configs:
  - role: pod
    namespaces: {names: [default]}
    selectors:
    - {role: pod, label: 'app=a,tier'}
"""
        + chain(),
    ),
    Case(
        "attachMetadata from the monitor, and limits and protocols after the relabelings",
        pm(
            """\
  selector: {}
  attachMetadata: {node: false}
  labelLimit: 20
  scrapeProtocols: [PrometheusText1.0.0]
  fallbackScrapeProtocol: OpenMetricsText1.0.0
  podMetricsEndpoints: [{port: web, honorTimestamps: true}]"""
        ),
        """\
- job_name: podMonitor/default/test/0
  honor_labels: false
  honor_timestamps: true
  kubernetes_sd_configs:
  - {role: pod, namespaces: {names: [default]}, attach_metadata: {node: false}}
"""
        + chain()
        + """\
  label_limit: 20
  scrape_protocols: [PrometheusText1.0.0]
  fallback_scrape_protocol: OpenMetricsText1.0.0
""",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case) -> None:
    check(case)


BAD: list[tuple[str, str, str, str]] = [
    (
        "a numeric port is not a port name",
        "  selector: {}\n  podMetricsEndpoints: [{port: 8080}]",
        "spec.podMetricsEndpoints[0].port",
        "use portNumber for a number",
    ),
    (
        "a portNumber that is text",
        "  selector: {}\n  podMetricsEndpoints: [{portNumber: web}]",
        "spec.podMetricsEndpoints[0].portNumber",
        "expected integer",
    ),
    (
        "a missing Secret key",
        "  selector: {}\n  podMetricsEndpoints: [{port: web, bearerTokenSecret: {name: creds, key: nope}}]",
        "spec.podMetricsEndpoints[0].bearerTokenSecret.key",
        'Secret "default/creds" has no key "nope"',
    ),
    (
        "an empty authorization, which prometheus-operator rejects for want of credentials",
        "  selector: {}\n  podMetricsEndpoints: [{port: web, authorization: {}}]",
        "spec.podMetricsEndpoints[0].authorization.credentials",
        "required field is missing",
    ),
    (
        "an OAuth2 CA that is not a PEM certificate",
        "  selector: {}\n  podMetricsEndpoints: [{port: web, oauth2: {clientId: {secret: {name: creds, key: user}}, "
        "clientSecret: {name: creds, key: pass}, tokenUrl: 'https://t', tlsConfig: {ca: {secret: {name: creds, "
        "key: token}}}}}]",
        "spec.podMetricsEndpoints[0].oauth2.tlsConfig.ca",
        "failed to decode PEM block",
    ),
    (
        "an invalid selector operator",
        "  selector: {matchExpressions: [{key: a, operator: in, values: [b]}]}\n  podMetricsEndpoints: [{port: web}]",
        "spec.selector.matchExpressions[0].operator",
        "not a valid label selector operator",
    ),
    (
        "a bad metric relabeling regex",
        "  selector: {}\n  podMetricsEndpoints: [{port: web, metricRelabelings: [{action: drop, regex: 'a[b'}]}]",
        "spec.podMetricsEndpoints[0].metricRelabelings[0].regex",
        '"a[b" is not a valid Go regular expression',
    ),
    (
        "a lookahead in the second relabeling, which Python's re would take but Go's RE2 refuses",
        "  selector: {}\n  podMetricsEndpoints: [{port: web, relabelings: "
        "[{targetLabel: team, replacement: a}, {sourceLabels: [team], regex: 'a(?!b)', action: keep}]}]",
        "spec.podMetricsEndpoints[0].relabelings[1].regex",
        "invalid or unsupported Perl syntax: `(?!`",
    ),
]


@pytest.mark.parametrize(("name", "spec", "path", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_podmonitor_is_rejected_naming_the_field(name: str, spec: str, path: str, message: str) -> None:
    good = pm("  selector: {}\n  podMetricsEndpoints: [{port: web}]", name="good")
    result = generate_from_documents(list(yaml.safe_load_all(SECRETS + pm(spec) + good)), GeneratorOptions())
    assert [(e.obj, e.field) for e in result.errors] == [("PodMonitor default/test", path)]
    assert message in result.errors[0].message
    assert result.job_names == ("podMonitor/default/good/0",)
