"""The target allocator's `targetallocator.yaml`: what loads, with which values, and every kind of error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from otel_operator.allocator.config import (
    DEFAULT_KUBECONFIG,
    DEFAULT_SCRAPE_PROTOCOLS,
    AllocatorConfig,
    ConfigError,
    Flags,
    LabelSelector,
    SelectorRequirement,
    apply_overrides,
    format_go_duration,
    load_config,
    parse_flags,
    parse_go_duration,
    read_config,
    to_dict,
)

NS = {"OTELCOL_NAMESPACE": "opentelemetry"}

# What the upstream operator writes (operator reference §5.2) for the troubleshooting guide's collector `otelcol`
# in namespace `opentelemetry`: statefulset, one scrape job, prometheusCR with `{}` service and pod monitor selectors.
OPERATOR_YAML = """\
allocation_strategy: consistent-hashing
collector_not_ready_grace_period: 30s
collector_selector:
  matchlabels:
    app.kubernetes.io/component: opentelemetry-collector
    app.kubernetes.io/instance: opentelemetry.otelcol
    app.kubernetes.io/managed-by: opentelemetry-operator
    app.kubernetes.io/part-of: opentelemetry
  matchexpressions: []
config:
  scrape_configs:
  - job_name: otel-collector
    scrape_interval: 10s
    static_configs:
    - targets:
      - 0.0.0.0:8888
filter_strategy: relabel-config
prometheus_cr:
  enabled: true
  evaluation_interval: 30s
  pod_monitor_namespace_selector:
    matchlabels: {}
    matchexpressions: []
  pod_monitor_selector:
    matchlabels: {}
    matchexpressions: []
  probe_namespace_selector:
    matchlabels: {}
    matchexpressions: []
  probe_selector: null
  scrape_config_namespace_selector:
    matchlabels: {}
    matchexpressions: []
  scrape_config_selector: null
  scrape_interval: 30s
  service_monitor_namespace_selector:
    matchlabels: {}
    matchexpressions: []
  service_monitor_selector:
    matchlabels: {}
    matchexpressions: []
"""

MINIMAL = "config: {scrape_configs: [{job_name: j, static_configs: [{targets: ['a:1']}]}]}\n"
COLLECTOR_POD = {
    "app.kubernetes.io/component": "opentelemetry-collector",
    "app.kubernetes.io/instance": "opentelemetry.otelcol",
    "app.kubernetes.io/managed-by": "opentelemetry-operator",
    "app.kubernetes.io/part-of": "opentelemetry",
    "statefulset.kubernetes.io/pod-name": "otelcol-collector-0",
}


def problems(text: str, **kwargs: object) -> list[str]:
    """Every problem load_config reports, as `path: message`."""
    with pytest.raises(ConfigError) as info:
        load_config(text, **kwargs)  # type: ignore[arg-type]
    return [f"{p.field}: {p.message}" for p in info.value.problems]


# --- What the operator writes -----------------------------------------------------------------------------------------


def test_operator_yaml_loads_with_its_values() -> None:
    config = load_config(OPERATOR_YAML, env=NS)
    assert config.collector_namespace == "opentelemetry"
    assert config.allocation_strategy == "consistent-hashing"
    assert config.filter_strategy == "relabel-config"
    assert config.collector_not_ready_grace_period == 30_000
    assert config.collector_selector is not None
    assert config.collector_selector.matches(COLLECTOR_POD)
    assert not config.collector_selector.matches({**COLLECTOR_POD, "app.kubernetes.io/instance": "default.otelcol"})
    assert [job.job_name for job in config.config.jobs] == ["otel-collector"]
    assert config.config.jobs[0].scrape_interval == 10_000
    assert config.config.scrape_configs[0]["static_configs"] == [{"targets": ["0.0.0.0:8888"]}]
    cr = config.prometheus_cr
    assert cr.enabled
    assert (cr.scrape_interval, cr.evaluation_interval) == (30_000, 30_000)
    assert cr.service_monitor_selector == LabelSelector()
    assert cr.pod_monitor_selector == LabelSelector()
    assert cr.probe_selector is None
    assert cr.scrape_config_selector is None
    assert cr.service_monitor_namespace_selector.selects_everything
    assert cr.scrape_protocols == DEFAULT_SCRAPE_PROTOCOLS


def test_operator_yaml_without_the_namespace_is_refused_as_upstream_does() -> None:
    assert problems(OPERATOR_YAML) == [
        "collector_namespace: required; set it in the file or with the OTELCOL_NAMESPACE environment variable "
        "(the operator sets that from the pod's namespace)"
    ]


def test_to_dict_renders_the_operator_yaml_back() -> None:
    """Every key the operator wrote comes back with the same value; the rest are upstream's defaults."""
    written = yaml.safe_load(OPERATOR_YAML)
    rendered = to_dict(load_config(OPERATOR_YAML, env=NS))

    def contains(outer: object, inner: object) -> bool:
        if isinstance(inner, dict):
            return isinstance(outer, dict) and all(k in outer and contains(outer[k], v) for k, v in inner.items())
        return outer == inner

    assert contains(rendered, written)
    assert rendered["listen_addr"] == ":8080"
    assert rendered["https"]["listen_addr"] == ":8443"
    assert "collectors" not in rendered
    # Plain data: it survives a YAML round trip through the safe dumper.
    assert yaml.safe_load(yaml.safe_dump(rendered)) == rendered
    assert load_config(yaml.safe_dump(rendered)) == load_config(OPERATOR_YAML, env=NS)


