"""Kubernetes discovery labels: building them per endpoint, and what one Pod event costs through the index.

The cluster: 100 Services, 1000 EndpointSlices of 10 endpoints each, every endpoint a Pod (5 labels,
3 annotations, 2 container ports of which the slice covers one, so each pod also yields an extra target):
10 000 endpoints, 20 000 targets.
"""

from __future__ import annotations

import copy
from typing import Any

from common import Result, measure
from otel_operator.prom.discovery.common import AttachMetadata
from otel_operator.prom.discovery.endpointslice import build_endpointslice
from otel_operator.prom.discovery.index import DiscoveryIndex
from otel_operator.prom.discovery.pod import build_pod, pod_info
from otel_operator.prom.discovery.service import service_info

SERVICES, SLICES, PER_SLICE = 100, 1000, 10
PODS = SLICES * PER_SLICE


def pod(i: int) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": f"web-{i}",
            "namespace": "shop",
            "uid": f"00000000-0000-0000-0000-{i:012d}",
            "labels": {
                "app.kubernetes.io/name": f"web-{i // 100}",
                "app.kubernetes.io/instance": "prod",
                "app.kubernetes.io/version": "1.2.3",
                "pod-template-hash": "7c9f8d6b5",
                "tier": "frontend",
            },
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "checksum/config": "ab" * 32},
            "ownerReferences": [{"kind": "ReplicaSet", "name": f"web-{i // 100}-7c9f8d6b5", "controller": True}],
        },
        "spec": {
            "nodeName": f"node-{i % 50}",
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/web:1.2.3",
                    "ports": [
                        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
                    ],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            "hostIP": f"192.168.0.{i % 50}",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def endpoint_slice(s: int) -> dict[str, Any]:
    members = [pod(s * PER_SLICE + k) for k in range(PER_SLICE)]
    return {
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"web-{s}-x",
            "namespace": "shop",
            "labels": {
                "kubernetes.io/service-name": f"svc-{s % SERVICES}",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [p["status"]["podIP"]],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": p["spec"]["nodeName"],
                "zone": "eu-1a",
                "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": "shop"},
            }
            for p in members
        ],
    }


def service(n: int) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": f"svc-{n}", "namespace": "shop", "labels": {"app.kubernetes.io/name": f"web-{n}"}},
        "spec": {"clusterIP": f"10.96.0.{n}", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }


def run() -> list[Result]:
    pods = [pod(i) for i in range(PODS)]
    slices = [endpoint_slice(s) for s in range(SLICES)]
    services = [service(n) for n in range(SERVICES)]
    infos = {info.key: info for info in map(pod_info, pods)}
    service_infos = {(svc["metadata"]["namespace"], svc["metadata"]["name"]): service_info(svc) for svc in services}
    targets = sum(len(build_endpointslice(s, pods=infos).targets) for s in slices)

    def build_all_slices() -> None:
        for s in slices:
            svc = service_infos[("shop", s["metadata"]["labels"]["kubernetes.io/service-name"])]
            build_endpointslice(s, service=svc, pods=infos)

    def load_index() -> DiscoveryIndex:
        index = DiscoveryIndex("endpointslice", AttachMetadata(node=True))
        for obj in (*services, *pods, *slices):
            index.upsert(obj)
        return index

    index = load_index()
    relabelled = [copy.deepcopy(pods[i]) for i in range(0, PODS, PODS // 1000)]  # 1000 pods in 1000 slices
    flip = [0]

    def pod_label_changes() -> None:
        flip[0] ^= 1
        for obj in relabelled:
            obj["metadata"]["labels"]["tier"] = f"frontend-{flip[0]}"
            assert len(index.upsert(obj)) == 1  # exactly one slice refers to each pod

    def pod_status_heartbeats() -> None:
        for obj in relabelled:
            obj["metadata"]["resourceVersion"] = str(flip[0])
            assert index.upsert(obj) == []  # nothing discovery reads changed

    pod_index = DiscoveryIndex("pod")
    for obj in pods:
        pod_index.upsert(obj)

    def pod_role_changes() -> None:
        flip[0] ^= 1
        for obj in relabelled:
            obj["metadata"]["labels"]["tier"] = f"frontend-{flip[0]}"
            assert len(pod_index.upsert(obj)) == 1

    n = len(relabelled)
    return [
        measure(f"pod_info: parse {PODS} pods", lambda: [pod_info(p) for p in pods], PODS, repeats=5),
        measure(
            f"build_endpointslice: {SLICES} slices x {PER_SLICE} endpoints ({targets} targets), per endpoint",
            build_all_slices,
            PODS,
            repeats=5,
        ),
        measure(f"build_pod: {PODS} pods (2 targets each)", lambda: [build_pod(i) for i in infos.values()], PODS, 5),
        measure(
            f"index: initial load of {SERVICES} services, {PODS} pods, {SLICES} slices, per endpoint",
            load_index,
            PODS,
            repeats=3,
        ),
        measure(f"index endpointslice: one pod's label change ({n} events, 1 slice of 10 each)", pod_label_changes, n),
        measure(f"index endpointslice: one pod update discovery ignores ({n} events)", pod_status_heartbeats, n),
        measure(f"index pod: one pod's label change ({n} events)", pod_role_changes, n),
    ]


if __name__ == "__main__":
    for result in run():
        print(result.row())
