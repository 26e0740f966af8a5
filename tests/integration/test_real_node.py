"""The troubleshooting guide's whole flow in real pods, on a real node (hack/realnode.py: containerd, runc, kubelet,
kube-scheduler, userspace Service networking): `helm install` of the chart with the locally built image; the operator
pod becomes Ready; the guide's ServiceMonitor, Service, app Deployment and OpenTelemetryCollector are applied with
kubectl; the collector StatefulSet's pod and the allocator pod run; `/jobs` through the allocator's Service lists the
guide's ServiceMonitor job; the real Collector scrapes the app pods and the metric reaches its debug exporter; scaling
the collector 1 -> 2 splits the targets, and each collector scrapes its share; deleting the collector removes
everything the operator made for it; and no pod can reach beyond the machine.

This module starts a control plane of its own with the node (the session's shared one has no kubelet), and stops
both afterwards. It runs as root with containerd, runc, the CNI plugins, podman and mmdebstrap installed (`.ci/run`
installs them); elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import helm as helm_tool
import localcluster
import realnode
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

NS = "opentelemetry"
JOB = "serviceMonitor/opentelemetry/sm-example/0"
INSTANCE = "app.kubernetes.io/instance=opentelemetry.otelcol"
GUIDE = ROOT / "examples" / "troubleshooting-guide.yaml"
APP = ROOT / "examples" / "py-prometheus-app" / "deployment.yaml"
STATE = ROOT / ".cluster-node"
# what the operator makes for a collector, namespaced and cluster-wide
OWNED = "statefulsets,deployments,replicasets,pods,services,configmaps,serviceaccounts,poddisruptionbudgets"
OWNED_CLUSTER = "clusterroles,clusterrolebindings"

Kubectl = Callable[..., str]


def eventually(check: Callable[[], Any], within: float, what: str, show: Callable[[], Any] | None = None) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` and the last value (or `show()`)."""
    deadline, last = time.monotonic() + within, None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"{what} did not happen within {within:.0f}s (last: {show() if show else last!r})")


@pytest.fixture(scope="module")
def node() -> Iterator[localcluster.Cluster]:
    if reason := realnode.unavailable():
        pytest.skip(f"no real node on this machine: {reason}")
    realnode.down(STATE, quiet=True)  # a fresh node and control plane, whatever an interrupted run left
    cluster = realnode.up(STATE)
    try:
        yield cluster
    finally:
        realnode.down(STATE)


