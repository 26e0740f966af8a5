#!/usr/bin/env python3
"""The local demo: a real control plane, the CRDs, the troubleshooting guide's resources, the operator, and the
target allocator's answer for the guide's collector.

make demo            # runs until Ctrl-C; the control plane stays up for kubectl (make cluster-down stops it)
make demo ARGS=--once  # stop once the operator has observed the collector (a smoke test)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster
import standin
from otel_operator.admission import configurations
from otel_operator.admission.runner import WebhookOptions
from otel_operator.allocator.app import Allocator, serve
from otel_operator.allocator.config import load_config
from otel_operator.reconcile.runner import OperatorOptions, configure_logging, run_operator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "troubleshooting-guide.yaml"
NODE = "demo-node"
COLLECTOR_LABELS = {
    "app.kubernetes.io/component": "opentelemetry-collector",
    "app.kubernetes.io/instance": "opentelemetry.otelcol",
}
APP_POD: dict[str, Any] = {
    "metadata": {
        "name": "py-prometheus-app-0",
        "namespace": "opentelemetry",
        "labels": {"app": "my-app", "app.kubernetes.io/name": "py-prometheus-app"},
    },
    "spec": {"containers": [{"name": "my-app", "image": "py-prometheus-app:0.1.0", "ports": [
        {"name": "prom", "containerPort": 8080}]}]},
}  # fmt: skip
WEBHOOKS = "otel-operator-demo"  # the demo's webhook configurations (deleted when the demo ends)
OPERATOR_NAMESPACE = "otel-operator-system"  # where the webhook certificate's Secret lives
# The troubleshooting guide's first pitfall, as a resource: the allocator needs a statefulset (or daemonset).
BAD_COLLECTOR: dict[str, Any] = {
    "apiVersion": "opentelemetry.io/v1beta1",
    "kind": "OpenTelemetryCollector",
    "metadata": {"name": "bad-collector", "namespace": "opentelemetry"},
    "spec": {
        "mode": "deployment",
        "targetAllocator": {"enabled": True, "prometheusCR": {"enabled": True}},
        "config": {
            "receivers": {"prometheus": {"config": {"scrape_configs": []}}},
            "exporters": {"debug": {}},
            "service": {"pipelines": {"metrics": {"receivers": ["prometheus"], "exporters": ["debug"]}}},
        },
    },
}
COLLECTOR_POD: dict[str, Any] = {
    "metadata": {"name": "otelcol-collector-0", "namespace": "opentelemetry", "labels": COLLECTOR_LABELS},
    "spec": {"containers": [{"name": "otc-container", "image": "otel/opentelemetry-collector-contrib"}]},
}


async def apply(api: ApiClient, doc: dict[str, Any]) -> None:
    """Create, or replace what is there: enough of `kubectl apply` for the demo's objects."""
    kind, meta = doc["kind"], doc["metadata"]
    if kind == "CustomResourceDefinition":
        ext = client.ApiextensionsV1Api(api)
        try:
            await ext.create_custom_resource_definition(doc)
        except ApiException as err:
            if err.status != 409:
                raise
        return
    if kind == "Namespace":
        with contextlib.suppress(ApiException):
            await client.CoreV1Api(api).create_namespace(doc)
        return
    if kind == "Service":
        with contextlib.suppress(ApiException):
            await client.CoreV1Api(api).create_namespaced_service(meta["namespace"], doc)
        return
    group, version = doc["apiVersion"].split("/")
    plural = {"ServiceMonitor": "servicemonitors", "OpenTelemetryCollector": "opentelemetrycollectors"}[kind]
    objects = client.CustomObjectsApi(api)
    try:
        await objects.create_namespaced_custom_object(group, version, meta["namespace"], plural, doc)
    except ApiException as err:
        if err.status != 409:
            raise


async def wait_established(api: ApiClient, names: list[str]) -> None:
    ext = client.ApiextensionsV1Api(api)
    for _ in range(150):
        states = []
        for name in names:
            crd = await ext.read_custom_resource_definition(name)
            states.append(any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []))
        if all(states):
            return
        await asyncio.sleep(0.2)
    raise SystemExit("CRDs not established after 30s")


