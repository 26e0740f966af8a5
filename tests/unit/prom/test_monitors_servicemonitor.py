"""ServiceMonitor → scrape_config, golden cases written from prometheus-operator's behaviour (v0.93, role
endpointslice, inline TLS as the OTel target allocator builds it).

Each case names the behaviour it pins. Expected output is compared as YAML text with key order, so a key in the
wrong place fails as surely as a wrong value. The helpers here (Case, run, the shared Secret) are reused by the
other monitor test modules and by the promtool check in test_monitors_guide.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from otel_operator.admission import certs
from otel_operator.api.validation import FieldError
from otel_operator.prom.monitors.generate import GenerationResult, generate_from_documents, generate_scrape_configs
from otel_operator.prom.monitors.options import GeneratorOptions


@dataclass(frozen=True)
class Case:
    name: str  # the behaviour the case pins
    given: str  # YAML documents: monitors, Secrets, ConfigMaps
    expected: str  # YAML list of the scrape_configs
    options: GeneratorOptions = field(default_factory=GeneratorOptions)

    def docs(self) -> list[Any]:
        return list(yaml.safe_load_all(self.given))


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, width=1000)


def run(case: Case) -> GenerationResult:
    return generate_from_documents(case.docs(), case.options)


def check(case: Case) -> None:
    result = run(case)
    assert result.errors == ()
    assert dump(list(result.scrape_configs)) == dump(yaml.safe_load(case.expected))


def errors_of(given: str, options: GeneratorOptions | None = None) -> tuple[FieldError, ...]:
    return generate_from_documents(list(yaml.safe_load_all(given)), options or GeneratorOptions()).errors


# Real TLS material: prometheus-operator rejects a CA that is not a certificate and a cert/key that do not pair.
_CA = certs.issue_ca(datetime.now(UTC))
_LEAF = certs.issue_leaf(_CA, ["client.example"], datetime.now(UTC))
PEMS = {"$CA": _CA.cert_pem.decode(), "$CERT": _LEAF.cert_pem.decode(), "$KEY": _LEAF.key_pem.decode()}


def pem(text: str) -> str:
    """`text` with $CA, $CERT and $KEY replaced by that PEM text as a YAML scalar."""
    for token, value in PEMS.items():
        text = text.replace(token, json.dumps(value))
    return text


# A Secret and a ConfigMap in "default" that the cases refer to.
SECRETS = pem("""
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: default}
data:
  user: YWRtaW4=        # admin
  pass: czNjcjN0        # s3cr3t
  token: dG9rZW4=       # token
  client-id: Y2xpZW50LWlk
stringData:
  client-secret: client-secret
  tls.key: $KEY
  tls.crt: $CERT
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: default}
data:
  ca.crt: $CA
""")

JOB_RULE = "  - {source_labels: [job], target_label: __tmp_prometheus_job_name}\n"
PHASE_DROP = "  - {action: drop, source_labels: [__meta_kubernetes_pod_phase], regex: (Failed|Succeeded)}\n"


def object_labels(kind: str = "endpointslice") -> str:
    """The node/pod/namespace/service/pod/container rules every ServiceMonitor job carries."""
    return f"""\
  - source_labels: [__meta_kubernetes_{kind}_address_target_kind, __meta_kubernetes_{kind}_address_target_name]
    separator: ;
    regex: Node;(.*)
    replacement: ${{1}}
    target_label: node
  - source_labels: [__meta_kubernetes_{kind}_address_target_kind, __meta_kubernetes_{kind}_address_target_name]
    separator: ;
    regex: Pod;(.*)
    replacement: ${{1}}
    target_label: pod
  - {{source_labels: [__meta_kubernetes_namespace], target_label: namespace}}
  - {{source_labels: [__meta_kubernetes_service_name], target_label: service}}
  - {{source_labels: [__meta_kubernetes_pod_name], target_label: pod}}
  - {{source_labels: [__meta_kubernetes_pod_container_name], target_label: container}}
"""


def sharding(label: str = "__address__", shards: int = 1) -> str:
    return f"""\
  - source_labels: [{label}, __tmp_hash]
    target_label: __tmp_hash
    regex: (.+);
    replacement: $1
    action: replace
  - source_labels: [__tmp_hash]
    target_label: __tmp_hash
    modulus: {shards}
    action: hashmod
  - source_labels: [__tmp_hash, __tmp_disable_sharding]
    regex: $(SHARD);|.+;.+
    action: keep
"""


SERVICE_JOB = "  - {source_labels: [__meta_kubernetes_service_name], target_label: job, replacement: '${1}'}\n"


def sm(spec: str, name: str = "test", namespace: str = "default") -> str:
    return f"""---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{spec}
"""


def head(name: str = "test", namespace: str = "default", names: str = "[default]", index: int = 0) -> str:
    return f"""\
- job_name: serviceMonitor/{namespace}/{name}/{index}
  honor_labels: false
  kubernetes_sd_configs:
  - role: endpointslice
    namespaces: {{names: {names}}}
