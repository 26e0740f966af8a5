"""The list+watch reflector against a real kube-apiserver, plus a scripted fake server for what a fresh
control plane cannot be made to do on demand (a 410 Gone on the watch, a connection cut mid-stream)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.allocator.watch import (
    CONFIGMAPS,
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    Reflector,
    Resource,
    ResourceExpired,
    WatchError,
)
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

LOGGER = "otel_operator.allocator.watch"


class Recorder:
    """A sink that remembers every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []  # ("replace", kind, [objects]) or (type, kind, obj)
        self.busy = False
        self.overlaps = 0  # calls that began while another was still running

    def on_replace(self, kind: str, objects: list[dict[str, Any]], /) -> None:
        self._enter()
        self.calls.append(("replace", kind, list(objects)))
        self.busy = False

    def on_event(self, kind: str, type: str, obj: dict[str, Any], /) -> None:
        self._enter()
        self.calls.append((type, kind, obj))
        self.busy = False

    def _enter(self) -> None:
        self.overlaps += self.busy
        self.busy = True

    @property
    def replaces(self) -> list[list[dict[str, Any]]]:
        return [c[2] for c in self.calls if c[0] == "replace"]

    def events(self, name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        return [(c[0], c[2]) for c in self.calls if c[0] != "replace" and name in (None, c[2]["metadata"]["name"])]

    def event_names(self, type: str) -> list[str]:
        return [obj["metadata"]["name"] for t, obj in self.events() if t == type]


@contextlib.asynccontextmanager
async def running(reflector: Reflector, sync_within: float | None = 15) -> AsyncIterator[Reflector]:
    """Run the reflector in a task; stop it afterwards and make sure it had not died on its own."""
    task = asyncio.create_task(reflector.run(), name=f"reflector {reflector.describe()}")
    try:
        if sync_within is not None:
            synced = asyncio.create_task(reflector.synced.wait())
            await asyncio.wait({task, synced}, timeout=sync_within, return_when=asyncio.FIRST_COMPLETED)
            synced.cancel()
            if task.done():
                task.result()  # raises what killed it
            assert reflector.synced.is_set(), f"not synced within {sync_within}s"
        yield reflector
        assert not task.done(), f"the reflector stopped: {task}"
        if isinstance(reflector.sink, Recorder):
            assert reflector.sink.overlaps == 0, "sink called concurrently"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def names(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objects)


@pytest.fixture
async def namespace(api: ApiClient) -> AsyncIterator[str]:
    name = f"watch-{secrets.token_hex(4)}"
    core = client.CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": name}})
    yield name
    with contextlib.suppress(ApiException):
        await core.delete_namespace(name)


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


async def eventually(predicate: Callable[[], Any], within: float = 15, what: str = "condition") -> Any:
    async def check() -> Any:
        return predicate()

    return await wait_for(check, within=within, interval=0.05, what=what)


# ---------------------------------------------------------------------------------------------------- real server


async def test_list_then_added_modified_deleted(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    for i in range(3):
        await core.create_namespaced_config_map(namespace, configmap(f"before-{i}", {"suite": "watch"}, n=str(i)))
    sink = Recorder()
    reflector = Reflector(api, CONFIGMAPS, sink, namespace=namespace, label_selector="suite=watch")
    async with running(reflector):
        assert len(sink.replaces) == 1
        listed = sink.replaces[0]
        assert names(listed) == ["before-0", "before-1", "before-2"]
        for obj in listed:  # list items come back with the kind and apiVersion a list response leaves out
            assert obj["kind"] == "ConfigMap"
            assert obj["apiVersion"] == "v1"
            assert obj["metadata"]["resourceVersion"]  # raw camelCase JSON, not generated models
            assert "creationTimestamp" in obj["metadata"]
            assert obj["data"]["n"] == obj["metadata"]["name"][-1]
            assert "managedFields" not in obj["metadata"]  # the API server sends them; never read, not kept
        assert set(reflector.objects) == {(namespace, f"before-{i}") for i in range(3)}
        assert reflector.objects[(namespace, "before-1")] is next(
            o for o in listed if o["metadata"]["name"] == "before-1"
        )

        await core.create_namespaced_config_map(namespace, configmap("live", {"suite": "watch"}, v="1"))
        await core.patch_namespaced_config_map("live", namespace, {"data": {"v": "2"}})
        await core.delete_namespaced_config_map("live", namespace)
        await eventually(lambda: len(sink.events("live")) == 3, what="ADDED, MODIFIED, DELETED of live")

        types = [t for t, _ in sink.events("live")]
        assert types == ["ADDED", "MODIFIED", "DELETED"]
        added, modified, deleted = (obj for _, obj in sink.events("live"))
        assert added["kind"] == "ConfigMap"
        assert added["apiVersion"] == "v1"
        assert added["data"] == {"v": "1"}
        assert "managedFields" not in added["metadata"]
        assert modified["data"] == {"v": "2"}
        assert int(modified["metadata"]["resourceVersion"]) > int(added["metadata"]["resourceVersion"])
        assert (namespace, "live") not in reflector.objects
        assert reflector.resource_version == deleted["metadata"]["resourceVersion"]
        assert len(sink.replaces) == 1


async def test_label_selector_restricts_list_and_watch(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)

    def service(name: str, team: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "labels": {"team": team}},
            "spec": {"ports": [{"name": "http", "port": 80}], "selector": {"app": name}},
        }

    await core.create_namespaced_service(namespace, service("a-1", "a"))
    await core.create_namespaced_service(namespace, service("b-1", "b"))
    sink = Recorder()
    reflector = Reflector(api, SERVICES, sink, namespace=namespace, label_selector="team=a")
    async with running(reflector):
        assert [names(r) for r in sink.replaces] == [["a-1"]]
        assert sink.replaces[0][0]["kind"] == "Service"
        assert sink.replaces[0][0]["spec"]["clusterIP"]  # the server's object, allocated fields and all
        # b-2 is created first: if the selector leaked, its event would arrive before a-2's
        await core.create_namespaced_service(namespace, service("b-2", "b"))
        await core.create_namespaced_service(namespace, service("a-2", "a"))
        await eventually(lambda: sink.event_names("ADDED"), what="a-2 ADDED")
        assert sink.event_names("ADDED") == ["a-2"]
        assert set(reflector.objects) == {(namespace, "a-1"), (namespace, "a-2")}


async def test_field_selector_and_cluster_scoped_resources(api: ApiClient, namespace: str) -> None:
    sink = Recorder()
    reflector = Reflector(api, NAMESPACES, sink, field_selector=f"metadata.name={namespace}")
    async with running(reflector):
        assert [names(r) for r in sink.replaces] == [[namespace]]
        assert set(reflector.objects) == {("", namespace)}
        assert sink.replaces[0][0]["kind"] == "Namespace"
    with pytest.raises(ValueError, match="cluster-scoped"):
        Reflector(api, NODES, sink, namespace=namespace)


async def test_list_is_paged(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    await asyncio.gather(
        *(core.create_namespaced_config_map(namespace, configmap(f"page-{i:02}", {"paged": "yes"})) for i in range(25))
    )
    sink = Recorder()
    reflector = Reflector(api, CONFIGMAPS, sink, namespace=namespace, label_selector="paged=yes", page_size=10)
    async with running(reflector):
        assert reflector.stats.pages == 3  # 10 + 10 + 5
        assert reflector.stats.lists == 1
        assert len(sink.replaces) == 1  # one on_replace with every page, not one per page
        assert names(sink.replaces[0]) == [f"page-{i:02}" for i in range(25)]
        assert len(reflector.objects) == 25
        # the watch starts from the list's resourceVersion: nothing listed is delivered again as ADDED
        await core.create_namespaced_config_map(namespace, configmap("after", {"paged": "yes"}))
        await eventually(lambda: sink.event_names("ADDED"), what="after ADDED")
        assert sink.event_names("ADDED") == ["after"]


async def test_watch_resumes_without_relisting(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    sink = Recorder()
    reflector = Reflector(api, CONFIGMAPS, sink, namespace=namespace, label_selector="resume=yes", watch_timeout=1)
    async with running(reflector):
        created = []
        for i in range(8):  # spread over several one-second watches, and one forced restart
            name = f"r-{i}"
            await core.create_namespaced_config_map(namespace, configmap(name, {"resume": "yes"}))
            created.append(name)
            if i == 4:
                reflector.restart_watch()
            await asyncio.sleep(0.45)
        await eventually(lambda: len(sink.event_names("ADDED")) == 8, what="8 ADDED")
        await asyncio.sleep(1.2)  # one more reconnect: nothing is delivered twice
        assert sink.event_names("ADDED") == created  # each exactly once, in order
        assert reflector.stats.watches >= 4
        assert reflector.stats.lists == 1
        assert len(sink.replaces) == 1
        assert reflector.stats.errors == 0


async def test_restart_watch_reconnects_without_relisting(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    sink = Recorder()
    reflector = Reflector(api, CONFIGMAPS, sink, namespace=namespace, label_selector="restart=yes")
    async with running(reflector):
        await eventually(lambda: reflector.stats.watches == 1, what="first watch")
        await core.create_namespaced_config_map(namespace, configmap("one", {"restart": "yes"}))
        await eventually(lambda: sink.event_names("ADDED") == ["one"], what="one ADDED")
        version = reflector.resource_version
        reflector.restart_watch()
        await eventually(lambda: reflector.stats.watches == 2, within=5, what="second watch")
        assert reflector.resource_version == version
        await core.create_namespaced_config_map(namespace, configmap("two", {"restart": "yes"}))
        await eventually(lambda: sink.event_names("ADDED") == ["one", "two"], what="two ADDED")
        assert reflector.stats.lists == 1
        assert reflector.stats.errors == 0


async def test_large_object_spanning_many_reads(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    sink = Recorder()
    reflector = Reflector(api, CONFIGMAPS, sink, namespace=namespace, label_selector="big=yes")
    payload = secrets.token_hex(450_000)  # 900 kB on one line of the watch stream
    async with running(reflector):
        await core.create_namespaced_config_map(namespace, configmap("big", {"big": "yes"}, blob=payload))
        await core.create_namespaced_config_map(namespace, configmap("small", {"big": "yes"}, blob="x"))
        await eventually(lambda: len(sink.events()) == 2, what="both ADDED")
        assert [obj["data"]["blob"] == payload for _, obj in sink.events()] == [True, False]
        assert reflector.stats.errors == 0


async def test_missing_crd_is_polled_until_installed(
    api: ApiClient, caplog: pytest.LogCaptureFixture, namespace: str
) -> None:
    ext = client.ApiextensionsV1Api(api)
    group = f"t{secrets.token_hex(3)}.watch.otel-operator.test"
    crd_name = f"gadgets.{group}"
    gadgets = Resource(group, "v1", "gadgets", "Gadget", namespaced=True)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
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
    sink = Recorder()
    reflector = Reflector(api, gadgets, sink, missing_poll_interval=0.3)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    try:
        async with running(reflector, sync_within=5):
            # absent: synced, empty, said once at warning level however often it is polled
            assert reflector.missing
            assert sink.replaces == [[]]
            await asyncio.sleep(1.0)
            warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
            assert len(warnings) == 1, [r.getMessage() for r in warnings]
            assert "gadgets" in warnings[0].getMessage()
            assert "CRD" in warnings[0].getMessage()
            assert sink.replaces == [[]]

            await ext.create_custom_resource_definition(crd)
            objects = client.CustomObjectsApi(api)

            async def created() -> bool:
                try:
                    await objects.create_namespaced_custom_object(
                        group,
                        "v1",
                        namespace,
                        "gadgets",
                        {
                            "apiVersion": f"{group}/v1",
                            "kind": "Gadget",
                            "metadata": {"name": "g1"},
                            "spec": {"size": 3},
                        },
                    )
                except ApiException as err:  # the CRD is not established yet
                    if err.status != 404:
                        raise
                    return False
                return True

            await wait_for(created, what="a Gadget created")
            await eventually(lambda: (namespace, "g1") in reflector.objects, what="g1 seen")
            assert not reflector.missing
            got = reflector.objects[(namespace, "g1")]
            assert got["kind"] == "Gadget"
            assert got["apiVersion"] == f"{group}/v1"
            assert got["spec"] == {"size": 3}

            # the CRD goes away: its objects go with it, and the reflector says so with an empty replace
            await ext.delete_custom_resource_definition(crd_name)
            await eventually(lambda: reflector.missing and not reflector.objects, within=30, what="CRD gone again")
            assert sink.replaces[-1] == []
    finally:
        with contextlib.suppress(ApiException):
            await ext.delete_custom_resource_definition(crd_name)


async def test_forbidden_names_the_rule_then_recovers(
    api: ApiClient, caplog: pytest.LogCaptureFixture, namespace: str
) -> None:
    user = f"watch-test-{secrets.token_hex(3)}"
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with ApiClient(configuration=api.configuration) as limited:
        limited.set_default_header("Impersonate-User", user)  # admin may impersonate a user with no roles
        sink = Recorder()
        reflector = Reflector(
            api=limited, resource=PODS, sink=sink, namespace=namespace, backoff_initial=0.05, backoff_max=0.3
        )
        async with running(reflector, sync_within=None):
            await eventually(lambda: reflector.stats.errors >= 3, what="three refusals")
            assert not reflector.synced.is_set()
            assert sink.calls == []
            errors = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR]
            assert len(errors) == 1, errors  # said once, however often it is retried
            assert 'resources: ["pods"]' in errors[0]
            assert 'verbs: ["list", "watch"]' in errors[0]
            assert 'apiGroups: [""]' in errors[0]
            assert f"Role in namespace {namespace}" in errors[0]

            rbac = client.RbacAuthorizationV1Api(api)
            await rbac.create_namespaced_role(
                namespace,
                {
                    "metadata": {"name": "pod-reader"},
                    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}],
                },
            )
            await rbac.create_namespaced_role_binding(
                namespace,
                {
                    "metadata": {"name": "pod-reader"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
                },
            )
            await asyncio.wait_for(reflector.synced.wait(), 15)
            assert sink.replaces == [[]]


async def test_cancellation_stops_cleanly(api: ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    sink = Recorder()
    reflector = Reflector(api, CONFIGMAPS, sink, namespace=namespace, label_selector="cancel=yes")
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        task = asyncio.create_task(reflector.run())
        await asyncio.wait_for(reflector.synced.wait(), 15)
        await asyncio.sleep(0.2)  # in the middle of the watch
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)
        await core.create_namespaced_config_map(namespace, configmap("late", {"cancel": "yes"}))
        await asyncio.sleep(0.5)
        assert sink.events() == []
    finally:
        loop.set_exception_handler(previous)
    assert unhandled == []


async def test_sink_errors_do_not_stop_the_reflector(
    api: ApiClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Flaky(Recorder):
        def on_event(self, kind: str, type: str, obj: dict[str, Any], /) -> None:
            super().on_event(kind, type, obj)
            if obj["metadata"]["name"] == "bad":
                raise RuntimeError("sink bug")

    core = client.CoreV1Api(api)
    sink = Flaky()
    reflector = Reflector(api, CONFIGMAPS, sink, namespace=namespace, label_selector="flaky=yes")
    async with running(reflector):
        await core.create_namespaced_config_map(namespace, configmap("bad", {"flaky": "yes"}))
        await core.create_namespaced_config_map(namespace, configmap("good", {"flaky": "yes"}))
        await eventually(lambda: sink.event_names("ADDED") == ["bad", "good"], what="both ADDED")
        assert (namespace, "bad") in reflector.objects
        assert any("sink failed" in r.getMessage() and r.exc_info for r in caplog.records)


# ---------------------------------------------------------------------------------------------------- ERROR events


def make_reflector(sink: Recorder) -> Reflector:
    return Reflector(object(), CONFIGMAPS, sink)  # handle_event needs no connection


def test_410_error_event_raises_resource_expired() -> None:
    sink = Recorder()
    reflector = make_reflector(sink)
    reflector.resource_version = "100"
    event = {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "too old resource version: 100 (2000)",
            "reason": "Expired",
            "code": 410,
        },
    }
    with pytest.raises(ResourceExpired) as info:
        reflector.handle_event(event)
    assert info.value.status == 410
    assert info.value.reason == "Expired"
    assert sink.calls == []
    assert reflector.resource_version == "100"

    # another server error is a plain WatchError: retried from where it was, no re-list
    other = {"type": "ERROR", "object": {"kind": "Status", "code": 500, "reason": "InternalError", "message": "x"}}
    with pytest.raises(WatchError) as info2:
        reflector.handle_event(other)
    assert not isinstance(info2.value, ResourceExpired)
    assert info2.value.status == 500


def test_bookmark_moves_the_resource_version_silently() -> None:
    sink = Recorder()
    reflector = make_reflector(sink)
    reflector.handle_event({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "metadata": {"resourceVersion": "77"}}})
    assert reflector.resource_version == "77"
    assert reflector.stats.bookmarks == 1
    assert sink.calls == []
    obj = {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "a", "namespace": "n", "resourceVersion": "78"},
    }
    reflector.handle_event({"type": "ADDED", "object": obj})
    reflector.handle_event({"type": "DELETED", "object": obj})
    assert [c[0] for c in sink.calls] == ["ADDED", "DELETED"]
    assert reflector.objects == {}
    assert reflector.resource_version == "78"


# ---------------------------------------------------------------------------------------------------- fake server


class FakeApiServer:
    """Serves /api/v1/namespaces/fake/configmaps from a script: each list or watch request pops the next answer."""

    def __init__(self) -> None:
        self.lists: list[dict[str, Any]] = []
        self.watches: list[Callable[[web.Request], Awaitable[web.StreamResponse]]] = []
        self.requests: list[dict[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/fake/configmaps", self.handle)
        self.runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.query))
        if request.query.get("watch") == "true":
            if not self.watches:  # script exhausted: hang like a quiet watch
                await asyncio.sleep(3600)
            return await self.watches.pop(0)(request)
        return web.json_response(self.lists.pop(0))


def cm(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "fake", "resourceVersion": rv}, "data": {"rv": rv}}