def allocator_config(collector: dict[str, Any], kubeconfig: str, port: int) -> str:
    """The allocator's config for the guide's collector: its prometheus receiver's jobs and its prometheusCR."""
    receiver = collector["spec"]["config"]["receivers"]["prometheus"]["config"]
    config = {
        "listen_addr": f"127.0.0.1:{port}",
        "kube_config_file_path": kubeconfig,
        "collector_namespace": collector["metadata"]["namespace"],
        "collector_selector": {"matchlabels": COLLECTOR_LABELS},
        "prometheus_cr": {"enabled": True, "service_monitor_selector": {}, "pod_monitor_selector": {}},
        "config": {"scrape_configs": receiver["scrape_configs"]},
    }
    return yaml.safe_dump(config)


async def show(url: str, keep: int = 8) -> None:
    """GET `url` and print the answer as `curl | jq` would, long label sets cut short."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        value = await response.json()
    for group in value if isinstance(value, list) else []:
        labels = group["labels"]
        if len(labels) > keep:
            group["labels"] = dict(list(labels.items())[:keep]) | {"...": f"{len(labels) - keep} more labels"}
    print(f"$ curl '{url}' | jq\n{json.dumps(value, indent=2)}\n", flush=True)


async def allocator_answer(api: ApiClient, kubeconfig: str, collector: dict[str, Any]) -> tuple[Allocator, Any]:
    """Start pods as a kubelet would report them, run the allocator, and print its answer as the guide shows it."""
    await standin.ready_node(api, NODE, "192.168.0.10")
    await standin.running_pod(api, APP_POD, NODE, "10.244.0.11")
    await standin.running_pod(api, COLLECTOR_POD, NODE, "10.244.0.20")
    port = localcluster.free_port()
    allocator = Allocator(load_config(allocator_config(collector, kubeconfig, port)), await kube_api(kubeconfig))
    listeners = await serve(allocator)
    await allocator.start()
    job = "serviceMonitor/opentelemetry/sm-example/0"
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if allocator.served.ready and allocator.model.targets_body(job, "otelcol-collector-0").data != b"[]\n":
            break
        await asyncio.sleep(0.2)
    else:
        raise SystemExit(f"the allocator did not assign {job} within 60s: {allocator.served.not_ready_reason}")
    print("\nThe target allocator's answer (as in the troubleshooting guide):\n", flush=True)
    await show(f"{base}/jobs")
    await show(f"{base}/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets?collector_id=otelcol-collector-0")
    return allocator, listeners


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def install_webhooks(api: ApiClient, url: str) -> None:
    """The webhook configurations the chart installs, calling the operator on loopback (caBundle: the operator's)."""
    await remove_webhooks(api)
    reg = client.AdmissionregistrationV1Api(api)
    await reg.create_validating_webhook_configuration(
        configurations.validating_configuration(WEBHOOKS, url, operator_namespace=OPERATOR_NAMESPACE)
    )
    await reg.create_mutating_webhook_configuration(
        configurations.mutating_configuration(WEBHOOKS, url, operator_namespace=OPERATOR_NAMESPACE)
    )


async def remove_webhooks(api: ApiClient) -> None:
    reg = client.AdmissionregistrationV1Api(api)
    for delete in (reg.delete_validating_webhook_configuration, reg.delete_mutating_webhook_configuration):
        try:
            await delete(WEBHOOKS)
        except ApiException as err:
            if err.status != 404:
                raise


async def show_refusal(api: ApiClient, operator: asyncio.Task[None]) -> None:
    """Apply the guide's first pitfall and print the API server's answer (the webhook's refusal), as kubectl
    prints it."""
    objects = client.CustomObjectsApi(api)
    ns = BAD_COLLECTOR["metadata"]["namespace"]
    await apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for _ in range(300):  # until the webhooks answer (the operator issues its certificate first)
        if operator.done():
            operator.result()
        try:
            await objects.create_namespaced_custom_object(
                "opentelemetry.io", "v1beta1", ns, "opentelemetrycollectors", BAD_COLLECTOR
            )
        except ApiException as err:
            message = json.loads(err.body).get("message", "") if err.body else ""
            if "denied the request" in message:
                print(
                    "\nA collector with the troubleshooting guide's first pitfall (mode deployment with the target "
                    "allocator) is refused at apply time:\n"
                    f"$ kubectl apply -f bad-collector.yaml\nError from server (Invalid): {message}\n",
                    flush=True,
                )
                return
        else:  # stored before the webhooks were called: take it back and try again
            await objects.delete_namespaced_custom_object(
                "opentelemetry.io", "v1beta1", ns, "opentelemetrycollectors", BAD_COLLECTOR["metadata"]["name"]
            )
        await asyncio.sleep(0.2)
    raise SystemExit("the admission webhooks did not answer within 60s")


async def kube_api(kubeconfig: str) -> ApiClient:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    return ApiClient(configuration=cfg)


async def demo(kubeconfig: str, once: bool) -> int:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    async with ApiClient(configuration=cfg) as api:
        # ours, and the tests' stand-ins for prometheus-operator's (the demo's cluster has none of its own)
        files = [*sorted((ROOT / "crds").glob("*.yaml")), *sorted((ROOT / "tests/data/standin-crds").glob("*.yaml"))]
        crds = [yaml.safe_load(p.read_text()) for p in files]
        for crd in crds:
            await apply(api, crd)
        await wait_established(api, [c["metadata"]["name"] for c in crds])
        # the operator with its admission webhooks, which the API server calls on loopback
        port = free_port()
        await apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}})
        await install_webhooks(api, f"https://127.0.0.1:{port}")
        webhooks = WebhookOptions(
            port=port,
            addr="127.0.0.1",
            host="127.0.0.1",
            namespace=OPERATOR_NAMESPACE,
            configuration=WEBHOOKS,
            cert_dir=str(Path(kubeconfig).parent / "webhook-certs"),
        )
        stop = asyncio.Event()
        operator = asyncio.create_task(
            run_operator(OperatorOptions(kubeconfig=kubeconfig, webhooks=webhooks), stop_flag=stop)
        )
        try:
            return await _with_operator(api, kubeconfig, once, stop, operator)
        finally:
            await remove_webhooks(api)  # with the operator gone they would refuse every collector


