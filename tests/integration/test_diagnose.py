"""`otel-operator diagnose` against a real kube-apiserver: each failure scenario of the troubleshooting guide is
created as objects (the guide's collector, ServiceMonitor and Service, with the EndpointSlice a kubelet-less
control plane cannot produce written directly), and the real command names the cause and the fix."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.allocator.app import Allocator, serve
from otel_operator.allocator.config import load_config
from otel_operator.cli import main
from tests.integration.conftest import ROOT, ensure_namespace, wait_for

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
GUIDE = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text())}


def guide_objects(ns: str) -> dict[str, Obj]:
    objects = {kind: copy.deepcopy(obj) for kind, obj in GUIDE.items() if kind != "Namespace"}
    for obj in objects.values():
        obj["metadata"]["namespace"] = ns
    objects["ServiceMonitor"]["spec"]["namespaceSelector"] = {"matchNames": [ns]}
    objects["Service"]["spec"].pop("selector")  # no controller fills its EndpointSlice: this test writes it
    return objects


def endpoint_slice(ns: str, port: str) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "py-prometheus-app-1",
            "namespace": ns,
            "labels": {
                "kubernetes.io/service-name": "py-prometheus-app",
                "endpointslice.kubernetes.io/managed-by": "test",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.11"], "conditions": {"ready": True}}],
        "ports": [{"name": port, "port": 8080, "protocol": "TCP"}],
    }


async def create(api: ApiClient, obj: Obj) -> None:
    ns = obj["metadata"]["namespace"]
    kind = obj["kind"]
    custom = client.CustomObjectsApi(api)
    if kind == "Service":
        await client.CoreV1Api(api).create_namespaced_service(ns, obj)
    elif kind == "EndpointSlice":
        await client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(ns, obj)
    elif kind == "Secret":
        await client.CoreV1Api(api).create_namespaced_secret(ns, obj)
    elif kind == "ServiceMonitor":
        await custom.create_namespaced_custom_object("monitoring.coreos.com", "v1", ns, "servicemonitors", obj)
    else:
        await custom.create_namespaced_custom_object("opentelemetry.io", "v1beta1", ns, "opentelemetrycollectors", obj)


async def reset(api: ApiClient, ns: str) -> None:
    """A fresh namespace's worth of objects: remove what an earlier run left."""
    await ensure_namespace(api, ns)
    custom = client.CustomObjectsApi(api)
    deletes = [
        lambda: client.CoreV1Api(api).delete_namespaced_service("py-prometheus-app", ns),
        lambda: client.DiscoveryV1Api(api).delete_namespaced_endpoint_slice("py-prometheus-app-1", ns),
        lambda: custom.delete_namespaced_custom_object(
            "monitoring.coreos.com", "v1", ns, "servicemonitors", "sm-example"
        ),
        lambda: custom.delete_namespaced_custom_object(
            "opentelemetry.io", "v1beta1", ns, "opentelemetrycollectors", "otelcol"
        ),
    ]
    for delete in deletes:
        try:
            await delete()
        except ApiException as err:
            if err.status != 404:
                raise


def _ta_off(o: dict[str, Obj], ns: str) -> None:
    o["OpenTelemetryCollector"]["spec"]["targetAllocator"]["enabled"] = False


def _cr_off(o: dict[str, Obj], ns: str) -> None:
    o["OpenTelemetryCollector"]["spec"]["targetAllocator"]["prometheusCR"]["enabled"] = False


def _nil_selector(o: dict[str, Obj], ns: str) -> None:
    del o["OpenTelemetryCollector"]["spec"]["targetAllocator"]["prometheusCR"]["serviceMonitorSelector"]


def _monitor_label(o: dict[str, Obj], ns: str) -> None:
    cr = o["OpenTelemetryCollector"]["spec"]["targetAllocator"]["prometheusCR"]
    cr["serviceMonitorSelector"] = {"matchLabels": {"team": "payments"}}


def _service_label(o: dict[str, Obj], ns: str) -> None:
    o["Service"]["metadata"]["labels"]["app"] = "not-my-app"


