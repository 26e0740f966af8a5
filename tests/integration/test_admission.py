"""The admission webhooks, called for real by kube-apiserver: refusals with the review's message, the defaulted spec
stored, admission warnings, and the certificate the operator issued and put into the configurations.

The webhook server runs alone here (serve_admission, as `otel-operator run --webhooks` starts it), beside the
session's reconciling operator. Its configurations select only this module's namespaces (by a label), so the other
tests' deliberately bad collectors still reach the reconciler.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.admission import configurations, names
from otel_operator.admission.runner import WebhookOptions, serve_admission
from otel_operator.manifests import BuildOptions
from otel_operator.reconcile.metrics import OperatorMetrics

from .conftest import Kubectl, ensure_namespace, wait_for

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
OPERATOR_NS = "admission-operator"
NS = "admission"
SELECT = {"otel-operator.test/admission": "on"}  # only this module's namespaces are sent to the webhooks
CONFIGURATION = "otel-operator-test-admission"
MERGE = "application/merge-patch+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def collector(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "mode": "statefulset",
        "config": {
            "receivers": {"otlp": {"protocols": {"grpc": {}}}},
            "exporters": {"debug": {}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}},
        },
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": name},
        "spec": body,
    }


async def apply_configurations(api: ApiClient, url: str, ca: bytes | None = None) -> None:
    reg = client.AdmissionregistrationV1Api(api)
    selector = {"matchLabels": SELECT}
    made = (
        configurations.validating_configuration(
            CONFIGURATION, url, operator_namespace=OPERATOR_NS, extra_namespace_selector=selector, ca_bundle=ca
        ),
        configurations.mutating_configuration(
            CONFIGURATION, url, operator_namespace=OPERATOR_NS, extra_namespace_selector=selector, ca_bundle=ca
        ),
    )
    for body, create, delete in (
        (made[0], reg.create_validating_webhook_configuration, reg.delete_validating_webhook_configuration),
        (made[1], reg.create_mutating_webhook_configuration, reg.delete_mutating_webhook_configuration),
    ):
        try:
            await delete(CONFIGURATION)
        except ApiException as err:
            if err.status != 404:
                raise
        await create(body)


async def delete_configurations(api: ApiClient) -> None:
    reg = client.AdmissionregistrationV1Api(api)
    for delete in (reg.delete_validating_webhook_configuration, reg.delete_mutating_webhook_configuration):
        try:
            await delete(CONFIGURATION)
        except ApiException as err:
            if err.status != 404:
                raise


class Server:
    """serve_admission in its own thread and event loop, as in a separate process."""

    def __init__(self, kubeconfig: str, options: WebhookOptions) -> None:
        self.kubeconfig, self.options = kubeconfig, options
        self.metrics = OperatorMetrics()
        self.errors: list[BaseException] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._main, name="admission", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
            await serve_admission(
                self.options,
                BuildOptions(),
                kubeconfig=self.kubeconfig,
                namespaces=(),
                stop=self.stop,
                metrics=self.metrics,
            )

        try:
            asyncio.run(main())
        except BaseException as err:  # reported by the fixture, not lost in the thread
            self.errors.append(err)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def webhook_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(
    kubeconfig: str, crds: list[str], webhook_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    cert_dir = tmp_path_factory.mktemp("webhook-certs")
    srv = Server(
        kubeconfig,
        WebhookOptions(
            port=webhook_port,
            addr="127.0.0.1",
            host="127.0.0.1",
            namespace=OPERATOR_NS,
            secret="admission-test-cert",
            configuration=CONFIGURATION,
            cert_dir=str(cert_dir),
        ),
    )
    srv.start()
    yield srv
    srv.close()
    assert not srv.errors, f"the webhook server failed: {srv.errors!r}"


@pytest.fixture(scope="module")
async def admitting(api: ApiClient, server: Server, webhook_port: int) -> AsyncIterator[client.CustomObjectsApi]:
    """The configurations installed without a caBundle (as the chart installs them), the server up, and the
    caBundle patched in by it; removed afterwards before the server stops."""
    await ensure_namespace(api, OPERATOR_NS)
    await ensure_namespace(api, NS)
    await client.CoreV1Api(api).patch_namespace(NS, {"metadata": {"labels": SELECT}})
    await apply_configurations(api, f"https://127.0.0.1:{webhook_port}")
    custom = client.CustomObjectsApi(api)

    async def refuses() -> bool:
        try:
            await custom.create_namespaced_custom_object(
                GROUP,
                VERSION,
                NS,
                PLURAL,
                collector("probe", mode="deployment", targetAllocator={"enabled": True}),
                dry_run="All",
            )
        except ApiException as err:
            return "denied the request" in str(err.body)
        return False

    await wait_for(refuses, within=60, interval=0.5, what="the webhooks to answer")
    yield custom
    await delete_configurations(api)
    await client.CoreV1Api(api).delete_collection_namespaced_pod(NS)
    for item in (await custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL))["items"]:
        await custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, item["metadata"]["name"])


def message_of(err: ApiException) -> str:
    return str(json.loads(err.body)["message"])


async def test_a_bad_collector_is_refused_with_the_review_message(admitting: client.CustomObjectsApi) -> None:
    bad = collector("bad", mode="deployment", targetAllocator={"enabled": True})
    with pytest.raises(ApiException) as caught:
        await admitting.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, bad)
    assert caught.value.status == 422
    message = message_of(caught.value)
    assert f'admission webhook "{names.COLLECTOR_VALIDATING_WEBHOOK}" denied the request' in message
    # the same words `check resources` prints: object, field, fix
    assert (
        f"OpenTelemetryCollector {NS}/bad: spec.mode: the OpenTelemetry Collector mode is set to deployment" in message
    )
    assert "use mode statefulset" in message
    with pytest.raises(ApiException):
        await admitting.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "bad")


async def test_the_stored_spec_is_defaulted_and_warnings_come_back(admitting: client.CustomObjectsApi) -> None:
    good = collector("good")
    good["spec"]["config"]["processors"] = {"batch": None}
    good["spec"]["config"]["service"]["pipelines"]["traces"]["processors"] = ["batch"]
    _, status, headers = await admitting.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, NS, PLURAL, good
    )
    assert status == 201
    warning = " ".join(v for k, v in headers.items() if k.lower() == "warning")
    assert "Collector config spec.config has null objects: processors.batch" in warning
    stored = await admitting.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "good")
    spec = stored["spec"]
    assert (spec["mode"], spec["upgradeStrategy"], spec["managementState"], spec["replicas"]) == (
        "statefulset",
        "automatic",
        "managed",
        1,
    )
    assert spec["config"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert spec["networkPolicy"] == {"enabled": True}  # gate operand.networkpolicy is on, as upstream 0.158
    assert "telemetry" in spec["config"]["service"]


async def test_a_bad_update_is_refused_but_metadata_updates_pass(admitting: client.CustomObjectsApi) -> None:
    await admitting.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, collector("updated"))
    bad = {"spec": {"autoscaler": {"minReplicas": 5, "maxReplicas": 2}}}
    with pytest.raises(ApiException) as caught:
        await admitting.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "updated", bad, _content_type=MERGE)
    message = message_of(caught.value)
    assert f'admission webhook "{names.COLLECTOR_VALIDATING_WEBHOOK}" denied the request' in message
    assert f"OpenTelemetryCollector {NS}/updated: spec.autoscaler" in message
    patched = await admitting.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "updated", {"metadata": {"annotations": {"team": "obs"}}}, _content_type=MERGE
    )
    assert patched["metadata"]["annotations"]["team"] == "obs"
    assert "autoscaler" not in patched["spec"]


async def test_a_bad_target_allocator_is_refused(admitting: client.CustomObjectsApi) -> None:
    bad = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "TargetAllocator",
        "metadata": {"name": "bad-ta"},
        "spec": {"allocationStrategy": "least-weighted", "podDisruptionBudget": {"maxUnavailable": 1}},
    }
    with pytest.raises(ApiException) as caught:
        await admitting.create_namespaced_custom_object(GROUP, "v1alpha1", NS, "targetallocators", bad)
    message = message_of(caught.value)
    assert f'admission webhook "{names.ALLOCATOR_VALIDATING_WEBHOOK}" denied the request' in message
    assert f"TargetAllocator {NS}/bad-ta: spec.podDisruptionBudget: target allocator pdb has been configured" in message


async def test_the_operator_issued_the_certificate_and_patched_the_ca_bundle(
    api: ApiClient, admitting: client.CustomObjectsApi
) -> None:
    secret = await client.CoreV1Api(api).read_namespaced_secret("admission-test-cert", OPERATOR_NS)
    ca = base64.b64decode(secret.data["ca.crt"])
    reg = client.AdmissionregistrationV1Api(api)
    validating = await reg.read_validating_webhook_configuration(CONFIGURATION)
    mutating = await reg.read_mutating_webhook_configuration(CONFIGURATION)
    bundles = {base64.b64decode(w.client_config.ca_bundle) for w in [*validating.webhooks, *mutating.webhooks]}
    assert bundles == {ca}


async def test_namespaces_outside_the_selection_are_not_sent(
    admitting: client.CustomObjectsApi, api: ApiClient
) -> None:
    """The webhook sees only selected namespaces: elsewhere an invalid collector is stored (and the reconciler
    marks it Ready=False, as before): the configurations' selectors are what keep a cluster safe."""
    await ensure_namespace(api, "admission-unselected")
    bad = collector("unselected", mode="deployment", targetAllocator={"enabled": True})
    made = await admitting.create_namespaced_custom_object(
        GROUP, VERSION, "admission-unselected", PLURAL, bad, dry_run="All"
    )
    assert made["metadata"]["name"] == "unselected"


