"""Thirty-three hostile objects on a real kube-apiserver, each refused by the API server or reported by a condition and
an Event that name the field, while a good collector and a good ServiceMonitor are unaffected throughout.

The operator runs in this process (conftest's `operator`), the allocator too (watching this test's namespace). First
a good collector (with its allocator) and a good ServiceMonitor with three targets; then every hostile collector and
monitor at once. While they are handled the good monitor's targets are polled without a gap, and afterwards the good
collector's objects carry the resourceVersions they had before (nothing rewrote them), and an edit of each good object
still goes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.allocator.app import Allocator, kube_client, serve
from otel_operator.allocator.config import load_config
from otel_operator.reconcile.handlers import DIFF_BASE_LIMIT, STORAGE_PREFIX
from tests.integration.conftest import ROOT, collectors_in, ensure_namespace, wait_for

pytestmark = pytest.mark.integration

NS = "hostile"
GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
MON = "monitoring.coreos.com"
APP_LABELS = {"app": "web"}
APP_IPS = ("10.1.0.1", "10.1.0.2", "10.1.0.3")
GOOD_JOB = f"serviceMonitor/{NS}/good/0"
LONG = "l" * 63  # a collector name at the limit of the names derived from it (a label value's 63)


# --------------------------------------------------------------------------- the collectors


def collector(name: str) -> dict[str, Any]:
    """The troubleshooting guide's collector (statefulset, allocator, prometheusCR), named `name`."""
    docs = yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text())
    body = next(d for d in docs if d["kind"] == "OpenTelemetryCollector")
    body["metadata"] = {"name": name, "namespace": NS}
    body["spec"]["targetAllocator"].pop("serviceAccount", None)  # the operator makes the allocator's
    return body


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set the dotted `path` under spec (creating mappings on the way)."""

    def apply(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body["spec"]
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return apply


def _giant(size: int) -> Callable[[dict[str, Any]], None]:
    """A config of about `size` bytes: one attributes processor with many actions, in the metrics pipeline."""

    def apply(body: dict[str, Any]) -> None:
        count = size // 60
        actions = [{"key": f"k{i:07d}", "value": "v" * 24, "action": "insert"} for i in range(count)]
        config = body["spec"]["config"]
        config.setdefault("processors", {})["attributes/giant"] = {"actions": actions}
        config["service"]["pipelines"]["metrics"].setdefault("processors", []).append("attributes/giant")

    return apply


def _undefined_receiver(body: dict[str, Any]) -> None:
    body["spec"]["config"]["service"]["pipelines"]["metrics"]["receivers"].append("nope")


@dataclass(frozen=True)
class Expect:
    name: str
    outcome: str  # "rejected" (by the API server, on create), or the reason of the condition and Warning Event
    words: tuple[str, ...]  # what the refusal, the condition's and the Event's message contain: the field, at least


@dataclass(frozen=True)
class Hostile:
    name: str
    change: Callable[[dict[str, Any]], None]  # what makes the guide's collector hostile
    outcome: str  # as Expect's
    words: tuple[str, ...]


REJECTED = "rejected"
COLLECTORS = (
    Hostile("config-not-yaml-object", _set("config", "receivers: [unclosed"), REJECTED, ("spec.config",)),
    Hostile("undefined-receiver", _undefined_receiver, "InvalidSpec",
            ("spec.config.service.pipelines.metrics.receivers[2]", '"nope" is not defined')),
    Hostile("bad-mode", _set("mode", "banana"), REJECTED, ("spec.mode", "banana")),
    Hostile("bad-port-name", _set("ports", [{"name": "Bad_Name", "port": 1234}]), "InvalidSpec",
            ("spec.ports[0].name",)),
    Hostile("bad-quantity", _set("resources", {"limits": {"memory": "1Gib"}}), "WriteRefused",
            ("StatefulSet bad-quantity-collector", "quantities must match")),
    Hostile("missing-volume", _set("volumeMounts", [{"name": "nope", "mountPath": "/x"}]), "WriteRefused",
            ("StatefulSet missing-volume-collector", "volumeMounts[1].name", "nope")),
    Hostile("allocator-on-deployment", _set("mode", "deployment"), "InvalidSpec", ("spec.mode", "deployment")),
    Hostile("bad-monitor-selector",
            _set("targetAllocator.prometheusCR.serviceMonitorSelector",
                 {"matchExpressions": [{"key": "a", "operator": "Banana"}]}),
            "InvalidSpec",
            ("spec.targetAllocator.prometheusCR.serviceMonitorSelector.matchExpressions[0].operator", "Banana")),
    Hostile("bad-duration", _set("targetAllocator.collectorNotReadyGracePeriod", "soon"), REJECTED,
            ("spec.targetAllocator.collectorNotReadyGracePeriod",)),
    Hostile("giant-config", _giant(1_200_000), "WriteRefused", ("ConfigMap", "Too long")),
    Hostile("bad-annotation", _set("podAnnotations", {"bad key!": "x"}), "WriteRefused",
            ("StatefulSet bad-annotation-collector", "annotations", "bad key!")),
    Hostile("negative-replicas", _set("replicas", -1), REJECTED, ("spec.replicas",)),
    Hostile("bad-ingress-host",
            lambda b: (_set("ingress", {"type": "ingress", "hostname": "Bad_Host!"})(b),
                       _set("ports", [{"name": "web", "port": 8080}])(b)),
            "WriteRefused", ("Ingress", "Bad_Host!")),
    Hostile("bad-env-name", _set("env", [{"name": "A=B", "value": "x"}]), "WriteRefused",
            ("StatefulSet bad-env-name-collector", "env[0].name")),
    Hostile("min-over-max", _set("autoscaler", {"minReplicas": 5, "maxReplicas": 2}), "InvalidSpec",
            ("spec.autoscaler",)),
    Hostile("bad-scrape-regex",
            lambda b: b["spec"]["config"]["receivers"]["prometheus"]["config"].setdefault("scrape_configs", []).append(
                {"job_name": "static", "static_configs": [{"targets": ["a:1"]}],
                 "relabel_configs": [{"source_labels": ["a"], "regex": "(unclosed"}]}),
            "InvalidSpec", ("spec.config.receivers.prometheus.config.scrape_configs[1]", "relabel_configs[0].regex")),
)  # fmt: skip


async def read_collector(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    found: dict[str, Any] = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, name)
    return found


async def ready_condition(custom: client.CustomObjectsApi, name: str) -> dict[str, Any] | None:
    obj = await read_collector(custom, name)
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return None
    return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)


async def warnings_about(core: client.CoreV1Api, name: str, reason: str) -> list[str]:
    events = await core.list_namespaced_event(NS, field_selector=f"involvedObject.name={name},reason={reason}")
    return [e.message for e in events.items if e.type == "Warning"]


async def children_versions(api: ApiClient, name: str) -> dict[str, str]:
    """kind/name → resourceVersion of what the good collector owns (its StatefulSet, ConfigMaps, allocator, ...)."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    out: dict[str, str] = {}
    for kind, listing in (
        ("StatefulSet", apps.list_namespaced_stateful_set),
        ("Deployment", apps.list_namespaced_deployment),
        ("ConfigMap", core.list_namespaced_config_map),
        ("Service", core.list_namespaced_service),
        ("ServiceAccount", core.list_namespaced_service_account),
    ):
        for item in (await listing(NS)).items:
            if item.metadata.name.startswith(f"{name}-"):
                out[f"{kind}/{item.metadata.name}"] = item.metadata.resource_version
    return out