def test_to_dict_keeps_scalars_typed() -> None:
    text = MINIMAL.replace("job_name: j,", "job_name: j, honor_labels: true, sample_limit: 10,")
    rendered = to_dict(load_config(text, env=NS))["config"]["scrape_configs"][0]
    assert rendered["honor_labels"] is True
    assert type(rendered["sample_limit"]) is int


# --- Defaults ---------------------------------------------------------------------------------------------------------


def test_defaults() -> None:
    config = load_config(MINIMAL, env=NS)
    assert dataclasses.replace(config, config=AllocatorConfig().config, collector_namespace="") == AllocatorConfig()
    assert config.listen_addr == ":8080"
    assert config.kube_config_file_path == DEFAULT_KUBECONFIG
    assert config.collector_selector is None
    assert config.collectors is None
    assert config.allocation_strategy == "consistent-hashing"
    assert config.allocation_fallback_strategy == ""
    assert config.filter_strategy == "relabel-config"
    assert config.collector_not_ready_grace_period == 30_000
    assert not config.allow_insecure_auth_secrets
    cr = config.prometheus_cr
    assert not cr.enabled
    assert (cr.scrape_interval, cr.evaluation_interval) == (30_000, 0)
    assert cr.scrape_protocols == (
        "OpenMetricsText1.0.0",
        "OpenMetricsText0.0.1",
        "PrometheusText1.0.0",
        "PrometheusText0.0.4",
    )
    assert cr.service_monitor_selector is None
    assert cr.probe_namespace_selector == LabelSelector()
    assert (cr.allow_namespaces, cr.deny_namespaces, cr.secret_namespaces, cr.scrape_classes) == ((), (), (), ())
    assert (config.https.enabled, config.https.listen_addr, config.https.ca_file_path) == (False, ":8443", "")
    assert config.telemetry.readers == ()
    assert config.config.defaults.scrape_interval == 60_000


def test_null_keeps_the_default_everywhere() -> None:
    text = MINIMAL + (
        "listen_addr: null\nallocation_strategy: null\nfilter_strategy: null\ncollector_not_ready_grace_period: null\n"
        "prometheus_cr: {scrape_interval: null, service_monitor_namespace_selector: null}\nhttps: null\n"
    )
    config = load_config(text, env=NS)
    assert config == load_config(MINIMAL, env=NS)


def test_grace_period_zero_turns_readiness_filtering_off() -> None:
    for value in ("0", "0s", '"0"'):
        assert (
            load_config(
                MINIMAL + f"collector_not_ready_grace_period: {value}\n", env=NS
            ).collector_not_ready_grace_period
            == 0
        )


