"""The troubleshooting guide's ServiceMonitor, and every golden case through `promtool check config`."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_operator.prom.labels import NameScheme
from otel_operator.prom.monitors.generate import GenerationResult, generate_from_documents, prometheus_config
from otel_operator.prom.monitors.options import GeneratorOptions
from otel_operator.prom.relabel import parse_relabel_configs
from tests.tools import debian_tool
from tests.unit.prom import (
    test_monitors_podmonitor,
    test_monitors_probe,
    test_monitors_scrapeconfig,
    test_monitors_servicemonitor,
)
from tests.unit.prom.test_monitors_servicemonitor import (
    JOB_RULE,
    PHASE_DROP,
    SERVICE_JOB,
    Case,
    check,
    dump,
    object_labels,
    run,
    sharding,
)

ROOT = Path(__file__).resolve().parents[3]

# As the guide gives it ("Do you know if metrics are actually being scraped?").
GUIDE_SERVICE_MONITOR = """
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: sm-example
  namespace: opentelemetry
  labels:
    app.kubernetes.io/name: py-prometheus-app
    release: prometheus
spec:
  selector:
    matchLabels:
      app: my-app
  namespaceSelector:
    matchNames:
      - opentelemetry
  endpoints:
    - port: prom
      path: /metrics
    - port: py-client-port
      interval: 15s
    - port: py-server-port
"""

APP_SELECTOR = """\
  - action: keep
    source_labels: [__meta_kubernetes_service_label_app, __meta_kubernetes_service_labelpresent_app]
    regex: (my-app);true
"""


def guide_job(index: int, port: str, settings: str) -> str:
    return (
        f"""\