async def settled_versions(api: ApiClient, name: str) -> dict[str, str]:
    """`children_versions` once the collector and its allocator both exist and nothing changed for 2 s."""

    async def settled() -> dict[str, str] | None:
        first = await children_versions(api, name)
        await asyncio.sleep(2)
        again = await children_versions(api, name)
        whole = {f"StatefulSet/{name}-collector", f"Deployment/{name}-targetallocator"} <= again.keys()
        return again if whole and again == first else None

    found: dict[str, str] = await wait_for(settled, within=60, what=f"{name}'s objects settled")
    return found


# --------------------------------------------------------------------------- the monitors


def service_monitor(name: str, endpoint: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{MON}/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"matchLabels": APP_LABELS}, "endpoints": [{"port": "web", **endpoint}], **spec},
    }


def _from_secret(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "key": key}


GIANT_RELABELINGS = [{"action": "labeldrop", "regex": f"never_{i:05d}"} for i in range(4000)]
MONITORS = (
    Expect("bad-regex", "InvalidScrapeResource", ("relabelings[0].regex",)),
    Expect("missing-basic-auth", "InvalidScrapeResource",
            ("basicAuth", f'Secret "{NS}/nope" not found')),
    Expect("missing-authorization", "InvalidScrapeResource", ("authorization", f'Secret "{NS}/nope" not found')),
    Expect("missing-tls-ca", "InvalidScrapeResource", ("tlsConfig", f'ConfigMap "{NS}/nope" not found')),
    Expect("missing-oauth2", "InvalidScrapeResource", ("oauth2", f'Secret "{NS}/nope" not found')),
    Expect("bad-action", "InvalidScrapeResource", ("relabelings[0].action", "explode")),
    Expect("replace-without-target", "InvalidScrapeResource", ("relabelings[0].targetLabel",)),
    Expect("bad-selector", "InvalidScrapeResource", ("selector", "Banana")),
    Expect("bad-interval", "InvalidScrapeResource", ("interval", "5 minutes")),
    Expect("bad-metric-relabel", "InvalidScrapeResource", ("metricRelabelings[0].regex",)),
    Expect("hashmod-without-modulus", "InvalidScrapeResource", ("relabelings[0].modulus",)),
    Expect("timeout-over-interval", "InvalidScrapeResource", ("scrapeTimeout",)),
    Expect("bad-pod-monitor", "InvalidScrapeResource", ("relabelings[0].regex",)),
)  # fmt: skip
MONITOR_BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "bad-regex": ("servicemonitors", service_monitor("bad-regex", {"relabelings": [{"sourceLabels": ["a"],
                                                                                   "regex": "(unclosed"}]})),
    "missing-basic-auth": ("servicemonitors", service_monitor("missing-basic-auth", {"basicAuth": {
        "username": _from_secret("nope", "user"), "password": _from_secret("nope", "password")}})),
    "missing-authorization": ("servicemonitors", service_monitor("missing-authorization", {"authorization": {
        "credentials": _from_secret("nope", "token")}})),
    "missing-tls-ca": ("servicemonitors", service_monitor("missing-tls-ca", {"scheme": "https", "tlsConfig": {
        "ca": {"configMap": {"name": "nope", "key": "ca.crt"}}}})),
    "missing-oauth2": ("servicemonitors", service_monitor("missing-oauth2", {"oauth2": {
        "clientId": {"secret": _from_secret("nope", "id")}, "clientSecret": _from_secret("nope", "secret"),
        "tokenUrl": "https://auth.example/token"}})),
    "bad-action": ("servicemonitors", service_monitor("bad-action", {"relabelings": [{"action": "explode"}]})),
    "replace-without-target": ("servicemonitors", service_monitor("replace-without-target", {"relabelings": [{
        "sourceLabels": ["a"], "action": "replace"}]})),
    "bad-selector": ("servicemonitors", {**service_monitor("bad-selector", {}), "spec": {
        "selector": {"matchExpressions": [{"key": "app", "operator": "Banana", "values": ["web"]}]},
        "endpoints": [{"port": "web"}]}}),
    "bad-interval": ("servicemonitors", service_monitor("bad-interval", {"interval": "5 minutes"})),
    "bad-metric-relabel": ("servicemonitors", service_monitor("bad-metric-relabel", {"metricRelabelings": [{
        "sourceLabels": ["__name__"], "regex": "[z-a]", "action": "drop"}]})),
    "hashmod-without-modulus": ("servicemonitors", service_monitor("hashmod-without-modulus", {"relabelings": [{
        "sourceLabels": ["a"], "targetLabel": "b", "action": "hashmod"}]})),
    "timeout-over-interval": ("servicemonitors", service_monitor("timeout-over-interval", {
        "interval": "10s", "scrapeTimeout": "2m"})),
    "bad-pod-monitor": ("podmonitors", {
        "apiVersion": f"{MON}/v1", "kind": "PodMonitor", "metadata": {"name": "bad-pod-monitor", "namespace": NS},
        "spec": {"selector": {"matchLabels": APP_LABELS},
                 "podMetricsEndpoints": [{"port": "web", "relabelings": [{"sourceLabels": ["a"], "regex": "("}]}]}}),
    # big and long, but valid: served like any other
    "giant": ("servicemonitors", service_monitor("giant", {"relabelings": GIANT_RELABELINGS})),
    "m" * 253: ("servicemonitors", service_monitor("m" * 253, {})),
}  # fmt: skip


