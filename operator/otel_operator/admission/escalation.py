"""Privilege escalation through the operator: a collector's components make the operator grant its ServiceAccount a
ClusterRole (automatic RBAC: `manifests.collector_rbac`). The operator holds those permissions, the user who writes
the collector may not: without a check, anyone who may create a collector in some namespace could have the
operator hand a workload of theirs, say, cluster-wide read of every Secret through a k8sobjects receiver.

So the validating webhook refuses a collector whose automatic RBAC would grant permissions the requesting user does
not hold themselves, as upstream's does, and by the same delta: only what the collector's ServiceAccount does not
already hold counts (a user editing a collector whose role exists is not refused for it, and nothing is asked when
the ServiceAccount already holds everything). Asked with SubjectAccessReviews (the operator's ClusterRole may create
them), cluster-wide, as the ClusterRole grants.

`missing_for`'s inputs and the message are plain data; `check` does the asking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from otel_operator.manifests import collector_rbac, naming
from otel_operator.reconcile.kube import Kube
from otel_operator.reconcile.permissions import Access, accesses, allowed

REVIEW_PATH: Final = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
PREFIX: Final = "is not allowed to create a collector whose config would grant permissions they do not hold"


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is asked about: a user with its groups (and uid and extra, as the API server authenticated them)."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_userinfo(cls, userinfo: Mapping[str, Any] | None) -> Subject | None:
        """The admission request's userInfo; None when it names no user (never refused for want of one)."""
        info = userinfo or {}
        user = info.get("username")
        if not isinstance(user, str) or not user:
            return None
        raw = info.get("extra")
        extra: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        return cls(
            user,
            tuple(str(g) for g in info.get("groups") or []),
            str(info.get("uid") or ""),
            tuple(sorted((str(k), tuple(str(v) for v in vs or [])) for k, vs in extra.items())),
        )

    @classmethod
    def service_account(cls, namespace: str, name: str) -> Subject:
        """A ServiceAccount as the API server authenticates its tokens."""
        return cls(
            f"system:serviceaccount:{namespace}:{name}",
            ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
        )


def subject_review(access: Access, subject: Subject) -> dict[str, Any]:
    """The SubjectAccessReview asking whether `subject` holds `access` cluster-wide (no namespace)."""
    attributes = {"group": access.group, "resource": access.resource, "verb": access.verb}
    if access.subresource:
        attributes["subresource"] = access.subresource
    if access.name:
        attributes["name"] = access.name
    spec: dict[str, Any] = {"user": subject.user, "groups": list(subject.groups), "resourceAttributes": attributes}
    if subject.uid:
        spec["uid"] = subject.uid
    if subject.extra:
        spec["extra"] = {k: list(v) for k, v in subject.extra}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


def granted_accesses(resource: Mapping[str, Any], collector_rbac_on: bool) -> list[Access]:
    """Every permission the operator's automatic RBAC would grant this collector (none when it is switched off)."""
    if not collector_rbac_on:
        return []
    config = (resource.get("spec") or {}).get("config")
    return accesses(collector_rbac.rules(config if isinstance(config, Mapping) else {}))


def service_account_of(resource: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the ServiceAccount the collector runs as, which the ClusterRole is bound to."""
    meta, spec = resource.get("metadata") or {}, resource.get("spec") or {}
    name = spec.get("serviceAccount") or naming.collector_service_account(str(meta.get("name") or ""))
    return str(meta.get("namespace") or "default"), str(name)


def refusal_message(user: str, missing: Sequence[Access]) -> str:
    """Upstream's words first (clients match them), then what is missing, per resource, and the ways out."""
    by_resource: dict[str, list[str]] = {}
    for access in missing:
        resource = f"{access.resource}/{access.subresource}" if access.subresource else access.resource
        by_resource.setdefault(f"{resource}.{access.group}" if access.group else resource, []).append(access.verb)
    held = "; ".join(f"{resource}: {', '.join(verbs)}" for resource, verbs in by_resource.items())
    return (
        f'user "{user}" {PREFIX}: {held} (cluster-wide). Fix: have someone who holds them create the collector, '
        f'get them granted to "{user}", or leave out the components that need them'
    )


async def _holds(kube: Kube, wanted: Sequence[Access], subject: Subject) -> dict[Access, bool]:
    answers = await asyncio.gather(
        *(kube.request("POST", REVIEW_PATH, body=subject_review(a, subject)) for a in wanted)
    )
    return {a: allowed(answer) for a, answer in zip(wanted, answers, strict=True)}


async def check(
    kube: Kube, resource: Mapping[str, Any], userinfo: Mapping[str, Any] | None, *, collector_rbac_on: bool
) -> str | None:
    """The refusal's message when the requesting user lacks part of what the operator would newly grant; None
    otherwise. A KubeError (the reviews could not be asked) propagates: the webhook then refuses, naming it."""
    wanted = granted_accesses(resource, collector_rbac_on)
    subject = Subject.from_userinfo(userinfo)
    if not wanted or subject is None:
        return None
    held_by_account = await _holds(kube, wanted, Subject.service_account(*service_account_of(resource)))
    delta = [a for a in wanted if not held_by_account[a]]
    if not delta:
        return None
    held_by_user = await _holds(kube, delta, subject)
    missing = [a for a in delta if not held_by_user[a]]
    return refusal_message(subject.user, missing) if missing else None
