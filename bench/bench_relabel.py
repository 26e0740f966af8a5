"""Relabeling and target assembly: what the allocator pays per discovered target.

The job is what prometheus-operator generates for a ServiceMonitor (role endpointslice, one matchLabels and one
matchExpressions selector, port `web`, a user labelmap of the service labels, the hashmod/keep shard block): 17
rules, run inside the allocator's `[noSharding] + rules + [dropTmp]` filter, so 19. The targets look like Kubernetes
endpointslice discovery output: 2000 groups of 5 endpoints, about 45 labels each (one a 800-byte annotation); 3 of 4
services match the selector, so a quarter of the targets is dropped.
"""

from __future__ import annotations

from typing import Any

from common import Result, measure
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.relabel import RelabelChain
from otel_operator.prom.targets import DROP_TMP, NO_SHARDING, Mode, ScrapeJob

GROUPS, PER_GROUP = 2000, 5
TARGETS = GROUPS * PER_GROUP
EPS = "__meta_kubernetes_endpointslice_"

SCRAPE_CONFIG: dict[str, Any] = {
    "job_name": "serviceMonitor/shop/web/0",
    "honor_labels": False,
    "scrape_interval": "30s",
    "relabel_configs": [
        {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
        {"action": "keep", "regex": "(web);true", "source_labels": [
            "__meta_kubernetes_service_label_app_kubernetes_io_name",
            "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name"]},
        {"action": "keep", "regex": "(prod|staging);true", "source_labels": [
            "__meta_kubernetes_service_label_env", "__meta_kubernetes_service_labelpresent_env"]},
        {"action": "keep", "source_labels": [EPS + "port_name"], "regex": "web"},
        {"source_labels": [EPS + "address_target_kind", EPS + "address_target_name"], "separator": ";",
         "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
        {"source_labels": [EPS + "address_target_kind", EPS + "address_target_name"], "separator": ";",
         "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"},
        {"target_label": "endpoint", "replacement": "web"},
        {"action": "labelmap", "regex": "__meta_kubernetes_service_label_(.+)", "replacement": "${1}"},
        {"source_labels": ["__address__", "__tmp_hash"], "target_label": "__tmp_hash", "regex": "(.+);",
         "replacement": "$1", "action": "replace"},
        {"source_labels": ["__tmp_hash"], "target_label": "__tmp_hash", "modulus": 1, "action": "hashmod"},
        {"source_labels": ["__tmp_hash", "__tmp_disable_sharding"], "regex": "$(SHARD);|.+;.+", "action": "keep"},
    ],
}  # fmt: skip


def group(g: int) -> TargetGroup:
    service = f"web-{g % 100}"
    common = {
        "__meta_kubernetes_namespace": "shop",
        EPS + "address_type": "IPv4",
        EPS + "name": f"{service}-{g:05d}",
        EPS + "label_kubernetes_io_service_name": service,
        EPS + "labelpresent_kubernetes_io_service_name": "true",
        EPS + "label_endpointslice_kubernetes_io_managed_by": "endpointslice-controller.k8s.io",
        EPS + "labelpresent_endpointslice_kubernetes_io_managed_by": "true",
        EPS + "annotation_endpoints_kubernetes_io_last_change_trigger_time": "2026-09-01T10:00:00Z",
        EPS + "annotationpresent_endpoints_kubernetes_io_last_change_trigger_time": "true",
        "__meta_kubernetes_service_name": service,
        "__meta_kubernetes_service_label_app_kubernetes_io_name": "web",
        "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name": "true",
        "__meta_kubernetes_service_label_env": ("prod", "staging", "prod", "dev")[g % 4],
        "__meta_kubernetes_service_labelpresent_env": "true",
        "__meta_kubernetes_service_annotation_kubectl_kubernetes_io_last_applied_configuration": "{}" * 400,
        "__meta_kubernetes_service_annotationpresent_kubectl_kubernetes_io_last_applied_configuration": "true",
    }
    targets = []
    for k in range(PER_GROUP):
        i = g * PER_GROUP + k
        pod = f"{service}-7c9f8d6b5-{i:06d}"
        ip = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        targets.append(
            {
                "__address__": f"{ip}:8080",
                EPS + "port": "8080",
                EPS + "port_name": "web",
                EPS + "port_protocol": "TCP",
                EPS + "endpoint_conditions_ready": "true",
                EPS + "endpoint_conditions_serving": "true",
                EPS + "endpoint_conditions_terminating": "false",
                EPS + "endpoint_node_name": f"node-{i % 50}",
                EPS + "endpoint_zone": f"zone-{i % 3}",
                EPS + "address_target_kind": "Pod",
                EPS + "address_target_name": pod,
                "__meta_kubernetes_pod_name": pod,
                "__meta_kubernetes_pod_ip": ip,
                "__meta_kubernetes_pod_ready": "true",
                "__meta_kubernetes_pod_phase": "Running",
                "__meta_kubernetes_pod_node_name": f"node-{i % 50}",
                "__meta_kubernetes_pod_host_ip": f"192.168.0.{i % 50}",
                "__meta_kubernetes_pod_uid": f"00000000-0000-0000-0000-{i:012d}",
                "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
                "__meta_kubernetes_pod_controller_name": f"{service}-7c9f8d6b5",
                "__meta_kubernetes_pod_label_app_kubernetes_io_name": "web",
                "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name": "true",
                "__meta_kubernetes_pod_label_pod_template_hash": "7c9f8d6b5",
                "__meta_kubernetes_pod_labelpresent_pod_template_hash": "true",
                "__meta_kubernetes_pod_container_name": "app",
                "__meta_kubernetes_pod_container_image": "registry.example.com/web:1.2.3",
                "__meta_kubernetes_pod_container_port_name": "web",
                "__meta_kubernetes_pod_container_port_number": "8080",
                "__meta_kubernetes_pod_container_port_protocol": "TCP",
                "__meta_kubernetes_pod_container_init": "false",
            }
        )
    return TargetGroup(f"endpointslice/shop/{service}-{g:05d}", tuple(targets), common)


def run() -> list[Result]:
    job = ScrapeJob.from_config(SCRAPE_CONFIG)
    groups = [group(g) for g in range(GROUPS)]
    chain = RelabelChain((NO_SHARDING, *job.settings.relabel_configs, DROP_TMP))
    # what relabeling starts from: merged labels with the scrape defaults (as assembly builds them)
    label_sets = [{**t.served_labels, **dict(job.settings.seeds())} for g in groups for t in job.assemble_group(g)]

    def relabel_all() -> None:
        for labels in label_sets:
            chain.apply(labels)

    assert sum(chain.apply(labels) is not None for labels in label_sets) == TARGETS * 3 // 4

    def assemble() -> None:
        for g in groups:
            job.assemble_group(g, Mode.ALLOCATOR)

    kept = sum(t.kept for g in groups for t in job.assemble_group(g))
    assert kept == TARGETS * 3 // 4, kept
    results = [
        measure(f"relabel {TARGETS} targets, {len(chain)} rules (RelabelChain.apply)", relabel_all, TARGETS, 5),
        measure(f"assemble {TARGETS} targets for the allocator (merge, seed, filter, identity)", assemble, TARGETS, 5),
    ]
    for result in results:
        print(f"  {result.case}: {result.items / result.median_s:,.0f} targets/s")
    return results


if __name__ == "__main__":
    run()