def app_service() -> dict[str, Any]:
    # no selector: kube-controller-manager leaves its EndpointSlice to us (there are no pods here)
    return {"metadata": {"name": "web", "labels": APP_LABELS}, "spec": {"ports": [{"name": "web", "port": 8080}]}}


def app_slice() -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web",
                                                  "endpointslice.kubernetes.io/managed-by": "hostile-test"}},
        "addressType": "IPv4",
        "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in APP_IPS],
    }  # fmt: skip


def allocator_config(kubeconfig: str) -> str:
    return yaml.safe_dump(
        {
            "collectors": ["collector-0"],  # fixed: no collector pods here, the monitors are the point
            "collector_namespace": NS,
            "kube_config_file_path": kubeconfig,
            "listen_addr": "127.0.0.1:0",
            "prometheus_cr": {"enabled": True, "service_monitor_selector": {}, "pod_monitor_selector": {},
                              "allow_namespaces": [NS]},
            "config": {"scrape_configs": []},
        }
    )  # fmt: skip


@dataclass
class RunningAllocator:
    http: aiohttp.ClientSession
    base: str

    async def json(self, path: str) -> Any:
        async with self.http.get(self.base + path) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text())
            return json.loads(await resp.text())

    async def good_targets(self) -> set[str]:
        groups = await self.json(f"/jobs/{quote_plus(GOOD_JOB, safe='')}/targets?collector_id=collector-0")
        return {t for group in groups for t in group["targets"]}


