"""Every kind a discovery role reads has a watch, on the resource that serves that kind."""

from __future__ import annotations

import itertools

import pytest

from otel_operator.allocator.app import watch_resource
from otel_operator.allocator.monitors import MONITOR_KINDS
from otel_operator.prom.discovery.common import AttachMetadata
from otel_operator.prom.discovery.index import DISCOVERED_ROLES, DiscoveryIndex


def kinds_read() -> set[str]:
    flags = ("node", "namespace", "deployment", "job", "cronjob")
    out: set[str] = set()
    for role, values in itertools.product(DISCOVERED_ROLES, itertools.product((False, True), repeat=len(flags))):
        out |= DiscoveryIndex(role, AttachMetadata(**dict(zip(flags, values, strict=True)))).kinds
    return out


def test_every_kind_discovery_reads_has_its_resource() -> None:
    kinds = kinds_read()
    assert {"Node", "Ingress", "Namespace", "ReplicaSet", "Job"} <= kinds
    for kind in kinds | {"Secret", "ConfigMap", *MONITOR_KINDS}:
        resource = watch_resource(kind)
        assert resource is not None, kind
        assert resource.kind == kind


@pytest.mark.parametrize(
    ("kind", "path", "rule"),
    [
        ("Node", "/api/v1/nodes", '{apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch"]}'),
        (
            "Ingress",
            "/apis/networking.k8s.io/v1/ingresses",
            '{apiGroups: ["networking.k8s.io"], resources: ["ingresses"], verbs: ["list", "watch"]}',
        ),
    ],
)
def test_the_new_roles_watch_cluster_wide(kind: str, path: str, rule: str) -> None:
    resource = watch_resource(kind)
    assert resource is not None
    assert resource.path() == path
    assert resource.rbac_rule() == rule
    assert resource.path("shop") == (
        "/apis/networking.k8s.io/v1/namespaces/shop/ingresses" if kind == "Ingress" else path
    )


def test_an_unknown_kind_has_no_resource() -> None:
    assert watch_resource("Gateway") is None