- job_name: serviceMonitor/opentelemetry/sm-example/{index}
  honor_labels: false
  kubernetes_sd_configs:
  - role: endpointslice
    namespaces: {{names: [opentelemetry]}}
{settings}  relabel_configs:
"""
        + JOB_RULE
        + APP_SELECTOR
        + f"  - {{action: keep, source_labels: [__meta_kubernetes_endpointslice_port_name], regex: {port}}}\n"
        + object_labels()
        + PHASE_DROP
        + SERVICE_JOB
        + f"  - {{target_label: endpoint, replacement: {port}}}\n"
        + sharding()
    )


GUIDE = Case(
    "the guide's sm-example: one job per endpoint, each keeping app=my-app Services and its own port",
    GUIDE_SERVICE_MONITOR,
    guide_job(0, "prom", "  metrics_path: /metrics\n")
    + guide_job(1, "py-client-port", "  scrape_interval: 15s\n")
    + guide_job(2, "py-server-port", ""),
)


def test_the_guides_service_monitor() -> None:
    check(GUIDE)
    assert run(GUIDE).job_names == (
        "serviceMonitor/opentelemetry/sm-example/0",
        "serviceMonitor/opentelemetry/sm-example/1",
        "serviceMonitor/opentelemetry/sm-example/2",
    )


def test_the_guides_example_manifests_give_the_same_jobs_and_ignore_the_rest() -> None:
    documents = list(yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text()))
    result = generate_from_documents(documents, GeneratorOptions())
    assert result.errors == ()
    assert dump(list(result.scrape_configs)) == dump(list(run(GUIDE).scrape_configs))
    assert result.ignored == (
        "Namespace opentelemetry",
        "Service opentelemetry/py-prometheus-app",
        "OpenTelemetryCollector opentelemetry/otelcol",
    )


# ----------------------------------------------------------------------------------------------- the entry point


def _doc(kind: str, name: str, namespace: str = "default", spec: dict[str, Any] | None = None) -> dict[str, Any]:
    version = "v1alpha1" if kind == "ScrapeConfig" else "v1"
    return {
        "apiVersion": f"monitoring.coreos.com/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec or {},
    }


PROBE_SPEC = {"prober": {"url": "blackbox"}, "targets": {"staticConfig": {"static": ["a"]}}}


def test_kinds_come_in_prometheus_operators_order_each_sorted_by_namespace_and_name() -> None:
    documents = [
        _doc("ScrapeConfig", "s", spec={"staticConfigs": [{"targets": ["a:1"]}]}),
        _doc("Probe", "p", spec=PROBE_SPEC),
        _doc("PodMonitor", "pm", spec={"podMetricsEndpoints": [{"port": "web"}]}),
        _doc("ServiceMonitor", "z", namespace="a-b", spec={"endpoints": [{"port": "web"}]}),
        _doc("ServiceMonitor", "a", namespace="b", spec={"endpoints": [{"port": "web"}]}),
        _doc("ServiceMonitor", "y", namespace="a", spec={"endpoints": [{"port": "web"}]}),
    ]
    assert generate_from_documents(documents, GeneratorOptions()).job_names == (
        "serviceMonitor/a-b/z/0",  # "a-b/z" < "a/y": the key is compared as "<namespace>/<name>"
        "serviceMonitor/a/y/0",
        "serviceMonitor/b/a/0",
        "podMonitor/default/pm/0",
        "probe/default/p",
        "scrapeConfig/default/s",
    )


def test_lists_are_flattened_and_a_later_copy_of_an_object_wins() -> None:
    first = _doc("ServiceMonitor", "x", spec={"endpoints": [{"port": "old"}]})
    second = _doc("ServiceMonitor", "x", spec={"endpoints": [{"port": "new"}, {"port": "other"}]})
    result = generate_from_documents(
        [{"apiVersion": "v1", "kind": "List", "items": [first, second]}, None], GeneratorOptions()
    )
    assert result.job_names == ("serviceMonitor/default/x/0", "serviceMonitor/default/x/1")
    assert result.scrape_configs[0]["relabel_configs"][1]["regex"] == "new"


def test_a_misspelt_monitoring_kind_is_an_error_and_other_kinds_are_ignored() -> None:
    unnamed = _doc("ServiceMonitor", "", spec={"endpoints": [{"port": "web"}]})
    del unnamed["metadata"]["name"]
    documents = [
        _doc("ServiceMonitr", "typo"),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "default"}},
        unnamed,
    ]
    result = generate_from_documents(documents, GeneratorOptions())
    assert [(e.obj, e.field) for e in result.errors] == [
        ("ServiceMonitr default/typo", "kind"),
        ("ServiceMonitor default/<unnamed>", "metadata.name"),
    ]
    assert result.ignored == ("Deployment default/app",)


def test_options_from_the_allocators_prometheus_cr_block() -> None:
    options = GeneratorOptions.from_prometheus_cr(
        {"scrapeInterval": "1m", "denyFSAccessThroughSMs": True, "scrapeClasses": [{"name": "a", "default": True}]}
    )
    assert (options.scrape_interval, options.evaluation_interval) == ("1m", "30s")
    assert options.deny_fs_access_through_sms
    assert options.service_discovery_role == "EndpointSlice"
    assert options.shards == 1
    assert options.scrape_classes == ({"name": "a", "default": True},)
    with pytest.raises(ValueError, match="service_discovery_role"):
        GeneratorOptions(service_discovery_role="Pods")
    with pytest.raises(ValueError, match="unknown enforced limits"):
        GeneratorOptions(enforced_limits={"samples": 1})


# ----------------------------------------------------------------------------------------------- promtool

ALL_CASES: list[Case] = [
    GUIDE,
    *test_monitors_servicemonitor.CASES,
    *test_monitors_podmonitor.CASES,
    *test_monitors_probe.CASES,
    *test_monitors_scrapeconfig.CASES,
]

# Scrape-config keys newer than some Prometheus a test machine may have, with the release that added them.
# Only these are stripped for an older promtool; anything else it rejects fails the test.
NEWER_KEYS = {
    "no_proxy": (2, 43),
    "proxy_from_environment": (2, 43),
    "proxy_connect_header": (2, 43),
    "native_histogram_bucket_limit": (2, 45),
    "keep_dropped_targets": (2, 47),
    "track_timestamps_staleness": (2, 48),
    "enable_compression": (2, 49),
    "scrape_protocols": (2, 49),
    "native_histogram_min_bucket_factor": (2, 50),
    "always_scrape_classic_histograms": (3, 0),
    "fallback_scrape_protocol": (3, 0),
    "convert_classic_histograms_to_nhcb": (3, 0),
    "metric_name_validation_scheme": (3, 0),
    "metric_name_escaping_scheme": (3, 4),
    "scrape_native_histograms": (3, 8),
}
INLINE_TLS = (2, 43)  # tls_config ca/cert/key as text rather than files
_LEGACY_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _promtool_version(promtool: str) -> tuple[int, int]:
    out = subprocess.run([promtool, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"version (\d+)\.(\d+)", out)
    assert match, out
    return int(match[1]), int(match[2])


def _has_kubernetes_sd(promtool: str, tmp_path: Path) -> bool:
    """Debian's Prometheus build leaves Kubernetes service discovery out."""
    probe = tmp_path / "k8s-probe.yml"
    probe.write_text("scrape_configs:\n- job_name: p\n  kubernetes_sd_configs: [{role: pod}]\n")
    checked = subprocess.run([promtool, "check", "config", str(probe)], check=False, capture_output=True, text=True)
    return "kubernetes_sd_configs not found" not in checked.stdout + checked.stderr


