"""Whether the operator may grant the collector's ClusterRole: rules to access reviews, answers to a warning, and the
asking (against a stand-in API server that answers from a set of held permissions)."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import build
from otel_operator.reconcile.kube import Kube, KubeError
from otel_operator.reconcile.permissions import (
    REVIEW_PATH,
    Access,
    AnswerCache,
    accesses,
    collector_rbac,
    grantable,
    missing_warning,
    review,
    without_collector_rbac,
)
from tests.unit.manifests.common import collector


class FakeKube(Kube):
    """Answers SelfSubjectAccessReviews: allowed when (group, resource, subresource, verb) is held."""

    def __init__(self, held: set[tuple[str, str, str, str]], *, fail: bool = False) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # never used: request is replaced
        self.held = held
        self.fail = fail
        self.asked: list[dict[str, Any]] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        assert (method, path) == ("POST", REVIEW_PATH)
        if self.fail:
            raise KubeError(500, method, path, "boom")
        attrs = kwargs["body"]["spec"]["resourceAttributes"]
        self.asked.append(attrs)
        key = (attrs["group"], attrs["resource"], attrs.get("subresource", ""), attrs["verb"])
        return {"status": {"allowed": key in self.held}}


def kubelet_collector() -> dict[str, Any]:
    config = {
        "receivers": {"kubeletstats": {"extra_metadata_labels": ["container.id"]}},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"metrics": {"receivers": ["kubeletstats"], "exporters": ["debug"]}}},
    }
    return collector("agent", "obs", config=config)


def built_objects() -> list[dict[str, Any]]:
    result = build(kubelet_collector())
    assert result.ok
    return list(result.objects)


KUBELET = {("", "nodes", "stats", "get"), ("", "nodes", "proxy", "get")}


# --- pure ------------------------------------------------------------------------------------------------------------


def test_accesses_split_subresources_and_dedupe() -> None:
    rules = [
        {"apiGroups": [""], "resources": ["pods", "nodes/stats"], "verbs": ["get", "list"]},
        {"apiGroups": ["", "apps"], "resources": ["pods"], "verbs": ["get"]},
    ]
    assert accesses(rules) == [
        Access("", "pods", "get"),
        Access("", "pods", "list"),
        Access("", "nodes", "get", "stats"),
        Access("", "nodes", "list", "stats"),
        Access("apps", "pods", "get"),
    ]


@pytest.mark.parametrize(
    ("access", "attributes", "text"),
    [
        (Access("", "pods", "list"), {"group": "", "resource": "pods", "verb": "list"}, "list pods"),
        (
            Access("", "nodes", "get", "proxy"),
            {"group": "", "resource": "nodes", "verb": "get", "subresource": "proxy"},
            "get nodes/proxy",
        ),
        (
            Access("rbac.authorization.k8s.io", "clusterroles", "bind", name="r"),
            {"group": "rbac.authorization.k8s.io", "resource": "clusterroles", "verb": "bind", "name": "r"},
            "bind clusterroles.rbac.authorization.k8s.io r",
        ),
    ],
)
def test_review_body_and_text(access: Access, attributes: dict[str, str], text: str) -> None:
    assert review(access) == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},  # no namespace: cluster-wide, as a ClusterRole grants
    }
    assert str(access) == text


def test_collector_rbac_ignores_the_allocators_role() -> None:
    objects = built_objects()
    role, binding = collector_rbac(objects)
    assert role is not None
    assert role["metadata"]["name"] == "agent-obs-cluster-role"
    assert binding is not None
    assert binding["metadata"]["name"] == "agent-obs-collector"
    allocator_role = {
        "kind": "ClusterRole",
        "metadata": {"name": "x", "labels": {"app.kubernetes.io/component": "opentelemetry-targetallocator"}},
    }
    assert collector_rbac([allocator_role]) == (None, None)
    left = without_collector_rbac([*objects, allocator_role])
    assert [o["kind"] for o in left].count("ClusterRole") == 1
    assert allocator_role in left
    assert "ClusterRoleBinding" not in [o["kind"] for o in left]


def test_warning_names_what_is_missing_and_the_fixes() -> None:
    role, binding = collector_rbac(built_objects())
    assert role is not None
    text = missing_warning(role, binding, [Access("", "nodes", "get", "proxy")])
    assert "get nodes/proxy" in text
    assert "ClusterRole agent-obs-cluster-role" in text
    assert "collectorRbac" in text
    assert "obs/agent-collector" in text


# --- asking ----------------------------------------------------------------------------------------------------------


async def test_all_held_keeps_everything() -> None:
    kube = FakeKube(KUBELET)
    objects = built_objects()
    kept, warnings = await grantable(kube, objects, AnswerCache())
    assert kept == objects
    assert warnings == []


async def test_a_missing_permission_drops_role_and_binding_and_warns() -> None:
    kube = FakeKube({("", "nodes", "stats", "get")})
    objects = built_objects()
    kept, warnings = await grantable(kube, objects, AnswerCache())
    assert {o["kind"] for o in kept} == {o["kind"] for o in objects} - {"ClusterRole", "ClusterRoleBinding"}
    assert len(warnings) == 1
    assert "get nodes/proxy" in warnings[0]
    assert "get nodes/stats" not in warnings[0]


async def test_escalate_and_bind_make_the_rules_grantable() -> None:
    name = "agent-obs-cluster-role"
    kube = FakeKube(
        {
            ("rbac.authorization.k8s.io", "clusterroles", "", "escalate"),
            ("rbac.authorization.k8s.io", "clusterroles", "", "bind"),
        }
    )
    kept, warnings = await grantable(kube, built_objects(), AnswerCache())
    assert warnings == []
    assert "ClusterRole" in {o["kind"] for o in kept}
    assert [a["verb"] for a in kube.asked] == ["escalate", "bind"]  # nothing else asked
    assert all(a["name"] == name for a in kube.asked)


async def test_escalate_without_bind_still_checks_the_rules() -> None:
    kube = FakeKube({("rbac.authorization.k8s.io", "clusterroles", "", "escalate")})
    kept, warnings = await grantable(kube, built_objects(), AnswerCache())
    assert warnings
    assert "ClusterRole" not in {o["kind"] for o in kept}


async def test_nothing_to_grant_asks_nothing() -> None:
    kube = FakeKube(set())
    result = build(collector())
    kept, warnings = await grantable(kube, list(result.objects), AnswerCache())
    assert kept == list(result.objects)
    assert warnings == []
    assert kube.asked == []


async def test_answers_are_cached_per_client_for_a_while() -> None:
    now = [0.0]
    cache = AnswerCache(seconds=60, clock=lambda: now[0])
    kube = FakeKube(KUBELET)
    await grantable(kube, built_objects(), cache)
    first = len(kube.asked)
    assert first == 4  # escalate, bind, then the two rules
    await grantable(kube, built_objects(), cache)
    assert len(kube.asked) == first
    other = FakeKube(set())  # another client (identity) is asked itself
    _, warnings = await grantable(other, built_objects(), cache)
    assert warnings
    assert len(other.asked) == 4
    now[0] = 61.0
    await grantable(kube, built_objects(), cache)
    assert len(kube.asked) == 2 * first


async def test_an_unanswerable_check_changes_nothing() -> None:
    objects = built_objects()
    kept, warnings = await grantable(FakeKube(set(), fail=True), objects, AnswerCache())
    assert kept == objects
    assert warnings == []
