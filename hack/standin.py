"""A kubelet stand-in for the local control plane: a Ready Node, and Pods bound to it with the status a kubelet
would write. There is no kubelet here (nothing runs containers), so the demo writes what one would report; the
controllers (EndpointSlices from Services) and the allocator then see an ordinary cluster.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def ready_node(api: ApiClient, name: str, ip: str) -> None:
    """Create the Node if needed and write a fresh Ready heartbeat (the node lifecycle controller marks a node's
    pods not ready about 40 s after the last one)."""
    core = client.CoreV1Api(api)
    with contextlib.suppress(ApiException):
        await core.create_node({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
    stamp = now()
    status = {
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": stamp,
             "lastTransitionTime": stamp, "message": "stand-in kubelet"},
        ],
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
    }  # fmt: skip
    await core.patch_node_status(name, {"status": status})


async def running_pod(api: ApiClient, pod: dict[str, Any], node: str, ip: str, *, ready: bool = True) -> None:
    """Create `pod` (if absent), bind it to `node`, and write a Running status with `ip`, as a kubelet would."""
    core = client.CoreV1Api(api)
    meta = pod["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    try:
        await core.create_namespaced_pod(namespace, pod)
    except ApiException as err:
        if err.status != 409:
            raise
    current = await core.read_namespaced_pod(name, namespace)
    if not current.spec.node_name:
        binding = {"metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        await core.create_namespaced_binding(namespace, binding, _preload_content=False)
    stamp = now()
    flag = "True" if ready else "False"
    containers = [
        {"name": c["name"], "image": c["image"], "imageID": "", "ready": ready, "restartCount": 0, "started": True,
         "state": {"running": {"startedAt": stamp}}}
        for c in pod["spec"]["containers"]
    ]  # fmt: skip
    status = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": "192.168.0.10",
        "startTime": stamp,
        "conditions": [
            {"type": t, "status": flag if t in ("Ready", "ContainersReady") else "True", "lastTransitionTime": stamp}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": containers,
    }
    await core.patch_namespaced_pod_status(name, namespace, {"status": status})
