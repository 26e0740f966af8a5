"""The troubleshooting guide's whole flow in real pods, on a real node (hack/realnode.py: containerd, runc, kubelet,
kube-scheduler, userspace Service networking): `helm install` of the chart with the locally built image; the operator
pod becomes Ready; the guide's ServiceMonitor, Service, app Deployment and OpenTelemetryCollector are applied with
kubectl; the collector StatefulSet's pod and the allocator pod run; `/jobs` through the allocator's Service lists the
guide's ServiceMonitor job; the real Collector scrapes the app pods and the metric reaches its debug exporter; scaling
the collector 1 -> 2 splits the targets, and each collector scrapes its share; deleting the collector removes
everything the operator made for it; and no pod can reach beyond the machine.

The steps are `make demo-node`'s (hack/demo_node.py); the assertions are here. This module starts a control plane of
its own with the node (the session's shared one has no kubelet) and stops both afterwards. It needs root and the
node's Debian packages (`.ci/run` installs them); elsewhere it is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import demo_node as flow
import localcluster
import realnode
from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

STATE = ROOT / ".cluster-node"
INSTANCE = "app.kubernetes.io/instance=opentelemetry.otelcol"
# what the operator makes for a collector, namespaced and cluster-wide
OWNED = "statefulsets,deployments,replicasets,pods,services,configmaps,serviceaccounts,poddisruptionbudgets"
OWNED_CLUSTER = "clusterroles,clusterrolebindings"
COLLECTORS = ("otelcol-collector-0", "otelcol-collector-1")


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


def test_guide_flow_on_a_real_node(node: localcluster.Cluster) -> None:
    kc = flow.kubectl_for(node.kubeconfig)
    # 1-2. helm install; the operator pod becomes Ready, running the locally built project image
    flow.install_chart(node.kubeconfig, kc)
    image = kc("-n", flow.OPERATOR_NS, "get", "pods", "-o", "jsonpath={.items[*].spec.containers[0].image}")
    assert image == realnode.nodeimages.project_image()

    # 3-4. the guide applied; the app, the collector's and the allocator's pods run
    flow.apply_guide(kc)
    flow.wait_running(kc)
    phases = kc("-n", flow.NS, "get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}")
    assert {"otelcol-collector-0=Running"} <= set(phases.split()), phases

    # 5. /jobs through the allocator's Service (its ClusterIP, as the collectors reach it)
    allocator = flow.allocator_address(kc)
    flow.eventually(lambda: flow.JOB in flow.jobs(allocator), 60, f"{flow.JOB} in /jobs")
    pods = flow.app_pods(kc)
    assert len(pods) == 3
    everything = {(flow.JOB, address) for address in pods} | {("otel-collector", "0.0.0.0:8888")}
    flow.eventually(lambda: flow.share(allocator, COLLECTORS[0]) == everything, 60,
                    "every target assigned to the only collector",
                    show=lambda: flow.share(allocator, COLLECTORS[0]))  # fmt: skip

    # 6. the real Collector scrapes the app pods; the metric reaches its exporter
    flow.eventually(lambda: flow.scraped_pods(kc, COLLECTORS[0]) == set(pods.values()), 90,
                    "py_app_scrapes_total of every app pod in otelcol-collector-0's debug output",
                    show=lambda: flow.scraped_pods(kc, COLLECTORS[0]))  # fmt: skip

    # 7. scaling 1 -> 2 splits the targets, and each collector scrapes what it was given: four targets, two each
    # (the consistent-hashing strategy's load cap), so each collector has at least one app pod
    kc("-n", flow.NS, "patch", "otelcol", "otelcol", "--type=merge", "-p", '{"spec":{"replicas":2}}')
    flow.eventually(lambda: kc("-n", flow.NS, "get", "pod", COLLECTORS[1], check=False), 60, COLLECTORS[1])
    kc("-n", flow.NS, "wait", "--for=condition=Ready", f"pod/{COLLECTORS[1]}", "--timeout=120s")

    def split() -> dict[str, set[str]] | None:
        shares = {c: flow.share(allocator, c) for c in COLLECTORS}
        first, second = shares.values()
        if len(first) != 2 or len(second) != 2 or first | second != everything:
            return None
        return {c: {pods[t] for job, t in got if job == flow.JOB} for c, got in shares.items()}

    apps = flow.eventually(split, 60, "two targets per collector",
                           show=lambda: [flow.share(allocator, c) for c in COLLECTORS])  # fmt: skip
    for collector, scraped in apps.items():
        assert scraped, apps
        flow.eventually(lambda c=collector, p=scraped: p <= flow.scraped_pods(kc, c), 90,
                        f"{collector} scraping {sorted(scraped)}")  # fmt: skip

    # 8. deleting the collector removes what the operator made for it, cluster-wide objects included
    def leftovers() -> list[str]:
        namespaced = kc("-n", flow.NS, "get", OWNED, "-l", INSTANCE, "-o", "name")
        return (namespaced + kc("get", OWNED_CLUSTER, "-l", INSTANCE, "-o", "name")).split()

    before = leftovers()
    assert any(o.startswith("statefulset.apps/") for o in before), before
    assert any(o.startswith("clusterrole.rbac.authorization.k8s.io/") for o in before), before
    kc("-n", flow.NS, "delete", "otelcol", "otelcol", "--timeout=120s")
    flow.eventually(lambda: not leftovers(), 120, "the collector's objects gone", show=leftovers)
    # the app and the user's own ServiceAccount stay
    assert kc("-n", flow.NS, "get", "deploy/py-prometheus-app", f"sa/{flow.TA_SERVICE_ACCOUNT}", "-o", "name")

    # 9. the pods' network has no way off the machine: no default route, so an outside address is unreachable
    probe = (
        "import socket\n"
        "routes = [l.split()[1] for l in open('/proc/net/route').read().splitlines()[1:]]\n"
        "print('default' if '00000000' in routes else 'no-default')\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=3)\n"
        "except OSError as err:\n"
        "    print(type(err).__name__, err.errno)\n"
    )
    out = kc("-n", flow.NS, "exec", next(iter(pods.values())), "--", "python3", "-c", probe).split("\n")
    assert out[0] == "no-default"
    assert out[1].startswith("OSError 101"), out  # ENETUNREACH
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "0"