def _for_promtool(config: dict[str, Any], version: tuple[int, int], kubernetes_sd: bool) -> dict[str, Any]:
    out = copy.deepcopy(config)
    for key, since in NEWER_KEYS.items():
        if version < since:
            out.pop(key, None)
    if version < INLINE_TLS:
        _drop_inline_tls(out)
    if not kubernetes_sd:
        out.pop("kubernetes_sd_configs", None)
    return out


def _drop_inline_tls(value: Any) -> None:
    """Remove inline ca/cert/key from every tls_config, at any depth (oauth2, service discovery)."""
    if isinstance(value, dict):
        tls = value.get("tls_config")
        if isinstance(tls, dict):
            for key in ("ca", "cert", "key"):
                tls.pop(key, None)
        for item in value.values():
            _drop_inline_tls(item)
    elif isinstance(value, list):
        for item in value:
            _drop_inline_tls(item)


def _needs_utf8_names(config: dict[str, Any]) -> bool:
    """Prometheus 2 accepts only legacy names as replace targets (e.g. the `ns-key` enforced label)."""
    rules = [*config.get("relabel_configs", []), *config.get("metric_relabel_configs", [])]
    return any(
        rule.get("action", "replace") == "replace"
        and "$" not in rule.get("target_label", "")
        and not _LEGACY_NAME.match(rule.get("target_label", "x"))
        for rule in rules
    )


def test_every_generated_config_passes_promtool(tmp_path: Path) -> None:
    promtool = debian_tool("promtool", "prometheus")
    version = _promtool_version(promtool)
    kubernetes_sd = _has_kubernetes_sd(promtool, tmp_path)

    options = GeneratorOptions()
    jobs: list[dict[str, Any]] = []
    skipped = []
    for number, case in enumerate(ALL_CASES):
        result = run(case)
        assert result.errors == (), case.name
        for config in result.scrape_configs:
            if version < (3, 0) and _needs_utf8_names(config):
                skipped.append(config["job_name"])
                continue
            adapted = _for_promtool(config, version, kubernetes_sd)
            adapted["job_name"] = f"{config['job_name']}/case{number}"  # several cases reuse default/test
            jobs.append(adapted)
    assert len(jobs) >= 50
    assert len(skipped) <= 2, skipped  # only the enforced-namespace-label cases

    path = tmp_path / "prometheus.yml"
    document = prometheus_config(GenerationResult(tuple(jobs), ()), options)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    # --syntax-only: the cases' ca_file and file_sd paths need not exist here.
    checked = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(path)], check=False, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_generated_relabel_chain_loads_as_prometheus_v3_loads_it() -> None:
    # Only the users' rules are validated while generating; this covers the injected ones too (job-name rule,
    # selectors, port filters, label copies, the shard block with its literal `$(SHARD)`), in every golden case.
    rules = 0
    for case in ALL_CASES:
        for config in run(case).scrape_configs:
            scheme = NameScheme(config.get("metric_name_validation_scheme", NameScheme.UTF8))
            for list_name in ("relabel_configs", "metric_relabel_configs"):
                loaded = parse_relabel_configs(
                    config.get(list_name), config["job_name"], scheme=scheme, list_name=list_name
                )
                rules += len(loaded)
    assert rules >= 500
