"""Role selectors (`kubernetes_sd_configs[].selectors`) and `namespaces.own_namespace`: parsed and matched as the
API server does for Prometheus, and applied per entry by the discovery router."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.allocator.discovery import DiscoveryConfigError, DiscoveryRouter, job_discovery
from otel_operator.allocator.sd.selectors import (
    SelectorError,
    kind_selector,
    parse_field_selector,
    parse_label_selector,
    parse_selectors,
)
from otel_operator.prom.model import TargetGroup
from tests.unit.allocator.test_discovery_router import Cluster, pod, sd

M = "__meta_kubernetes_"
LABELS = {"app": "web", "tier": "front", "version": "3", "example.com/team": "shop", "empty": ""}


# --------------------------------------------------------------------------------------------------- label selectors


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app = web", True),
        ("app=api", False),
        ("app!=api", True),
        ("missing!=x", True),  # != and notin also match objects without the label
        ("app in (web,api)", True),
        ("app in (api, db)", False),
        ("app notin (api)", True),
        ("missing notin (api)", True),
        ("missing in (api)", False),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("version>2", True),
        ("version<3", False),
        ("app>2", False),  # not an integer
        ("missing>0", False),
        ("app=web,tier=front", True),
        ("app=web, tier=back", False),
        ("example.com/team=shop", True),
        ("empty=", True),
        ("empty!=", False),
    ],
)
def test_label_selector_matches_as_the_api_server(selector: str, matches: bool) -> None:
    selectors = kind_selector("Pod", selector, "", "s")
    assert selectors.matches({"metadata": {"name": "p", "labels": LABELS}}) is matches


@pytest.mark.parametrize(
    "selector",
    ["app in web", "app in ()", "app=web,", "=web", "app=we b", "app~web", "app>x", "Example.com/team=x", "a" * 64],
)
def test_a_label_selector_the_api_server_refuses_is_an_error(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


# --------------------------------------------------------------------------------------------------- field selectors


def running_pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-0", "namespace": "shop"},
        "spec": {"nodeName": "node-1", "restartPolicy": "Always", **spec},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]},
    }


@pytest.mark.parametrize(
    ("kind", "field", "obj", "matches"),
    [
        ("Pod", "status.phase=Running", running_pod(), True),
        ("Pod", "status.phase!=Running", running_pod(), False),
        ("Pod", "spec.nodeName==node-1,metadata.namespace=shop", running_pod(), True),
        ("Pod", "spec.nodeName=node-2", running_pod(), False),
        ("Pod", "status.podIP=10.0.0.1", running_pod(), True),  # the first of podIPs
        ("Pod", "spec.hostNetwork=false", running_pod(), True),  # absent is false
        ("Pod", "spec.hostNetwork=true", running_pod(hostNetwork=True), True),
        ("Pod", "spec.serviceAccountName=", running_pod(), True),  # absent is empty
        ("Pod", "metadata.name!=web-0", running_pod(), False),
        ("Node", "spec.unschedulable=false", {"metadata": {"name": "n"}}, True),
        ("Node", "metadata.name=n", {"metadata": {"name": "n"}}, True),
        ("Service", "spec.type=ClusterIP", {"metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}}, True),
        ("EndpointSlice", "metadata.name=a\\,b", {"metadata": {"name": "a,b", "namespace": "x"}}, True),
    ],
)
def test_field_selector_matches_the_kinds_selectable_fields(
    kind: str, field: str, obj: dict[str, Any], matches: bool
) -> None:
    assert kind_selector(kind, "", field, "s").matches(obj) is matches


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("Pod", "spec.image=x"),  # the API server answers "field label not supported"
        ("Node", "metadata.namespace=x"),  # cluster-scoped
        ("Endpoints", "subsets=x"),
        ("Pod", "status.phase"),  # no operator
        ("Pod", "metadata.name=a,b"),  # an unescaped comma starts a term without an operator
    ],
)
def test_a_field_selector_the_api_server_refuses_is_an_error_naming_the_field(kind: str, field: str) -> None:
    with pytest.raises(SelectorError) as err:
        kind_selector(kind, "", field, "job 'j': kubernetes_sd_configs[0].selectors[0]")
    assert "kubernetes_sd_configs[0].selectors[0].field" in str(err.value)


def test_field_selector_escapes() -> None:
    (req,) = parse_field_selector(r"metadata.name=a\=b\!c\\d")
    assert (req.field, req.value, req.equal) == ("metadata.name", "a=b!c\\d", True)


# --------------------------------------------------------------------------------------------------- which roles


@pytest.mark.parametrize(
    ("role", "selector_roles", "error"),
    [
        ("pod", ["pod", "node"], None),
        ("pod", ["service"], "pod role supports only pod, node selectors"),
        ("service", ["service"], None),
        ("service", ["pod"], "service role supports only service selectors"),
        ("endpointslice", ["pod", "service", "endpointslice"], None),
        ("endpointslice", ["endpoints"], "endpointslice role supports only pod, service, endpointslice selectors"),
        ("endpoints", ["pod", "service", "endpoints"], None),
        ("endpoints", ["node"], "endpoints role supports only pod, service, endpoints selectors"),
        ("pod", ["pod", "pod"], "duplicated selector role: pod"),
        ("pod", [""], "pod role supports only"),
    ],
)
def test_selector_roles_allowed_per_role_as_in_prometheus(
    role: str, selector_roles: list[str], error: str | None
) -> None:
    raw = [{"role": r, "label": "a=b"} for r in selector_roles]
    if error is None:
        assert len(parse_selectors(role, raw, "s").by_kind) == len(raw)
    else:
        with pytest.raises(SelectorError, match=error):
            parse_selectors(role, raw, "s")


# --------------------------------------------------------------------------------------------------- in the router


def routed(
    router: DiscoveryRouter, jobs: dict[str, dict[str, Any]], own: str = "default"
) -> dict[str, list[TargetGroup]]:
    return router.set_jobs({name: job_discovery(name, {"job_name": name, **cfg}, own) for name, cfg in jobs.items()})


def addresses(groups: list[TargetGroup]) -> list[str]:
    return sorted(t["__address__"] for g in groups for t in g.targets)


def test_a_pod_selector_on_role_pod_keeps_only_matching_pods() -> None:
    router = DiscoveryRouter(Cluster())
    selectors = [{"role": "pod", "label": "app=web", "field": "metadata.name!=web-1"}]
    out = routed(router, {"sel": {"kubernetes_sd_configs": [sd("pod", selectors=selectors)]}})
    assert addresses(out["sel"]) == ["10.0.0.1:8080"]


def test_a_pod_selector_on_role_endpointslice_removes_pod_labels_not_endpoints() -> None:
    """Prometheus's Pod informer never sees web-1: its endpoint stays, without the pod's labels."""
    router = DiscoveryRouter(Cluster())
    selectors = [{"role": "pod", "field": "metadata.name=web-0"}]
    out = routed(router, {"sel": {"kubernetes_sd_configs": [sd("endpointslice", "shop", selectors=selectors)]}})
    targets = {t["__address__"]: t for g in out["sel"] for t in g.targets}
    assert sorted(targets) == ["10.0.0.1:8080", "10.0.0.2:8080"]
    assert targets["10.0.0.1:8080"].get(M + "pod_name") == "web-0"
    assert M + "pod_name" not in targets["10.0.0.2:8080"]


def test_a_service_selector_on_role_endpointslice_removes_service_labels() -> None:
    router = DiscoveryRouter(Cluster())
    selectors = [{"role": "service", "label": "tier=back"}]
    out = routed(router, {"sel": {"kubernetes_sd_configs": [sd("endpointslice", selectors=selectors)]}})
    by_ns = {g.labels[M + "namespace"]: g for g in out["sel"]}
    assert by_ns["bank"].labels.get(M + "service_name") == "api"
    assert M + "service_name" not in by_ns["shop"].labels  # the slice stays, without its Service's labels


def test_an_endpointslice_selector_drops_non_matching_slices() -> None:
    router = DiscoveryRouter(Cluster())
    selectors = [{"role": "endpointslice", "field": "metadata.namespace=bank"}]
    out = routed(router, {"sel": {"kubernetes_sd_configs": [sd("endpointslice", selectors=selectors)]}})
    assert addresses(out["sel"]) == ["10.0.1.1:8080"]


def test_entries_with_equal_selectors_share_an_index_and_others_do_not() -> None:
    router = DiscoveryRouter(Cluster())
    web = [{"role": "pod", "label": "app=web"}]
    routed(
        router,
        {
            "a": {"kubernetes_sd_configs": [sd("pod", selectors=web)]},
            "b": {"kubernetes_sd_configs": [sd("pod", "shop", selectors=web)]},
            "c": {"kubernetes_sd_configs": [sd("pod")]},
        },
    )
    assert len(router._indexes) == 2


def test_an_object_that_stops_matching_leaves_only_the_selecting_entries() -> None:
    cluster = Cluster()
    router = DiscoveryRouter(cluster)
    web = [{"role": "pod", "label": "app=web"}]
    routed(
        router,
        {"sel": {"kubernetes_sd_configs": [sd("pod", selectors=web)]}, "all": {"kubernetes_sd_configs": [sd("pod")]}},
    )
    relabelled = pod("shop", "web-0", "10.0.0.1", app="batch")
    updates = router.upsert("Pod", relabelled)
    by_job = dict(updates)
    assert by_job["sel"].targets == ()  # removed for the selecting job
    assert by_job["all"].targets  # updated (new label) for the other
    back = dict(router.upsert("Pod", pod("shop", "web-0", "10.0.0.1", app="web")))
    assert back["sel"].targets
    assert back["sel"].source == by_job["sel"].source


def test_a_replace_filters_by_the_selectors() -> None:
    cluster = Cluster()
    router = DiscoveryRouter(cluster)
    web = [{"role": "pod", "label": "app=web"}]
    routed(router, {"sel": {"kubernetes_sd_configs": [sd("pod", selectors=web)]}})
    updates = router.replace(
        "Pod", [pod("shop", "web-0", "10.0.0.1", app="web"), pod("shop", "new", "10.0.0.9", app="api")]
    )
    assert [(job, g.source, bool(g.targets)) for job, g in updates] == [
        ("sel", "kubernetes_sd_configs/0/pod/shop/web-1", False)
    ]


def test_a_node_selector_on_role_pod_keeps_only_pods_on_selected_nodes() -> None:
    """Prometheus's pod role drops pods whose node its (selector-filtered) Node informer does not have."""
    cluster = Cluster()
    cluster.objects["Node"] = [{"metadata": {"name": "node-1", "labels": {"zone": "a"}}}]
    router = DiscoveryRouter(cluster)
    attach = {"node": True}
    out = routed(
        router,
        {
            "yes": {
                "kubernetes_sd_configs": [
                    sd("pod", "shop", attach_metadata=attach, selectors=[{"role": "node", "label": "zone=a"}])
                ]
            },
            "no": {
                "kubernetes_sd_configs": [
                    sd("pod", "shop", attach_metadata=attach, selectors=[{"role": "node", "label": "zone=b"}])
                ]
            },
        },
    )
    assert addresses(out["yes"]) == ["10.0.0.1:8080", "10.0.0.2:8080"]
    assert all(g.labels.get(M + "node_label_zone") == "a" for g in out["yes"])
    assert out["no"] == []