"""


WEB_PORT = "  - {action: keep, source_labels: [__meta_kubernetes_endpointslice_port_name], regex: web}\n"
WEB_ENDPOINT = "  - {target_label: endpoint, replacement: web}\n"


def standard_chain(selector_rules: str = "", port_rule: str = WEB_PORT, endpoint_rule: str = WEB_ENDPOINT) -> str:
    return (
        "  relabel_configs:\n"
        + JOB_RULE
        + selector_rules
        + port_rule
        + object_labels()
        + PHASE_DROP
        + SERVICE_JOB
        + endpoint_rule
        + sharding()
    )


CASES: list[Case] = [
    Case(
        "prometheus-operator's endpointslice golden: matchLabels then matchExpressions, port keep, shard block",
        sm(
            """\
  selector:
    matchLabels: {foo: bar}
    matchExpressions: [{key: alpha, operator: In, values: [beta, gamma]}]
  endpoints: [{port: web, interval: 30s}]"""
        ),
        """\
- job_name: serviceMonitor/default/test/0
  honor_labels: false
  kubernetes_sd_configs:
  - role: endpointslice
    namespaces:
      names:
      - default
  scrape_interval: 30s
  relabel_configs:
  - source_labels:
    - job
    target_label: __tmp_prometheus_job_name
  - action: keep
    source_labels:
    - __meta_kubernetes_service_label_foo
    - __meta_kubernetes_service_labelpresent_foo
    regex: (bar);true
  - action: keep
    source_labels:
    - __meta_kubernetes_service_label_alpha
    - __meta_kubernetes_service_labelpresent_alpha
    regex: (beta|gamma);true
  - action: keep
    source_labels:
    - __meta_kubernetes_endpointslice_port_name
    regex: web
  - source_labels:
    - __meta_kubernetes_endpointslice_address_target_kind
    - __meta_kubernetes_endpointslice_address_target_name
    separator: ;
    regex: Node;(.*)
    replacement: ${1}
    target_label: node
  - source_labels:
    - __meta_kubernetes_endpointslice_address_target_kind
    - __meta_kubernetes_endpointslice_address_target_name
    separator: ;
    regex: Pod;(.*)
    replacement: ${1}
    target_label: pod
  - source_labels:
    - __meta_kubernetes_namespace
    target_label: namespace
  - source_labels:
    - __meta_kubernetes_service_name
    target_label: service
  - source_labels:
    - __meta_kubernetes_pod_name
    target_label: pod
  - source_labels:
    - __meta_kubernetes_pod_container_name
    target_label: container
  - action: drop
    source_labels:
    - __meta_kubernetes_pod_phase
    regex: (Failed|Succeeded)
  - source_labels:
    - __meta_kubernetes_service_name
    target_label: job
    replacement: ${1}
  - target_label: endpoint
    replacement: web
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
""",
    ),
    Case(
        "serviceDiscoveryRole Endpoints on the monitor switches the meta labels to __meta_kubernetes_endpoint_*",
        sm(
            """\
  serviceDiscoveryRole: Endpoints
  selector: {matchLabels: {foo: bar}}
  endpoints: [{port: web}]"""
        ),
        """\
- job_name: serviceMonitor/default/test/0
  honor_labels: false
  kubernetes_sd_configs:
  - {role: endpoints, namespaces: {names: [default]}}
  relabel_configs:
"""
        + JOB_RULE
        + """\
  - action: keep
    source_labels: [__meta_kubernetes_service_label_foo, __meta_kubernetes_service_labelpresent_foo]
    regex: (bar);true
  - {action: keep, source_labels: [__meta_kubernetes_endpoint_port_name], regex: web}
"""
        + object_labels("endpoint")
        + PHASE_DROP
        + SERVICE_JOB
        + WEB_ENDPOINT
        + sharding(),
    ),
    Case(
        "NotIn drops, Exists keeps on labelpresent, DoesNotExist drops; label keys are sanitised, values raw",
        sm(
            """\
  selector:
    matchLabels: {app.kubernetes.io/name: a.b, tier: web}
    matchExpressions:
    - {key: env, operator: NotIn, values: [dev, test]}
    - {key: team/owner, operator: Exists}
    - {key: canary, operator: DoesNotExist}
  endpoints: [{port: web}]"""
        ),
        head()
        + standard_chain(
            """\
  - action: keep
    source_labels:
    - __meta_kubernetes_service_label_app_kubernetes_io_name
    - __meta_kubernetes_service_labelpresent_app_kubernetes_io_name
    regex: (a.b);true
  - action: keep
    source_labels: [__meta_kubernetes_service_label_tier, __meta_kubernetes_service_labelpresent_tier]
    regex: (web);true
  - action: drop
    source_labels: [__meta_kubernetes_service_label_env, __meta_kubernetes_service_labelpresent_env]
    regex: (dev|test);true
  - {action: keep, source_labels: [__meta_kubernetes_service_labelpresent_team_owner], regex: 'true'}
  - {action: drop, source_labels: [__meta_kubernetes_service_labelpresent_canary], regex: 'true'}
