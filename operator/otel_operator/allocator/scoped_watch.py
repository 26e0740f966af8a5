"""One kind watched in several scopes: a watch per namespace, or per named object of a cluster-scoped kind.

An allocator whose service account has only Roles, in the namespaces it may read (prometheusCR.allowNamespaces,
as upstream's targetallocator-namespace test grants), cannot list a kind across the cluster: every such list is
refused. Upstream's allocator then watches each allowed namespace apart (prometheus-operator's informers, and
Prometheus's discovery per `namespaces.names`), and reads its Namespaces one by one by name. A `ReflectorGroup`
does that here while looking like one `Reflector` to the allocator: one sink, `objects` (the members' merged: keys
are (namespace, name), so scopes never collide), `synced` (every member listed), `stats` (summed), `describe()`.

A member's list becomes a replace of the whole kind with every member's objects, because the allocator's router
replaces by kind (the first one waits until every member has listed); events pass through. `set_scopes` follows
the jobs: a new scope is listed and added, a dropped
scope's objects are replaced away at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from otel_operator.allocator.kubeclient import Api
from otel_operator.allocator.watch import JSON, Key, Reflector, ReflectorStats, Resource, Sink, cancel_all

Scope = str  # a namespace (namespaced kinds) or an object's name (cluster-scoped kinds)


class _AllSynced:
    """`synced.is_set()` of the group: every member has delivered its first list (no member: nothing to wait for)."""

    def __init__(self, group: ReflectorGroup) -> None:
        self._group = group

    def is_set(self) -> bool:
        return all(member.synced.is_set() for member in self._group.members.values())


class _Member:
    """A member's sink: its list replaces the kind with every member's objects; its events pass through."""

    def __init__(self, group: ReflectorGroup, scope: Scope) -> None:
        self._group = group
        self._scope = scope

    def on_replace(self, kind: str, objects: list[JSON], /) -> None:
        group = self._group
        # the first complete state waits for every member's first list (a Reflector marks itself synced only
        # after telling its sink, so this member counts as listed): one namespace alone would take the others'
        # objects away, those a cluster-wide watch delivered before the scope changed
        others = (m for scope, m in group.members.items() if scope != self._scope)
        if group.delivered or all(m.synced.is_set() for m in others):
            group.replace_all()

    def on_event(self, kind: str, type: str, obj: JSON, /) -> None:
        self._group.sink.on_event(kind, type, obj)


class ReflectorGroup:
    """Reflectors of one resource, one per scope, run and seen as one (see the module's docstring)."""

    def __init__(self, api: Api, resource: Resource, sink: Sink, scopes: Iterable[Scope], **options: Any) -> None:
        self.api = api
        self.resource = resource
        self.sink = sink
        self.options = options  # passed to every member Reflector
        self.members: dict[Scope, Reflector] = {}
        self.synced = _AllSynced(self)
        self._tasks: dict[Scope, asyncio.Task[None]] = {}
        self._running = False
        self.delivered = False  # a complete state has reached the sink (then each member's list goes on at once)
        for scope in sorted(set(scopes)):
            self.members[scope] = self._member(scope)

    def __repr__(self) -> str:
        return f"ReflectorGroup({self.describe()})"

    def _member(self, scope: Scope) -> Reflector:
        sink = _Member(self, scope)
        if self.resource.namespaced:
            return Reflector(self.api, self.resource, sink, namespace=scope, **self.options)
        return Reflector(self.api, self.resource, sink, name=scope, **self.options)

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return tuple(self.members)

    @property
    def objects(self) -> dict[Key, JSON]:
        merged: dict[Key, JSON] = {}
        for member in self.members.values():
            merged.update(member.objects)
        return merged

    @property
    def stats(self) -> ReflectorStats:
        total = ReflectorStats()
        for member in self.members.values():
            for field in ("lists", "pages", "watches", "events", "bookmarks", "errors"):
                setattr(total, field, getattr(total, field) + getattr(member.stats, field))
        return total

    def describe(self) -> str:
        what = "namespaces" if self.resource.namespaced else "names"
        return f"{self.resource}, {what} {', '.join(self.members) or '(none)'}"

    def replace_all(self) -> None:
        """Tell the sink the kind's complete state: every member's objects."""
        self.delivered = True
        self.sink.on_replace(self.resource.kind, [obj for m in self.members.values() for obj in m.objects.values()])

    def set_scopes(self, scopes: Iterable[Scope]) -> None:
        """Watch exactly `scopes`: new ones start (their lists add their objects), dropped ones stop and their
        objects are replaced away."""
        wanted = set(scopes)
        dropped = [scope for scope in self.members if scope not in wanted]
        for scope in sorted(wanted - set(self.members)):
            self.members[scope] = self._member(scope)
            if self._running:
                self._start(scope)
        lost = False
        for scope in dropped:
            lost |= bool(self.members.pop(scope).objects)
            task = self._tasks.pop(scope, None)
            if task is not None:
                task.cancel()
        self.members = dict(sorted(self.members.items()))
        if lost:
            self.replace_all()

    def _start(self, scope: Scope) -> None:
        member = self.members[scope]
        self._tasks[scope] = asyncio.create_task(member.run(), name=f"watch {member.describe()}")

    async def run(self) -> None:
        """Run every member until cancelled; then stop them all."""
        if self._running:
            raise RuntimeError(f"{self!r} is already running")
        self._running = True
        try:
            for scope in self.members:
                self._start(scope)
            await asyncio.Event().wait()  # members come and go through set_scopes; this only holds them
        finally:
            self._running = False
            tasks = list(self._tasks.values())
            self._tasks.clear()
            await cancel_all(tasks)
