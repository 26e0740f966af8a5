#!/usr/bin/env python3
"""The local demo: a real control plane, the CRDs, the troubleshooting guide's resources, the operator, and the
target allocator's answer for the guide's collector.

make demo            # runs until Ctrl-C; the control plane stays up for kubectl (make cluster-down stops it)
make demo ARGS=--once  # stop once the operator has observed the collector (a smoke test)

The demo always ends and says why: every wait has a deadline and a reason (exit 1), Ctrl-C or SIGTERM stop it
cleanly (exit 0; a second one ends it at once, exit 130), and what it started is stopped within seconds. It can
be run again on the control plane it left up: the stand-in node is kept alive (a heartbeat every 10 s, as a
kubelet's) for as long as the demo runs, and pods an earlier run's node lost are started again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
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
NODE_IP = "192.168.0.10"
WAIT = 60.0  # seconds any one step may take before the demo gives up, saying which and why
STOP_GRACE = 15.0  # seconds the operator is given to stop before it is cancelled


class DemoFailed(Exception):
    """A step did not happen in time: the message says which and what was seen last."""


class DemoStopped(Exception):
    """Ctrl-C or SIGTERM while a step was waited for."""


class Pending(str):
    """What a check saw while what it waits for has not happened yet (said if the wait times out)."""


async def wait_for(
    check: Callable[[], Awaitable[Any]], what: str, stop: asyncio.Event, operator: asyncio.Task[None] | None = None
) -> Any:
    """Poll `check` until it answers something true that is not Pending, and return that; DemoFailed after WAIT
    seconds (saying what was seen last), DemoStopped on a stop, or the operator's own error if it ended."""
    deadline = asyncio.get_running_loop().time() + WAIT
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        if stop.is_set():
            raise DemoStopped
        if operator is not None and operator.done():
            error = None if operator.cancelled() else operator.exception()
            if error is None:  # the operator stops by itself only on a signal (kopf's handler caught it)
                raise DemoStopped
            raise DemoFailed(f"the operator stopped while waiting for {what}: {error}")
        try:
            result = await check()
        except ApiException as err:
            result = Pending(f"the API server answered {err.status} {err.reason}")
        if result and not isinstance(result, Pending):
            return result
        last = result or last
        await asyncio.sleep(0.2)
    raise DemoFailed(f"{what} did not happen within {WAIT:.0f}s (last seen: {last or 'nothing'})")