"""
        ),
    ),
    Case(
        "targetPort number keeps the container port number (an int regex) and labels endpoint with it as text",
        sm("  selector: {}\n  endpoints: [{targetPort: 8080}]"),
        head()
        + standard_chain(
            port_rule="  - {action: keep, source_labels: [__meta_kubernetes_pod_container_port_number], regex: 8080}\n",
            endpoint_rule="  - {target_label: endpoint, replacement: '8080'}\n",
        ),
    ),
    Case(
        "targetPort name keeps the container port name",
        sm("  selector: {}\n  endpoints: [{targetPort: metrics}]"),
        head()
        + standard_chain(
            port_rule="  - {action: keep, source_labels: [__meta_kubernetes_pod_container_port_name], "
            "regex: metrics}\n",
            endpoint_rule="  - {target_label: endpoint, replacement: metrics}\n",
        ),
    ),
    Case(
        "port wins over targetPort for both the filter and the endpoint label",
        sm("  selector: {}\n  endpoints: [{port: web, targetPort: 9090}]"),
        head() + standard_chain(),
    ),
    Case(
        "an endpoint naming no port scrapes every port and gets no endpoint label",
        sm("  selector: {}\n  endpoints: [{path: /m}]"),
        head().rstrip("\n") + "\n  metrics_path: /m\n" + standard_chain(port_rule="", endpoint_rule=""),
    ),
    Case(
        "honorTimestamps false comes right after honor_labels; targetLabels sit between phase drop and job",
        sm(
            """\
  selector: {}
  targetLabels: [example, app.kubernetes.io/part-of]
  endpoints: [{port: web, honorTimestamps: false, honorLabels: true}]"""
        ),
        """\
- job_name: serviceMonitor/default/test/0
  honor_labels: true
  honor_timestamps: false
  kubernetes_sd_configs:
  - {role: endpointslice, namespaces: {names: [default]}}
  relabel_configs:
"""
        + JOB_RULE
        + WEB_PORT
        + object_labels()
        + PHASE_DROP
        + """\
  - {source_labels: [__meta_kubernetes_service_label_example], target_label: example, regex: (.+), replacement: '${1}'}
  - source_labels: [__meta_kubernetes_service_label_app_kubernetes_io_part_of]
    target_label: app_kubernetes_io_part_of
    regex: (.+)
    replacement: ${1}
"""
        + SERVICE_JOB
        + WEB_ENDPOINT
        + sharding(),
    ),
    Case(
        "podTargetLabels (the monitor's, then the Prometheus-level ones) and jobLabel after the service-name job",
        sm(
            """\
  selector: {}
  jobLabel: app.kubernetes.io/name
  podTargetLabels: [team]
  endpoints: [{port: web}]"""
        ),
        head()
        + "  relabel_configs:\n"
        + JOB_RULE
        + WEB_PORT
        + object_labels()
        + PHASE_DROP
        + """\
  - {source_labels: [__meta_kubernetes_pod_label_team], target_label: team, regex: (.+), replacement: '${1}'}
  - {source_labels: [__meta_kubernetes_pod_label_zone], target_label: zone, regex: (.+), replacement: '${1}'}
"""
        + SERVICE_JOB
        + """\
  - source_labels: [__meta_kubernetes_service_label_app_kubernetes_io_name]
    target_label: job
    regex: (.+)
    replacement: ${1}
"""
        + WEB_ENDPOINT
        + sharding(),
        GeneratorOptions(pod_target_labels=("zone",)),
    ),
    Case(
        "filterRunning false leaves out the pod-phase drop",
        sm("  selector: {}\n  endpoints: [{port: web, filterRunning: false}]"),
        head()
        + "  relabel_configs:\n"
        + JOB_RULE
        + WEB_PORT
        + object_labels()
        + SERVICE_JOB
        + WEB_ENDPOINT
        + sharding(),
    ),
    Case(
        "namespaceSelector any watches every namespace (no namespaces key); attachMetadata is written",
        sm(
            "  selector: {}\n  namespaceSelector: {any: true}\n  attachMetadata: {node: true}\n"
            "  endpoints: [{port: web}]"
        ),
        """\
- job_name: serviceMonitor/default/test/0
  honor_labels: false
  kubernetes_sd_configs:
  - role: endpointslice
    attach_metadata: {node: true}
"""
        + standard_chain(),
    ),
    Case(
        "namespaceSelector matchNames replaces the monitor's own namespace",
        sm("  selector: {}\n  namespaceSelector: {matchNames: [a, b]}\n  endpoints: [{port: web}]"),
        head(names="[a, b]") + standard_chain(),
    ),
    Case(
        "user relabelings go after the endpoint rule, keys in order, action lower-cased, replacement '' kept",
        sm(
            """\
  selector: {}
  endpoints:
  - port: web
    relabelings:
    - {sourceLabels: [__address__], targetLabel: __address__, regex: '(.+)(?::d+)', replacement: '$1:9537',
       action: Replace}
    - {targetLabel: job, replacement: crio, action: replace}
    - {sourceLabels: [a, b], separator: '', targetLabel: gone, replacement: ''}
    metricRelabelings:
    - {action: Drop, regex: go_.+, sourceLabels: [__name__]}"""
        ),
        head()
        + "  relabel_configs:\n"
        + JOB_RULE
        + WEB_PORT
        + object_labels()
        + PHASE_DROP
        + SERVICE_JOB
        + WEB_ENDPOINT
        + """\
  - {source_labels: [__address__], target_label: __address__, regex: '(.+)(?::d+)', replacement: '$1:9537',
     action: replace}
  - {target_label: job, replacement: crio, action: replace}
  - {source_labels: [a, b], separator: '', target_label: gone, replacement: ''}
"""
        + sharding()
        + """\
  metric_relabel_configs:
  - {source_labels: [__name__], regex: go_.+, action: drop}