# --- Selectors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", [("matchlabels", "matchexpressions"), ("matchLabels", "matchExpressions")], ids=["lower", "camel"]
)
def test_selectors_in_both_key_spellings(spelling: tuple[str, str]) -> None:
    labels, exprs = spelling
    text = MINIMAL + (
        f"collector_selector:\n  {labels}: {{app: otel}}\n"
        f"  {exprs}:\n  - {{key: tier, operator: In, values: [a, b]}}\n  - {{key: canary, operator: DoesNotExist}}\n"
    )
    selector = load_config(text, env=NS).collector_selector
    assert selector == LabelSelector(
        match_labels=(("app", "otel"),),
        match_expressions=(
            SelectorRequirement("tier", "In", ("a", "b")),
            SelectorRequirement("canary", "DoesNotExist"),
        ),
    )
    assert selector.matches({"app": "otel", "tier": "b"})
    assert not selector.matches({"app": "otel", "tier": "c"})
    assert not selector.matches({"app": "otel", "tier": "a", "canary": "yes"})
    assert selector.query() == "app=otel,!canary,tier in (a,b)"


def test_camel_case_wins_when_both_spellings_are_given() -> None:
    text = MINIMAL + "collector_selector: {matchLabels: {a: camel}, matchlabels: {a: lower}}\n"
    selector = load_config(text, env=NS).collector_selector
    assert selector is not None
    assert selector.match_labels == (("a", "camel"),)


@pytest.mark.parametrize(
    ("value", "selects"),
    [
        ("null", None),
        ("{}", "all"),
        ("{matchlabels: {}, matchexpressions: []}", "all"),
        ("{matchLabels: {x: y}}", "x=y"),
    ],
)
def test_monitor_selector_null_selects_none_and_empty_selects_all(value: str, selects: str | None) -> None:
    cr = load_config(f"prometheus_cr: {{enabled: true, service_monitor_selector: {value}}}\n", env=NS).prometheus_cr
    if selects is None:
        assert cr.service_monitor_selector is None
    else:
        assert cr.service_monitor_selector is not None
        assert cr.service_monitor_selector.selects_everything == (selects == "all")
        assert cr.service_monitor_selector.matches({"x": "y"})
        assert cr.service_monitor_selector.matches({}) == (selects == "all")


def test_namespace_selector_null_still_means_all_namespaces() -> None:
    cr = load_config("prometheus_cr: {enabled: true, pod_monitor_namespace_selector: null}\n", env=NS).prometheus_cr
    assert cr.pod_monitor_namespace_selector == LabelSelector()