@contextlib.asynccontextmanager
async def allocator(kubeconfig: str) -> AsyncIterator[RunningAllocator]:
    config = load_config(allocator_config(kubeconfig))
    api = await kube_client(config)
    running = Allocator(config, api, namespace=NS)
    listeners = await serve(running)
    http = aiohttp.ClientSession()
    try:
        await running.start()
        await running.wait_ready(within=30)
        yield RunningAllocator(http, f"http://127.0.0.1:{listeners.ports['http']}")
    finally:
        await http.close()
        await running.stop()
        await listeners.close()
        await api.close()


# --------------------------------------------------------------------------- the test


async def _cleanup(api: ApiClient, custom: client.CustomObjectsApi) -> None:
    core = client.CoreV1Api(api)
    for plural in ("servicemonitors", "podmonitors"):
        for item in (await custom.list_namespaced_custom_object(MON, "v1", NS, plural))["items"]:
            with contextlib.suppress(ApiException):
                await custom.delete_namespaced_custom_object(MON, "v1", NS, plural, item["metadata"]["name"])
    with contextlib.suppress(ApiException):
        await core.delete_namespaced_service("web", NS)
    with contextlib.suppress(ApiException):
        await client.DiscoveryV1Api(api).delete_namespaced_endpoint_slice("web-1", NS)


async def _create_collector(custom: client.CustomObjectsApi, item: Hostile) -> str | None:
    """The API server's refusal, or None when it took the object."""
    body = collector(item.name)
    item.change(body)
    try:
        await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    except ApiException as err:
        return f"{err.status} {json.loads(err.body).get('message', err.body)}"
    return None


async def _check_reported(custom: client.CustomObjectsApi, core: client.CoreV1Api, name: str, item: Hostile) -> None:
    async def refused() -> dict[str, Any] | None:
        ready = await ready_condition(custom, name)
        return ready if ready is not None and ready.get("reason") == item.outcome else None

    ready = await wait_for(refused, within=60, what=f"{name}: Ready=False, {item.outcome}")
    assert ready["status"] == "False"
    for word in item.words:
        assert word in ready["message"], (name, word, ready["message"])
    events = await wait_for(lambda: warnings_about(core, name, item.outcome), within=20, what=f"{name}: the Event")
    assert any(all(word in message for word in item.words) for message in events), (name, events)