# --------------------------------------------------------------------------------------------------- own_namespace


def test_own_namespace_is_the_allocators_namespace() -> None:
    router = DiscoveryRouter(Cluster())
    out = routed(router, {"own": {"kubernetes_sd_configs": [sd("pod", own=True)]}}, own="bank")
    assert addresses(out["own"]) == ["10.0.1.1:8080"]
    out = routed(router, {"both": {"kubernetes_sd_configs": [sd("pod", "shop", own=True)]}}, own="bank")
    assert addresses(out["both"]) == ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.1.1:8080"]


@pytest.mark.parametrize("other", [{"kubeconfig_file": "/k"}, {"api_server": "https://k8s"}])
def test_own_namespace_with_another_cluster_is_refused_as_prometheus_does(other: dict[str, str]) -> None:
    with pytest.raises(DiscoveryConfigError, match=r"namespaces\.own_namespace"):
        job_discovery("j", {"job_name": "j", "kubernetes_sd_configs": [sd("pod", own=True, **other)]})


def test_a_node_selector_on_role_node_keeps_only_matching_nodes() -> None:
    cluster = Cluster()
    cluster.objects["Node"] = [
        {
            "metadata": {"name": name, "labels": {"zone": zone}},
            "status": {
                "addresses": [{"type": "InternalIP", "address": ip}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            },
        }
        for name, zone, ip in (("node-1", "a", "192.168.0.1"), ("node-2", "b", "192.168.0.2"))
    ]
    router = DiscoveryRouter(cluster)
    out = routed(
        router, {"n": {"kubernetes_sd_configs": [sd("node", selectors=[{"role": "node", "label": "zone=b"}])]}}
    )
    assert addresses(out["n"]) == ["192.168.0.2:10250"]
    gone = router.upsert(
        "Node", {**cluster.objects["Node"][1], "metadata": {"name": "node-2", "labels": {"zone": "c"}}}
    )
    assert [(job, g.targets) for job, g in gone] == [("n", ())]


def test_node_role_ignores_namespaces() -> None:
    """Prometheus ignores `namespaces` for role node: a node job with it keeps every node."""
    from otel_operator.allocator.discovery import job_discovery
    from otel_operator.prom.model import TargetGroup

    found = job_discovery(
        "nodes", {"job_name": "nodes", "kubernetes_sd_configs": [{"role": "node", "namespaces": {"names": ["a"]}}]}
    )
    entry = found.kubernetes[0]
    assert entry.keeps(TargetGroup("kubernetes_sd_configs/0/node/worker-1"))