async def _with_operator(
    api: ApiClient, kubeconfig: str, once: bool, stop: asyncio.Event, operator: asyncio.Task[None]
) -> int:
    """The refusal, the guide's resources, the operator's observation and the allocator's answer."""
    await show_refusal(api, operator)
    for doc in yaml.safe_load_all(EXAMPLE.read_text()):
        await apply(api, doc)
    print(f"applied {EXAMPLE.relative_to(ROOT)}", flush=True)
    objects = client.CustomObjectsApi(api)
    for _ in range(300):
        obj = await objects.get_namespaced_custom_object(
            "opentelemetry.io", "v1beta1", "opentelemetry", "opentelemetrycollectors", "otelcol"
        )
        if (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]:
            break
        if operator.done():
            operator.result()
        await asyncio.sleep(0.2)
    else:
        raise SystemExit("the operator did not observe otelcol within 60s")
    print("\nNAME      MODE          GENERATION   OBSERVED")
    print(
        f"otelcol   {obj['spec']['mode']:<13} {obj['metadata']['generation']:<12} {obj['status']['observedGeneration']}"
    )
    print(
        f"\nThe operator has observed opentelemetry/otelcol. Try:\n"
        f"  export KUBECONFIG={kubeconfig}\n  kubectl get otelcol -n opentelemetry\n",
        flush=True,
    )
    allocator, listeners = await allocator_answer(api, kubeconfig, obj)
    if once:
        stop.set()
    else:
        print(
            "Operator and allocator running; Ctrl-C stops them (the control plane stays up: `make cluster-down`).",
            flush=True,
        )
    try:
        await operator
    finally:
        await allocator.stop()
        await listeners.close()
        if allocator.api is not None:
            await allocator.api.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=localcluster.DEFAULT_DIR, help="control-plane state folder")
    parser.add_argument(
        "--once",
        action="store_true",
        help="stop the operator (and the control plane it started) once it has observed the collector",
    )
    args = parser.parse_args()
    configure_logging(OperatorOptions())
    started_here = localcluster.Cluster.load(args.dir.resolve()) is None
    cluster = localcluster.up(args.dir.resolve())
    try:
        return asyncio.run(demo(cluster.kubeconfig, args.once))
    except KeyboardInterrupt:
        return 0
    finally:
        if args.once and started_here:
            localcluster.down(args.dir.resolve())


if __name__ == "__main__":
    sys.exit(main())
