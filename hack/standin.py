"""A kubelet stand-in for the local control plane: a Ready Node, and Pods bound to it with the status a kubelet
would write. There is no kubelet here (nothing runs containers), so the demo writes what one would report; the
controllers (EndpointSlices from Services) and the allocator then see an ordinary cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


HEARTBEAT = 10.0  # seconds between a kubelet's node status updates (its default), well inside the 40 s grace


async def ready_node(api: ApiClient, name: str, ip: str) -> None:
    """Create the Node if needed and write a fresh Ready heartbeat, status and Lease, as a kubelet does every 10 s
    (the node lifecycle controller marks a node's pods not ready about 40 s after the last one, and evicts them five
    minutes later): `keep_node_alive` calls it for as long as the node should live."""
    core = client.CoreV1Api(api)
    with contextlib.suppress(ApiException):
        await core.create_node({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
    await _renew_lease(api, name)
    stamp = now()
    status = {
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": stamp,
             "lastTransitionTime": stamp, "message": "stand-in kubelet"},
        ],
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
    }  # fmt: skip
    await core.patch_node_status(name, {"status": status})


async def _renew_lease(api: ApiClient, node: str) -> None:
    leases = client.CoordinationV1Api(api)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {
        "metadata": {"name": node, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": stamp},
    }
    try:
        await leases.patch_namespaced_lease(node, "kube-node-lease", {"spec": body["spec"]})
    except ApiException as err:
        if err.status != 404:
            raise
        with contextlib.suppress(ApiException):  # created meanwhile: the next beat renews it
            await leases.create_namespaced_lease("kube-node-lease", body)


async def keep_node_alive(api: ApiClient, name: str, ip: str, every: float = HEARTBEAT) -> None:
    """Heartbeats until cancelled; a failed one (the API server busy or restarting) is tried again at the next."""
    while True:
        with contextlib.suppress(ApiException, OSError):
            await ready_node(api, name, ip)
        await asyncio.sleep(every)


HOST_IP = "192.168.0.10"  # the stand-in node's address (running_pod's pods report it as their hostIP)


def running_status(spec: dict[str, Any], ip: str, host_ip: str, *, ready: bool = True) -> dict[str, Any]:
    """The status a kubelet writes for a pod whose containers run (`ready`: and pass their probes), its init
    containers having completed."""
    stamp = now()
    flag = "True" if ready else "False"

    def statuses(containers: list[dict[str, Any]], init: bool) -> list[dict[str, Any]]:
        done = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": stamp, "finishedAt": stamp}}
        return [
            {"name": c["name"], "image": c.get("image", ""), "imageID": "", "restartCount": 0,
             "ready": ready and not init, "started": not init,
             "state": done if init else {"running": {"startedAt": stamp}}}
            for c in containers
        ]  # fmt: skip

    return {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": stamp,
        "conditions": [
            {"type": t, "status": flag if t in ("Ready", "ContainersReady") else "True", "lastTransitionTime": stamp}
            for t in ("PodReadyToStartContainers", "PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": statuses(spec.get("containers") or [], False),
        "initContainerStatuses": statuses(spec.get("initContainers") or [], True),
    }


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
    if current.metadata.deletion_timestamp is not None:
        # evicted while no heartbeat came (an earlier run's node went NotReady): without a kubelet nothing ends
        # its termination, so delete it at once and start it again
        await core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        for _ in range(100):
            try:
                await core.read_namespaced_pod(name, namespace)
            except ApiException as err:
                if err.status == 404:
                    break
                raise
            await asyncio.sleep(0.1)
        await core.create_namespaced_pod(namespace, pod)
        current = await core.read_namespaced_pod(name, namespace)
    if not current.spec.node_name:
        binding = {"metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        await core.create_namespaced_binding(namespace, binding, _preload_content=False)
    status = running_status(pod["spec"], ip, HOST_IP, ready=ready)
    await core.patch_namespaced_pod_status(name, namespace, {"status": status})