async def test_hostile_objects_are_refused_or_reported_and_the_good_ones_carry_on(
    api: ApiClient, operator: None, kubeconfig: str, crds: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await ensure_namespace(api, NS)
    core = client.CoreV1Api(api)
    async with collectors_in(api, NS) as custom:
        try:
            await core.create_namespaced_service(NS, app_service())
            await client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(NS, app_slice())
            await custom.create_namespaced_custom_object(MON, "v1", NS, "servicemonitors", service_monitor("good", {}))
            await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, collector("good"))
            good_ready = await wait_for(lambda: ready_condition(custom, "good"), within=60, what="good reconciled")
            assert good_ready["reason"] not in ("InvalidSpec", "WriteRefused"), good_ready
            async with allocator(kubeconfig) as ta:
                await wait_for(ta.good_targets, within=10, what="the good monitor's targets")
                expected = {f"{ip}:8080" for ip in APP_IPS}
                assert await ta.good_targets() == expected
                before = await settled_versions(api, "good")

                gaps: list[str] = []
                polling = True

                async def poll() -> int:  # the good monitor, served without a gap throughout
                    polls = 0
                    while polling:
                        try:
                            got = await ta.good_targets()
                        except Exception as err:  # any failure is a gap to report
                            got = {repr(err)}
                        if got != expected:
                            gaps.append(repr(got))
                        polls += 1
                        await asyncio.sleep(0.1)
                    return polls

                poller = asyncio.create_task(poll())
                refusals = {item.name: await _create_collector(custom, item) for item in COLLECTORS}
                long_refusal = await _create_collector(custom, Hostile(LONG, lambda _: None, "", ()))
                for plural, body in MONITOR_BODIES.values():
                    await custom.create_namespaced_custom_object(MON, "v1", NS, plural, body)

                failures: list[str] = []  # every object's verdict, not only the first wrong one
                for item in COLLECTORS:
                    try:
                        if item.outcome == REJECTED:
                            assert refusals[item.name] is not None, f"{item.name} was accepted"
                            for word in item.words:
                                assert word in refusals[item.name], (item.name, refusals[item.name])
                        else:
                            assert refusals[item.name] is None, (item.name, refusals[item.name])
                            await _check_reported(custom, core, item.name, item)
                    except AssertionError as err:
                        failures.append(str(err))
                # a name at the limit works: every derived name is cut to fit, as upstream does
                assert long_refusal is None
                long_ready = await wait_for(lambda: ready_condition(custom, LONG), within=60, what="long name")
                assert long_ready["reason"] not in ("InvalidSpec", "WriteRefused"), long_ready

                for item in MONITORS:
                    try:
                        messages = await wait_for(lambda it=item: warnings_about(core, it.name, it.outcome),
                                                  within=30, what=f"{item.name}: the Warning Event")  # fmt: skip
                        assert any(all(w in m for w in item.words) for m in messages), (item.name, messages)
                    except AssertionError as err:
                        failures.append(str(err))
                assert not failures, "\n".join(failures)
                jobs = await ta.json("/jobs")
                for item in MONITORS:
                    assert not [j for j in jobs if f"/{item.name}/" in j], (item.name, list(jobs))
                for valid in ("giant", "m" * 253):  # big or long but valid: served
                    assert f"serviceMonitor/{NS}/{valid}/0" in jobs, list(jobs)

                # the good ones: served without a gap, their objects untouched, and still followed
                polling = False
                polls = await poller
                assert polls > 20, polls
                assert gaps == [], gaps[:5]
                assert await children_versions(api, "good") == before
                await custom.patch_namespaced_custom_object(
                    MON, "v1", NS, "servicemonitors", "good", {"spec": {"endpoints": [{"port": "web", "path": "/m"}]}},
                    _content_type="application/merge-patch+json",
                )  # fmt: skip

                async def edited() -> bool:
                    configs = await ta.json("/scrape_configs")
                    return bool(configs.get(GOOD_JOB, {}).get("metrics_path") == "/m")

                await wait_for(edited, within=10, what="the good monitor's edit served")
                await custom.patch_namespaced_custom_object(
                    GROUP, VERSION, NS, PLURAL, "good", {"spec": {"replicas": 2}},
                    _content_type="application/merge-patch+json",
                )  # fmt: skip

                async def scaled() -> bool:
                    sts = await client.AppsV1Api(api).read_namespaced_stateful_set("good-collector", NS)
                    return bool(sts.spec.replicas == 2)

                await wait_for(scaled, within=30, what="the good collector's edit applied")
                # bad input is the user's to fix: said in one line each, never a traceback
                traced = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info]
                assert traced == [], traced[:3]
        finally:
            await _cleanup(api, custom)


async def test_a_big_collector_keeps_kopfs_diff_base_small(api: ApiClient, operator: None, crds: list[str]) -> None:
    """A spec of 400 KB is reconciled like any other: kopf's last-handled configuration (an annotation, limited to
    256 KiB with all the others) is kept as a digest instead of a copy."""
    await ensure_namespace(api, NS)
    async with collectors_in(api, NS) as custom:
        body = collector("big")
        _giant(400_000)(body)
        await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
        ready = await wait_for(lambda: ready_condition(custom, "big"), within=60, what="big reconciled")
        assert ready["reason"] not in ("InvalidSpec", "WriteRefused"), ready
        annotations = (await read_collector(custom, "big"))["metadata"].get("annotations") or {}
        diff_base = annotations[f"{STORAGE_PREFIX}/last-handled-configuration"]
        assert len(diff_base) < DIFF_BASE_LIMIT
        assert json.loads(diff_base)["digest"].startswith("sha256:")
        await client.AppsV1Api(api).read_namespaced_stateful_set("big-collector", NS)
