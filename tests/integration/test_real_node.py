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

import base64
import hashlib
import json
import secrets
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def kc(node: localcluster.Cluster) -> flow.Kubectl:
    """kubectl on the node's cluster, once the chart is installed and the operator pod is Ready."""
    kc = flow.kubectl_for(node.kubeconfig)
    flow.install_chart(node.kubeconfig, kc)
    return kc


def test_the_chart_runs_the_locally_built_image(kc: flow.Kubectl) -> None:
    image = kc("-n", flow.OPERATOR_NS, "get", "pods", "-o", "jsonpath={.items[*].spec.containers[0].image}")
    assert image == realnode.nodeimages.project_image()
    ready = kc(
        "-n", flow.OPERATOR_NS, "get", "pods", "-o", 'jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}'
    )
    assert ready == "True"
    # and the image holds this checkout's code, not an older build's (a cached image layer once kept stale wheels)
    pod = kc("-n", flow.OPERATOR_NS, "get", "pods", "-o", "jsonpath={.items[0].metadata.name}")
    in_pod = kc("-n", flow.OPERATOR_NS, "exec", pod, "--", "python3", "-c", SOURCE_DIGEST).strip()
    assert in_pod == source_digest(ROOT / "operator" / "otel_operator")


# the digest of every module of the package, by path relative to it: the same script here and in the pod
SOURCE_DIGEST = (
    "import hashlib, pathlib, otel_operator\n"
    "root = pathlib.Path(otel_operator.__file__).parent\n"
    "h = hashlib.sha256()\n"
    "for f in sorted(root.rglob('*.py')):\n"
    "    h.update(str(f.relative_to(root)).encode() + b'\\0' + f.read_bytes())\n"
    "print(h.hexdigest())\n"
)


def source_digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def test_guide_flow_on_a_real_node(kc: flow.Kubectl) -> None:

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


SECURE_NS = "secure"
COLLECTOR = "app.kubernetes.io/component=opentelemetry-collector"


def secure_objects(password: str) -> list[dict[str, Any]]:
    """An app whose /metrics wants basic auth, a ServiceMonitor carrying it from a Secret, and a collector with the
    allocator's mTLS on (no cert-manager here: the operator issues the certificates)."""
    labels = {"app": "secure-app"}
    secret_ref = {"name": "app-basic-auth"}
    env = [{"name": f"BASIC_AUTH_{k.upper()}", "valueFrom": {"secretKeyRef": {**secret_ref, "key": k}}}
           for k in ("username", "password")]  # fmt: skip
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SECURE_NS}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-basic-auth", "namespace": SECURE_NS},
         "stringData": {"username": "scraper", "password": password}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "secure-app", "namespace": SECURE_NS},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
          "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
              "name": "app", "image": realnode.nodeimages.APP, "imagePullPolicy": "IfNotPresent", "env": env,
              "ports": [{"name": "prom", "containerPort": 8080}],
              "readinessProbe": {"httpGet": {"path": "/healthz", "port": "prom"}, "periodSeconds": 2}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "secure-app", "namespace": SECURE_NS,
         "labels": labels}, "spec": {"selector": labels, "ports": [{"name": "prom", "port": 8080}]}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
         "metadata": {"name": "secure-sm", "namespace": SECURE_NS},
         "spec": {"selector": {"matchLabels": labels}, "endpoints": [{"port": "prom", "interval": "5s", "basicAuth": {
             "username": {**secret_ref, "key": "username"}, "password": {**secret_ref, "key": "password"}}}]}},
        {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
         "metadata": {"name": "vault", "namespace": SECURE_NS},
         "spec": {"mode": "statefulset", "targetAllocator": {
             "enabled": True, "mtls": {"enabled": True},
             "prometheusCR": {"enabled": True, "serviceMonitorSelector": {}, "podMonitorSelector": {}}},
          "config": {"receivers": {"prometheus": {"config": {"scrape_configs": []}}},
                     "exporters": {"debug": {"verbosity": "detailed"}},
                     "service": {"pipelines": {"metrics": {"receivers": ["prometheus"], "exporters": ["debug"]}}}}}},
    ]  # fmt: skip


