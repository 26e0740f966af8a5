"""collector.yaml, its hash, the webhook's config defaults, and the rewrite for the target allocator (reference §4),
checked against strings upstream's e2e tests assert verbatim."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from otel_operator.manifests import components
from otel_operator.manifests.collector_config import (
    AllocatorLink,
    allocator_yaml,
    config_hash,
    plain_yaml,
    rewrite_for_allocator,
)


def versioned(timeout: str) -> dict[str, Any]:
    """The collector of upstream's e2e test `versioned-configmaps`, as stored."""
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {}, "http": {}}}},
        "processors": {"batch": {"send_batch_size": 10000, "timeout": timeout}},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug"]}}},
    }


@pytest.mark.parametrize(("timeout", "prefix"), [("10s", "5723ff27"), ("20s", "dfcfaead")])
def test_hash_matches_upstreams_configmap_names(timeout: str, prefix: str) -> None:
    """`simple-collector-5723ff27` and `simple-collector-dfcfaead`: the names upstream gives these configs."""
    assert config_hash(components.apply_defaults(versioned(timeout))).startswith(prefix)


def test_hash_ignores_key_order_and_what_go_drops() -> None:
    config = components.apply_defaults(versioned("10s"))
    reordered = dict(reversed(list(config.items())))
    assert config_hash(reordered) == config_hash(config)
    assert config_hash({**config, "unknown_section": {"x": 1}}) == config_hash(config)
    assert config_hash({**config, "connectors": None}) == config_hash(config)
    assert config_hash({**config, "connectors": {}}) != config_hash(config)


# upstream e2e `smoke-targetallocator/00-assert.yaml`: the exact collector.yaml with a target allocator
SMOKE_INPUT: dict[str, Any] = {
    "receivers": {
        "jaeger": {"protocols": {"grpc": {}}},
        "prometheus": {
            "config": {
                "global": {
                    "scrape_interval": "30s",
                    "scrape_protocols": [
                        "PrometheusProto",
                        "OpenMetricsText1.0.0",
                        "OpenMetricsText0.0.1",
                        "PrometheusText0.0.4",
                    ],
                },
                "scrape_configs": [
                    {
                        "job_name": "otel-collector",
                        "scrape_interval": "10s",
                        "static_configs": [{"targets": ["0.0.0.0:8888"]}],
                    }
                ],
            }
        },
    },
    "exporters": {"debug": {}},
    "service": {"pipelines": {"traces": {"receivers": ["jaeger"], "exporters": ["debug"]}}},
}
SMOKE_EXPECTED = """\
exporters:
    debug: {}
receivers:
    jaeger:
        protocols:
            grpc:
                endpoint: 0.0.0.0:14250
    prometheus:
        config:
            global:
                scrape_interval: 30s
                scrape_protocols:
                    - PrometheusProto
                    - OpenMetricsText1.0.0
                    - OpenMetricsText0.0.1
                    - PrometheusText0.0.4
        target_allocator:
            collector_id: ${POD_NAME}
            endpoint: http://stateful-targetallocator:80
            interval: 30s
service:
    pipelines:
        traces:
            exporters:
                - debug
            receivers:
                - jaeger
    telemetry:
        metrics:
            readers:
                - pull:
                      exporter:
                          prometheus:
                              host: 0.0.0.0
                              port: 8888
"""


def test_collector_yaml_with_allocator_matches_upstream() -> None:
    config = components.apply_defaults(SMOKE_INPUT)
    assert allocator_yaml(config, AllocatorLink("stateful")) == SMOKE_EXPECTED


# upstream e2e `ta-collector-mtls/ta-disabled/00-assert.yaml`: struct order, indent 2, scrape configs kept
DISABLED_EXPECTED = """\
receivers:
  jaeger:
    protocols:
      grpc:
        endpoint: 0.0.0.0:14250
  prometheus:
    config:
      global:
        scrape_interval: 30s
        scrape_protocols:
          - PrometheusProto
          - OpenMetricsText1.0.0
          - OpenMetricsText0.0.1
          - PrometheusText0.0.4
      scrape_configs:
        - job_name: otel-collector
          scrape_interval: 10s
          static_configs:
            - targets:
                - 0.0.0.0:8888
exporters:
  debug: null
service:
  telemetry:
    metrics:
      address: 0.0.0.0:8888
  pipelines:
    traces:
      exporters:
        - debug
      receivers:
        - jaeger
"""


def test_collector_yaml_without_allocator_matches_upstream() -> None:
    config = copy.deepcopy(SMOKE_INPUT)
    config["exporters"] = {"debug": None}
    config["processors"] = None
    config["service"]["telemetry"] = {"metrics": {"address": "0.0.0.0:8888"}}
    assert plain_yaml(components.apply_defaults(config)) == DISABLED_EXPECTED


@pytest.mark.parametrize(
    ("receiver", "expected"),
    [
        ({}, {}),  # prometheusCR only: just the target_allocator block
        (None, {}),
        ({"config": {"scrape_configs": [{"job_name": "a"}]}}, {"config": {}}),  # config: {} stays
        (
            {"config": {"global": {"scrape_interval": "1m"}, "scrape_configs": []}},
            {"config": {"global": {"scrape_interval": "1m"}}},
        ),
        # the user's own target_allocator keys are kept, ours overwrite
        (
            {"target_allocator": {"endpoint": "http://elsewhere:80", "http_sd_config": {"refresh_interval": "60s"}}},
            {"target_allocator": {"http_sd_config": {"refresh_interval": "60s"}}},
        ),
    ],
)
def test_rewrite_of_the_prometheus_receiver(receiver: Any, expected: dict[str, Any]) -> None:
    config = {"receivers": {"prometheus": receiver}, "exporters": {}, "service": {"pipelines": {}}}
    rewritten = rewrite_for_allocator(config, AllocatorLink("c", interval="1m0s"))["receivers"]["prometheus"]
    target = {"endpoint": "http://c-targetallocator:80", "interval": "1m0s", "collector_id": "${POD_NAME}"}
    want = copy.deepcopy(expected)
    want["target_allocator"] = {**want.get("target_allocator", {}), **target}
    assert rewritten == want


def test_rewrite_keeps_escaped_dollars_and_other_receivers() -> None:
    config: dict[str, Any] = {
        "receivers": {
            "prometheus": {
                "config": {"scrape_configs": [{"job_name": "a", "relabel_configs": [{"replacement": "$$1"}]}]}
            },
            "prometheus/other": {"config": {"scrape_configs": [{"job_name": "b"}]}},
        },
        "exporters": {},
        "service": {"pipelines": {}},
    }
    rewritten = rewrite_for_allocator(config, AllocatorLink("c"))
    assert rewritten["receivers"]["prometheus/other"] == config["receivers"]["prometheus/other"]
    assert "$$" not in allocator_yaml(config, AllocatorLink("c"))  # the scrape configs moved out
    assert yaml.safe_load(allocator_yaml(config, AllocatorLink("c")))["receivers"]["prometheus"]["config"] == {}


def test_https_link() -> None:
    config = {"receivers": {"prometheus": {}}, "exporters": {}, "service": {"pipelines": {}}}
    target = rewrite_for_allocator(config, AllocatorLink("c", https=True))["receivers"]["prometheus"][
        "target_allocator"
    ]
    assert target["endpoint"] == "https://c-targetallocator:443"
    assert target["tls"] == {
        "ca_file": "/tls/ca.crt",
        "cert_file": "/tls/tls.crt",
        "key_file": "/tls/tls.key",
        "reload_interval": "5m",
    }