def stream(*events: dict[str, Any], cut: bool = False) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        for event in events:
            await response.write(orjson.dumps(event) + b"\n")
        if cut:  # the connection drops without the end of the chunked body
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response

    return handler


def added(name: str, rv: str) -> dict[str, Any]:
    return {"type": "ADDED", "object": {"kind": "ConfigMap", "apiVersion": "v1", **cm(name, rv)}}


async def test_cut_connection_resumes_and_410_relists() -> None:
    server = FakeApiServer()
    server.lists = [
        {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "10"}, "items": [cm("a", "5")]},
        {
            "kind": "ConfigMapList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "30"},
            "items": [cm("a", "5"), cm("c", "25")],
        },
    ]
    gone = {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": 410,
            "reason": "Expired",
            "message": "too old resource version: 11 (20)",
        },
    }
    server.watches = [
        stream(added("b", "11"), cut=True),  # connection lost after one event
        stream(gone),  # resuming from 11 is too late
        stream(added("d", "31")),  # after the re-list, from the new list's version
    ]
    await server.start()
    try:
        sink = Recorder()
        async with ApiClient(configuration=client.Configuration(host=server.url)) as fake:
            reflector = Reflector(fake, CONFIGMAPS, sink, namespace="fake", backoff_initial=0.01, backoff_max=0.05)
            async with running(reflector):
                await eventually(lambda: len(sink.calls) == 4, within=10, what="list, b, re-list, d")
        kinds = [c[0] for c in sink.calls]
        assert kinds == ["replace", "ADDED", "replace", "ADDED"]
        assert names(sink.calls[0][2]) == ["a"]
        assert sink.calls[0][2][0]["kind"] == "ConfigMap"
        assert sink.calls[1][2]["metadata"]["name"] == "b"
        assert names(sink.calls[2][2]) == ["a", "c"]  # the re-list replaces everything: b is gone
        assert sink.calls[3][2]["metadata"]["name"] == "d"
        watch_versions = [r["resourceVersion"] for r in server.requests if r.get("watch") == "true"]
        assert watch_versions[:3] == ["10", "11", "30"]
        for r in server.requests:
            if r.get("watch") == "true":
                assert r["allowWatchBookmarks"] == "true"
                assert int(r["timeoutSeconds"]) >= 300
            else:
                assert r["limit"] == "500"
        assert set(reflector.objects) == {("fake", "a"), ("fake", "c"), ("fake", "d")}
        assert reflector.stats.lists == 2
        assert reflector.stats.errors == 2  # the cut and the 410
    finally:
        await server.stop()