# --- Errors -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("listn_addr: ':8080'", 'listn_addr: unknown key; did you mean "listen_addr"?'),
        ("prometheus_cr: {enable: true}", 'prometheus_cr.enable: unknown key; did you mean "enabled"?'),
        ("https: {ca_file: x}", 'https.ca_file: unknown key; did you mean "ca_file_path"?'),
        (
            "collector_selector: {matchLabel: {a: b}}",
            'collector_selector.matchLabel: unknown key; did you mean "matchLabels"?',
        ),
        ("zzz: 1", "zzz: unknown key; known keys: listen_addr, kube_config_file_path, collector_selector,"),
        ("listen_addr: 8080", "listen_addr: expected a string, got integer 8080; quote it"),
        (
            "listen_addr: localhost",
            'listen_addr: "localhost" is not a host:port address; use e.g. ":8080" or "0.0.0.0:8080"',
        ),
        (
            "allow_insecure_auth_secrets: 'true'",
            'allow_insecure_auth_secrets: expected true or false, got string "true"',
        ),
        ("prometheus_cr: []", "prometheus_cr: expected a mapping of keys, got a list"),
        (
            "allocation_strategy: round-robin",
            'allocation_strategy: "round-robin" is not allowed; '
            'use one of "consistent-hashing", "least-weighted", "per-node"',
        ),
        (
            "allocation_strategy: per_node",
            'allocation_strategy: "per_node" is not allowed; '
            'use one of "consistent-hashing", "least-weighted", "per-node"; did you mean "per-node"?',
        ),
        (
            "filter_strategy: relabel_config",
            'filter_strategy: "relabel_config" is not allowed; use one of "relabel-config", ""; '
            'did you mean "relabel-config"?',
        ),
        (
            "allocation_fallback_strategy: nope",
            'allocation_fallback_strategy: "nope" is not allowed; '
            'use one of "", "consistent-hashing", "least-weighted"',
        ),
        (
            "allocation_fallback_strategy: per-node",
            'allocation_fallback_strategy: "per-node" cannot be the fallback: the fallback places targets that have no '
            'node; use "consistent-hashing" or "least-weighted"',
        ),
        (
            "prometheus_cr: {scrape_interval: 30x}",
            'prometheus_cr.scrape_interval: "30x" is not a duration; use e.g. 30s or 1m30s',
        ),
        (
            "prometheus_cr: {scrape_interval: 1.5m}",
            'prometheus_cr.scrape_interval: "1.5m" is not a duration; use e.g. 30s or 1m30s',
        ),
        (
            "prometheus_cr: {scrape_interval: 0s}",
            "prometheus_cr.scrape_interval: must be greater than 0; use e.g. 30s or 1m30s",
        ),
        (
            "prometheus_cr: {evaluation_interval: [1]}",
            "prometheus_cr.evaluation_interval: expected a duration, got a list; use e.g. 30s or 1m30s",
        ),
        (
            "collector_not_ready_grace_period: 30",
            "collector_not_ready_grace_period: 30 has no unit; use e.g. 30s or 1m30s",
        ),
        (
            "collector_not_ready_grace_period: 30 s",
            'collector_not_ready_grace_period: "30 s" is not a duration; use e.g. 30s or 1m30s',
        ),
        (
            "collector_not_ready_grace_period: -5s",
            'collector_not_ready_grace_period: "-5s" is negative; use 0 to turn the grace period off, or e.g. 30s',
        ),
        (
            "prometheus_cr: {scrape_protocols: [PrometheusText0.0.4, Proto]}",
            'prometheus_cr.scrape_protocols: "Proto" is not a scrape protocol; '
            "use any of PrometheusProto, OpenMetricsText0.0.1, OpenMetricsText1.0.0, "
            "PrometheusText0.0.4, PrometheusText1.0.0",
        ),
        (
            "prometheus_cr: {allow_namespaces: [a, 1]}",
            "prometheus_cr.allow_namespaces[1]: expected a string, got integer 1",
        ),
        (
            "prometheus_cr: {scrape_classes: [{name: a}, {name: a}]}",
            'prometheus_cr.scrape_classes: [1] repeats the scrape class name "a"; names must be unique',
        ),
        (
            "collector_selector: {matchlabels: {app: true}}",
            "collector_selector.matchlabels.app: expected a string, got boolean true; quote it",
        ),
        (
            "collector_selector: {matchExpressions: [{key: a, operator: In}]}",
            "collector_selector.matchExpressions[0].values: must not be empty for operator In",
        ),
        (
            "collector_selector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}",
            "collector_selector.matchExpressions[0].values: must be empty for operator Exists",
        ),
        (
            "collector_selector: {matchExpressions: [{key: a, operator: in, values: [x]}]}",
            'collector_selector.matchExpressions[0].operator: "in" is not allowed; '
            'use one of "In", "NotIn", "Exists", "DoesNotExist"; did you mean "In"?',
        ),
        (
            "collector_selector: {matchExpressions: [{operator: Exists}]}",
            "collector_selector.matchExpressions[0].key: required; name the label to test",
        ),
        (
            "collectors: []",
            "collectors: is empty; list at least one collector name, or remove the key to discover collector pods",
        ),
        ("collectors: [a, a]", 'collectors: [1] repeats "a"; each collector is listed once'),
        (
            "https: {enabled: true, ca_file_path: /tls/ca.crt, tls_cert_file_path: /tls/tls.crt}",
            "https.tls_key_file_path: required when https.enabled is true; e.g. /tls/tls.key",
        ),
        (
            "prometheus_cr: {allow_namespaces: [a], deny_namespaces: [b]}",
            "prometheus_cr.deny_namespaces: cannot be used together with prometheus_cr.allow_namespaces; "
            "keep one of them",
        ),
        (
            "telemetry: {metrics: {readers: [{periodic: {exporter: {}}}]}}",
            "telemetry.metrics.readers[0].periodic.exporter: must configure exactly one of otlp_grpc, otlp_http",
        ),
    ],
)
def test_each_kind_of_error(extra: str, expected: str) -> None:
    found = problems(MINIMAL + extra + "\n", env=NS)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_all_problems_are_listed_at_once() -> None:
    text = "listn_addr: x\nallocation_strategy: rr\nprometheus_cr: {scrape_interval: 30x}\ncollectors: [a]\n"
    with pytest.raises(ConfigError) as info:
        load_config(text, source="/conf/targetallocator.yaml")
    message = str(info.value)
    assert message.splitlines()[0] == "/conf/targetallocator.yaml: 3 problems:"
    assert [p.field for p in info.value.problems] == [
        "listn_addr",
        "allocation_strategy",
        "prometheus_cr.scrape_interval",
    ]
    assert all(p.obj == "/conf/targetallocator.yaml" for p in info.value.problems)


