"""Role ingress: one target per rule host and path, the scheme from the TLS hosts; and the index for it."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.prom.discovery.common import AttachMetadata, Role, namespace_metadata_labels
from otel_operator.prom.discovery.index import DiscoveryIndex
from otel_operator.prom.discovery.ingress import build_ingress, matches_hostname_pattern, rule_paths
from otel_operator.prom.model import TargetGroup

M = "__meta_kubernetes_"
ING = M + "ingress_"


def make_ingress(
    rules: list[dict[str, Any]], tls: list[dict[str, Any]] | None = None, name: str = "web", **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"rules": rules, **spec}
    if tls is not None:
        body["tls"] = tls
    return {
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app.kubernetes.io/name": "web"},
            "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
        },
        "spec": body,
    }


def rule(host: str | None, *paths: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if host is not None:
        out["host"] = host
    if paths:
        backend = {"service": {"name": "web", "port": {"number": 80}}}
        out["http"] = {
            "paths": [
                {"pathType": "Prefix", "backend": backend, **({"path": p} if p is not None else {})} for p in paths
            ]
        }
    return out


def target(host: str, path: str, scheme: str = "http") -> dict[str, str]:
    return {"__address__": host, ING + "scheme": scheme, ING + "host": host, ING + "path": path}


def test_one_target_per_rule_host_and_path_with_the_ingress_metadata() -> None:
    ingress = make_ingress(
        [rule("example.com", "/", "/api"), rule("test.example.com", "")],
        tls=[{"hosts": ["example.com"], "secretName": "tls"}],
        ingressClassName="nginx",
    )
    assert build_ingress(ingress) == TargetGroup(
        "ingress/shop/web",
        (
            target("example.com", "/", "https"),
            target("example.com", "/api", "https"),
            target("test.example.com", "/"),  # an empty path is "/"
        ),
        {
            M + "namespace": "shop",
            ING + "class_name": "nginx",
            ING + "name": "web",
            ING + "label_app_kubernetes_io_name": "web",
            ING + "labelpresent_app_kubernetes_io_name": "true",
            ING + "annotation_nginx_ingress_kubernetes_io_rewrite_target": "/",
            ING + "annotationpresent_nginx_ingress_kubernetes_io_rewrite_target": "true",
        },
    )


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("example.com", "example.com", True),
        ("*.example.com", "test.example.com", True),
        ("*.example.com", "example.com", False),  # the wildcard stands for exactly one label
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "test.example.org", False),
        ("test.*.com", "test.example.com", False),  # only a leading wildcard counts
        ("*", "localhost", True),
        ("*", "", True),  # both one part: "" splits into one empty label, as in Go
        ("", "", True),
        ("Example.com", "example.com", False),  # no case folding
    ],
)
def test_matches_hostname_pattern(pattern: str, host: str, matches: bool) -> None:
    assert matches_hostname_pattern(pattern, host) is matches


@pytest.mark.parametrize(
    ("tls", "schemes"),
    [
        (None, ["http", "http"]),
        ([{"hosts": ["example.com", "test.example.com"]}], ["https", "https"]),
        ([{"hosts": ["example.com"]}], ["https", "http"]),
        ([{"hosts": ["*.example.com"]}], ["http", "https"]),
        ([{"secretName": "no-hosts"}, {"hosts": ["test.example.com"]}], ["http", "https"]),  # any TLS entry counts
        ([], ["http", "http"]),
    ],
)
def test_scheme_from_tls_hosts(tls: list[dict[str, Any]] | None, schemes: list[str]) -> None:
    group = build_ingress(make_ingress([rule("example.com", "/"), rule("test.example.com", "/")], tls=tls))
    assert [t[ING + "scheme"] for t in group.targets] == schemes


@pytest.mark.parametrize(
    ("raw", "paths"),
    [
        ({"host": "a"}, ["/"]),  # no http: the whole host
        ({"host": "a", "http": {}}, []),  # http without paths: nothing (the API server refuses it anyway)
        ({"host": "a", "http": {"paths": []}}, []),
        ({"host": "a", "http": {"paths": [{"path": "/x"}, {}, {"path": ""}]}}, ["/x", "/", "/"]),
    ],
)
def test_rule_paths(raw: dict[str, Any], paths: list[str]) -> None:
    assert rule_paths(raw) == paths


def test_a_rule_without_host_has_an_empty_address() -> None:
    # Prometheus's scrape layer refuses it ("no address"); discovery still reports it
    group = build_ingress(make_ingress([rule(None, "/metrics")], tls=[{"hosts": ["example.com"]}]))
    assert list(group.targets) == [target("", "/metrics")]


def test_an_ingress_without_rules_keeps_its_labels_and_has_no_targets() -> None:
    group = build_ingress(make_ingress([], defaultBackend={"service": {"name": "web", "port": {"number": 80}}}))
    assert group.targets == ()
    assert group.labels[ING + "name"] == "web"
    assert ING + "class_name" not in group.labels


def test_an_empty_class_name_is_a_label_with_an_empty_value() -> None:
    assert build_ingress(make_ingress([], ingressClassName="")).labels[ING + "class_name"] == ""


def test_attach_namespace_adds_the_namespaces_labels() -> None:
    ns = {"metadata": {"name": "shop", "labels": {"team": "a"}}}
    group = build_ingress(make_ingress([rule("a", "/")]), namespace_labels=namespace_metadata_labels(ns))
    assert group.labels[M + "namespace_label_team"] == "a"
    assert M + "namespace_name" not in group.labels


# --------------------------------------------------------------------------- the index


@pytest.mark.parametrize(
    ("attach", "kinds"),
    [
        (AttachMetadata(), {"Ingress"}),
        (AttachMetadata(namespace=True), {"Ingress", "Namespace"}),
        (AttachMetadata(node=True, deployment=True, job=True, cronjob=True), {"Ingress"}),  # pod-only metadata
    ],
)
def test_kinds_the_index_reads(attach: AttachMetadata, kinds: set[str]) -> None:
    assert DiscoveryIndex(Role.INGRESS, attach).kinds == kinds


def test_index_upsert_delete_and_lookup() -> None:
    index = DiscoveryIndex("ingress")
    ingress = make_ingress([rule("example.com", "/")])
    (group,) = index.upsert(ingress)
    assert group == build_ingress(ingress)
    assert index.upsert(ingress) == []
    assert index.group("ingress/shop/web") == group
    assert index.delete("Ingress", "shop", "web") == [TargetGroup("ingress/shop/web")]
    assert index.groups() == []


def test_namespace_metadata_follows_the_namespace() -> None:
    index = DiscoveryIndex(Role.INGRESS, AttachMetadata(namespace=True))
    index.upsert(make_ingress([rule("a", "/")], name="one"))
    index.upsert(make_ingress([rule("b", "/")], name="two"))
    changed = index.upsert({"kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "a"}}})
    assert sorted(g.source for g in changed) == ["ingress/shop/one", "ingress/shop/two"]
    assert all(g.labels[M + "namespace_label_team"] == "a" for g in changed)
    assert index.upsert({"kind": "Namespace", "metadata": {"name": "other"}}) == []
    changed = index.delete("Namespace", "", "shop")
    assert len(changed) == 2
    assert all(M + "namespace_label_team" not in g.labels for g in changed)
