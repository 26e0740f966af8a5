"""targetallocator.yaml (reference §5.2): upstream's text exactly (no collector_namespace: the allocator takes it from
OTELCOL_NAMESPACE, set from the downward API), and it loads in our allocator."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.allocator.config import ConfigError, load_config
from otel_operator.manifests import build, defaults
from otel_operator.manifests.allocator_config import allocator_config, allocator_yaml, go_duration, selector

from .common import SCRAPING_CONFIG, allocating, built, collector, find

# Reference §5.2: statefulset collector `stateful` in namespace `obs`, one scrape job, prometheusCR with {} service
# and pod monitor selectors, CRD defaults applied.
EXPECTED = """\
allocation_strategy: consistent-hashing
collector_not_ready_grace_period: 30s
collector_selector:
  matchlabels:
    app.kubernetes.io/component: opentelemetry-collector
    app.kubernetes.io/instance: obs.stateful
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


def stateful() -> dict[str, Any]:
    config = {
        "receivers": {
            "prometheus": {
                "config": {
                    "scrape_configs": [
                        {
                            "job_name": "otel-collector",
                            "scrape_interval": "10s",
                            "static_configs": [{"targets": ["0.0.0.0:8888"]}],
                        }
                    ]
                }
            }
        },
        "exporters": {"debug": {}},
        "service": {"pipelines": {"metrics": {"receivers": ["prometheus"], "exporters": ["debug"]}}},
    }
    return collector(
        "stateful",
        "obs",
        config=config,
        mode="statefulset",
        targetAllocator={
            "enabled": True,
            "prometheusCR": {"enabled": True, "serviceMonitorSelector": {}, "podMonitorSelector": {}},
        },
    )


def allocator_text(resource: dict[str, Any]) -> str:
    return str(find(built(resource), "ConfigMap", "stateful-targetallocator")["data"]["targetallocator.yaml"])


def test_matches_upstream_and_loads() -> None:
    text = allocator_text(stateful())
    assert text == EXPECTED
    config = load_config(text, env={"OTELCOL_NAMESPACE": "obs"})  # as the pod runs it
    assert config.collector_namespace == "obs"
    assert [job.job_name for job in config.config.jobs] == ["otel-collector"]


NAMESPACE_ENV = {"name": "OTELCOL_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}


def test_the_namespace_reaches_the_allocator_through_the_downward_api_not_the_file() -> None:
    result = built(stateful())
    text = find(result, "ConfigMap", "stateful-targetallocator")["data"]["targetallocator.yaml"]
    assert "collector_namespace" not in text
    deployment = find(result, "Deployment", "stateful-targetallocator")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert NAMESPACE_ENV in container["env"]
    with pytest.raises(ConfigError, match="collector_namespace: required"):
        load_config(text)  # the env is what makes it complete: without it, the allocator refuses to start


@pytest.mark.parametrize(
    ("namespace", "written"),
    [(None, None), ("", None), ("obs", "obs")],
)
def test_collector_namespace_is_written_only_when_asked_for(namespace: str | None, written: str | None) -> None:
    config = allocator_config({}, namespace=namespace, collector_selector=None, collector_prometheus={})
    assert config.get("collector_namespace") == written


# Upstream's e2e targetallocator-cr (00-assert) and targetallocator-label (00-assert, 03-assert): a TargetAllocator
# no collector uses gets a ConfigMap with its own settings only, `collector_selector: null`.
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            None,  # `spec:` empty in the manifest: the API server drops the null, so no CRD default applies
            'allocation_strategy: consistent-hashing\ncollector_selector: null\nfilter_strategy: ""\n',
            id="empty-spec",
        ),
        pytest.param(
            {
                "allocationStrategy": "consistent-hashing",
                "filterStrategy": "relabel-config",
                "collectorNotReadyGracePeriod": "30s",
                "scrapeConfigs": [{"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]}],
            },
            "allocation_strategy: consistent-hashing\n"
            "collector_not_ready_grace_period: 30s\n"
            "collector_selector: null\n"
            "config:\n"
            "  scrape_configs:\n"
            "  - job_name: prometheus\n"
            "    static_configs:\n"
            "    - targets:\n"
            "      - localhost:9090\n"
            "filter_strategy: relabel-config\n",
            id="scrape-configs",
        ),
    ],
)
def test_a_target_allocator_without_a_collector_gets_upstreams_config(spec: Any, expected: str) -> None:
    resource: dict[str, Any] = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {"name": "ta", "namespace": "obs"},
    }
    if spec is not None:
        resource["spec"] = spec
    result = build(resource)
    assert not result.problems, [str(p) for p in result.problems]
    text = find(result, "ConfigMap", "ta-targetallocator")["data"]["targetallocator.yaml"]
    assert text == expected
    assert load_config(text, env={"OTELCOL_NAMESPACE": "obs"}).collector_namespace == "obs"