""",
    ),
    Case(
        "limits follow relabel_configs; an enforced limit lowers a larger one and leaves unset ones to the global",
        sm(
            """\
  selector: {}
  sampleLimit: 5000
  targetLimit: 10
  labelLimit: 30
  labelNameLengthLimit: 50
  labelValueLengthLimit: 60
  endpoints: [{port: web}]"""
        ),
        head()
        + standard_chain()
        + """\
  sample_limit: 1000
  target_limit: 10
  label_limit: 30
  label_name_length_limit: 50
  label_value_length_limit: 60
""",
        GeneratorOptions(enforced_limits={"sampleLimit": 1000, "targetLimit": 100, "keepDroppedTargets": 5}),
    ),
    Case(
        "http settings in order: interval, timeout, path, params (sorted), scheme, redirects, http2, proxy",
        sm(
            """\
  selector: {}
  endpoints:
  - port: web
    interval: 1m
    scrapeTimeout: 20s
    path: /federate
    params: {'match[]': ['{job="a"}'], format: [text]}
    scheme: HTTPS
    followRedirects: false
    enableHttp2: true
    proxyUrl: http://proxy:3128
    noProxy: localhost"""
        ),
        head().rstrip("\n")
        + """
  scrape_interval: 1m
  scrape_timeout: 20s
  metrics_path: /federate
  params:
    format: [text]
    match[]: ['{job="a"}']
  scheme: https
  follow_redirects: false
  enable_http2: true
  proxy_url: http://proxy:3128
  no_proxy: localhost
"""
        + standard_chain(),
    ),
    Case(
        "credentials resolved inline, TLS after oauth2 and before bearer_token, basic_auth or authorization",
        SECRETS
        + sm(
            """\
  selector: {}
  endpoints:
  - port: web
    oauth2:
      clientId: {secret: {name: creds, key: client-id}}
      clientSecret: {name: creds, key: client-secret}
      tokenUrl: https://auth/token
      scopes: [read]
      endpointParams: {b: '2', a: '1'}
    tlsConfig:
      insecureSkipVerify: false
      ca: {configMap: {name: ca, key: ca.crt}}
      cert: {secret: {name: creds, key: tls.crt}}
      keySecret: {name: creds, key: tls.key}
      serverName: app.example
      minVersion: TLS12
  - port: web
    tlsConfig: {serverName: b}
    bearerTokenSecret: {name: creds, key: token}
  - port: web
    tlsConfig: {serverName: c}
    basicAuth:
      username: {name: creds, key: user}
      password: {name: creds, key: pass}
  - port: web
    tlsConfig: {serverName: d}
    authorization:
      credentials: {name: creds, key: token}"""
        ),
        head().rstrip("\n")
        + pem("""
  oauth2:
    client_id: client-id
    client_secret: client-secret
    token_url: https://auth/token
    scopes: [read]
    endpoint_params: {a: '1', b: '2'}
  tls_config:
    insecure_skip_verify: false
    ca: $CA
    cert: $CERT
    key: $KEY
    server_name: app.example
    min_version: TLS12
""")
        + standard_chain()
        + head(index=1).rstrip("\n")
        + """
  tls_config: {server_name: b}
  bearer_token: token
"""
        + standard_chain()
        + head(index=2).rstrip("\n")
        + """
  tls_config: {server_name: c}
  basic_auth: {username: admin, password: s3cr3t}
"""
        + standard_chain()
        + head(index=3).rstrip("\n")
        + """
  tls_config: {server_name: d}
  authorization: {type: Bearer, credentials: token}
"""
        + standard_chain(),
    ),
    Case(
        "file-based credentials stay paths when the allocator allows file access",
        SECRETS
        + sm(
            """\
  selector: {}
  endpoints:
  - port: web
    bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
    tlsConfig: {caFile: /etc/ca.crt, serverName: kubernetes}
  - port: web
    authorization: {type: ' Token ', credentials: {name: creds, key: token}}"""
        ),
        head().rstrip("\n")
        + """
  tls_config: {server_name: kubernetes, ca_file: /etc/ca.crt}
  bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
"""
        + standard_chain()
        + head(index=1).rstrip("\n")
        + """
  authorization: {type: Token, credentials: token}
"""
        + standard_chain(),
    ),
    Case(
        "an empty tlsConfig is still written on a ServiceMonitor",
        sm("  selector: {}\n  endpoints: [{port: web, tlsConfig: {}}]"),
        head().rstrip("\n") + "\n  tls_config: {}\n" + standard_chain(),
    ),
    Case(
        "RoleSelector moves the selector into the SD config (endpointslice and service) and drops its rules",
        sm(
            """\
  selectorMechanism: RoleSelector
  selector:
    matchLabels: {group: group1}
    matchExpressions: [{key: group, operator: In, values: [group2]}, {key: a, operator: NotIn, values: [z, y]}]
  endpoints: [{port: web}]"""
        ),
        """\
- job_name: serviceMonitor/default/test/0
  honor_labels: false
  kubernetes_sd_configs:
  - role: endpointslice
    namespaces: {names: [default]}
    selectors:
    - {role: endpointslice, label: 'a notin (y,z),group=group1,group in (group2)'}
    - {role: service, label: 'a notin (y,z),group=group1,group in (group2)'}
"""
        + standard_chain(),
    ),
    Case(
        "the default scrape class adds TLS files, authorization, attachMetadata, fallback and both rule lists",
        SECRETS
        + sm(
            """\
  selector: {}
  endpoints:
  - port: web
    tlsConfig: {serverName: app}
    relabelings: [{targetLabel: mine, replacement: x}]
    metricRelabelings: [{action: labeldrop, regex: tmp_.*}]"""
        ),
        """\