def _namespace(o: dict[str, Obj], ns: str) -> None:
    o["ServiceMonitor"]["spec"]["namespaceSelector"] = {"matchNames": ["somewhere-else"]}


def _port(o: dict[str, Obj], ns: str) -> None:
    o["Service"]["spec"]["ports"][0]["name"] = "bleh"
    o["EndpointSlice"] = endpoint_slice(ns, "bleh")


def _relabel(o: dict[str, Obj], ns: str) -> None:
    o["ServiceMonitor"]["spec"]["endpoints"][0]["relabelings"] = [
        {"action": "drop", "sourceLabels": ["__meta_kubernetes_service_name"], "regex": "py-.*"}
    ]


# (namespace, change to the guide's objects, subject, words in `what`, words in `fix`)
SCENARIOS: list[tuple[str, Callable[[dict[str, Obj], str], None], str, list[str], list[str]]] = [
    ("diag-ta", _ta_off, "OpenTelemetryCollector diag-ta/otelcol", ["not enabled"], ["targetAllocator.enabled: true"]),
    ("diag-cr", _cr_off, "OpenTelemetryCollector diag-cr/otelcol", ["prometheusCR.enabled"], ["enabled: true"]),
    ("diag-nil", _nil_selector, "ServiceMonitor diag-nil/sm-example", ["unset"], ["serviceMonitorSelector: {}"]),
    (
        "diag-sm-label",
        _monitor_label,
        "ServiceMonitor diag-sm-label/sm-example",
        ["team=payments is missing"],
        ["team: payments"],
    ),
    (
        "diag-svc-label",
        _service_label,
        "Service diag-svc-label/py-prometheus-app",
        ["label app is 'not-my-app'"],
        ["app: my-app"],
    ),
    (
        "diag-ns",
        _namespace,
        "ServiceMonitor diag-ns/sm-example",
        ["no Service in its namespaces (somewhere-else)"],
        ["namespaceSelector"],
    ),
    ("diag-port", _port, "Service diag-port/py-prometheus-app", ["no port named prom", "its ports: bleh"], ["bleh"]),
    (
        "diag-drop",
        _relabel,
        "target 10.244.0.11:8080 of Service diag-drop/py-prometheus-app",
        ["relabelings[0]", "action drop"],
        ["relabelings[0]"],
    ),
]


async def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


Scenario = tuple[str, Callable[[dict[str, Obj], str], None], str, list[str], list[str]]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s[0] for s in SCENARIOS])
async def test_each_guide_failure_is_diagnosed(
    api: ApiClient, crds: list[str], kubeconfig: str, capsys: pytest.CaptureFixture[str], scenario: Scenario
) -> None:
    ns, change, subject, what, fix = scenario
    await reset(api, ns)
    objects = guide_objects(ns)
    objects["EndpointSlice"] = endpoint_slice(ns, "prom")
    change(objects, ns)
    for obj in objects.values():
        await create(api, obj)
    code, out = await run_cli(["diagnose", "--kubeconfig", kubeconfig, "-n", ns, "-o", "json"], capsys)
    assert code == 1, out
    answer = json.loads(out)  # nothing on stderr
    assert answer["ok"] is False
    # (other namespaces' monitors are selected too, and may say things about these objects: find ours)
    found = [
        f
        for f in answer["findings"]
        if f["subject"] == subject and not f["ok"] and all(word in f["what"] for word in what)
    ]
    assert found, out
    for word in fix:
        assert word in found[0]["fix"], found[0]