class QuietDemo(logging.Filter):
    """Lines that alarm without saying anything about the demo: kopf's retried requests while the fresh API server
    throttles (429; the retry succeeds) and its note on the watch streams it drops at exit."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("Unprocessed streams left" in text or ("429" in text and "retry" in text.lower()))


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


async def wait_established(api: ApiClient, names: list[str], stop: asyncio.Event) -> None:
    ext = client.ApiextensionsV1Api(api)

    async def established() -> bool | Pending:
        pending = []
        for name in names:
            crd = await ext.read_custom_resource_definition(name)
            if not any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []):
                pending.append(name)
        return Pending(f"not established: {', '.join(pending)}") if pending else True

    await wait_for(established, "the CRDs to be established", stop)


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


async def allocator_answer(
    api: ApiClient, kubeconfig: str, collector: dict[str, Any], stop: asyncio.Event
) -> tuple[Allocator, Any]:
    """Start pods as a kubelet would report them, run the allocator, and print its answer as the guide shows it."""
    await standin.running_pod(api, APP_POD, NODE, "10.244.0.11")
    await standin.running_pod(api, COLLECTOR_POD, NODE, "10.244.0.20")
    port = localcluster.free_port()
    allocator = Allocator(load_config(allocator_config(collector, kubeconfig, port)), await kube_api(kubeconfig))
    listeners = await serve(allocator)
    await allocator.start()
    job = "serviceMonitor/opentelemetry/sm-example/0"
    base = f"http://127.0.0.1:{port}"

    async def assigned() -> bool | Pending:
        if not allocator.served.ready:
            return Pending(allocator.served.not_ready_reason or "not ready")
        if allocator.model.targets_body(job, "otelcol-collector-0").data != b"[]\n":
            return True
        return Pending(f"ready, but no target of {job} for otelcol-collector-0 yet")

    try:
        await wait_for(assigned, f"the allocator to assign {job}", stop)
    except BaseException:
        await _stop_allocator(allocator, listeners)
        raise
    print("\nThe target allocator's answer (as in the troubleshooting guide):\n", flush=True)
    await show(f"{base}/jobs")
    await show(f"{base}/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets?collector_id=otelcol-collector-0")
    print(f"The allocator's web UI (its jobs, targets and the guide's checks): {base}/\n", flush=True)
    return allocator, listeners


async def _stop_allocator(allocator: Allocator, listeners: Any) -> None:
    await allocator.stop()
    await listeners.close()
    if allocator.api is not None:
        await allocator.api.close()


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


async def show_refusal(api: ApiClient, operator: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Apply the guide's first pitfall and print the API server's answer (the webhook's refusal), as kubectl
    prints it. A dry run: the webhooks are called all the same, and nothing is ever stored (a collector stored
    before the webhooks answered would be one more thing an interrupted run leaves behind)."""
    objects = client.CustomObjectsApi(api)
    ns = BAD_COLLECTOR["metadata"]["namespace"]
    await apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    async def refused() -> str | Pending:  # until the webhooks answer (the operator issues its certificate first)
        try:
            await objects.create_namespaced_custom_object(
                "opentelemetry.io", "v1beta1", ns, "opentelemetrycollectors", BAD_COLLECTOR, dry_run="All"
            )
        except ApiException as err:
            message = json.loads(err.body).get("message", "") if err.body else ""
            if "denied the request" in message:
                return str(message)
            return Pending(f"{err.status}: {message or err.reason}")
        return Pending("accepted: the webhooks are not called yet")

    message = await wait_for(refused, "the admission webhooks to answer", stop, operator)
    print(
        "\nA collector with the troubleshooting guide's first pitfall (mode deployment with the target "
        "allocator) is refused at apply time:\n"
        f"$ kubectl apply -f bad-collector.yaml\nError from server (Invalid): {message}\n",
        flush=True,
    )


async def kube_api(kubeconfig: str) -> ApiClient:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    return ApiClient(configuration=cfg)


