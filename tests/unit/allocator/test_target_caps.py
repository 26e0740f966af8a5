"""Target caps (issue 18): counting before building, group-level selection, per-job and total caps, reporting."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import yaml

from otel_operator.allocator.app import Allocator, in_worker
from otel_operator.allocator.config import ConfigError, TargetLimits, load_config, to_dict
from otel_operator.allocator.discovery import DiscoveryRouter, job_discovery
from otel_operator.allocator.model import AllocationModel, FlushAborted, OverCap, group_dropped, group_rules
from otel_operator.allocator.strategies import Collector, ConsistentHashing
from otel_operator.prom.discovery.common import Role
from otel_operator.prom.discovery.endpoints import build_endpoints, count_endpoints_targets
from otel_operator.prom.discovery.endpointslice import build_endpointslice, count_endpointslice_targets
from otel_operator.prom.discovery.index import DiscoveryIndex
from otel_operator.prom.discovery.pod import pod_info
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.relabel import parse_relabel_configs
from otel_operator.prom.targets import ScrapeSettings

M = "__meta_kubernetes_"
SVC_KEEP = {  # prometheus-operator's ServiceMonitor rules, in its order
    "relabel_configs": [
        {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
        {
            "action": "keep",
            "source_labels": [M + "service_label_app", M + "service_labelpresent_app"],
            "regex": "(big);true",
        },
        {"action": "keep", "source_labels": [M + "endpointslice_port_name"], "regex": "p0"},
    ]
}


# --------------------------------------------------------------------------------------------------- objects


def pod(ns: str, name: str, ip: str, ports: Sequence[int]) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "x"}},
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "c", "ports": [{"containerPort": p, "protocol": "TCP"} for p in ports]}],
        },
        "status": {"podIP": ip},
    }


def endpoint_slice(
    ns: str, name: str, svc: str, endpoints: int, ports: int, *, addresses: int = 1, pods: Sequence[str] = ()
) -> dict[str, Any]:
    eps = []
    for i in range(endpoints):
        ep: dict[str, Any] = {
            "addresses": [f"10.{i // 250}.{i % 250}.{a}" for a in range(addresses)],
            "conditions": {"ready": True},
        }
        if i < len(pods):
            ep["targetRef"] = {"kind": "Pod", "namespace": ns, "name": pods[i]}
        eps.append(ep)
    return {
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": [{"name": f"p{p}", "port": 9000 + p, "protocol": "TCP"} for p in range(ports)],
    }


def service(ns: str, name: str, **labels: str) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"ports": [{"name": "p0", "port": 9000}]},
    }


# --------------------------------------------------------------------------------------------------- counting


@pytest.mark.parametrize(
    ("endpoints", "ports", "addresses", "pods"),
    [(0, 3, 1, 0), (5, 0, 1, 0), (4, 3, 1, 0), (4, 3, 2, 0), (3, 2, 1, 3), (6, 1, 1, 2), (1000, 20, 1, 10)],
)
def test_the_slice_count_equals_what_building_makes(endpoints: int, ports: int, addresses: int, pods: int) -> None:
    names = [f"pod-{i}" for i in range(pods)]
    # the pods have a container port no slice port covers (an extra target each) and one it does
    known = {(p.namespace, p.name): p for p in (pod_info(pod("ns", n, f"10.9.0.{i}", [9000, 7777])) for i, n in
                                                enumerate(names))}  # fmt: skip
    eps = endpoint_slice("ns", "s", "svc", endpoints, ports, addresses=addresses, pods=names)
    built = build_endpointslice(eps, pods=known)
    assert count_endpointslice_targets(eps, pods=known) == len(built.targets)


def test_the_endpoints_count_equals_what_building_makes() -> None:
    rng = random.Random(18)
    for _ in range(50):
        known = {("ns", "p0"): pod_info(pod("ns", "p0", "10.0.0.1", [80, 81]))}
        subsets = []
        for _s in range(rng.randint(0, 3)):
            addresses = [
                {"ip": f"10.0.{s}.{a}", **({"targetRef": {"kind": "Pod", "namespace": "ns", "name": "p0"}} if a == 0
                                           else {})}
                for s, a in ((_s, a) for a in range(rng.randint(0, 4)))
            ]  # fmt: skip
            ports = [{"name": f"p{i}", "port": 80 + i} for i in range(rng.randint(0, 3))]
            subsets.append({"addresses": addresses, "notReadyAddresses": addresses[:1], "ports": ports})
        obj = {"kind": "Endpoints", "metadata": {"name": "e", "namespace": "ns"}, "subsets": subsets}
        assert count_endpoints_targets(obj, pods=known) == len(build_endpoints(obj, pods=known).targets)


def test_an_oversized_slice_is_counted_not_built_and_built_once_it_fits() -> None:
    index = DiscoveryIndex(Role.ENDPOINTSLICE)
    index.set_bounds(100, None)
    index.upsert(service("big", "svc", app="big"), "Service")
    [group] = index.upsert(endpoint_slice("big", "s", "svc", 50, 3), "EndpointSlice")
    assert group.targets == ()
    assert group.labels[M + "service_label_app"] == "big"  # the labels are there: monitors can still select it
    assert index.withheld == {group.source: 150}
    [bigger] = index.upsert(endpoint_slice("big", "s", "svc", 60, 3), "EndpointSlice")  # same labels, new count
    assert index.withheld == {bigger.source: 180}
    [fits] = index.upsert(endpoint_slice("big", "s", "svc", 20, 3), "EndpointSlice")
    assert len(fits.targets) == 60
    assert index.withheld == {}
    index.upsert(endpoint_slice("big", "s", "svc", 50, 3), "EndpointSlice")
    [gone] = index.delete("EndpointSlice", "big", "s")
    assert gone.targets == ()
    assert not gone.labels
    assert index.withheld == {}


def test_only_the_namespaces_read_are_built() -> None:
    index = DiscoveryIndex(Role.ENDPOINTSLICE)
    index.set_bounds(0, frozenset({"a"}))
    assert index.upsert(endpoint_slice("b", "s", "svc", 3, 1), "EndpointSlice") == []
    assert [g.source for g in index.upsert(endpoint_slice("a", "s", "svc", 3, 1), "EndpointSlice")] == [
        "endpointslice/a/s"
    ]
    [added] = index.set_bounds(0, frozenset({"a", "b"}))
    assert added.source == "endpointslice/b/s"
    assert len(added.targets) == 3
    [removed] = index.set_bounds(0, frozenset({"b"}))
    assert removed.source == "endpointslice/a/s"
    assert removed.targets == ()
    assert [g.source for g in index.groups()] == ["endpointslice/b/s"]


def sm_job(name: str, namespace: str) -> dict[str, Any]:
    return {
        "job_name": name,
        "kubernetes_sd_configs": [{"role": "endpointslice", "namespaces": {"names": [namespace]}}],
        **SVC_KEEP,
    }


def test_the_router_builds_per_read_namespace_and_says_what_it_withheld() -> None:
    objects = {
        "Service": [service("big", "svc", app="big"), service("small", "svc", app="big")],
        "EndpointSlice": [endpoint_slice("big", "s", "svc", 100, 10), endpoint_slice("small", "s", "svc", 2, 1)],
    }
    router = DiscoveryRouter(lambda kind: objects.get(kind, ()), max_group_targets=500)
    routed = router.set_jobs({"big": job_discovery("big", sm_job("big", "big")),
                              "small": job_discovery("small", sm_job("small", "small"))})  # fmt: skip
    [big] = routed["big"]
    assert big.targets == ()
    assert router.withheld("big", big) == 1000
    [small] = routed["small"]
    assert len(small.targets) == 2
    assert router.withheld("small", small) == 0
    # the big monitor goes: its namespace is no longer built (nothing of it stays in memory)
    router.set_jobs({"small": job_discovery("small", sm_job("small", "small"))})
    assert router.upsert("EndpointSlice", endpoint_slice("big", "s", "svc", 1, 1)) == []


# --------------------------------------------------------------------------------------------------- group rules


def rules(raw: list[dict[str, Any]]) -> Any:
    return group_rules(parse_relabel_configs(raw, "j"))


SEEDS = (("job", "j"),)


@pytest.mark.parametrize(
    ("relabel", "labels", "source", "dropped"),
    [
        (SVC_KEEP["relabel_configs"], {M + "service_label_app": "other"}, "kubernetes_sd_configs/0/endpointslice/n/s",
         True),
        (SVC_KEEP["relabel_configs"], {M + "service_label_app": "big", M + "service_labelpresent_app": "true"},
         "kubernetes_sd_configs/0/endpointslice/n/s", False),
        (SVC_KEEP["relabel_configs"], {}, "kubernetes_sd_configs/0/endpoints/n/s", True),
        # the same rules on a group of another role, or of a polled SD: never decided per group
        (SVC_KEEP["relabel_configs"], {}, "kubernetes_sd_configs/0/pod/n/p", False),
        (SVC_KEEP["relabel_configs"], {}, "http_sd_configs/0/http://x:0", False),
        # a rule reading a target's own label first: nothing after it is decided per group
        ([{"action": "keep", "source_labels": ["__address__"], "regex": "x"},
          {"action": "drop", "source_labels": [M + "namespace"], "regex": "n"}], {M + "namespace": "n"},
         "kubernetes_sd_configs/0/endpointslice/n/s", False),
        # a labelmap stops it too; a drop on the namespace before it decides
        ([{"action": "drop", "source_labels": [M + "namespace"], "regex": "n"}, {"action": "labelmap", "regex": "x"}],
         {M + "namespace": "n"}, "kubernetes_sd_configs/0/endpointslice/n/s", True),
        # a replace writing a per-target name stops it
        ([{"source_labels": ["job"], "target_label": M + "pod_name"},
          {"action": "drop", "source_labels": [M + "namespace"], "regex": "n"}], {M + "namespace": "n"},
         "kubernetes_sd_configs/0/endpointslice/n/s", False),
        # a value copied from a group label then tested: decided
        ([{"source_labels": [M + "service_name"], "target_label": "svc"},
          {"action": "keep", "source_labels": ["svc"], "regex": "wanted"}], {M + "service_name": "other"},
         "kubernetes_sd_configs/0/endpointslice/n/s", True),
    ],
)  # fmt: skip
def test_group_level_rules(relabel: list[dict[str, Any]], labels: dict[str, str], source: str, dropped: bool) -> None:
    assert group_dropped(rules(relabel), TargetGroup(source, (), labels), SEEDS) is dropped


# --------------------------------------------------------------------------------------------------- the model


def job(name: str, relabel: Mapping[str, Any] | None = None) -> ScrapeSettings:
    return ScrapeSettings.from_config({"job_name": name, **(relabel or {})})


def static(source: str, n: int, **labels: str) -> TargetGroup:
    return TargetGroup(source, tuple({"__address__": f"10.0.0.{i}:80"} for i in range(n)), labels)


def capped(per_job: int = 0, total: int = 0) -> AllocationModel:
    m = AllocationModel(ConsistentHashing(), per_job_limit=per_job, total_limit=total)
    m.set_collectors([Collector("c-0")])
    return m


def test_a_job_over_its_cap_is_not_served_and_comes_back_when_it_fits() -> None:
    m = capped(per_job=4)
    m.set_scrape_configs([job("a"), job("b")])
    m.update_group("a", static("g", 5))
    m.update_group("b", static("g", 3))
    m.flush()
    assert m.over_cap() == {"a": OverCap(5, 4, "per_job")}
    assert m.targets("a") == {}
    assert m.targets_body("a", "c-0").data == b"[]\n"
    assert len(m.targets("b")) == 3
    m.update_group("a", static("g", 4))
    m.flush()
    assert m.over_cap() == {}
    assert len(m.targets("a")) == 4


def test_the_total_cap_skips_the_largest_jobs_first() -> None:
    m = capped(total=6)
    m.set_scrape_configs([job("a"), job("b"), job("c")])
    for name, n in (("a", 3), ("b", 3), ("c", 2)):
        m.update_group(name, static("g", n))
    m.flush()
    assert m.over_cap() == {"a": OverCap(3, 6, "total")}  # of the two largest, the first by name
    assert len(m.targets("b")) == 3
    assert len(m.targets("c")) == 2


def test_a_withheld_group_counts_with_its_size_only_for_the_jobs_that_select_it() -> None:
    m = capped(per_job=100)
    m.set_scrape_configs([job("selects-big", SVC_KEEP), job("selects-other", {"relabel_configs": [
        {"action": "keep", "source_labels": [M + "service_label_app"], "regex": "other"}]})])  # fmt: skip
    big = TargetGroup(
        "kubernetes_sd_configs/0/endpointslice/ns/big", (), {M + "service_label_app": "big",
                                                             M + "service_labelpresent_app": "true"}
    )  # fmt: skip
    small = TargetGroup(
        "kubernetes_sd_configs/0/endpointslice/ns/small",
        ({"__address__": "10.1.1.1:80"},),
        {M + "service_label_app": "other"},
    )
    for name in ("selects-big", "selects-other"):
        m.update_group(name, big, withheld=100_000)
        m.update_group(name, small)
    m.flush()
    assert m.over_cap() == {"selects-big": OverCap(100_000, 100, "per_job")}
    assert [t.ref.address for t in m.targets("selects-other").values()] == ["10.1.1.1:80"]
    assert m.discovered_counts()["selects-other"] == 100_001  # discovered, before relabel filtering
    m.update_group("selects-big", TargetGroup(big.source))  # the slice shrank away
    m.flush()
    assert m.over_cap() == {}


def test_relabel_changes_recount_the_groups() -> None:
    m = capped(per_job=2)
    m.set_scrape_configs([job("a")])
    group = TargetGroup(
        "kubernetes_sd_configs/0/endpointslice/ns/s",
        tuple({"__address__": f"10.0.0.{i}:80"} for i in range(3)),
        {M + "service_label_app": "x"},
    )
    m.update_group("a", group)
    m.flush()
    assert set(m.over_cap()) == {"a"}
    m.set_scrape_configs([job("a", {"relabel_configs": [
        {"action": "drop", "source_labels": [M + "service_label_app"], "regex": "x"}]})])  # fmt: skip
    m.flush()
    assert m.over_cap() == {}
    assert m.targets("a") == {}


def test_an_aborted_flush_stops_at_its_next_slice() -> None:
    m = capped()
    m.set_scrape_configs([job("a")])
    m.update_group("a", static("g", 3))
    m.abort()
    with pytest.raises(FlushAborted):
        m.flush()


# --------------------------------------------------------------------------------------------------- config


BASE = "collectors: [c-0]\n"


def test_target_limits_defaults_and_keys() -> None:
    assert load_config(BASE).target_limits == TargetLimits(200_000, 1_000_000)
    config = load_config(BASE + "target_limits: {per_job: 10, total: 0}")
    assert config.target_limits == TargetLimits(10, 0)
    assert to_dict(config)["target_limits"] == {"per_job": 10, "total": 0}
    assert "target_limits" not in to_dict(load_config(BASE))


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("target_limits: {per_job: -1}", "target_limits.per_job", "whole number of targets"),
        ("target_limits: {total: ten}", "target_limits.total", "whole number of targets"),
        ("target_limits: {per_jobs: 5}", "target_limits.per_jobs", 'did you mean "per_job"'),
    ],
)
def test_bad_target_limits_name_the_field_and_the_fix(text: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(BASE + text)
    message = str(caught.value)
    assert field in message
    assert words in message


# --------------------------------------------------------------------------------------------------- the process


async def test_the_allocator_reports_an_over_cap_job_and_serves_the_others(caplog: pytest.LogCaptureFixture) -> None:
    jobs = [
        {"job_name": "huge", "static_configs": [{"targets": [f"10.0.0.{i}:80" for i in range(5)]}]},
        {"job_name": "fine", "static_configs": [{"targets": ["10.0.1.1:80"]}]},
    ]
    text = yaml.safe_dump({"collectors": ["c-0"], "config": {"scrape_configs": jobs}, "target_limits": {"per_job": 3}})
    allocator = Allocator(load_config(text))
    caplog.set_level(logging.WARNING, "otel_operator.allocator")
    await allocator.start()
    try:
        await allocator.wait_ready(10)
        deadline = asyncio.get_running_loop().time() + 10
        while not allocator.model.targets("fine"):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        assert allocator.model.targets("huge") == {}
        metrics = allocator.metrics.exposition().decode()
        assert 'opentelemetry_allocator_jobs_over_target_cap{cap="per_job"} 1.0' in metrics
        assert 'opentelemetry_allocator_job_targets_over_cap{cap="per_job",job_name="huge"} 5.0' in metrics
        [line] = [r.getMessage() for r in caplog.records if "target cap" in r.getMessage()]
        assert "job 'huge' has 5 targets" in line
        assert "of 3" in line
        assert "target_limits.per_job" in line
    finally:
        await allocator.stop()


async def test_a_worker_is_abandoned_on_cancel_and_stops_on_its_flag() -> None:
    stop = threading.Event()
    started = threading.Event()

    def work() -> int:
        started.set()
        while not stop.is_set():
            stop.wait(0.01)
        return 1

    task = asyncio.ensure_future(in_worker(work))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # the await ends at once although the thread still runs
    workers = [t for t in threading.enumerate() if t.name == "allocator worker"]
    assert workers
    assert all(t.daemon for t in workers)
    stop.set()
    for t in workers:
        t.join(5)
    assert await in_worker(lambda: 7) == 7
    with pytest.raises(ZeroDivisionError):
        await in_worker(lambda: 1 // 0)


async def test_stop_waits_for_a_worker_in_the_middle_of_a_flush() -> None:
    targets = [f"10.{i // 62500}.{i // 250 % 250}.{i % 250}:80" for i in range(60_000)]
    text = yaml.safe_dump({"collectors": ["c-0"], "config": {"scrape_configs": [
        {"job_name": "many", "static_configs": [{"targets": targets}]}]}})  # fmt: skip
    allocator = Allocator(load_config(text))
    started = asyncio.Event()
    allocator._set_worker = lambda thread: (setattr(allocator, "_worker", thread), started.set())  # type: ignore[method-assign]
    await allocator.start()
    await asyncio.wait_for(started.wait(), 30)  # the first flush has handed its work to the worker
    worker = allocator._worker
    assert worker is not None
    await allocator.stop()
    assert not worker.is_alive()  # stopped at a slice, not abandoned to the interpreter's exit