def test_credentials_reach_real_collectors_over_operator_issued_mtls(kc: flow.Kubectl) -> None:
    """Issue 13's end to end: a basicAuth-protected app scraped by a real Collector with the real password, which
    only the allocator's mTLS listener serves, with certificates the operator issued and mounted."""
    password = secrets.token_urlsafe(12)
    kc("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": secure_objects(password)}))
    flow.rollout(kc, SECURE_NS, "deploy/secure-app", 120)
    flow.eventually(lambda: kc("-n", SECURE_NS, "get", "deploy/vault-targetallocator", check=False), 60, "allocator")
    flow.rollout(kc, SECURE_NS, "statefulset/vault-collector")
    flow.rollout(kc, SECURE_NS, "deploy/vault-targetallocator")
    app_pod = kc("-n", SECURE_NS, "get", "pods", "-l", "app=secure-app", "-o", "jsonpath={.items[0].metadata.name}")

    # the operator issued the certificates and mounted them: the client's in the collector, the server's in the
    # allocator, both signed by the CA it made
    def mounted(selector: str) -> list[str]:
        pod = json.loads(kc("-n", SECURE_NS, "get", "pods", "-l", selector, "-o", "json"))["items"][0]
        return [v["secret"]["secretName"] for v in pod["spec"]["volumes"] if "secret" in v]

    assert "vault-ta-client-cert" in mounted(COLLECTOR)
    assert "vault-ta-server-cert" in mounted("app.kubernetes.io/component=opentelemetry-targetallocator")

    def data(name: str) -> dict[str, str]:
        return dict(json.loads(kc("-n", SECURE_NS, "get", "secret", name, "-o", "json"))["data"])

    ca = base64.b64decode(data("vault-ca-cert")["ca.crt"]).decode()
    for leaf in ("vault-ta-server-cert", "vault-ta-client-cert"):
        keys = data(leaf)
        assert {"tls.crt", "tls.key", "ca.crt"} <= set(keys)
        assert ca.strip() in base64.b64decode(keys["ca.crt"]).decode()  # the operator's CA is trusted on both sides
    collector_config = kc("-n", SECURE_NS, "get", "configmaps", "-l", COLLECTOR, "-o", "jsonpath={.items[*].data}")
    assert "https://vault-targetallocator:443" in collector_config

    # the real Collector scrapes the app with the real password (the app answers 401 to anything else)
    flow.eventually(lambda: app_pod in scraped(kc, "vault-collector-0"), 120,
                    f"vault-collector-0 scraping {app_pod} with basic auth",
                    show=lambda: kc("-n", SECURE_NS, "logs", app_pod, check=False) + flow.diagnostics(kc))  # fmt: skip

    # the plain listener, which anyone in the cluster can reach, never serves the password
    allocator = kc("-n", SECURE_NS, "get", "svc", "vault-targetallocator", "-o", "jsonpath={.spec.clusterIP}")
    plain = urllib.request.urlopen(f"http://{allocator}/scrape_configs", timeout=5).read().decode()
    assert "secure-sm" in plain
    assert password not in plain
    assert "<secret>" in plain

    # a client without the operator's client certificate is refused, and the allocator says who and why
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    def without_certificate() -> bytes:
        with socket.create_connection((allocator, 443), timeout=5) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(b"GET /scrape_configs HTTP/1.1\r\nHost: x\r\n\r\n")
            return tls.recv(1024)

    try:
        answer = without_certificate()
    except (ssl.SSLError, OSError):  # the alert (TLS 1.3 may deliver it at the first read)
        answer = b""
    assert answer == b"", answer
    flow.eventually(lambda: "refused TLS client" in kc("-n", SECURE_NS, "logs", "deploy/vault-targetallocator"), 30,
                    "the allocator's line about the refused client")  # fmt: skip
    kc("delete", "namespace", SECURE_NS, "--wait=false")


def scraped(kc: flow.Kubectl, pod: str) -> set[str]:
    return flow.scraped_pods(kc, pod, namespace=SECURE_NS)