async def demo(kubeconfig: str, once: bool) -> int:
    """The demo, its outcome as an exit status, and nothing left running: what does not end when cancelled is left
    behind by exiting at once (asyncio.run would wait for it for ever)."""
    try:
        code = await _demo(kubeconfig, once)
    except DemoStopped:
        code = 0
    except DemoFailed as err:
        print(f"demo: {err}", file=sys.stderr, flush=True)
        code = 1
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    if others:
        _, pending = await asyncio.wait(others, timeout=5)
        if pending:
            names = ", ".join(sorted(t.get_name() for t in pending))
            print(f"demo: exiting without waiting for {names}", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(code)
    return code


async def _demo(kubeconfig: str, once: bool) -> int:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    stop = asyncio.Event()
    signals = asyncio.create_task(_take_signals(stop), name="demo signals")
    async with ApiClient(configuration=cfg) as api:
        # the stand-in node lives as long as the demo: without a heartbeat it goes NotReady and its pods are evicted
        heart = asyncio.create_task(standin.keep_node_alive(api, NODE, NODE_IP), name="node heartbeat")
        try:
            # ours, and the tests' stand-ins for prometheus-operator's (the demo's cluster has none of its own)
            standins = sorted((ROOT / "tests" / "data" / "standin-crds").glob("*.yaml"))
            crds = [yaml.safe_load(p.read_text()) for p in [*sorted((ROOT / "crds").glob("*.yaml")), *standins]]
            for crd in crds:
                await apply(api, crd)
            await wait_established(api, [c["metadata"]["name"] for c in crds], stop)
            return await _with_webhooks(api, kubeconfig, once, stop)
        finally:
            heart.cancel()
            signals.cancel()


async def _with_webhooks(api: ApiClient, kubeconfig: str, once: bool, stop: asyncio.Event) -> int:
    """The operator with its admission webhooks, which the API server calls on loopback; both go when it ends."""
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
    operator_stop = asyncio.Event()
    operator = asyncio.create_task(
        run_operator(OperatorOptions(kubeconfig=kubeconfig, webhooks=webhooks), stop_flag=operator_stop),
        name="operator",
    )
    try:
        return await _with_operator(api, kubeconfig, once, stop, operator)
    finally:
        operator_stop.set()
        await _bounded(operator, "the operator")
        await remove_webhooks(api)  # with the operator gone they would refuse every collector


async def _bounded(task: asyncio.Task[Any], what: str) -> None:
    """Wait STOP_GRACE seconds for `task` to end, then cancel it; never wait for ever."""
    done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
    if not done:
        print(f"demo: {what} did not stop within {STOP_GRACE:.0f}s; cancelling it", file=sys.stderr, flush=True)
        task.cancel()
        await asyncio.wait({task}, timeout=5)
    if task.done() and not task.cancelled() and task.exception() is not None:
        print(f"demo: {what} ended with an error: {task.exception()}", file=sys.stderr, flush=True)


async def _take_signals(stop: asyncio.Event) -> None:
    """Ctrl-C or SIGTERM: a clean stop; a second one: out at once. kopf installs its own handlers when it starts
    (they only stop the operator), so the demo's are put back every second."""
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            print("\ndemo: stopped at once", file=sys.stderr, flush=True)
            os._exit(130)
        print("\ndemo: stopping (Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
        stop.set()

    while True:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await asyncio.sleep(1)


async def _with_operator(
    api: ApiClient, kubeconfig: str, once: bool, stop: asyncio.Event, operator: asyncio.Task[None]
) -> int:
    """The refusal, the guide's resources, the operator's observation and the allocator's answer."""
    await show_refusal(api, operator, stop)
    for doc in yaml.safe_load_all(EXAMPLE.read_text()):
        await apply(api, doc)
    print(f"applied {EXAMPLE.relative_to(ROOT)}", flush=True)
    objects = client.CustomObjectsApi(api)

    async def observed() -> dict[str, Any] | Pending:
        obj = await objects.get_namespaced_custom_object(
            "opentelemetry.io", "v1beta1", "opentelemetry", "opentelemetrycollectors", "otelcol"
        )
        seen = (obj.get("status") or {}).get("observedGeneration")
        if seen == obj["metadata"]["generation"]:
            return dict(obj)
        return Pending(f"generation {obj['metadata']['generation']}, observed {seen}")

    obj = await wait_for(observed, "the operator to observe opentelemetry/otelcol", stop, operator)
    print("\nNAME      MODE          GENERATION   OBSERVED")
    print(
        f"otelcol   {obj['spec']['mode']:<13} {obj['metadata']['generation']:<12} {obj['status']['observedGeneration']}"
    )
    print(
        f"\nThe operator has observed opentelemetry/otelcol. Try:\n"
        f"  export KUBECONFIG={kubeconfig}\n  kubectl get otelcol -n opentelemetry\n",
        flush=True,
    )
    allocator, listeners = await allocator_answer(api, kubeconfig, obj, stop)
    try:
        if not once:
            print(
                "Operator and allocator running; Ctrl-C stops them (the control plane stays up: `make cluster-down`).",
                flush=True,
            )
            ended = asyncio.create_task(stop.wait())
            await asyncio.wait({ended, operator}, return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            if operator.done() and not operator.cancelled() and operator.exception() is not None:
                raise DemoFailed(f"the operator stopped: {operator.exception()}")
    finally:
        await _stop_allocator(allocator, listeners)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=localcluster.DEFAULT_DIR, help="control-plane state folder")
    parser.add_argument(
        "--once",
        action="store_true",
        help="stop the operator (and the control plane it started) once the allocator has answered",
    )
    args = parser.parse_args()
    configure_logging(OperatorOptions())
    for handler in logging.getLogger().handlers:
        handler.addFilter(QuietDemo())
    folder = args.dir.resolve()
    started_here = localcluster.Cluster.load(folder) is None
    if not started_here:
        print(f"demo: reusing the control plane that is up in {folder}", flush=True)
    cluster = localcluster.up(folder)
    try:
        return asyncio.run(demo(cluster.kubeconfig, args.once))
    finally:
        if args.once and started_here:
            localcluster.down(folder)


if __name__ == "__main__":
    sys.exit(main())