- job_name: serviceMonitor/default/test/0
  honor_labels: false
  kubernetes_sd_configs:
  - role: endpointslice
    namespaces: {names: [default]}
    attach_metadata: {node: true}
  tls_config: {server_name: app, ca_file: /class/ca.crt, cert_file: /class/tls.crt, key_file: /class/tls.key}
  authorization: {type: Bearer, credentials: token}
  relabel_configs:
"""
        + JOB_RULE
        + WEB_PORT
        + object_labels()
        + PHASE_DROP
        + SERVICE_JOB
        + WEB_ENDPOINT
        + """\
  - {target_label: cluster, replacement: east}
  - {target_label: mine, replacement: x}
"""
        + sharding()
        + """\
  fallback_scrape_protocol: PrometheusText0.0.4
  metric_relabel_configs:
  - {source_labels: [__name__], regex: debug_.*, action: drop}
  - {regex: tmp_.*, action: labeldrop}
""",
        GeneratorOptions(
            scrape_classes=(
                {
                    "name": "standard",
                    "default": True,
                    "tlsConfig": {"caFile": "/class/ca.crt", "certFile": "/class/tls.crt", "keyFile": "/class/tls.key"},
                    "authorization": {"credentials": {"name": "creds", "key": "token"}},
                    "attachMetadata": {"node": True},
                    "fallbackScrapeProtocol": "PrometheusText0.0.4",
                    "relabelings": [{"targetLabel": "cluster", "replacement": "east"}],
                    "metricRelabelings": [{"sourceLabels": ["__name__"], "regex": "debug_.*", "action": "drop"}],
                },
            )
        ),
    ),
    Case(
        "the enforced namespace label is appended after the user rules and to the metric rules",
        sm("  selector: {}\n  endpoints: [{port: web}]", namespace="team-a"),
        head(namespace="team-a", names="[team-a]")
        + "  relabel_configs:\n"
        + JOB_RULE
        + WEB_PORT
        + object_labels()
        + PHASE_DROP
        + SERVICE_JOB
        + WEB_ENDPOINT
        + "  - {target_label: ns, replacement: team-a}\n"
        + sharding()
        + "  metric_relabel_configs:\n  - {target_label: ns, replacement: team-a}\n",
        GeneratorOptions(enforced_namespace_label="ns"),
    ),
    Case(
        "overrideHonorLabels/Timestamps force both to false; ignoreNamespaceSelectors keeps the own namespace",
        sm("  selector: {}\n  namespaceSelector: {any: true}\n  endpoints: [{port: web, honorLabels: true}]"),
        """\
- job_name: serviceMonitor/default/test/0
  honor_labels: false
  honor_timestamps: false
  kubernetes_sd_configs:
  - {role: endpointslice, namespaces: {names: [default]}}
"""
        + standard_chain(),
        GeneratorOptions(override_honor_labels=True, override_honor_timestamps=True, ignore_namespace_selectors=True),
    ),
    Case(
        "scrape protocols, native histogram settings and body size limit, in that order after the limits",
        sm(
            """\
  selector: {}
  scrapeProtocols: [PrometheusProto, OpenMetricsText1.0.0]
  scrapeClassicHistograms: true
  nativeHistogramBucketLimit: 10
  nativeHistogramMinBucketFactor: '1.1'
  bodySizeLimit: 10MB
  sampleLimit: 5
  endpoints: [{port: web, trackTimestampsStaleness: true}]"""
        ),
        """\
- job_name: serviceMonitor/default/test/0
  honor_labels: false
  track_timestamps_staleness: true
  kubernetes_sd_configs:
  - {role: endpointslice, namespaces: {names: [default]}}
"""
        + standard_chain()
        + """\
  sample_limit: 5
  native_histogram_bucket_limit: 10
  native_histogram_min_bucket_factor: 1.1
  always_scrape_classic_histograms: true
  scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0]
  body_size_limit: 10MB