def test_relabel_replacements_are_unescaped_for_the_allocator() -> None:
    resource = stateful()
    job = resource["spec"]["config"]["receivers"]["prometheus"]["config"]["scrape_configs"][0]
    job["relabel_configs"] = [{"source_labels": ["__address__"], "target_label": "x", "replacement": "my_$$1"}]
    job["metric_relabel_configs"] = [{"source_labels": ["a"], "target_label": "b", "replacement": "$$1_$2"}]
    config = load_config(allocator_text(resource), env={"OTELCOL_NAMESPACE": "obs"})
    scrape = config.config.scrape_configs[0]
    assert scrape["relabel_configs"][0]["replacement"] == "my_$1"
    assert scrape["metric_relabel_configs"][0]["replacement"] == "$1_$2"


def test_values_from_the_spec() -> None:
    spec = {
        "allocationStrategy": "least-weighted",
        "filterStrategy": "",
        "collectorNotReadyGracePeriod": "2m",
        "allowInsecureAuthSecrets": True,
        "global": {"scrape_interval": "1m"},
        "scrapeConfigs": [{"job_name": "first"}],
        "prometheusCR": {
            "enabled": True,
            "serviceMonitorSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
            "scrapeProtocols": ["PrometheusProto"],
            "allowNamespaces": ["a"],
            "denyFSAccessThroughSMs": True,
        },
        "mtls": {"enabled": True},
    }
    config = allocator_config(
        spec,
        namespace="ns",
        collector_selector=None,
        collector_prometheus={"global": {"scrape_interval": "5s"}, "scrape_configs": [{"job_name": "second"}]},
    )
    assert config["allocation_strategy"] == "least-weighted"
    assert config["filter_strategy"] == ""
    assert config["collector_not_ready_grace_period"] == "2m0s"
    assert config["collector_selector"] is None
    assert config["allow_insecure_auth_secrets"] is True
    assert config["config"] == {  # the allocator's own global wins; its scrape configs come first
        "global": {"scrape_interval": "1m"},
        "scrape_configs": [{"job_name": "first"}, {"job_name": "second"}],
    }
    cr = config["prometheus_cr"]
    assert cr["service_monitor_selector"] == {
        "matchlabels": {},
        "matchexpressions": [{"key": "team", "operator": "Exists", "values": []}],
    }
    assert cr["pod_monitor_selector"] is None
    assert cr["scrape_protocols"] == ["PrometheusProto"]
    assert cr["allow_namespaces"] == ["a"]
    assert cr["deny_fs_access_through_sms"] is True
    assert config["https"]["listen_addr"] == ":8443"
    text = allocator_yaml(config)
    assert "  service_monitor_selector:\n    matchlabels: {}\n    matchexpressions:\n    - key: team\n" in text


def test_no_config_section_when_nothing_to_scrape_statically() -> None:
    config = allocator_config(
        {"prometheusCR": {"enabled": True}}, namespace="ns", collector_selector={}, collector_prometheus={}
    )
    assert "config" not in config


@pytest.mark.parametrize(("text", "expected"), [("30s", "30s"), ("1m", "1m0s"), ("90s", "1m30s"), ("1h", "1h0m0s")])
def test_go_duration(text: str, expected: str) -> None:
    assert go_duration(text) == expected


def test_selector_spelling() -> None:
    assert selector(None) is None
    assert selector({}) == {"matchlabels": {}, "matchexpressions": []}
    assert list(selector({"matchLabels": {"b": "1", "a": "2"}}) or {}) == ["matchlabels", "matchexpressions"]


