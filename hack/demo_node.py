#!/usr/bin/env python3
"""The demo on a real node: the troubleshooting guide's whole flow in real pods (needs root and the node's Debian
packages; `.ci/run` installs them).

  make demo-node                 # node + chart + guide; leaves it all running for kubectl (make cluster-down stops it)
  make demo-node ARGS=--down     # the same, then stop everything

Steps: hack/realnode.py starts the control plane with a kubelet (state in .cluster/); `helm install` of
charts/otel-operator with the locally built image; prometheus-operator's CRDs and the guide's ServiceAccount (the
guide's prerequisites); `kubectl apply` of examples/troubleshooting-guide.yaml and the app Deployment; then the
allocator's answer through its Service, each collector's share, and a metric the real Collector scraped.
The functions are the end-to-end test's steps too (tests/integration/test_real_node.py).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import collector
import helm as helm_tool
import localcluster
import realnode

ROOT = Path(__file__).resolve().parent.parent
NS = "opentelemetry"
OPERATOR_NS = "otel-operator-system"
JOB = "serviceMonitor/opentelemetry/sm-example/0"
GUIDE = ROOT / "examples" / "troubleshooting-guide.yaml"
STANDIN_CRDS = ROOT / "tests" / "data" / "standin-crds"
APP = ROOT / "examples" / "py-prometheus-app" / "deployment.yaml"
# the tests' stand-ins for prometheus-operator's CRDs: the node's cluster has none of its own
MONITOR_CRDS = ("monitoring.coreos.com_servicemonitors.standin.yaml", "monitoring.coreos.com_podmonitors.standin.yaml")
TA_SERVICE_ACCOUNT = "opentelemetry-targetallocator-sa"  # the guide's allocator runs as it; the guide creates it

Kubectl = Callable[..., str]


class StepFailed(Exception):
    """A step of the flow did not complete; the message says which and what was seen."""


def kubectl_for(kubeconfig: str) -> Kubectl:
    """`run(*args, stdin=None, check=True)`: the cached kubectl against this cluster, returning stdout."""
    kubectl = localcluster.kubectl_path()
    if kubectl is None:
        raise StepFailed("no kubectl beside the control-plane binaries: run `make controlplane`")

    def run(*args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [str(kubectl), f"--kubeconfig={kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise StepFailed(f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done.stdout

    return run


def eventually(check: Callable[[], Any], within: float, what: str, show: Callable[[], Any] | None = None) -> Any:
    """Poll `check` until it returns something truthy; StepFailed naming `what` and the last value (or `show()`)."""
    deadline, last = time.monotonic() + within, None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    raise StepFailed(f"{what} did not happen within {within:.0f}s (last: {show() if show else last!r})")


def diagnostics(kc: Kubectl) -> str:
    """What a failure needs to be understood: the pods, the recent events, the operator's last lines."""
    return "\n".join([
        kc("get", "pods", "-A", "-o", "wide", check=False),
        kc("get", "events", "-A", "--sort-by=.lastTimestamp", check=False)[-4000:],
        kc("-n", OPERATOR_NS, "logs", "deploy/otel-operator", "--tail=30", check=False)[-4000:],
    ])  # fmt: skip


def rollout(kc: Kubectl, namespace: str, workload: str, timeout: int = 180) -> None:
    try:
        kc("-n", namespace, "rollout", "status", workload, f"--timeout={timeout}s")
    except StepFailed as err:
        raise StepFailed(f"{workload} did not roll out: {err}\n{diagnostics(kc)}") from None


