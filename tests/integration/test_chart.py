"""The chart on a real kube-apiserver: every rendered object passes a server-side dry run; `helm install` creates
the operator's objects; the operator, started with the chart Deployment's arguments and authenticated as the
chart's ServiceAccount (a TokenRequest token), reconciles the guide's collector with its allocator without a 403;
`helm uninstall` removes everything but the CRDs.

This module starts a control plane of its own: the session's `operator` fixture runs as cluster admin on the
shared one and would reconcile the collector too, hiding any permission the chart's ServiceAccount lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient

import localcluster
from otel_operator.cli import build_parser, operator_options
from otel_operator.manifests import naming
from otel_operator.reconcile.kube import Kube, KubeError
from otel_operator.reconcile.runner import run_operator
from tests.integration.conftest import ROOT, STANDIN_CRDS, install_crds, wait_for
from tests.unit.test_chart import CHART, NON_DEFAULT, helm, operator_container, render

pytestmark = pytest.mark.integration

RELEASE, NAMESPACE = "otel-operator", "otel-operator-system"
MANIFEST = ROOT / "deploy" / "otel-operator.yaml"
PLURALS = {  # (apiVersion, kind) → (namespaced, plural) for what the chart and the manifest contain
    ("v1", "Namespace"): (False, "namespaces"),
    ("v1", "ServiceAccount"): (True, "serviceaccounts"),
    ("apps/v1", "Deployment"): (True, "deployments"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): (False, "clusterroles"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): (False, "clusterrolebindings"),
    ("rbac.authorization.k8s.io/v1", "Role"): (True, "roles"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (True, "rolebindings"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): (False, "customresourcedefinitions"),
    ("v1", "Service"): (True, "services"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (True, "servicemonitors"),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"): (False, "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): (False, "mutatingwebhookconfigurations"),
    ("cert-manager.io/v1", "Certificate"): (True, "certificates"),
    ("cert-manager.io/v1", "Issuer"): (True, "issuers"),
}


def cert_manager_stand_in(kind: str, plural: str) -> dict[str, Any]:
    """A stand-in for one of cert-manager's CRDs (not installed here): the dry run then checks what the API server
    checks of every object (name, namespace, metadata); cert-manager's own schema is cert-manager's."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.cert-manager.io"},
        "spec": {
            "group": "cert-manager.io",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


def object_path(obj: dict[str, Any], namespace: str | None = None) -> str:
    namespaced, plural = PLURALS[(obj["apiVersion"], obj["kind"])]
    api = obj["apiVersion"]
    base = f"/api/{api}" if "/" not in api else f"/apis/{api}"
    ns = obj["metadata"].get("namespace") or namespace
    prefix = f"{base}/namespaces/{ns}" if namespaced else base
    return f"{prefix}/{plural}/{obj['metadata']['name']}"


async def apply(kube: Kube, obj: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
    params = [("fieldManager", "chart-test"), ("force", "true")]
    if dry_run:
        params.append(("dryRun", "All"))
    answer: dict[str, Any] = await kube.request(
        "PATCH", object_path(obj), params=params, body=obj, content_type="application/apply-patch+yaml"
    )
    return answer


@pytest.fixture(scope="module")
def own_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("USE_EXISTING_CLUSTER", "").lower() == "true":
        pytest.fail(
            "the chart test needs a cluster where nothing else reconciles collectors; unset USE_EXISTING_CLUSTER"
        )
    folder = tmp_path_factory.mktemp("chart-cluster")
    cluster = localcluster.up(folder)
    try:
        yield cluster.kubeconfig
    finally:
        localcluster.down(folder)


@pytest.fixture(scope="module")
async def admin(own_kubeconfig: str) -> AsyncIterator[Kube]:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=own_kubeconfig, client_configuration=cfg)
    async with ApiClient(configuration=cfg) as api:
        yield Kube(api)


async def ensure_ns(kube: Kube, name: str) -> None:
    with contextlib.suppress(KubeError):
        await kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})


