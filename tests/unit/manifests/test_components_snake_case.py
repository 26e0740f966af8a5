"""The snake_case receiver names of collector-contrib (`fluent_forward` for `fluentforward`, ...): upstream 0.158
registers each under both spellings, so a config using the new one gets the same ports, port names (from the name
as written) and endpoint defaults as the old one."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from otel_operator.manifests import components
from otel_operator.manifests.components import ComponentError, Port


def config(name: str, conf: Any) -> dict[str, Any]:
    return {
        "receivers": {name: conf},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"logs": {"receivers": [name], "exporters": ["debug"]}}},
    }


# (new name, old name, receiver config)
PAIRS: list[tuple[str, str, Any]] = [
    ("fluent_forward", "fluentforward", {}),
    ("fluent_forward", "fluentforward", {"endpoint": "0.0.0.0:24224"}),
    ("fluent_forward", "fluentforward", None),
    ("tcp_log", "tcplog", {"listen_address": "0.0.0.0:54525"}),
    ("udp_log", "udplog", {"listen_address": "0.0.0.0:54526"}),
    ("kubelet_stats", "kubeletstats", {"endpoint": "https://${env:K8S_NODE_NAME}:10250"}),
    ("k8s_objects", "k8sobjects", {"objects": [{"name": "pods", "mode": "pull"}]}),
    ("ssh_check", "sshcheck", {"endpoint": "localhost:22"}),
    ("cloud_foundry", "cloudfoundry", {"rlp_gateway": {"endpoint": "https://log-stream.sys.example.com:443"}}),
    ("http_check", "httpcheck", {"targets": [{"endpoint": "http://localhost:80"}]}),
    ("flink_metrics", "flinkmetrics", {"endpoint": "http://localhost:8081"}),
]


@pytest.mark.parametrize(("new", "old", "conf"), PAIRS)
def test_new_spelling_infers_what_the_old_one_does(new: str, old: str, conf: Any) -> None:
    new_ports, _ = components.ports(config(new, conf))
    old_ports, _ = components.ports(config(old, conf))
    # Only the port name differs: it comes from the name as written.
    renamed = [dataclasses.replace(p, name=p.name.replace(old, new.replace("_", "-"))) for p in old_ports]
    assert new_ports == renamed
    assert (
        components.apply_defaults(config(new, conf))["receivers"][new]
        == (components.apply_defaults(config(old, conf))["receivers"][old])
    )


@pytest.mark.parametrize(
    ("name", "conf", "expected"),
    [
        ("fluent_forward", {}, [Port("fluent-forward", 8006, target_port=8006)]),
        ("fluent_forward/app", {"endpoint": "0.0.0.0:24224"}, [Port("port-24224", 24224, target_port=24224)]),
        ("tcp_log", {"listen_address": "0.0.0.0:54525"}, [Port("tcp-log", 54525, "TCP")]),
        ("udp_log", {"listen_address": "0.0.0.0:54526"}, [Port("udp-log", 54526, "UDP")]),
        # scrapers and watchers listen on nothing, whatever endpoint they name
        ("kubelet_stats", {"endpoint": "https://${env:K8S_NODE_NAME}:10250"}, []),
        ("k8s_objects", {}, []),
        ("ssh_check", {"endpoint": "localhost:22"}, []),
        ("cloud_foundry", {}, []),
        ("http_check", {"targets": [{"endpoint": "http://localhost:80"}]}, []),
        ("flink_metrics", {"endpoint": "http://localhost:8081"}, []),
    ],
)
def test_snake_case_ports(name: str, conf: Any, expected: list[Port]) -> None:
    listening, _ = components.ports(config(name, conf))
    assert listening == expected


@pytest.mark.parametrize(
    ("name", "conf", "expected"),
    [
        ("fluent_forward", {}, {"endpoint": "0.0.0.0:8006"}),
        ("fluent_forward", None, {"endpoint": "0.0.0.0:8006"}),
        ("fluent_forward", {"endpoint": ":24224"}, {"endpoint": "0.0.0.0:24224"}),
        ("fluent_forward", {"endpoint": "127.0.0.1:24224"}, {"endpoint": "127.0.0.1:24224"}),
        ("tcp_log", {"listen_address": "0.0.0.0:54525"}, {"listen_address": "0.0.0.0:54525"}),  # no default port
        ("kubelet_stats", {"auth_type": "serviceAccount"}, {"auth_type": "serviceAccount"}),
    ],
)
def test_snake_case_defaults(name: str, conf: Any, expected: Any) -> None:
    assert components.apply_defaults(config(name, conf))["receivers"][name] == expected


@pytest.mark.parametrize("name", ["tcp_log", "udp_log"])
def test_no_default_port_named_as_written(name: str) -> None:
    with pytest.raises(ComponentError) as info:
        components.ports(config(name, {}))
    assert info.value.path == f"receivers.{name}"
    assert info.value.message.startswith(f"{name} has no default port")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("fluent_forward", "fluentforward"),
        ("fluent_forward/logs", "fluentforward"),
        ("fluentforward", "fluentforward"),
        ("kubelet_stats", "kubeletstats"),
        ("splunk_hec", "splunk_hec"),  # its only name has always had the underscore
        ("aws_xray", "aws_xray"),  # a new name upstream does not know: an unknown receiver there too
    ],
)
def test_receiver_kind(name: str, kind: str) -> None:
    assert components.receiver_kind(name) == kind
