"""admission.escalation's plain parts: what a collector's automatic RBAC would grant, who is asked, the reviews and the
refusal. (The asking itself, against a real kube-apiserver: tests/integration/test_admission.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.admission import escalation
from otel_operator.reconcile.permissions import Access


def collector(receivers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    names = list(receivers)
    return {
        "metadata": {"name": "c1", "namespace": "team-a"},
        "spec": {
            "config": {
                "receivers": receivers,
                "exporters": {"debug": {}},
                "service": {"pipelines": {"logs": {"receivers": names, "exporters": ["debug"]}}},
            },
            **spec,
        },
    }


def test_a_k8s_events_receiver_grants_cluster_wide_read_of_events() -> None:
    assert escalation.granted_accesses(collector({"k8s_events": {}}), True) == [
        Access("", "events", "get"),
        Access("", "events", "list"),
        Access("", "events", "watch"),
    ]


@pytest.mark.parametrize(
    ("resource", "rbac_on"),
    [(collector({"otlp": {"protocols": {"grpc": {}}}}), True), (collector({"k8s_events": {}}), False)],
    ids=["no component needs RBAC", "automatic RBAC off"],
)
def test_nothing_is_granted_so_nothing_is_asked(resource: dict[str, Any], rbac_on: bool) -> None:
    assert escalation.granted_accesses(resource, rbac_on) == []


def test_kubeletstats_subresources_are_asked_as_the_api_server_authorizes_them() -> None:
    granted = escalation.granted_accesses(collector({"kubeletstats": {}}), True)
    assert Access("", "nodes", "get", "stats") in granted
    review = escalation.subject_review(Access("", "nodes", "get", "stats"), escalation.Subject("bob"))
    assert review["spec"]["resourceAttributes"] == {"group": "", "resource": "nodes", "verb": "get",
                                                    "subresource": "stats"}  # fmt: skip


def test_the_account_is_the_generated_one_unless_the_spec_names_one() -> None:
    assert escalation.service_account_of(collector({})) == ("team-a", "c1-collector")
    assert escalation.service_account_of(collector({}, serviceAccount="mine")) == ("team-a", "mine")


def test_the_requesting_user_is_asked_about_with_everything_it_was_authenticated_with() -> None:
    subject = escalation.Subject.from_userinfo(
        {"username": "alice", "uid": "u-7", "groups": ["devs", "system:authenticated"], "extra": {"scopes": ["a"]}}
    )
    assert subject is not None
    spec = escalation.subject_review(Access("", "events", "list"), subject)["spec"]
    assert spec == {
        "user": "alice",
        "uid": "u-7",
        "groups": ["devs", "system:authenticated"],
        "extra": {"scopes": ["a"]},
        "resourceAttributes": {"group": "", "resource": "events", "verb": "list"},
    }
    assert "namespace" not in spec["resourceAttributes"]  # cluster-wide, as the ClusterRole grants
    assert escalation.Subject.from_userinfo({}) is None
    assert escalation.Subject.from_userinfo(None) is None


def test_a_service_account_is_asked_about_as_its_tokens_authenticate() -> None:
    subject = escalation.Subject.service_account("team-a", "c1-collector")
    assert subject.user == "system:serviceaccount:team-a:c1-collector"
    assert subject.groups == ("system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated")


def test_the_refusal_starts_with_upstreams_words_and_names_what_is_missing_per_resource() -> None:
    missing = [Access("", "events", "get"), Access("", "events", "list"), Access("apps", "replicasets", "watch"),
               Access("", "nodes", "get", "proxy")]  # fmt: skip
    message = escalation.refusal_message("bob", missing)
    assert message.startswith(
        'user "bob" is not allowed to create a collector whose config would grant permissions they do not hold: '
    )
    assert "events: get, list; replicasets.apps: watch; nodes/proxy: get (cluster-wide). Fix: " in message