def test_nothing_to_allocate_still_starts() -> None:
    """Upstream's allocator starts without jobs; so does a TargetAllocator that no collector uses yet."""
    config = load_config("collector_namespace: obs\n")
    assert not config.config.scrape_configs
    assert not config.prometheus_cr.enabled


def test_a_broken_key_is_not_reported_again_by_the_rules_that_read_it() -> None:
    # collectors is broken, so the namespace rule (which depends on it) stays quiet.
    assert problems(MINIMAL + "collectors: 3\n") == ["collectors: expected a list of collector names, got integer 3"]


@pytest.mark.parametrize(
    ("scrape_config", "expected"),
    [
        (
            "{job_name: web, relabel_configs: [{action: keep, regex: a}, {action: kep}]}",
            'config.scrape_configs[0]: job "web": relabel_configs[1].action: unknown relabel action "kep"',
        ),
        (
            "{job_name: web, relabel_configs: [{source_labels: [a], regex: '(', action: keep}]}",
            'config.scrape_configs[0]: job "web": relabel_configs[0].regex: "(" is not a valid Go regular expression',
        ),
        (
            "{job_name: web, metric_relabel_configs: [{targt_label: x}]}",
            'config.scrape_configs[0]: job "web": metric_relabel_configs[0]: unknown field "targt_label"',
        ),
        (
            "{job_name: web, scrape_interval: 5x}",
            'config.scrape_configs[0]: job "web": scrape_interval: not a valid duration',
        ),
        ("{job_name: ''}", "config.scrape_configs[0]: job_name is empty"),
        ("null", "config.scrape_configs[0]: expected a scrape config mapping; empty or null scrape config section"),
        (
            "{job_name: web, static_configs: [{targets: ['http://a:1']}]}",
            'config.scrape_configs[0]: job "web": static_configs[0].targets[0]: "http://a:1" is not a valid hostname',
        ),
    ],
)
def test_scrape_config_errors_name_the_job_rule_and_field(scrape_config: str, expected: str) -> None:
    found = problems(f"config: {{scrape_configs: [{scrape_config}]}}\n", env=NS)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_scrape_config_reports_a_bad_rule_next_to_another_problem() -> None:
    text = "config: {scrape_configs: [{job_name: w, scrape_interval: 5x, relabel_configs: [{action: kep}]}]}\n"
    assert [p.split(":")[2].strip() for p in problems(text, env=NS)] == ["relabel_configs[0].action", "scrape_interval"]


def test_duplicate_job_names_and_bad_prometheus_sections() -> None:
    text = (
        "config:\n  global: {scrape_timeout: 2m}\n  scrape_config: []\n"
        "  scrape_configs: [{job_name: a}, {job_name: a}]\n"
    )
    assert problems(text, env=NS) == [
        'config.scrape_config: unknown key; did you mean "scrape_configs"?',
        "config.global: scrape_timeout: global scrape timeout greater than scrape interval",
        'config.scrape_configs[1].job_name: found multiple scrape configs with job name "a"',
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [\n", "<yaml>: not valid YAML at line 2, column 1: expected the node content, but found '<stream end>'"),
        ("a: 1\na: 2\n", "<yaml>: not valid YAML at line 2, column 1: mapping key 'a' already defined"),
        (
            "listen_addr: ':1'\n  bad: indent\n",
            "<yaml>: not valid YAML at line 2, column 3: expected <block end>",
        ),
        ("- just\n- a list\n", "<root>: expected a mapping of keys, got a list"),
        ("a: " + "[" * 400 + "]" * 400, "<yaml>: parsing YAML: nested too deeply"),
    ],
)
def test_bad_yaml_names_the_line(text: str, expected: str) -> None:
    assert problems(text, env=NS)[0].startswith(expected)


@pytest.mark.parametrize(
    "text", ["", "\x00", "{", "a: !!python/object:os.system x", "? [a]\n: b\n", "config: {scrape_configs: {}}"]
)
def test_no_traceback_for_any_bad_input(text: str) -> None:
    with pytest.raises(ConfigError):
        load_config(text)