@pytest.mark.parametrize(
    "source",
    ["defaults", "non-default", "deploy/otel-operator.yaml"],
)
async def test_every_object_passes_server_side_dry_run(admin: Kube, source: str) -> None:
    if source == "defaults":
        objects = render("--include-crds", namespace="chart-dry-a")
    elif source == "non-default":
        objects = render("--include-crds", "-f", str(NON_DEFAULT), release="obs", namespace="chart-dry-b")
    else:
        objects = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    if any(o["kind"] == "ServiceMonitor" for o in objects):  # prometheus-operator's CRD, as a real cluster has it
        crd = yaml.safe_load((STANDIN_CRDS / "monitoring.coreos.com_servicemonitors.standin.yaml").read_text())
        with contextlib.suppress(KubeError):
            await admin.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)
        await wait_for(lambda: _established(admin, "servicemonitors.monitoring.coreos.com"), what="CRD established")
    for kind, plural in (("Certificate", "certificates"), ("Issuer", "issuers")):
        if any(o["kind"] == kind for o in objects):  # certManager.enabled: cert-manager's kinds
            with contextlib.suppress(KubeError):
                await admin.request(
                    "POST",
                    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                    body=cert_manager_stand_in(kind, plural),
                )
            await wait_for(lambda p=plural: _established(admin, f"{p}.cert-manager.io"), what="CRD established")
    namespaces = {o["metadata"].get("namespace") for o in objects} - {None}
    for ns in namespaces:  # the manifest's own Namespace object is dry-run too, but dry runs do not create it
        await ensure_ns(admin, ns)
    kinds = set()
    for obj in objects:
        answer = await apply(admin, obj, dry_run=True)
        assert (answer["kind"], answer["metadata"]["name"]) == (obj["kind"], obj["metadata"]["name"])
        kinds.add(obj["kind"])
    assert {"CustomResourceDefinition", "Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= kinds
    # a dry run writes nothing
    for obj in objects:
        if obj["kind"] not in ("Namespace",):
            assert await admin.get(object_path(obj)) is None, f"{obj['kind']} {obj['metadata']['name']} was created"


async def _established(kube: Kube, name: str) -> bool:
    crd = await kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def helm_on(kubeconfig: str, *args: str) -> str:
    return helm("--kubeconfig", kubeconfig, *args).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Forbidden(logging.Handler):
    """Collects every log record that reports a 403 / Forbidden, from kopf or from our reconciler."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]}"
        if "403" in text or "forbidden" in text.lower():
            self.records.append(f"{record.name}: {text}")


def guide_objects(namespace: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text()) if d]
    out = []
    for doc in docs:
        if doc["kind"] == "Namespace":
            continue
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "ServiceMonitor":
            doc["spec"]["namespaceSelector"] = {"matchNames": [namespace]}
        out.append(doc)
    return out


SERVICE_MONITORS_CRD = "servicemonitors.monitoring.coreos.com"


def prometheus_operators_service_monitor_crd() -> dict[str, Any]:
    """prometheus-operator's ServiceMonitor CRD as a cluster running it has it, in miniature: its annotations, a
    field and a printer column the stand-in lacks. Every install path must leave it exactly as it is."""
    crd = yaml.safe_load((STANDIN_CRDS / "monitoring.coreos.com_servicemonitors.standin.yaml").read_text())
    crd["metadata"]["annotations"] = {
        "controller-gen.kubebuilder.io/version": "v0.19.0",
        "operator.prometheus.io/version": "0.94.0",
    }
    (version,) = crd["spec"]["versions"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["sampleLimit"] = {"type": "integer", "format": "int64", "description": "per-scrape limit"}
    version["additionalPrinterColumns"] = [{"name": "Sample Limit", "type": "integer", "jsonPath": ".spec.sampleLimit"}]
    return crd


async def install_prometheus_operators_crd(admin: Kube) -> dict[str, Any]:
    """Put prometheus-operator's ServiceMonitor CRD in place (over the dry run's stand-in); returns it as served."""
    ext = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    body = prometheus_operators_service_monitor_crd()
    live = await admin.get(f"{ext}/{SERVICE_MONITORS_CRD}")
    if live is None:
        await admin.request("POST", ext, body=body)
    elif (live["metadata"].get("annotations") or {}) != body["metadata"]["annotations"]:
        body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        await admin.request("PUT", f"{ext}/{SERVICE_MONITORS_CRD}", body=body)
    await wait_for(lambda: _established(admin, SERVICE_MONITORS_CRD), what="CRD established")
    crd = await admin.get(f"{ext}/{SERVICE_MONITORS_CRD}")
    assert crd is not None
    return crd


async def assert_untouched(admin: Kube, before: dict[str, Any]) -> None:
    after = await admin.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{SERVICE_MONITORS_CRD}")
    assert after is not None, "prometheus-operator's ServiceMonitor CRD was deleted"
    assert after["metadata"]["uid"] == before["metadata"]["uid"], "prometheus-operator's CRD was recreated"
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], (
        "prometheus-operator's ServiceMonitor CRD was written to"
    )
    (version,) = after["spec"]["versions"]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Sample Limit"]
    assert "sampleLimit" in version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


async def test_the_kubectl_install_upgrade_and_uninstall_leave_prometheus_operators_crds_alone(
    admin: Kube, own_kubeconfig: str, tmp_path: Path
) -> None:
    before = await install_prometheus_operators_crd(admin)
    kubectl = localcluster.kubectl_path()
    assert kubectl is not None, "no kubectl beside the control-plane binaries: run `make controlplane`"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"KUBERC": "off"}

    def run(*args: str) -> str:
        cmd = [str(kubectl), f"--kubeconfig={own_kubeconfig}", f"--cache-dir={tmp_path / 'cache'}", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done.stdout

    # the README's commands, as written there: install, upgrade (the CRDs first), uninstall
    out = run("apply", "--server-side", "-f", str(MANIFEST))
    assert "servicemonitors.monitoring.coreos.com" not in out
    out = run("apply", "--server-side", "-f", str(CHART / "crds"))
    assert sorted(line.split()[0] for line in out.splitlines()) == [
        "customresourcedefinition.apiextensions.k8s.io/opentelemetrycollectors.opentelemetry.io",
        "customresourcedefinition.apiextensions.k8s.io/targetallocators.opentelemetry.io",
    ]
    await assert_untouched(admin, before)
    run("delete", "--wait=true", "--timeout=120s", "-f", str(MANIFEST))
    await assert_untouched(admin, before)


async def test_install_run_as_service_account_uninstall(admin: Kube, own_kubeconfig: str, tmp_path: Path) -> None:
    # the guide's ServiceMonitor needs the monitoring CRDs: prometheus-operator's, as a real cluster has it (the
    # other kinds' stand-ins beside it; install_crds leaves a CRD that is not ours or a stand-in as it is)
    prometheus_operators = await install_prometheus_operators_crd(admin)
    await install_crds(admin.api, STANDIN_CRDS)
    await assert_untouched(admin, prometheus_operators)

    # ---- install, as a user would
    out = helm_on(own_kubeconfig, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace")
    assert f"kubectl -n {NAMESPACE} rollout status deployment/{RELEASE}" in out  # NOTES.txt
    rendered = render()
    for obj in rendered:
        live = await admin.get(object_path(obj, NAMESPACE))
        assert live is not None, f"{obj['kind']} {obj['metadata']['name']} not installed"
    ext = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in ("opentelemetrycollectors.opentelemetry.io", "targetallocators.opentelemetry.io"):

        async def established(name: str = crd) -> bool:
            found = await admin.get(f"{ext}/{name}")
            conds = {c["type"]: c["status"] for c in ((found or {}).get("status") or {}).get("conditions") or []}
            return conds.get("Established") == "True"

        await wait_for(established, what=f"{crd} established")

    # ---- the chart's ServiceAccount's credentials: a TokenRequest, as the kubelet would mount
    deployment = next(o for o in rendered if o["kind"] == "Deployment")
    sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    token = await admin.request(
        "POST",
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{sa}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
    )
    server = yaml.safe_load(Path(own_kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
    sa_kubeconfig = tmp_path / "sa-kubeconfig"
    sa_kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": sa, "user": {"token": token["status"]["token"]}}],
                "contexts": [{"name": "sa", "context": {"cluster": "local", "user": sa}}],
                "current-context": "sa",
            }
        )
    )
    # the token really authenticates as the ServiceAccount, not as an admin
    whoami = await _whoami(sa_kubeconfig)
    assert whoami == f"system:serviceaccount:{NAMESPACE}:{sa}"

    # ---- the operator with the Deployment's command line (its entrypoint is otel-operator); only the kubeconfig
    # (in the pod: the mounted token) and the health port (8081 may be taken here) differ
    container = operator_container(rendered)
    port, metrics_port, webhook_port = free_port(), free_port(), free_port()
    argv = [
        a.replace(":8081/", f":{port}/")
        .replace("=:8080", f"=127.0.0.1:{metrics_port}")
        .replace("--webhook-port=9443", f"--webhook-port={webhook_port}")
        .replace("--webhook-cert-dir=/tmp/k8s-webhook-server/serving-certs", f"--webhook-cert-dir={tmp_path / 'certs'}")
        for a in container["args"]
    ]
    # the API server reaches this process on loopback, not through the webhook Service (no pods run here)
    # (and the webhook Secret's namespace, in a pod $POD_NAMESPACE, is given)
    argv += ["--kubeconfig", str(sa_kubeconfig), "--webhook-addr=127.0.0.1", "--webhook-host=127.0.0.1"]
    argv += [f"--webhook-namespace={NAMESPACE}"]
    assert "--webhooks" in argv
    await _point_webhooks_at(admin, f"https://127.0.0.1:{webhook_port}")
    args = build_parser().parse_args(argv)
    # the environment is the downward API's pod name and namespace only: the Lease's identity and namespace
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    opts = operator_options(args)
    assert opts.leader_election  # so the Lease permissions are exercised too
    forbidden = Forbidden()
    logging.getLogger().addHandler(forbidden)
    stop, ready = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(run_operator(opts, stop_flag=stop, ready_flag=ready))
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=main, name="otel-operator-as-sa", daemon=True)
    thread.start()
    ns = "chart-guide"
    try:
        assert await asyncio.to_thread(ready.wait, 60), f"operator not ready: {errors!r}"

        async def healthy() -> bool:  # the probes' endpoint; kopf starts serving it just after ready
            return await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/healthz") == 200

        await wait_for(healthy, within=15, what="the liveness endpoint")

        async def ready() -> bool:  # the readiness probe: the webhooks accept connections
            return await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/readyz") == 200

        await wait_for(ready, within=30, what="the readiness endpoint")
        await ensure_ns(admin, ns)
        await wait_for(lambda: _refuses_a_bad_collector(admin, ns), within=60, what="the webhooks to answer")
        for obj in guide_objects(ns):
            group_version = obj["apiVersion"]
            base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
            plural = {"Service": "services", "ServiceMonitor": "servicemonitors"}.get(
                obj["kind"], "opentelemetrycollectors"
            )
            await admin.request("POST", f"{base}/namespaces/{ns}/{plural}", body=obj)

        role = naming.allocator_cluster_role(ns, "otelcol")
        wanted = [
            f"/apis/apps/v1/namespaces/{ns}/statefulsets/otelcol-collector",
            f"/apis/apps/v1/namespaces/{ns}/deployments/otelcol-targetallocator",
            f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{role}",
            f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{role}",
        ]

        async def all_there() -> list[str]:
            assert not forbidden.records, "\n".join(forbidden.records)  # fail at the first 403, naming it
            missing = [p for p in wanted if await admin.get(p) is None]
            return [] if missing else wanted

        await wait_for(all_there, within=60, what="the collector's StatefulSet and the allocator's objects")
        collector_path = f"/apis/opentelemetry.io/v1beta1/namespaces/{ns}/opentelemetrycollectors/otelcol"

        async def status_written() -> bool:
            found = await admin.get(collector_path)
            return bool(((found or {}).get("status") or {}).get("conditions"))

        await wait_for(status_written, what="the collector's status (patched by the ServiceAccount)")

        async def counted() -> str | None:  # the operator's own metrics say what it did
            text = await asyncio.to_thread(_read, f"http://127.0.0.1:{metrics_port}/metrics")
            applied = 'otel_operator_reconcile_total{kind="OpenTelemetryCollector",result="applied"}'
            return text if applied in text and "otel_operator_leader 1.0" in text else None

        metrics = await wait_for(counted, within=15, what="otel_operator_reconcile_total and otel_operator_leader")
        assert 'otel_operator_object_writes_total{kind="StatefulSet",verb="create"} 1.0' in metrics
        await asyncio.sleep(2)  # a moment for any watch of a forbidden kind to report itself
        assert not forbidden.records, "\n".join(forbidden.records)
        assert not errors, errors
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 30)
        logging.getLogger().removeHandler(forbidden)

    # ---- uninstall: everything the chart installed goes, the CRDs (and the user's collectors) stay
    helm_on(own_kubeconfig, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "60s")
    for obj in rendered:
        assert await admin.get(object_path(obj, NAMESPACE)) is None, f"{obj['kind']} {obj['metadata']['name']} left"
    releases = await admin.request(
        "GET", f"/api/v1/namespaces/{NAMESPACE}/secrets", params=[("labelSelector", "owner=helm")]
    )
    assert releases["items"] == []
    for crd in ("opentelemetrycollectors.opentelemetry.io", "targetallocators.opentelemetry.io"):
        assert await admin.get(f"{ext}/{crd}") is not None, f"{crd} was removed"
    assert await admin.get(collector_path) is not None
    await assert_untouched(admin, prometheus_operators)  # neither helm install nor uninstall touched it


async def _point_webhooks_at(admin: Kube, url: str) -> None:
    """The chart's configurations call the webhook Service; here the operator runs in this process, so its
    webhooks get a URL clientConfig instead (everything else stays as installed, the empty caBundle included, which
    the operator fills in)."""
    for plural in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        path = f"/apis/admissionregistration.k8s.io/v1/{plural}/{RELEASE}"
        live = await admin.get(path)
        assert live is not None, f"the chart installed no {plural} {RELEASE}"
        for hook in live["webhooks"]:
            service = hook["clientConfig"].pop("service")
            hook["clientConfig"]["url"] = f"{url}{service['path']}"
        await admin.request("PUT", path, body=live)


async def _refuses_a_bad_collector(admin: Kube, namespace: str) -> bool:
    bad = {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {
            "mode": "deployment",
            "targetAllocator": {"enabled": True},
            "config": {"receivers": {}, "exporters": {}, "service": {"pipelines": {}}},
        },
    }
    try:
        await admin.request(
            "POST",
            f"/apis/opentelemetry.io/v1beta1/namespaces/{namespace}/opentelemetrycollectors",
            params=[("dryRun", "All")],
            body=bad,
        )
    except KubeError as err:
        return "denied the request" in str(err)
    return False


def _read(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
        return text


async def _whoami(kubeconfig: Path) -> str:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with ApiClient(configuration=cfg) as api:
        review = await Kube(api).request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    return str(review["status"]["userInfo"]["username"])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except OSError:
        return 0