def test_embedded_allocator_resource() -> None:
    resource = defaults.collector(
        collector(
            "c",
            labels={"team": "a"},
            annotations={"x": "y"},
            podAnnotations={"p": "q"},
            mode="statefulset",
            config=SCRAPING_CONFIG,
            targetAllocator={"enabled": True, "image": "ta:1", "collectorTargetReloadInterval": "1m"},
        )
    )
    ta = defaults.embedded_allocator(resource)
    assert ta["metadata"] == {
        "name": "c",
        "namespace": "ns",
        "labels": {"team": "a", "app.kubernetes.io/managed-by": "opentelemetry-operator"},
        "annotations": {"x": "y"},
    }
    assert ta["spec"]["image"] == "ta:1"
    assert ta["spec"]["replicas"] == 1
    assert ta["spec"]["podAnnotations"] == {"p": "q"}
    assert "collectorTargetReloadInterval" not in ta["spec"]  # the collector's, not the allocator's


def test_an_invalid_scrape_config_is_reported_at_the_collector_field() -> None:
    resource = allocating()
    job = resource["spec"]["config"]["receivers"]["prometheus"]["config"]["scrape_configs"][0]
    job["relabel_configs"] = [{"action": "keep", "source_labels": ["a"], "regex": "("}]
    result = build(resource)
    assert not result.objects
    assert [p.field for p in result.problems] == ["spec.config.receivers.prometheus.config.scrape_configs[0]"]
    assert result.problems[0].obj == "OpenTelemetryCollector ns/c"
    assert result.problems[0].message.endswith("(targetallocator.yaml: config.scrape_configs[0])")


# --- the gate operator.targetallocator.fallbackstrategy -------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["per-node", "consistent-hashing", "least-weighted"])
def test_fallback_gate_writes_consistent_hashing_whatever_the_strategy(strategy: str) -> None:
    # upstream's configmap.go writes the key for every strategy when the gate is on; only per-node reads it
    config = allocator_config(
        {"allocationStrategy": strategy}, namespace="ns", collector_selector={"a": "b"}, collector_prometheus={}
    )
    assert "allocation_fallback_strategy" not in config
    gated = allocator_config(
        {"allocationStrategy": strategy},
        namespace="ns",
        collector_selector={"a": "b"},
        collector_prometheus={},
        fallback_strategy=True,
    )
    assert gated["allocation_fallback_strategy"] == "consistent-hashing"
    text = allocator_yaml(gated)
    # yaml.v2 sorts the keys, so the fallback comes first
    assert text.startswith(f"allocation_fallback_strategy: consistent-hashing\nallocation_strategy: {strategy}\n")
    assert load_config(text).allocation_fallback_strategy == "consistent-hashing"


def test_per_node_with_the_fallback_places_a_target_without_a_node() -> None:
    from otel_operator.allocator.strategies import by_name
    from otel_operator.allocator.strategies.hashing import Collector, TargetRef

    text = allocator_yaml(
        allocator_config(
            {"allocationStrategy": "per-node"},
            namespace="ns",
            collector_selector={"a": "b"},
            collector_prometheus={},
            fallback_strategy=True,
        )
    )
    loaded = load_config(text)
    strategy = by_name(loaded.allocation_strategy, loaded.allocation_fallback_strategy or None)
    collectors = [Collector("col-0", node="n1"), Collector("col-1", node="n2")]
    targets = [
        TargetRef("on-n2", "job", "10.0.0.2:9100", node="n2"),
        TargetRef("apiserver", "job", "10.0.0.9:6443"),  # a control-plane target: no node
    ]
    assigned = strategy.assign(targets, collectors)
    assert assigned["on-n2"] == "col-1"
    assert assigned["apiserver"] in {"col-0", "col-1"}
    # without the gate, per-node leaves it unassigned, as upstream does
    assert by_name("per-node").assign(targets, collectors)["apiserver"] is None


def test_an_allocator_that_is_not_per_node_starts_with_the_gates_key() -> None:
    from otel_operator.allocator.app import Allocator

    text = allocator_yaml(
        allocator_config(
            {"allocationStrategy": "consistent-hashing"},
            namespace="ns",
            collector_selector={"a": "b"},
            collector_prometheus={},
            fallback_strategy=True,
        )
    )
    assert Allocator(load_config(text)).model is not None


def test_the_gate_reaches_the_built_config_map() -> None:
    from otel_operator.manifests import BuildOptions, featuregates

    gated = BuildOptions(feature_gates=featuregates.DEFAULT_ENABLED | {featuregates.ALLOCATOR_FALLBACK_STRATEGY})
    result = built(stateful(), options=gated)
    text = find(result, "ConfigMap", "stateful-targetallocator")["data"]["targetallocator.yaml"]
    assert "allocation_fallback_strategy: consistent-hashing\n" in text
    assert "allocation_fallback_strategy" not in allocator_text(stateful())
