"""The troubleshooting guide, end to end without a cluster: its Service and ServiceMonitor, with the Pod and the
EndpointSlice the guide's cluster had, become exactly the job list and the target the guide prints.

The objects carry the guide's own cluster-dependent values (pod UID, IPs, node, timestamps), so what we serve for
`serviceMonitor/opentelemetry/sm-example/0` under `otelcol-collector-0` can be compared label for label.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from otel_operator.prom.discovery.common import Role
from otel_operator.prom.discovery.index import DiscoveryIndex
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.monitors.generate import generate_from_documents
from otel_operator.prom.monitors.options import GeneratorOptions
from otel_operator.prom.targets import JobTargets, ScrapeJob

ROOT = Path(__file__).resolve().parents[3]
GUIDE = list(yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text()))
NS, NODE, POD = "opentelemetry", "otel-target-allocator-talk-control-plane", "py-prometheus-app-575cfdd46-nfttj"
POD_UID = "495d47ee-9a0e-49df-9b41-fe9e6f70090b"
LAST_APPLIED = (
    '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"labels":{"app":"my-app",'
    '"app.kubernetes.io/name":"py-prometheus-app"},"name":"py-prometheus-app","namespace":"opentelemetry"},'
    '"spec":{"ports":[{"name":"prom","port":8080}],"selector":{"app":"my-app",'
    '"app.kubernetes.io/name":"py-prometheus-app"}}}\n'
)
APP_LABELS = {"app": "my-app", "app.kubernetes.io/name": "py-prometheus-app"}

# What the guide's `curl .../jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets` printed for the target.
GUIDE_LABELS = {
    "__address__": "10.244.0.11:8080",
    "__meta_kubernetes_endpointslice_address_target_kind": "Pod",
    "__meta_kubernetes_endpointslice_address_target_name": POD,
    "__meta_kubernetes_endpointslice_address_type": "IPv4",
    "__meta_kubernetes_endpointslice_annotation_endpoints_kubernetes_io_last_change_trigger_time": (
        "2024-06-21T20:01:37Z"
    ),
    "__meta_kubernetes_endpointslice_annotationpresent_endpoints_kubernetes_io_last_change_trigger_time": "true",
    "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true",
    "__meta_kubernetes_endpointslice_endpoint_conditions_serving": "true",
    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating": "false",
    "__meta_kubernetes_endpointslice_endpoint_node_name": NODE,
    "__meta_kubernetes_endpointslice_label_app": "my-app",
    "__meta_kubernetes_endpointslice_label_app_kubernetes_io_name": "py-prometheus-app",
    "__meta_kubernetes_endpointslice_label_endpointslice_kubernetes_io_managed_by": "endpointslice-controller.k8s.io",
    "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name": "py-prometheus-app",
    "__meta_kubernetes_endpointslice_labelpresent_app": "true",
    "__meta_kubernetes_endpointslice_labelpresent_app_kubernetes_io_name": "true",
    "__meta_kubernetes_endpointslice_labelpresent_endpointslice_kubernetes_io_managed_by": "true",
    "__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name": "true",
    "__meta_kubernetes_endpointslice_name": "py-prometheus-app-bwbvn",
    "__meta_kubernetes_endpointslice_port": "8080",
    "__meta_kubernetes_endpointslice_port_name": "prom",
    "__meta_kubernetes_endpointslice_port_protocol": "TCP",
    "__meta_kubernetes_namespace": NS,
    "__meta_kubernetes_pod_container_image": "otel-target-allocator-talk:0.1.0-py-prometheus-app",
    "__meta_kubernetes_pod_container_name": "my-app",
    "__meta_kubernetes_pod_container_port_name": "prom",
    "__meta_kubernetes_pod_container_port_number": "8080",
    "__meta_kubernetes_pod_container_port_protocol": "TCP",
    "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
    "__meta_kubernetes_pod_controller_name": "py-prometheus-app-575cfdd46",
    "__meta_kubernetes_pod_host_ip": "172.24.0.2",
    "__meta_kubernetes_pod_ip": "10.244.0.11",
    "__meta_kubernetes_pod_label_app": "my-app",
    "__meta_kubernetes_pod_label_app_kubernetes_io_name": "py-prometheus-app",
    "__meta_kubernetes_pod_label_pod_template_hash": "575cfdd46",
    "__meta_kubernetes_pod_labelpresent_app": "true",
    "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name": "true",
    "__meta_kubernetes_pod_labelpresent_pod_template_hash": "true",
    "__meta_kubernetes_pod_name": POD,
    "__meta_kubernetes_pod_node_name": NODE,
    "__meta_kubernetes_pod_phase": "Running",
    "__meta_kubernetes_pod_ready": "true",
    "__meta_kubernetes_pod_uid": POD_UID,
    "__meta_kubernetes_service_annotation_kubectl_kubernetes_io_last_applied_configuration": LAST_APPLIED,
    "__meta_kubernetes_service_annotationpresent_kubectl_kubernetes_io_last_applied_configuration": "true",
    "__meta_kubernetes_service_label_app": "my-app",
    "__meta_kubernetes_service_label_app_kubernetes_io_name": "py-prometheus-app",
    "__meta_kubernetes_service_labelpresent_app": "true",
    "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name": "true",
    "__meta_kubernetes_service_name": "py-prometheus-app",
}
# Labels Prometheus v3 adds that the guide's (older) allocator did not print; pinned so a change is noticed.
NEWER_LABELS = {"__meta_kubernetes_pod_container_init": "false"}


def guide(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in GUIDE if d["kind"] == kind))


def cluster_objects() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    service = guide("Service")
    service["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": LAST_APPLIED}
    pod = {
        "kind": "Pod",
        "metadata": {
            "name": POD,
            "namespace": NS,
            "uid": POD_UID,
            "labels": {**APP_LABELS, "pod-template-hash": "575cfdd46"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "py-prometheus-app-575cfdd46",
                    "uid": "rs-uid",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeName": NODE,
            "containers": [
                {
                    "name": "my-app",
                    "image": "otel-target-allocator-talk:0.1.0-py-prometheus-app",
                    "ports": [{"name": "prom", "containerPort": 8080, "protocol": "TCP"}],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.11",
            "hostIP": "172.24.0.2",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    endpointslice = {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": "py-prometheus-app-bwbvn",
            "namespace": NS,
            "labels": {
                **APP_LABELS,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "kubernetes.io/service-name": "py-prometheus-app",
            },
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2024-06-21T20:01:37Z"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": ["10.244.0.11"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": NODE,
                "targetRef": {"kind": "Pod", "name": POD, "namespace": NS, "uid": POD_UID},
            }
        ],
        "ports": [{"name": "prom", "port": 8080, "protocol": "TCP"}],
    }
    return service, pod, endpointslice


def discovered_groups() -> list[TargetGroup]:
    index = DiscoveryIndex(Role.ENDPOINTSLICE)
    for obj in cluster_objects():
        index.upsert(obj)
    return index.groups()


def jobs() -> dict[str, JobTargets]:
    result = generate_from_documents(GUIDE, GeneratorOptions())
    assert result.errors == ()
    out = {}
    for config in result.scrape_configs:
        targets = JobTargets(ScrapeJob.from_config(config))
        for group in discovered_groups():
            targets.update(group)
        out[config["job_name"]] = targets
    return out


def test_the_guides_monitor_yields_its_three_jobs() -> None:
    assert list(jobs()) == [f"serviceMonitor/{NS}/sm-example/{i}" for i in range(3)]


def test_only_the_endpoint_whose_port_exists_has_a_target() -> None:
    # the Service has only port `prom`: endpoints py-client-port and py-server-port match nothing
    counts = {job: len(t.targets()) for job, t in jobs().items()}
    assert counts == {
        f"serviceMonitor/{NS}/sm-example/0": 1,
        f"serviceMonitor/{NS}/sm-example/1": 0,
        f"serviceMonitor/{NS}/sm-example/2": 0,
    }


def test_served_labels_are_what_the_guide_prints() -> None:
    (target,) = jobs()[f"serviceMonitor/{NS}/sm-example/0"].targets().values()
    served = dict(target.served_labels)
    missing = {k: v for k, v in GUIDE_LABELS.items() if served.get(k) != v}
    assert missing == {}, json.dumps(missing, indent=1)
    extra = {k: v for k, v in served.items() if k not in GUIDE_LABELS}
    assert extra == NEWER_LABELS


def test_the_relabeled_target_has_prometheus_operators_labels() -> None:
    (target,) = jobs()[f"serviceMonitor/{NS}/sm-example/0"].targets().values()
    final = target.labels
    assert {k: final[k] for k in ("job", "namespace", "service", "pod", "container", "endpoint", "instance")} == {
        "job": "py-prometheus-app",
        "namespace": NS,
        "service": "py-prometheus-app",
        "pod": POD,
        "container": "my-app",
        "endpoint": "prom",
        "instance": "10.244.0.11:8080",
    }
    assert final["__metrics_path__"] == "/metrics"


def test_a_service_without_the_selected_label_is_not_scraped() -> None:
    service, pod, endpointslice = cluster_objects()
    service["metadata"]["labels"] = {"app": "other"}
    index = DiscoveryIndex(Role.ENDPOINTSLICE)
    for obj in (service, pod, endpointslice):
        index.upsert(obj)
    config = generate_from_documents(GUIDE, GeneratorOptions()).scrape_configs[0]
    targets = JobTargets(ScrapeJob.from_config(config))
    for group in index.groups():
        targets.update(group)
    assert targets.targets() == {}
