"""The kubelet stand-in of `hack/chainsaw.py run` (upstream's chainsaw e2e tests on the local control plane).

Runs with the project's virtualenv (kubernetes_asyncio), started by the runner as a subprocess:

  .venv/bin/python hack/e2e_standin_kubelet.py kubelet --kubeconfig K
      one Ready Node (heartbeats: standin.keep_node_alive), and every pod that is not yet Running is bound to it
      and given the status a kubelet would write (Running, Ready, a pod IP of its own); a pod being deleted is
      removed at once (no kubelet would ever confirm its termination, so namespaces could never go)
  .venv/bin/python hack/e2e_standin_kubelet.py webhooks --kubeconfig K --url https://127.0.0.1:P --name N --namespace NS
      install (replace) the admission webhook configurations the chart installs, calling the operator at URL

No container runs: a Job never completes, a collector never answers, a pod never logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import sys
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin

NODE = "e2e-standin-node"
NODE_IP = "192.168.0.10"
NODE_LABELS = {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
POD_NET = ipaddress.ip_network("10.244.0.0/16")
POLL = 1.0  # seconds between two looks at the cluster's pods


class Kubelet:
    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.next_ip = 10
        self.ips: dict[str, str] = {}  # pod uid → its IP

    def ip_for(self, uid: str) -> str:
        if uid not in self.ips:
            self.ips[uid] = str(POD_NET[self.next_ip])
            self.next_ip += 1
        return self.ips[uid]

    async def run(self) -> None:
        await standin.ready_node(self.api, NODE, NODE_IP)
        # the labels every kubelet sets, which nodeSelectors and node affinities name (kubernetes.io/os: linux)
        await self.core.patch_node(NODE, {"metadata": {"labels": NODE_LABELS}})
        beat = asyncio.create_task(standin.keep_node_alive(self.api, NODE, NODE_IP))
        try:
            while True:
                with contextlib.suppress(ApiException, OSError, asyncio.TimeoutError):
                    await self.once()
                await asyncio.sleep(POLL)
        finally:
            beat.cancel()

    async def once(self) -> None:
        pods = await self.core.list_pod_for_all_namespaces(_preload_content=False)
        items = (await pods.json())["items"]
        for pod in items:
            try:
                await self.handle(pod)
            except ApiException as err:
                if err.status not in (404, 409, 422):
                    print(f"kubelet stand-in: {pod['metadata']['namespace']}/{pod['metadata']['name']}: {err.reason}",
                          file=sys.stderr, flush=True)  # fmt: skip

    async def handle(self, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        namespace, name = meta["namespace"], meta["name"]
        if meta.get("deletionTimestamp"):
            await self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
            self.ips.pop(meta["uid"], None)
            return
        if status.get("phase") == "Running" and spec.get("nodeName") == NODE:
            return
        if not spec.get("nodeName"):
            binding = {"metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}}
            await self.core.create_namespaced_binding(namespace, binding, _preload_content=False)
        elif spec["nodeName"] != NODE:
            return  # someone else's node (none here)
        ip = NODE_IP if spec.get("hostNetwork") else self.ip_for(meta["uid"])
        body = standin.running_status(spec, ip, NODE_IP)
        await self.core.patch_namespaced_pod_status(name, namespace, {"status": body})


async def kubelet(kubeconfig: str) -> None:
    await config.load_kube_config(config_file=kubeconfig)
    async with ApiClient() as api:
        await Kubelet(api).run()


async def webhooks(kubeconfig: str, url: str, name: str, namespace: str) -> None:
    from otel_operator.admission import configurations

    await config.load_kube_config(config_file=kubeconfig)
    async with ApiClient() as api:
        reg = client.AdmissionregistrationV1Api(api)
        with contextlib.suppress(ApiException):
            await client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
        for delete in (reg.delete_validating_webhook_configuration, reg.delete_mutating_webhook_configuration):
            with contextlib.suppress(ApiException):
                await delete(name)
        await reg.create_validating_webhook_configuration(
            configurations.validating_configuration(name, url, operator_namespace=namespace)
        )
        await reg.create_mutating_webhook_configuration(
            configurations.mutating_configuration(name, url, operator_namespace=namespace)
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kubelet")
    k.add_argument("--kubeconfig", required=True)
    w = sub.add_parser("webhooks")
    w.add_argument("--kubeconfig", required=True)
    w.add_argument("--url", required=True)
    w.add_argument("--name", required=True)
    w.add_argument("--namespace", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "kubelet":
            asyncio.run(kubelet(args.kubeconfig))
        else:
            asyncio.run(webhooks(args.kubeconfig, args.url, args.name, args.namespace))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
