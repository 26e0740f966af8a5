"""Whether the operator may grant the collector's ClusterRole, asked before it tries.

The API server refuses a ClusterRole (or a binding to it) that grants a permission its writer does not hold itself,
unless the writer may `escalate` (roles) and `bind` (bindings): RBAC escalation prevention. A k8sobjects receiver
can ask for anything, and an operator installed without the chart's collector permissions holds none of what
kubeletstats or k8s_cluster need. Rather than fail the whole reconcile on a 403, the operator asks the API server
what it holds (SelfSubjectAccessReview, which every authenticated user may create), leaves out the ClusterRole
and its binding when something is missing, and says what is missing and how to fix it.

The pure part (`accesses`, `review`, `missing_warning`, `without_collector_rbac`) is separate from the asking
(`grantable`), which caches answers for a minute: a k8s_cluster receiver alone is some 70 questions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from otel_operator.manifests.labels import COLLECTOR_COMPONENT, COMPONENT
from otel_operator.reconcile.kube import Kube, KubeError

log = logging.getLogger("otel_operator.reconcile")

REVIEW_PATH: Final = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
RBAC_GROUP: Final = "rbac.authorization.k8s.io"
CACHE_SECONDS: Final = 60.0


@dataclass(frozen=True, slots=True)
class Access:
    """One cluster-wide permission: `verb` on `resource[/subresource]` of `group` (one object when `name`)."""

    group: str
    resource: str
    verb: str
    subresource: str = ""
    name: str = ""

    def __str__(self) -> str:
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        qualified = f"{resource}.{self.group}" if self.group else resource
        return f"{self.verb} {qualified}" + (f" {self.name}" if self.name else "")


def accesses(rules: Sequence[Mapping[str, Any]]) -> list[Access]:
    """Each permission the rules grant, once, in the rules' order (`nodes/stats` is resource nodes, subresource
    stats, as the API server authorizes it)."""
    out: list[Access] = []
    for rule in rules:
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                base, _, sub = str(resource).partition("/")
                for verb in rule.get("verbs") or []:
                    access = Access(str(group), base, str(verb), sub)
                    if access not in out:
                        out.append(access)
    return out


def review(access: Access) -> dict[str, Any]:
    """The SelfSubjectAccessReview asking whether the operator holds `access` cluster-wide (no namespace)."""
    attributes = {"group": access.group, "resource": access.resource, "verb": access.verb}
    if access.subresource:
        attributes["subresource"] = access.subresource
    if access.name:
        attributes["name"] = access.name
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }


def allowed(answer: Any) -> bool:
    return isinstance(answer, Mapping) and (answer.get("status") or {}).get("allowed") is True


def collector_rbac(objects: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """The collector's ClusterRole and ClusterRoleBinding among a build's objects (not the allocator's)."""

    def find(kind: str) -> Mapping[str, Any] | None:
        for obj in objects:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if obj.get("kind") == kind and labels.get(COMPONENT) == COLLECTOR_COMPONENT:
                return obj
        return None

    return find("ClusterRole"), find("ClusterRoleBinding")


def without_collector_rbac(objects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    role, binding = collector_rbac(objects)
    return [dict(o) for o in objects if o is not role and o is not binding]


def missing_warning(role: Mapping[str, Any], binding: Mapping[str, Any] | None, missing: Sequence[Access]) -> str:
    """What the user reads when the operator may not grant the collector's ClusterRole."""
    name = role["metadata"]["name"]
    subject = ((binding or {}).get("subjects") or [{}])[0]
    account = f"{subject.get('namespace')}/{subject.get('name')}" if subject else "the collector's service account"
    return (
        f"the collector's components need permissions the operator does not hold, and the API server lets it grant "
        f"only what it holds: {', '.join(str(a) for a in missing)} (cluster-wide). The ClusterRole {name} and its "
        f"binding are not created, so the collector runs without them. Fix: grant these to the operator's service "
        f"account (the chart's collectorRbac value covers every component the operator knows; k8sobjects objects "
        f"are yours to add), or bind them to the collector's service account {account} yourself"
    )


# --- asking ----------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AnswerCache:
    """Recent answers, per client (each has its own identity): permissions change rarely, reconciles often."""

    seconds: float = CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _answers: dict[tuple[int, Access], tuple[float, bool]] = field(default_factory=dict)

    def get(self, kube: Kube, access: Access) -> bool | None:
        found = self._answers.get((id(kube), access))
        if found is None or self.clock() - found[0] > self.seconds:
            return None
        return found[1]

    def put(self, kube: Kube, access: Access, answer: bool) -> None:
        self._answers[(id(kube), access)] = (self.clock(), answer)

    def clear(self) -> None:
        self._answers.clear()


CACHE: Final = AnswerCache()


async def holds(kube: Kube, wanted: Sequence[Access], cache: AnswerCache | None = None) -> dict[Access, bool]:
    """Whether the operator holds each of `wanted`, asked together (answers cached)."""
    cache = CACHE if cache is None else cache
    out: dict[Access, bool] = {}
    asking = []
    for access in wanted:
        known = cache.get(kube, access)
        if known is None:
            asking.append(access)
        else:
            out[access] = known
    answers = await asyncio.gather(*(kube.request("POST", REVIEW_PATH, body=review(a)) for a in asking))
    for access, answer in zip(asking, answers, strict=True):
        out[access] = allowed(answer)
        cache.put(kube, access, out[access])
    return out


async def grantable(
    kube: Kube, objects: Sequence[Mapping[str, Any]], cache: AnswerCache | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """`objects` as they can be applied, and warnings: without the collector's ClusterRole and binding when the
    operator lacks some of what the role grants (and may not escalate and bind), the warning naming what is missing
    and the fix. When the API server cannot be asked, `objects` unchanged (the apply then tells)."""
    role, binding = collector_rbac(objects)
    if role is None:
        return [dict(o) for o in objects], []
    name = str(role["metadata"]["name"])
    bypass = [
        Access(RBAC_GROUP, "clusterroles", "escalate", name=name),
        Access(RBAC_GROUP, "clusterroles", "bind", name=name),
    ]
    needed = accesses(role.get("rules") or [])
    try:
        held = await holds(kube, bypass, cache)
        if all(held.values()):
            return [dict(o) for o in objects], []
        held = await holds(kube, needed, cache)
    except KubeError as err:  # advice only: never stop a reconcile
        log.warning("could not check the operator's own permissions: %s", err)
        return [dict(o) for o in objects], []
    missing = [a for a in needed if not held[a]]
    if not missing:
        return [dict(o) for o in objects], []
    return without_collector_rbac(objects), [missing_warning(role, binding, missing)]