# --- per-node and its fallback ----------------------------------------------------------------------------------------


def test_per_node_with_fallback_loads() -> None:
    config = load_config(
        MINIMAL + "allocation_strategy: per-node\nallocation_fallback_strategy: consistent-hashing\n", env=NS
    )
    assert (config.allocation_strategy, config.allocation_fallback_strategy) == ("per-node", "consistent-hashing")


def test_fallback_is_accepted_with_other_strategies() -> None:
    # The operator writes it (behind its feature gate) whatever the strategy; only per-node uses it.
    config = load_config(
        MINIMAL + "allocation_strategy: least-weighted\nallocation_fallback_strategy: consistent-hashing\n", env=NS
    )
    assert config.allocation_fallback_strategy == "consistent-hashing"


# --- collectors: (running without Kubernetes) ------------------------------------------------------------------------


def test_collectors_mode_needs_no_namespace() -> None:
    config = load_config(MINIMAL + "collectors: [scraper-a, scraper-b]\n")
    assert config.collectors == ("scraper-a", "scraper-b")
    assert not config.uses_kubernetes
    assert to_dict(config)["collectors"] == ["scraper-a", "scraper-b"]


def test_collectors_mode_with_prometheus_crs_still_needs_the_namespace() -> None:
    assert problems("collectors: [a]\nprometheus_cr: {enabled: true}\n")[0].startswith("collector_namespace: required")
    assert load_config("collectors: [a]\nprometheus_cr: {enabled: true}\n", env=NS).uses_kubernetes


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("collector_selector: {matchlabels: {a: b}}", "collectors: cannot be used together with collector_selector"),
        ("collector_selector: {}", "collectors: cannot be used together with collector_selector"),
        ("allocation_strategy: per-node", 'allocation_strategy: "per-node" needs each collector\'s node'),
    ],
)
def test_collectors_mode_contradictions(extra: str, expected: str) -> None:
    found = problems(MINIMAL + "collectors: [a]\n" + extra + "\n")
    assert len(found) == 1
    assert found[0].startswith(expected)


def test_collectors_with_a_null_selector_is_fine() -> None:
    assert load_config(MINIMAL + "collectors: [a]\ncollector_selector: null\n").collectors == ("a",)


# --- Environment and flags --------------------------------------------------------------------------------------------


def test_environment_overrides_the_file() -> None:
    text = MINIMAL + "collector_namespace: from-file\n"
    assert load_config(text).collector_namespace == "from-file"
    assert load_config(text, env={"OTELCOL_NAMESPACE": "from-env"}).collector_namespace == "from-env"
    assert load_config(text, env={"ALLOW_INSECURE_AUTH_SECRETS": "true"}).allow_insecure_auth_secrets
    assert problems(text, env={"ALLOW_INSECURE_AUTH_SECRETS": "yes please"}) == [
        '$ALLOW_INSECURE_AUTH_SECRETS: "yes please" is not true or false'
    ]


def test_parse_flags() -> None:
    flags = parse_flags(
        [
            "--config-file=/etc/ta.yaml",
            "--listen-addr",
            ":9090",
            "-kubeconfig-path=/k",
            "--enable-prometheus-cr-watcher",
            "--enable-https-server=false",
            "--zap-log-level=debug",
            "--zap-devel",
        ]
    )
    assert flags == Flags(
        config_file="/etc/ta.yaml",
        listen_addr=":9090",
        kubeconfig_path="/k",
        enable_prometheus_cr_watcher=True,
        enable_https_server=False,
        zap=(("zap-log-level", "debug"), ("zap-devel", "true")),
    )


def test_bad_flags_are_all_reported() -> None:
    with pytest.raises(ConfigError) as info:
        parse_flags(["--listen-adr=:1", "--enable-https-server=maybe", "stray", "--https-ca-file"])
    assert [f"{p.field}: {p.message}" for p in info.value.problems] == [
        '--listen-adr: unknown flag; did you mean "--listen-addr"?',
        '--enable-https-server: "maybe" is not true or false',
        "stray: unexpected argument; flags look like --listen-addr=:8080",
        "--https-ca-file: needs a value",
    ]