def pod(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
    }


def sidecar_collector(name: str) -> dict[str, Any]:
    return collector(name, mode="sidecar")


async def create_pod(api: ApiClient, namespace: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The stored pod (as JSON) and the admission warnings of its creation."""
    core = client.CoreV1Api(api)
    response = await core.create_namespaced_pod(namespace, body, _preload_content=False)
    stored = json.loads(await response.read())
    return stored, " ".join(v for k, v in response.headers.items() if k.lower() == "warning")


def containers(stored: dict[str, Any]) -> list[str]:
    spec = stored["spec"]
    return [c["name"] for c in [*(spec.get("initContainers") or []), *spec["containers"]]]


async def test_a_pod_that_asks_gets_the_sidecar_once(
    admitting: client.CustomObjectsApi, api: ApiClient, operator: None
) -> None:
    await admitting.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, sidecar_collector("agent"))
    stored, warning = await create_pod(api, NS, pod("asks", {names.INJECT_ANNOTATION: "true"}))
    assert warning == ""
    assert containers(stored) == ["otc-container", "app"]
    sidecar = stored["spec"]["initContainers"][0]
    assert sidecar["restartPolicy"] == "Always"  # a native sidecar on Kubernetes 1.29+
    env = {e["name"]: e for e in sidecar["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "k8s.namespace.name=admission" in env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
    assert "otlp" in env["OTEL_CONFIG"]["value"]
    assert stored["metadata"]["labels"]["sidecar.opentelemetry.io/injected"] == f"{NS}.agent"
    # a pod that brings its own otc-container (re-admitted) is left as it is
    again, _ = await create_pod(
        api, NS, {**stored, "metadata": {"name": "again", "annotations": stored["metadata"]["annotations"]}}
    )
    assert containers(again) == ["otc-container", "app"]
    plain_pod, _ = await create_pod(api, NS, pod("does-not-ask"))
    assert containers(plain_pod) == ["app"]

    async def ready() -> Any:
        got = await admitting.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "agent")
        conds = {c["type"]: c for c in (got.get("status") or {}).get("conditions") or []}
        return conds.get("Ready", {}).get("status") == "True" and got["status"].get("scale")

    scale = await wait_for(ready, within=60, what="the sidecar collector Ready")
    assert scale["replicas"] == 0


async def test_a_pod_that_asks_for_a_missing_collector_is_created_with_a_warning(
    admitting: client.CustomObjectsApi, api: ApiClient
) -> None:
    stored, warning = await create_pod(api, NS, pod("asks-wrong", {names.INJECT_ANNOTATION: "nope"}))
    assert containers(stored) == ["app"]
    assert "asks-wrong" in warning
    assert "nope" in warning  # the API server shortens long warnings in the middle
    assert "without a sidecar" in warning


async def test_a_namespace_annotation_injects_its_pods(admitting: client.CustomObjectsApi, api: ApiClient) -> None:
    ns = "admission-ns-inject"
    core = client.CoreV1Api(api)
    await ensure_namespace(api, ns)
    await core.patch_namespace(ns, {"metadata": {"labels": SELECT, "annotations": {names.INJECT_ANNOTATION: "true"}}})
    await admitting.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, sidecar_collector("ns-agent"))

    async def labelled() -> bool:
        got = await core.read_namespace(ns)
        return (got.metadata.labels or {}).get(names.NAMESPACE_INJECT_LABEL) == "true"

    await wait_for(labelled, within=30, what="the operator to label the annotated namespace")
    stored, _ = await create_pod(api, ns, pod("in-annotated-namespace"))
    assert containers(stored) == ["otc-container", "app"]
    opted_out, _ = await create_pod(api, ns, pod("opts-out", {names.INJECT_ANNOTATION: "false"}))
    assert containers(opted_out) == ["app"]
    await admitting.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "ns-agent")
    await core.delete_namespace(ns)


async def test_a_webhook_outage_never_blocks_pods(api: ApiClient) -> None:
    """Pods are sent with failurePolicy Ignore: with nothing answering, an annotated pod is created as it is."""
    ns, name = "admission-outage", "otel-operator-test-outage"
    await ensure_namespace(api, ns)
    await client.CoreV1Api(api).patch_namespace(ns, {"metadata": {"labels": {"otel-operator.test/outage": "on"}}})
    reg = client.AdmissionregistrationV1Api(api)
    dead = configurations.mutating_configuration(
        name,
        "https://127.0.0.1:1",
        operator_namespace=OPERATOR_NS,
        extra_namespace_selector={"matchLabels": {"otel-operator.test/outage": "on"}},
    )
    dead["webhooks"] = [w for w in dead["webhooks"] if w["rules"][0]["resources"] == ["pods"]]
    await reg.create_mutating_webhook_configuration(dead)
    try:
        stored, _ = await create_pod(api, ns, pod("during-outage", {names.INJECT_ANNOTATION: "true"}))
        assert containers(stored) == ["app"]
    finally:
        await reg.delete_mutating_webhook_configuration(name)


async def test_reviews_are_counted_in_the_operators_metrics(admitting: client.CustomObjectsApi, server: Server) -> None:
    text = server.metrics.exposition().decode()
    refused = f'otel_operator_admission_reviews_total{{result="refused",webhook="{names.VALIDATE_COLLECTOR}"}}'
    injected = f'otel_operator_admission_reviews_total{{result="injected",webhook="{names.MUTATE_POD}"}}'
    defaulted = f'otel_operator_admission_reviews_total{{result="defaulted",webhook="{names.MUTATE_COLLECTOR}"}}'
    for line in (refused, injected, defaulted):
        assert line in text, text
    assert f'otel_operator_admission_duration_seconds_count{{webhook="{names.MUTATE_POD}"}}' in text


def test_kubectl_apply_of_a_bad_collector_prints_the_review(
    admitting: client.CustomObjectsApi, kubectl: Kubectl
) -> None:
    """What a user sees: kubectl exits non-zero and prints the webhook's refusal, naming object, field and fix;
    a good collector's warnings are printed as `Warning:` lines."""
    bad = collector("kubectl-bad", mode="deployment", targetAllocator={"enabled": True})
    done = kubectl("apply", "-n", NS, "-f", "-", stdin=json.dumps(bad), check=False)
    assert done.returncode == 1
    assert (
        f'admission webhook "{names.COLLECTOR_VALIDATING_WEBHOOK}" denied the request: OpenTelemetryCollector '
        f"{NS}/kubectl-bad: spec.mode: the OpenTelemetry Collector mode is set to deployment" in done.stderr
    )
    # (kubectl apply drops null values, so the null-components warning cannot be shown this way: another one)
    good = collector("kubectl-good", targetAllocator={"prometheusCR": {"enabled": True}})
    done = kubectl("apply", "-n", NS, "-f", "-", stdin=json.dumps(good))
    assert "opentelemetrycollector.opentelemetry.io/kubectl-good created" in done.stdout
    assert "Warning: " in done.stderr
    assert "prometheusCR is enabled but the target allocator is not" in done.stderr


def eventually(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(0.5)


def rbac_objects(prefix: str, subjects: dict[str, list[dict[str, str]]]) -> list[dict[str, Any]]:
    """ClusterRoles `<prefix>-<role>` bound (ClusterRoleBinding of the same name) to the given subjects."""
    rules = {
        # what a user needs to write collectors at all: RBAC is asked before any webhook
        "writer": [{"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["create", "update", "get", "patch"]}],
        # what a k8s_events receiver makes the operator grant
        "events": [{"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]}],
    }
    out: list[dict[str, Any]] = []
    for role, subs in subjects.items():
        name = f"{prefix}-{role}"
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
                    "rules": rules[role]})  # fmt: skip
        out.append({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subs,
        })  # fmt: skip
    return out


def test_a_collector_granting_what_its_writer_lacks_is_refused(
    admitting: client.CustomObjectsApi, kubectl: Kubectl
) -> None:
    """Automatic RBAC must not be a way around RBAC: a k8s_events receiver makes the operator grant cluster-wide read
    of events; a user who cannot read them is refused (upstream's words, then what is missing and the fix), one who
    can is let through, and once the collector's own ServiceAccount holds them nothing new is granted, so nobody is
    refused for it. Through kubectl --as, as upstream's e2e test does."""
    user = lambda name: {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}  # noqa: E731
    objects = rbac_objects(
        "escalation-test",
        {"writer": [user("limited-user"), user("permitted-user")], "events": [user("permitted-user")]},
    )
    manifest = "\n---\n".join(json.dumps(o) for o in objects)
    kubectl("apply", "-f", "-", stdin=manifest)
    try:
        events = collector("escalation", config={
            "receivers": {"k8s_events": {}},
            "exporters": {"debug": {}},
            "service": {"pipelines": {"logs": {"receivers": ["k8s_events"], "exporters": ["debug"]}}},
        })  # fmt: skip
        body = json.dumps(events)

        def apply_as(name: str) -> Any:
            return kubectl("apply", "-n", NS, "--dry-run=server", f"--as={name}", "-f", "-", stdin=body, check=False)

        # kube-apiserver's RBAC cache takes a moment to see new bindings
        eventually(lambda: apply_as("permitted-user").returncode == 0, 30, "permitted-user's collector accepted")
        refused = apply_as("limited-user")
        assert refused.returncode == 1, refused.stdout
        assert f'admission webhook "{names.COLLECTOR_VALIDATING_WEBHOOK}" denied the request' in refused.stderr
        assert (
            f'OpenTelemetryCollector {NS}/escalation: user "limited-user" is not allowed to create a collector whose '
            "config would grant permissions they do not hold: events: get, list, watch (cluster-wide). Fix:"
        ) in refused.stderr, refused.stderr
        # a collector that needs no ClusterRole is nobody's concern
        plain_one = json.dumps(collector("escalation-plain"))
        assert (
            kubectl("apply", "-n", NS, "--dry-run=server", "--as=limited-user", "-f", "-", stdin=plain_one).returncode
            == 0
        )
        # the delta: the collector's ServiceAccount already holds events read, so the operator grants nothing new
        account = {"kind": "ServiceAccount", "name": "escalation-collector", "namespace": NS}
        kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in rbac_objects(
            "escalation-test-sa", {"events": [account]})))  # fmt: skip
        try:
            eventually(
                lambda: apply_as("limited-user").returncode == 0, 30, "limited-user accepted, the account holding it"
            )
        finally:
            kubectl("delete", "clusterrole,clusterrolebinding", "escalation-test-sa-events", "--ignore-not-found")
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", stdin=manifest)


async def test_v1alpha1_collectors_are_converted_by_the_crds_webhook(
    admitting: client.CustomObjectsApi, webhook_port: int, api: ApiClient
) -> None:
    """Upstream's conversion-webhook-invalid-config, and a round trip: the server pointed the CRD's conversion at
    itself with its CA; a v1alpha1 collector is stored as v1beta1 (defaulted by the mutating webhook) and reads
    back as v1alpha1 with the config string upstream's test expects."""
    ext = client.ApiextensionsV1Api(api)

    async def pointed() -> bool:
        crd = await ext.read_custom_resource_definition(names.COLLECTOR_CRD)
        config = crd.spec.conversion.webhook.client_config
        return config.url == f"https://127.0.0.1:{webhook_port}/convert" and bool(config.ca_bundle)

    await wait_for(pointed, within=30, what="the CRD's conversion webhook pointed at the server")
    alpha = {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "invalid-config-collector"},
        "spec": {"mode": "deployment", "config": "null"},
    }
    await admitting.create_namespaced_custom_object(GROUP, "v1alpha1", NS, PLURAL, alpha)
    try:
        read = await admitting.get_namespaced_custom_object(GROUP, "v1alpha1", NS, PLURAL, "invalid-config-collector")
        assert read["apiVersion"] == "opentelemetry.io/v1alpha1"
        assert read["spec"]["config"] == (  # byte for byte upstream's 00-assert-created.yaml
            "receivers: {}\nexporters: {}\nservice:\n  telemetry:\n    metrics:\n      readers:\n        - pull:\n"
            "            exporter:\n              prometheus:\n"
            "                host: 0.0.0.0\n                port: 8888\n  pipelines: {}\n"
        )
        stored = await admitting.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "invalid-config-collector")
        assert stored["spec"]["config"]["receivers"] == {}
        assert stored["spec"]["config"]["service"]["pipelines"] == {}
        # a v1alpha1 update through the round trip keeps a v1beta1-only field
        await admitting.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            PLURAL,
            "invalid-config-collector",
            [{"op": "add", "path": "/spec/serviceName", "value": "kept"}],
        )
        read = await admitting.get_namespaced_custom_object(GROUP, "v1alpha1", NS, PLURAL, "invalid-config-collector")
        read["metadata"]["labels"] = {"touched": "yes"}
        await admitting.replace_namespaced_custom_object(
            GROUP, "v1alpha1", NS, PLURAL, "invalid-config-collector", read
        )
        stored = await admitting.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "invalid-config-collector")
        assert stored["spec"]["serviceName"] == "kept"
        assert stored["metadata"]["labels"] == {"touched": "yes"}
    finally:
        await admitting.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "invalid-config-collector")
    bad = {**alpha, "metadata": {"name": "bad-yaml"}, "spec": {"mode": "deployment", "config": "receivers: [x"}}
    with pytest.raises(ApiException) as err:
        await admitting.create_namespaced_custom_object(GROUP, "v1alpha1", NS, PLURAL, bad)
    assert "spec.config" in str(err.value.body)
    assert "is not valid YAML" in str(err.value.body)
