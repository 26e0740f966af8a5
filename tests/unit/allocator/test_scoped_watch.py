"""ReflectorGroup: one kind watched per namespace (or per name), seen as one reflector."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from otel_operator.allocator.scoped_watch import ReflectorGroup
from otel_operator.allocator.watch import NAMESPACES, PODS, Reflector


class Recorder:
    def __init__(self) -> None:
        self.replaces: list[list[str]] = []
        self.events: list[tuple[str, str]] = []

    def on_replace(self, kind: str, objects: list[dict[str, Any]], /) -> None:
        self.replaces.append(sorted(f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in objects))

    def on_event(self, kind: str, type: str, obj: dict[str, Any], /) -> None:
        self.events.append((type, obj["metadata"]["name"]))


def pod(namespace: str, name: str) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"namespace": namespace, "name": name, "resourceVersion": "1"}}


def listed(member: Reflector, *objects: dict[str, Any]) -> None:
    """What a member's list does, in Reflector._list's order: its cache, its sink, and only then `synced`."""
    member.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
    member.sink.on_replace("Pod", list(objects))
    member.synced.set()


def test_members_watch_their_namespace_and_a_list_replaces_the_whole_kind() -> None:
    sink = Recorder()
    group = ReflectorGroup(object(), PODS, sink, ["b", "a", "a"])  # type: ignore[arg-type]  # never run here
    assert group.scopes == ("a", "b")
    assert [m.namespace for m in group.members.values()] == ["a", "b"]
    assert not group.synced.is_set()
    listed(group.members["a"], pod("a", "p1"))
    assert not group.synced.is_set()  # b has not listed yet
    listed(group.members["b"], pod("b", "p2"))
    assert group.synced.is_set()
    assert sink.replaces == [["a/p1", "b/p2"]]  # held until both listed: a alone would have removed b's
    listed(group.members["a"], pod("a", "p1"), pod("a", "p9"))  # a re-list later goes on at once
    assert sink.replaces[-1] == ["a/p1", "a/p9", "b/p2"]
    assert set(group.objects) == {("a", "p1"), ("a", "p9"), ("b", "p2")}
    group.members["b"].handle_event({"type": "ADDED", "object": pod("b", "p3")})
    assert sink.events == [("ADDED", "p3")]
    assert set(group.objects) == {("a", "p1"), ("a", "p9"), ("b", "p2"), ("b", "p3")}
    assert group.describe() == "pods/v1, namespaces a, b"


def test_dropping_a_scope_replaces_its_objects_away_and_adding_one_waits_for_its_list() -> None:
    sink = Recorder()
    single = ReflectorGroup(object(), PODS, sink, ["x"])  # type: ignore[arg-type]
    listed(single.members["x"], pod("x", "p0"))
    assert sink.replaces == [["x/p0"]]  # one member: its own list is the complete state at once
    sink.replaces.clear()
    group = ReflectorGroup(object(), PODS, sink, ["a", "b"])  # type: ignore[arg-type]
    listed(group.members["a"], pod("a", "p1"))
    listed(group.members["b"], pod("b", "p2"))
    sink.replaces.clear()
    group.set_scopes(["a", "c"])
    assert group.scopes == ("a", "c")
    assert sink.replaces == [["a/p1"]]  # b's pod is gone at once
    assert not group.synced.is_set()  # c not listed yet
    group.set_scopes(["a", "c"])  # unchanged: nothing said
    assert sink.replaces == [["a/p1"]]
    empty = ReflectorGroup(object(), PODS, sink, [])  # type: ignore[arg-type]
    assert empty.synced.is_set()
    assert empty.objects == {}


def test_a_cluster_scoped_kind_is_watched_by_name() -> None:
    group = ReflectorGroup(object(), NAMESPACES, Recorder(), ["ns1"])  # type: ignore[arg-type]
    member = group.members["ns1"]
    assert member.name == "ns1"
    assert member._list_path == "/api/v1/namespaces/ns1"
    assert member._watch_path == "/api/v1/watch/namespaces/ns1"
    assert group.describe() == "namespaces/v1, names ns1"
    with pytest.raises(ValueError, match="only a cluster-scoped object"):
        Reflector(object(), PODS, Recorder(), name="p")  # type: ignore[arg-type]


async def test_running_starts_and_stops_members_as_scopes_change() -> None:
    started: list[str] = []
    stopped: list[str] = []

    class Fake(Reflector):
        async def run(self) -> None:
            assert self.namespace is not None
            started.append(self.namespace)
            try:
                await asyncio.Event().wait()
            finally:
                stopped.append(self.namespace)

    class Group(ReflectorGroup):
        def _member(self, scope: str) -> Reflector:
            return Fake(self.api, self.resource, Recorder(), namespace=scope)

    group = Group(object(), PODS, Recorder(), ["a"])  # type: ignore[arg-type]
    task = asyncio.create_task(group.run())
    await asyncio.sleep(0.01)
    assert started == ["a"]
    group.set_scopes(["b"])
    await asyncio.sleep(0.01)
    assert started == ["a", "b"]
    assert stopped == ["a"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert stopped == ["a", "b"]