async def test_expired_continue_token_restarts_the_list() -> None:
    server = FakeApiServer()
    expired = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": 410,
        "reason": "Expired",
        "message": "The provided continue parameter is too old",
    }
    server.lists = [
        {"kind": "ConfigMapList", "metadata": {"resourceVersion": "10", "continue": "tok1"}, "items": [cm("a", "5")]},
        {"__status__": 410, **expired},
        {"kind": "ConfigMapList", "metadata": {"resourceVersion": "20", "continue": "tok2"}, "items": [cm("a", "5")]},
        {"kind": "ConfigMapList", "metadata": {"resourceVersion": "20"}, "items": [cm("b", "15")]},
    ]

    async def handle(request: web.Request) -> web.StreamResponse:
        server.requests.append(dict(request.query))
        if request.query.get("watch") == "true":
            await asyncio.sleep(3600)
        body = server.lists.pop(0)
        return web.json_response(
            {k: v for k, v in body.items() if k != "__status__"}, status=body.get("__status__", 200)
        )

    server.handle = handle  # type: ignore[method-assign]
    await server.start()
    try:
        sink = Recorder()
        async with ApiClient(configuration=client.Configuration(host=server.url)) as fake:
            reflector = Reflector(fake, CONFIGMAPS, sink, namespace="fake", page_size=1)
            async with running(reflector):
                pass
        assert [names(r) for r in sink.replaces] == [["a", "b"]]  # one replace, from the restarted list only
        continues = [r.get("continue") for r in server.requests if r.get("watch") != "true"]
        assert continues == [None, "tok1", None, "tok2"]
        assert reflector.resource_version == "20"
    finally:
        await server.stop()


def test_managed_fields_are_not_kept() -> None:
    """Never read by discovery, and often the largest part of a Pod: dropped from what the reflector keeps (and
    hands on)."""
    sink = Recorder()
    reflector = make_reflector(sink)
    managed = [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:data": {"f:a": {}}}}]
    obj = {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "a", "namespace": "n", "resourceVersion": "9", "managedFields": managed},
        "data": {"a": "1"},
    }
    reflector.handle_event({"type": "ADDED", "object": obj})
    kept = reflector.objects[("n", "a")]
    assert "managedFields" not in kept["metadata"]
    assert kept["data"] == {"a": "1"}
    assert kept["metadata"]["resourceVersion"] == "9"