def test_flags_override_the_file_and_are_validated() -> None:
    flags = parse_flags(
        [
            "--listen-addr=:9999",
            "--kubeconfig-path=/k",
            "--enable-prometheus-cr-watcher",
            "--allow-insecure-auth-secrets",
        ]
    )
    config = load_config("listen_addr: ':1'\ncollector_namespace: n\n", flags=flags)  # no jobs, but CRs via the flag
    assert (config.listen_addr, config.kube_config_file_path) == (":9999", "/k")
    assert config.prometheus_cr.enabled
    assert config.allow_insecure_auth_secrets
    https = Flags(
        enable_https_server=True,
        https_ca_file="/c",
        https_tls_cert_file="/t",
        https_tls_key_file="/k",
        listen_addr_https=":9443",
    )
    assert load_config(MINIMAL, env=NS, flags=https).https == dataclasses.replace(
        AllocatorConfig().https,
        enabled=True,
        listen_addr=":9443",
        ca_file_path="/c",
        tls_cert_file_path="/t",
        tls_key_file_path="/k",
    )
    assert problems(MINIMAL, env=NS, flags=Flags(enable_https_server=True))[0].startswith(
        "https.ca_file_path: required"
    )
    assert problems(MINIMAL, env=NS, flags=Flags(listen_addr="nope"))[0].startswith(
        '--listen-addr: "nope" is not a host:port'
    )


def test_apply_overrides_rechecks() -> None:
    config = load_config(MINIMAL, env=NS)
    assert apply_overrides(config, flags=Flags(listen_addr=":1")).listen_addr == ":1"
    with pytest.raises(ConfigError, match=r"https\.ca_file_path: required"):
        apply_overrides(config, flags=Flags(enable_https_server=True))


def test_read_config_reads_the_flag_file(tmp_path: Path) -> None:
    path = tmp_path / "targetallocator.yaml"
    path.write_text(OPERATOR_YAML)
    assert read_config(Flags(config_file=str(path)), NS) == load_config(OPERATOR_YAML, env=NS)
    with pytest.raises(ConfigError, match="cannot read the config file"):
        read_config(Flags(config_file=str(tmp_path / "missing.yaml")), NS)


# --- Durations --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms", "rendered"),
    [
        ("30s", 30_000, "30s"),
        ("2m0s", 120_000, "2m0s"),
        ("1m30.5s", 90_500, "1m30.5s"),
        ("300ms", 300, "300ms"),
        ("1h", 3_600_000, "1h0m0s"),
        (".5s", 500, "500ms"),
        ("1500us", 1, "1ms"),
        ("0", 0, "0s"),
    ],
)
def test_go_durations(text: str, ms: int, rendered: str) -> None:
    assert parse_go_duration(text) == ms
    assert format_go_duration(ms) == rendered


@pytest.mark.parametrize("text", ["", "30", "1x", "s", ".s", "1h-2m", "1 s"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "config: {global: {scrape_intervall: 5s}}\n",
            ['config.global.scrape_intervall: unknown key; did you mean "scrape_interval"?'],
        ),
        (
            "config: {scrape_configs: [{job_name: a, scrape_intervall: 5s, static_configs: [{targets: ['x:1']}]}]}\n",
            ['config.scrape_configs[0].scrape_intervall: unknown key; did you mean "scrape_interval"?'],
        ),
        (
            "config: {scrape_configs: [{job_name: a, static_configs: [{targets: ['x:1'], lables: {a: b}}]}]}\n",
            ['config.scrape_configs[0].static_configs[0].lables: unknown key; did you mean "labels"?'],
        ),
        (
            "config: {scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, namespace: {names: [x]}}]}]}"
            "\n",
            ['config.scrape_configs[0].kubernetes_sd_configs[0].namespace: unknown key; did you mean "namespaces"?'],
        ),
    ],
)
def test_unknown_scrape_config_keys_are_refused_at_start(text: str, expected: list[str]) -> None:
    """As Prometheus reads the file: a typo is refused with the key it meant, not dropped to leave the default."""
    assert problems(text, env=NS) == expected


def test_free_form_maps_in_a_scrape_config_take_any_key() -> None:
    text = (
        "config: {scrape_configs: [{job_name: a, params: {modul: [x]}, "
        "static_configs: [{targets: ['x:1'], labels: {lables: b}}]}]}\n"
    )
    [job] = load_config(text, env=NS).config.jobs
    assert job.job_name == "a"