def install_chart(kubeconfig: str, kc: Kubectl) -> None:
    """The chart as a user installs it: the project's image (built locally, IfNotPresent) is the default; the
    collector image is this repository's ocb build, as no registry is reachable here."""
    helm = helm_tool.find()
    if helm is None:
        raise StepFailed("no Helm CLI: run `make helm`")
    done = subprocess.run(
        [helm, "upgrade", "--install", "otel-operator", str(ROOT / "charts" / "otel-operator"), "-n", OPERATOR_NS,
         "--create-namespace", "--kubeconfig", kubeconfig,
         "--set", f"collectorImage.repository={realnode.nodeimages.COLLECTOR.rsplit(':', 1)[0]}",
         "--set", f"collectorImage.tag={collector.OTELCOL_VERSION[1:]}"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise StepFailed(f"helm install exited {done.returncode}:\n{done.stderr}")
    rollout(kc, OPERATOR_NS, "deploy/otel-operator")


def apply_guide(kc: Kubectl) -> None:
    """The guide's prerequisites (prometheus-operator's CRDs, the allocator's ServiceAccount), then its resources
    and the app, as the guide applies them."""
    kc("apply", "--server-side", *(f"--filename={STANDIN_CRDS / name}" for name in MONITOR_CRDS))
    kc("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": TA_SERVICE_ACCOUNT, "namespace": NS}}
    kc("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [namespace, account]}))
    kc("apply", "-f", str(GUIDE), "-f", str(APP))


def wait_running(kc: Kubectl) -> None:
    """The app, the collector StatefulSet and the allocator Deployment roll out."""
    rollout(kc, NS, "deploy/py-prometheus-app", 120)
    eventually(lambda: kc("-n", NS, "get", "deploy/otelcol-targetallocator", check=False), 90, "the allocator",
               show=lambda: kc("-n", NS, "get", "otelcol,targetallocators", "-o", "yaml", check=False)[-3000:]
               + diagnostics(kc))  # fmt: skip
    rollout(kc, NS, "statefulset/otelcol-collector")
    rollout(kc, NS, "deploy/otelcol-targetallocator")


def allocator_address(kc: Kubectl) -> str:
    """The allocator Service's ClusterIP: reachable from the node itself too (hack/nodenet.py)."""
    return kc("-n", NS, "get", "svc", "otelcol-targetallocator", "-o", "jsonpath={.spec.clusterIP}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def jobs(allocator: str) -> dict[str, Any]:
    try:
        return dict(get_json(f"http://{allocator}/jobs"))
    except OSError:
        return {}


def share(allocator: str, collector_id: str) -> set[tuple[str, str]]:
    """(job, target) for every target of every job the allocator gives this collector."""
    found = set()
    for job in jobs(allocator):
        url = f"http://{allocator}/jobs/{urllib.parse.quote(job, safe='')}/targets?collector_id={collector_id}"
        found.update((job, target) for group in get_json(url) for target in group["targets"])
    return found


def app_pods(kc: Kubectl) -> dict[str, str]:
    """Target address -> pod name, for the guide's app pods."""
    pods = json.loads(kc("-n", NS, "get", "pods", "-l", "app=my-app", "-o", "json"))["items"]
    return {f"{p['status']['podIP']}:8080": p["metadata"]["name"] for p in pods if p["status"].get("podIP")}


def scraped_pods(kc: Kubectl, pod: str, namespace: str = NS) -> set[str]:
    """The app pods whose `py_app_scrapes_total` reached this collector's debug exporter (its log)."""
    logs = kc("-n", namespace, "logs", pod, check=False)
    found: set[str] = set()
    for block in logs.split("Name: py_app_scrapes_total")[1:]:
        found.update(re.findall(r"-> app_pod: Str\(([^)]+)\)", block.split("Metric #")[0]))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dir", type=Path, default=localcluster.DEFAULT_DIR, help="state folder (default: %(default)s)"
    )
    parser.add_argument("--down", action="store_true", help="stop the node and the control plane at the end")
    args = parser.parse_args(argv)
    if reason := realnode.unavailable():
        print(f"demo-node: {reason}", file=sys.stderr)
        return 2
    folder = args.dir.resolve()
    started = time.monotonic()
    try:
        cluster = realnode.up(folder)
        kc = kubectl_for(cluster.kubeconfig)
        print("installing the chart (helm upgrade --install otel-operator charts/otel-operator)", flush=True)
        install_chart(cluster.kubeconfig, kc)
        print(f"applied {GUIDE.relative_to(ROOT)} and {APP.relative_to(ROOT)}", flush=True)
        apply_guide(kc)
        wait_running(kc)
        allocator = allocator_address(kc)
        eventually(lambda: JOB in jobs(allocator), 60, f"{JOB} in /jobs")
        print(f"\n$ curl http://{allocator}/jobs   # the allocator's Service\n{json.dumps(jobs(allocator), indent=2)}")
        pods = app_pods(kc)
        eventually(lambda: scraped_pods(kc, "otelcol-collector-0") == set(pods.values()), 90,
                   "py_app_scrapes_total of every app pod in otelcol-collector-0's output")  # fmt: skip
        print("\notelcol-collector-0's share:")
        for job, target in sorted(share(allocator, "otelcol-collector-0")):
            print(f"  {job:45} {target:20} {pods.get(target, '')}")
        print("\nscraped by the real Collector (kubectl -n opentelemetry logs otelcol-collector-0):")
        for pod in sorted(scraped_pods(kc, "otelcol-collector-0")):
            print(f"  py_app_scrapes_total{{app_pod={pod!r}}}")
        print(f"\n{kc('get', 'pods', '-A', '-o', 'wide')}")
        print(f"demo-node: done in {time.monotonic() - started:.0f}s")
        print(localcluster.shell_hint(cluster.kubeconfig))
    except StepFailed as err:
        print(f"demo-node: {err}", file=sys.stderr)
        return 1
    finally:
        if args.down:
            realnode.down(folder)
    if not args.down:
        print("the node stays up: make cluster-down stops it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