async def test_the_guide_fixed_is_healthy_and_text_output_reads_well(
    api: ApiClient, crds: list[str], kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = "diag-ok"
    await reset(api, ns)
    objects = guide_objects(ns)
    objects["EndpointSlice"] = endpoint_slice(ns, "prom")
    for obj in objects.values():
        await create(api, obj)
    # (the other scenarios' monitors are reported as not selected: ask about this namespace's one)
    argv = ["diagnose", "--kubeconfig", kubeconfig, "--collector", "otelcol", "-n", ns]
    code, out = await run_cli([*argv, "--servicemonitor", f"{ns}/sm-example"], capsys)
    assert code == 0, out
    assert (
        f"✓ target 10.244.0.11:8080 of Service {ns}/py-prometheus-app: kept by job serviceMonitor/{ns}/sm-example/0"
        in out
    )
    assert out.rstrip().endswith("no problems found")
    # asking about one object
    # (other scenarios' monitors that match nothing point at it as a candidate: only check what ours says)
    _, out = await run_cli(["diagnose", "--kubeconfig", kubeconfig, "--service", f"{ns}/py-prometheus-app"], capsys)
    assert f"Service {ns}/py-prometheus-app: matched by ServiceMonitor {ns}/sm-example" in out
    code, out = await run_cli(["diagnose", "--kubeconfig", kubeconfig, "--service", f"{ns}/nope"], capsys)
    assert code == 1
    assert f"✗ Service {ns}/nope: not found" in out


def test_an_unreachable_cluster_is_bad_usage(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    assert main(["diagnose", "--kubeconfig", str(config)]) == 2
    assert "cannot read the cluster" in capsys.readouterr().err


async def test_a_monitor_with_credentials_from_a_secret_is_not_reported_rejected(
    api: ApiClient, crds: list[str], kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = "diag-secret"
    await reset(api, ns)
    objects = guide_objects(ns)
    objects["EndpointSlice"] = endpoint_slice(ns, "prom")
    auth = {"username": {"name": "scrape-auth", "key": "user"}, "password": {"name": "scrape-auth", "key": "pass"}}
    objects["ServiceMonitor"]["spec"]["endpoints"] = [{"port": "prom", "basicAuth": auth}]
    objects["Secret"] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "scrape-auth", "namespace": ns},
        "stringData": {"user": "scraper", "pass": "hunter2"},
    }
    for obj in objects.values():
        await create(api, obj)
    argv = ["diagnose", "--kubeconfig", kubeconfig, "--collector", "otelcol", "-n", ns]
    code, out = await run_cli([*argv, "--servicemonitor", f"{ns}/sm-example"], capsys)
    assert code == 0, out
    assert "kept by job serviceMonitor/" in out


async def test_with_the_running_allocator_it_says_which_collector_scrapes_each_target(
    api: ApiClient, crds: list[str], kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = "diag-assigned"
    await reset(api, ns)
    objects = guide_objects(ns)
    objects["EndpointSlice"] = endpoint_slice(ns, "prom")
    for obj in objects.values():
        await create(api, obj)
    text = f"""
listen_addr: 127.0.0.1:0
kube_config_file_path: {kubeconfig}
collector_namespace: {ns}
collectors: [otelcol-collector-0]
prometheus_cr:
  enabled: true
  allow_namespaces: [{ns}]
  service_monitor_selector: {{}}
"""
    cfg = client.Configuration()
    await kube_config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    allocator = Allocator(load_config(text), ApiClient(configuration=cfg), namespace=ns)
    listeners = await serve(allocator)
    await allocator.start()
    try:
        await allocator.wait_ready(30)
        base = f"http://127.0.0.1:{listeners.ports['http']}"
        argv = ["diagnose", "--kubeconfig", kubeconfig, "--collector", "otelcol", "-n", ns, "--allocator", base]

        async def answered() -> str | None:
            code, out = await run_cli([*argv, "--servicemonitor", f"{ns}/sm-example"], capsys)
            return out if code == 0 and "scraped by collector otelcol-collector-0" in out else None

        await wait_for(answered, within=20, what="the target's collector in the diagnosis")
    finally:
        await allocator.stop()
        await listeners.close()
        if allocator.api is not None:
            await allocator.api.close()
    code, out = await run_cli([*argv, "--servicemonitor", f"{ns}/sm-example"], capsys)  # the allocator is gone
    assert code == 2
    assert f"cannot ask the allocator at {base}" in out