@pytest.fixture(scope="module")
def kc(node: localcluster.Cluster) -> Kubectl:
    kubectl = localcluster.kubectl_path()
    assert kubectl is not None

    def run(*args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [str(kubectl), f"--kubeconfig={node.kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done.stdout

    return run


def diagnostics(kc: Kubectl) -> str:
    """What a failure needs to be understood: the pods, the recent events, the operator's last lines."""
    return "\n".join([
        kc("get", "pods", "-A", "-o", "wide", check=False),
        kc("get", "events", "-A", "--sort-by=.lastTimestamp", check=False)[-4000:],
        kc("-n", "otel-operator-system", "logs", "deploy/otel-operator", "--tail=30", check=False)[-4000:],
    ])  # fmt: skip


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def share(allocator: str, collector: str) -> set[tuple[str, str]]:
    """(job, target) for every target of every job the allocator gives this collector."""
    return {
        (job, target)
        for job in get_json(f"http://{allocator}/jobs")
        for group in get_json(
            f"http://{allocator}/jobs/{urllib.parse.quote(job, safe='')}/targets?collector_id={collector}"
        )
        for target in group["targets"]
    }


def scraped_pods(kc: Kubectl, collector: str) -> set[str]:
    """The app pods whose `py_app_scrapes_total` reached this collector's debug exporter."""
    logs = kc("-n", NS, "logs", collector, check=False)
    found: set[str] = set()
    for block in logs.split("Name: py_app_scrapes_total")[1:]:
        found.update(re.findall(r"-> app_pod: Str\(([^)]+)\)", block.split("Metric #")[0]))
    return found


def test_guide_flow_on_a_real_node(node: localcluster.Cluster, kc: Kubectl) -> None:
    helm = helm_tool.find()
    assert helm is not None, "no Helm CLI: run `make helm`"
    # 1. the chart, as a user installs it: the project's image (built locally, IfNotPresent) is the default; the
    # collector image is this repository's ocb build, as no registry is reachable here
    subprocess.run(
        [helm, "install", "otel-operator", str(ROOT / "charts" / "otel-operator"), "-n", "otel-operator-system",
         "--create-namespace", "--kubeconfig", node.kubeconfig,
         "--set", "collectorImage.repository=localhost/otelcol-e2e", "--set", "collectorImage.tag=0.158.0"],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # 2. the operator pod becomes Ready (its readiness probe: kopf is up and the webhooks serve)
    done = subprocess.run(
        [str(localcluster.kubectl_path()), f"--kubeconfig={node.kubeconfig}", "-n", "otel-operator-system",
         "rollout", "status", "deploy/otel-operator", "--timeout=180s"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, diagnostics(kc)
    image = kc("-n", "otel-operator-system", "get", "pods", "-o", "jsonpath={.items[*].spec.containers[0].image}")
    assert image == realnode.nodeimages.project_image()

    # 3. the guide's prerequisites (prometheus-operator's CRDs, the allocator's ServiceAccount), then its resources
    kc("apply", "--server-side", "-f", str(ROOT / "crds" / "monitoring.coreos.com_servicemonitors.yaml"),
       "-f", str(ROOT / "crds" / "monitoring.coreos.com_podmonitors.yaml"))  # fmt: skip
    kc("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s")
    kc("create", "namespace", NS)
    kc("-n", NS, "create", "serviceaccount", "opentelemetry-targetallocator-sa")  # the guide's allocator runs as it
    kc("apply", "-f", str(GUIDE), "-f", str(APP))

    # 4. the collector's and the allocator's pods run
    kc("-n", NS, "rollout", "status", "deploy/py-prometheus-app", "--timeout=120s")
    eventually(
        lambda: kc("-n", NS, "get", "deploy/otelcol-targetallocator", check=False), 60, "the allocator Deployment"
    )
    for workload in ("statefulset/otelcol-collector", "deploy/otelcol-targetallocator"):
        done = subprocess.run(
            [str(localcluster.kubectl_path()), f"--kubeconfig={node.kubeconfig}", "-n", NS,
             "rollout", "status", workload, "--timeout=180s"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{workload} did not roll out:\n{diagnostics(kc)}"

    # 5. /jobs through the allocator's Service (its ClusterIP, as the collectors reach it)
    allocator = kc("-n", NS, "get", "svc", "otelcol-targetallocator", "-o", "jsonpath={.spec.clusterIP}")

    def jobs() -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://{allocator}/jobs", timeout=5) as resp:
                return dict(json.loads(resp.read()))
        except OSError:
            return {}

    assert JOB in eventually(lambda: JOB in jobs() and jobs(), 60, f"{JOB} in /jobs")
    app_pods = json.loads(kc("-n", NS, "get", "pods", "-l", "app=my-app", "-o", "json"))["items"]
    by_address = {f"{p['status']['podIP']}:8080": p["metadata"]["name"] for p in app_pods}
    assert len(by_address) == 3
    everything = {(JOB, address) for address in by_address} | {("otel-collector", "0.0.0.0:8888")}
    eventually(lambda: share(allocator, "otelcol-collector-0") == everything, 60,
               "every target assigned to the only collector")  # fmt: skip

    # 6. the real Collector scrapes the app pods; the metric reaches its exporter
    eventually(lambda: scraped_pods(kc, "otelcol-collector-0") == set(by_address.values()), 90,
               "py_app_scrapes_total of every app pod in otelcol-collector-0's debug output")  # fmt: skip

    # 7. scaling 1 -> 2 splits the targets, and each collector scrapes what it was given: four targets, two each
    # (the consistent-hashing strategy's load cap), so each collector has at least one app pod
    kc("-n", NS, "patch", "otelcol", "otelcol", "--type=merge", "-p", '{"spec":{"replicas":2}}')
    eventually(lambda: kc("-n", NS, "get", "pod", "otelcol-collector-1", check=False), 60, "otelcol-collector-1")
    kc("-n", NS, "wait", "--for=condition=Ready", "pod/otelcol-collector-1", "--timeout=120s")

    collectors = ("otelcol-collector-0", "otelcol-collector-1")

    def split() -> dict[str, set[str]] | None:
        shares = {c: share(allocator, c) for c in collectors}
        first, second = shares.values()
        if len(first) != 2 or len(second) != 2 or first | second != everything:
            return None
        return {c: {by_address[t] for job, t in got if job == JOB} for c, got in shares.items()}

    apps = eventually(split, 60, "two targets per collector",
                      show=lambda: [share(allocator, c) for c in collectors] + [diagnostics(kc)])  # fmt: skip
    for collector, pods in apps.items():
        assert pods, apps
        eventually(lambda c=collector, p=pods: p <= scraped_pods(kc, c), 90, f"{collector} scraping {sorted(pods)}")

    # 8. deleting the collector removes what the operator made for it, cluster-wide objects included
    assert kc("-n", NS, "get", OWNED, "-l", INSTANCE, "-o", "name").split()
    assert kc("get", OWNED_CLUSTER, "-l", INSTANCE, "-o", "name").split()
    kc("-n", NS, "delete", "otelcol", "otelcol", "--timeout=120s")

    def leftovers() -> list[str]:
        return (
            kc("-n", NS, "get", OWNED, "-l", INSTANCE, "-o", "name")
            + kc("get", OWNED_CLUSTER, "-l", INSTANCE, "-o", "name")
        ).split()

    eventually(lambda: not leftovers(), 120, "the collector's objects gone", show=leftovers)
    # the app and the user's own ServiceAccount stay
    assert kc("-n", NS, "get", "deploy/py-prometheus-app", "sa/opentelemetry-targetallocator-sa", "-o", "name")

    # 9. and the pods' network has no way off the machine: no default route, so an outside address is unreachable
    pod = next(iter(by_address.values()))
    probe = (
        "import socket\n"
        "routes = [l.split()[1] for l in open('/proc/net/route').read().splitlines()[1:]]\n"
        "print('default' if '00000000' in routes else 'no-default')\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=3)\n"
        "except OSError as err:\n"
        "    print(type(err).__name__, err.errno)\n"
    )
    out = kc("-n", NS, "exec", pod, "--", "python3", "-c", probe).split("\n")
    assert out[0] == "no-default"
    assert out[1].startswith("OSError 101"), out  # ENETUNREACH
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "0"