""",
    ),
    Case(
        "several endpoints give one job each, by index; monitors come sorted by namespace/name",
        sm("  selector: {}\n  endpoints: [{port: web}]", name="b")
        + sm("  selector: {}\n  endpoints: [{port: web}, {port: admin}]", name="a"),
        head(name="a")
        + standard_chain()
        + head(name="a", index=1)
        + standard_chain(
            port_rule="  - {action: keep, source_labels: [__meta_kubernetes_endpointslice_port_name], regex: admin}\n",
            endpoint_rule="  - {target_label: endpoint, replacement: admin}\n",
        )
        + head(name="b")
        + standard_chain(),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case) -> None:
    check(case)


BAD: list[tuple[str, str, str, str]] = [
    # (behaviour, endpoint/spec YAML, field, message fragment)
    (
        "a numeric port is not a Service port name",
        "  selector: {}\n  endpoints: [{port: 8080}]",
        "spec.endpoints[0].port",
        "use targetPort for a container port number",
    ),
    (
        "targetPort of an unknown type",
        "  selector: {}\n  endpoints: [{targetPort: [80]}]",
        "spec.endpoints[0].targetPort",
        "expected a port number or name",
    ),
    (
        "unknown selector operator",
        "  selector: {matchExpressions: [{key: a, operator: Equals, values: [b]}]}\n  endpoints: [{port: web}]",
        "spec.selector.matchExpressions[0].operator",
        '"Equals" is not a valid label selector operator',
    ),
    (
        "In without values",
        "  selector: {matchExpressions: [{key: a, operator: In}]}\n  endpoints: [{port: web}]",
        "spec.selector.matchExpressions[0].values",
        "In needs at least one value",
    ),
    (
        "a label value that is no label value",
        "  selector: {matchLabels: {app: 'my app'}}\n  endpoints: [{port: web}]",
        "spec.selector.matchLabels.app",
        "is not a valid label value",
    ),
    (
        "a relabeling regex that does not compile",
        "  selector: {}\n  endpoints: [{port: web, relabelings: [{sourceLabels: [a], regex: '(foo', action: keep}]}]",
        "spec.endpoints[0].relabelings[0].regex",
        '"(foo" is not a valid Go regular expression: error parsing regexp: missing closing )',
    ),
    (
        "hashmod without modulus",
        "  selector: {}\n"
        "  endpoints: [{port: web, relabelings: [{sourceLabels: [a], targetLabel: h, action: HashMod}]}]",
        "spec.endpoints[0].relabelings[0].modulus",
        "non-zero modulus",
    ),
    (
        "an unknown relabel action",
        "  selector: {}\n  endpoints: [{port: web, metricRelabelings: [{action: delete}]}]",
        "spec.endpoints[0].metricRelabelings[0].action",
        '"delete" is not a relabel action',
    ),
    (
        "replace into a target label that is not valid UTF-8",
        '  selector: {}\n  endpoints: [{port: web, relabelings: [{targetLabel: "\\udc80", replacement: x}]}]',
        "spec.endpoints[0].relabelings[0].targetLabel",
        '"\\udc80" is invalid targetLabel for replace action; a label name must be non-empty, valid UTF-8',
    ),
    (
        "labeldrop with a target label",
        "  selector: {}\n  endpoints: [{port: web, relabelings: [{action: labeldrop, regex: x, targetLabel: y}]}]",
        "spec.endpoints[0].relabelings[0].targetLabel",
        "labeldrop action requires only regex, and no other fields; remove targetLabel",
    ),
    (
        "a scrape timeout longer than the default interval",
        "  selector: {}\n  endpoints: [{port: web, scrapeTimeout: 45s}]",
        "spec.endpoints[0].scrapeTimeout",
        'scrapeTimeout "45s" greater than scrapeInterval "30s"',
    ),
    (
        "an interval that is no duration",
        "  selector: {}\n  endpoints: [{port: web, interval: 30}]",
        "spec.endpoints[0].interval",
        "expected string",
    ),
    (
        "a missing Secret",
        "  selector: {}\n"
        "  endpoints: [{port: web, basicAuth: {username: {name: nope, key: u}, password: {name: nope, key: p}}}]",
        "spec.endpoints[0].basicAuth.username.name",
        'Secret "default/nope" not found',
    ),
    (
        "a client cert without its key",
        "  selector: {}\n  endpoints: [{port: web, tlsConfig: {cert: {secret: {name: creds, key: tls.crt}}}}]",
        "spec.endpoints[0].tlsConfig.keySecret",
        "client cert specified without client key",
    ),
    (
        "authorization type Basic",
        "  selector: {}\n  endpoints: [{port: web, authorization: {type: basic}}]",
        "spec.endpoints[0].authorization.type",
        "use basicAuth instead",
    ),
    (
        "authorization without credentials, which prometheus-operator requires of a monitor endpoint",
        "  selector: {}\n  endpoints: [{port: web, authorization: {type: Bearer}}]",
        "spec.endpoints[0].authorization.credentials",
        "required field is missing",
    ),
    (
        "a CA that is not a PEM certificate",
        "  selector: {}\n  endpoints: [{port: web, tlsConfig: {ca: {secret: {name: creds, key: user}}}}]",
        "spec.endpoints[0].tlsConfig.ca",
        "failed to decode PEM block",
    ),
    (
        "a client key of another certificate",
        "  selector: {}\n  endpoints: [{port: web, tlsConfig: {cert: {configMap: {name: ca, key: ca.crt}}, "
        "keySecret: {name: creds, key: tls.key}}}]",
        "spec.endpoints[0].tlsConfig.keySecret",
        "the private key does not match the certificate's public key",
    ),
    (
        "a client key that is not PEM",
        "  selector: {}\n  endpoints: [{port: web, tlsConfig: {cert: {secret: {name: creds, key: tls.crt}}, "
        "keySecret: {name: creds, key: token}}}]",
        "spec.endpoints[0].tlsConfig.keySecret",
        "found no PRIVATE KEY PEM block in the key",
    ),
    (
        "OAuth2 without a token URL",
        "  selector: {}\n  endpoints: [{port: web, oauth2: {clientId: {secret: {name: creds, key: client-id}}}}]",
        "spec.endpoints[0].oauth2.tokenUrl",
        "required field is missing",
    ),
    (
        "noProxy without proxyUrl",
        "  selector: {}\n  endpoints: [{port: web, noProxy: localhost}]",
        "spec.endpoints[0].noProxy",
        "needs proxyUrl",
    ),
    (
        "an unknown scrape class",
        "  selector: {}\n  scrapeClass: missing\n  endpoints: [{port: web}]",
        "spec.scrapeClass",
        'scrape class "missing" not found',
    ),
    (
        "two ways to authenticate",
        "  selector: {}\n  endpoints: [{port: web, bearerTokenFile: /t, authorization: {type: Bearer}}]",
        "spec.endpoints[0].authorization",
        "cannot be combined with bearerTokenFile",
    ),
    (
        "an unknown scheme",
        "  selector: {}\n  endpoints: [{port: web, scheme: ftp}]",
        "spec.endpoints[0].scheme",
        '"ftp" is not allowed; use one of http, https',
    ),
]


@pytest.mark.parametrize(("name", "spec", "path", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_monitor_is_rejected_naming_the_field(name: str, spec: str, path: str, message: str) -> None:
    good = sm("  selector: {}\n  endpoints: [{port: web}]", name="good")
    result = generate_from_documents(list(yaml.safe_load_all(SECRETS + sm(spec) + good)), GeneratorOptions())
    assert len(result.errors) == 1, result.errors
    error = result.errors[0]
    assert error.obj == "ServiceMonitor default/test"
    assert error.field == path
    assert message in error.message
    # One bad monitor never stops the others.
    assert result.job_names == ("serviceMonitor/default/good/0",)


def test_deny_fs_access_rejects_file_credentials() -> None:
    options = GeneratorOptions(deny_fs_access_through_sms=True)
    token = sm("  selector: {}\n  endpoints: [{port: web, bearerTokenFile: /var/run/token}]")
    errors = errors_of(token, options)
    assert [(e.field, "denyFSAccessThroughSMs" in e.message) for e in errors] == [
        ("spec.endpoints[0].bearerTokenFile", True)
    ]
    tls = sm("  selector: {}\n  endpoints: [{port: web, tlsConfig: {keyFile: /etc/key}}]")
    assert [e.field for e in errors_of(tls, options)] == ["spec.endpoints[0].tlsConfig"]
    assert errors_of(tls) == ()  # allowed by default, as in the allocator


def test_deny_fs_access_drops_only_the_endpoints_that_read_files() -> None:
    """Upstream's allocator (v0.158) leaves out the scrape configs that reference files and keeps the monitor's
    other endpoints (its e2e test targetallocator-prometheuscr-denyfs); the dropped one is still reported."""
    options = GeneratorOptions(deny_fs_access_through_sms=True)
    mixed = sm(
        "  selector: {}\n  endpoints:\n  - {port: metrics, bearerTokenFile: /var/run/secrets/token}\n"
        "  - {port: safe-metrics}\n  - {port: tls, tlsConfig: {caFile: /etc/ca}}"
    )
    result = generate_from_documents([yaml.safe_load(mixed)], options)
    assert result.job_names == ("serviceMonitor/default/test/1",)
    assert "credentials_file" not in str(result.scrape_configs)
    assert [(e.obj, e.field) for e in result.errors] == [
        ("ServiceMonitor default/test", "spec.endpoints[0].bearerTokenFile")
    ]
    message = result.errors[0].message
    assert "denyFSAccessThroughSMs" in message
    assert "spec.endpoints[2].tlsConfig" in message  # the second dropped endpoint is named too
    assert "the monitor's other endpoints are served" in message
    assert generate_from_documents([yaml.safe_load(mixed)], GeneratorOptions()).job_names == (
        "serviceMonitor/default/test/0", "serviceMonitor/default/test/1", "serviceMonitor/default/test/2",
    )  # fmt: skip


def test_invalid_scrape_classes_stop_generation_as_in_prometheus_operator() -> None:
    two_defaults = GeneratorOptions(scrape_classes=({"name": "a", "default": True}, {"name": "b", "default": True}))
    result = generate_from_documents([yaml.safe_load(sm("  selector: {}\n  endpoints: [{port: web}]"))], two_defaults)
    assert result.scrape_configs == ()
    assert [(e.obj, e.field) for e in result.errors] == [("TargetAllocator prometheusCR", "scrapeClasses")]
    bad_rule = GeneratorOptions(
        scrape_classes=({"name": "a", "relabelings": [{"action": "hashmod", "targetLabel": "x"}]},)
    )
    assert [e.field for e in errors_of("", bad_rule)] == ["scrapeClasses[0].relabelings[0].modulus"]


# --------------------------------------------------------------------------- relabelings as Prometheus v3 loads them

COPY_RULE = {"sourceLabels": ["a"], "targetLabel": "copy"}  # a valid first rule, so the bad one is at index 1

# (name, list, the rule, its faulted field, what the message says): each rule is one Prometheus v3 refuses to load.
RELABEL_BAD: list[tuple[str, str, dict[str, Any], str, str]] = [
    (
        "a lookahead, which RE2 lacks",
        "relabelings",
        {"sourceLabels": ["a"], "regex": "a(?=b)", "action": "keep"},
        "regex",
        '"a(?=b)" is not a valid Go regular expression: error parsing regexp: '
        "invalid or unsupported Perl syntax: `(?=`",
    ),
    (
        "\\Z, which Go does not know",
        "metricRelabelings",
        {"sourceLabels": ["a"], "regex": "a\\Z", "action": "drop"},
        "regex",
        "invalid escape sequence: `\\Z`; write it in Go's RE2 syntax",
    ),
    (
        "a backreference",
        "relabelings",
        {"sourceLabels": ["a"], "regex": "(a)\\1", "action": "keep"},
        "regex",
        "invalid escape sequence: `\\1`",
    ),
    (
        "hashmod without modulus",
        "relabelings",
        {"sourceLabels": ["a"], "targetLabel": "h", "action": "HashMod"},
        "modulus",
        "relabel configuration for hashmod requires non-zero modulus; set modulus to the number of buckets",
    ),
    (
        "lowercase without targetLabel",
        "relabelings",
        {"sourceLabels": ["a"], "action": "Lowercase"},
        "targetLabel",
        "relabel configuration for lowercase action requires targetLabel value; set targetLabel",
    ),
    (
        "uppercase with a replacement",
        "metricRelabelings",
        {"sourceLabels": ["a"], "targetLabel": "b", "replacement": "x", "action": "uppercase"},
        "replacement",
        "replacement can not be set for uppercase action; remove replacement",
    ),
    (
        "keepequal with an explicit regex, even the default, which prometheus-operator lets through",
        "relabelings",
        {"sourceLabels": ["a"], "targetLabel": "b", "regex": "(.*)", "action": "keepequal"},
        "regex",
        "keepequal action requires only sourceLabels and targetLabel, and no other fields; remove regex",
    ),
    (
        "labelkeep with sourceLabels",
        "metricRelabelings",
        {"sourceLabels": ["a"], "regex": "a", "action": "labelkeep"},
        "sourceLabels",
        "labelkeep action requires only regex, and no other fields; remove sourceLabels",
    ),
    (
        "an empty source label name",
        "relabelings",
        {"sourceLabels": [""], "targetLabel": "b"},
        "sourceLabels",
        '"" is not a valid label name; a label name must be non-empty, valid UTF-8',
    ),
    (
        "a target label that is not UTF-8 (a lone surrogate from a YAML or JSON escape)",
        "relabelings",
        {"targetLabel": "\udc80", "replacement": "x"},
        "targetLabel",
        '"\\udc80" is invalid targetLabel for replace action',
    ),
]


@pytest.mark.parametrize(
    ("name", "key", "rule", "field", "message"), RELABEL_BAD, ids=[case[0] for case in RELABEL_BAD]
)
def test_a_relabeling_prometheus_would_refuse_rejects_its_monitor(
    name: str, key: str, rule: dict[str, Any], field: str, message: str
) -> None:
    bad = yaml.safe_load(sm("  selector: {}\n  endpoints: [{port: web}, {port: metrics}]"))
    bad["spec"]["endpoints"][1][key] = [COPY_RULE, rule]
    good = yaml.safe_load(sm("  selector: {}\n  endpoints: [{port: web}]", name="good"))
    result = generate_scrape_configs([bad, good], [], GeneratorOptions())
    assert [(e.obj, e.field) for e in result.errors] == [
        ("ServiceMonitor default/test", f"spec.endpoints[1].{key}[1].{field}")
    ]
    assert message in result.errors[0].message
    assert result.job_names == ("serviceMonitor/default/good/0",)


# Rules Prometheus v3 loads although Python's `re` (the old, shallow check) or the legacy label-name rule would not.
RELABEL_GOOD: list[tuple[str, dict[str, Any]]] = [
    ("\\pL, a Unicode class Python's re lacks", {"sourceLabels": ["a"], "regex": "\\pL+", "action": "keep"}),
    (
        "a (?<name>...) group, Go syntax Python's re lacks",
        {"sourceLabels": ["a"], "targetLabel": "b", "regex": "(?<x>a+)", "replacement": "${x}"},
    ),
    (
        "a \\z end anchor, which Python's re lacks before 3.14",
        {"sourceLabels": ["a"], "regex": "a\\z", "action": "drop"},
    ),
    ("replace into a UTF-8 label name", {"targetLabel": "service.name", "replacement": "x"}),
    (
        "hashmod into a UTF-8 label name",
        {"sourceLabels": ["a"], "targetLabel": "bucket-id", "modulus": 4, "action": "hashmod"},
    ),
    (
        "labelmap into UTF-8 names",
        {"regex": "__meta_kubernetes_pod_label_(.+)", "replacement": "k8s.$1", "action": "labelmap"},
    ),
]


@pytest.mark.parametrize(("name", "rule"), RELABEL_GOOD, ids=[case[0] for case in RELABEL_GOOD])
def test_a_relabeling_prometheus_v3_accepts_is_written_out(name: str, rule: dict[str, Any]) -> None:
    monitor = yaml.safe_load(sm("  selector: {}\n  endpoints: [{port: web}]"))
    monitor["spec"]["endpoints"][0]["relabelings"] = [rule]
    monitor["spec"]["endpoints"][0]["metricRelabelings"] = [rule]
    result = generate_scrape_configs([monitor], [], GeneratorOptions())
    assert result.errors == ()
    (config,) = result.scrape_configs
    snake = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    expected = {snake.get(key, key): value for key, value in rule.items()}
    assert config["relabel_configs"][-4] == expected  # the user's rule, then the three-rule shard block
    assert config["metric_relabel_configs"] == [expected]


def test_a_monitor_endpoints_authorization_has_no_credentials_file() -> None:
    # A SafeAuthorization: prometheus-operator's decoding drops the field, so the credentials alone are written.
    spec = """\
  selector: {}
  endpoints: [{port: web, authorization: {credentials: {name: creds, key: token}, credentialsFile: /etc/token}}]"""
    result = generate_from_documents(list(yaml.safe_load_all(SECRETS + sm(spec))), GeneratorOptions())
    assert result.errors == ()
    assert result.scrape_configs[0]["authorization"] == {"type": "Bearer", "credentials": "token"}
