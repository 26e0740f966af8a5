"""Prometheus CR selection (§5), per-monitor generation with its cache, error attribution, and merging with the file."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from otel_operator.allocator.config import LabelSelector, PrometheusCRConfig, SelectorRequirement, load_config
from otel_operator.allocator.monitors import (
    MONITOR_KINDS,
    MonitorConfigs,
    generator_options,
    merge_jobs,
    monitor_key,
    selects,
)
from otel_operator.prom.monitors.generate import generate_scrape_configs

ALL = LabelSelector()

# --------------------------------------------------------------------------------------------------- CR objects


def meta(ns: str, name: str, labels: Mapping[str, str] | None, rv: str) -> dict[str, Any]:
    return {"name": name, "namespace": ns, "labels": dict(labels or {}), "resourceVersion": rv, "uid": f"{ns}-{name}"}


def service_monitor(
    ns: str = "shop", name: str = "web", labels: Mapping[str, str] | None = None, rv: str = "1", **endpoint: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(ns, name, labels, rv),
        "spec": {"selector": {"matchLabels": {"app": name}}, "endpoints": [{"port": "web", **endpoint}]},
    }


def pod_monitor(
    ns: str = "shop", name: str = "web", labels: Mapping[str, str] | None = None, rv: str = "1"
) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": meta(ns, name, labels, rv),
        "spec": {"selector": {"matchLabels": {"app": name}}, "podMetricsEndpoints": [{"port": "web"}]},
    }


def probe(
    ns: str = "shop", name: str = "web", labels: Mapping[str, str] | None = None, rv: str = "1"
) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Probe",
        "metadata": meta(ns, name, labels, rv),
        "spec": {
            "module": "http_2xx",
            "prober": {"url": "blackbox:9115"},
            "targets": {"staticConfig": {"static": ["https://example.com"]}},
        },
    }


def scrape_config(
    ns: str = "shop", name: str = "web", labels: Mapping[str, str] | None = None, rv: str = "1"
) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "ScrapeConfig",
        "metadata": meta(ns, name, labels, rv),
        "spec": {"staticConfigs": [{"targets": ["10.0.0.1:9100"]}]},
    }


BUILD = {"ServiceMonitor": service_monitor, "PodMonitor": pod_monitor, "Probe": probe, "ScrapeConfig": scrape_config}
JOB_PREFIX = {
    "ServiceMonitor": "serviceMonitor",
    "PodMonitor": "podMonitor",
    "Probe": "probe",
    "ScrapeConfig": "scrapeConfig",
}


def job_of(kind: str, ns: str, name: str) -> str:
    base = f"{JOB_PREFIX[kind]}/{ns}/{name}"
    return f"{base}/0" if kind in ("ServiceMonitor", "PodMonitor") else base


def secret(ns: str, name: str, **values: str) -> dict[str, Any]:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "data": data}


def cr(**fields: Any) -> PrometheusCRConfig:
    return PrometheusCRConfig(enabled=True, **fields)


def every_kind(selector: LabelSelector | None) -> dict[str, LabelSelector | None]:
    return {f"{k}_selector": selector for k in ("service_monitor", "pod_monitor", "probe", "scrape_config")}


def names(configs: list[Mapping[str, Any]]) -> list[str]:
    return [str(c["job_name"]) for c in configs]


# --------------------------------------------------------------------------------------------------- selection


def exprs(*requirements: tuple[str, str, tuple[str, ...]]) -> LabelSelector:
    return LabelSelector((), tuple(SelectorRequirement(k, op, vs) for k, op, vs in requirements))


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        (None, {}, False),  # nil selects nothing
        (None, {"team": "a"}, False),
        (ALL, {}, True),  # {} selects everything
        (ALL, {"team": "a"}, True),
        (LabelSelector((("team", "a"),)), {"team": "a", "x": "y"}, True),
        (LabelSelector((("team", "a"),)), {"team": "b"}, False),
        (LabelSelector((("team", "a"),)), {}, False),
        (LabelSelector((("team", "a"), ("tier", "web"))), {"team": "a"}, False),
        (exprs(("team", "In", ("a", "b"))), {"team": "b"}, True),
        (exprs(("team", "In", ("a", "b"))), {}, False),
        (exprs(("team", "NotIn", ("a",))), {"team": "b"}, True),
        (exprs(("team", "NotIn", ("a",))), {}, True),
        (exprs(("team", "NotIn", ("a",))), {"team": "a"}, False),
        (exprs(("team", "Exists", ())), {"team": ""}, True),
        (exprs(("team", "Exists", ())), {}, False),
        (exprs(("team", "DoesNotExist", ())), {}, True),
        (exprs(("team", "DoesNotExist", ())), {"team": "a"}, False),
        (
            LabelSelector((("team", "a"),), (SelectorRequirement("canary", "DoesNotExist"),)),
            {"team": "a", "canary": "1"},
            False,
        ),
    ],
)
@pytest.mark.parametrize("kind", MONITOR_KINDS)
def test_the_monitor_selector(
    kind: str, selector: LabelSelector | None, labels: dict[str, str], selected: bool
) -> None:
    monitor = BUILD[kind](labels=labels)
    assert selects(cr(**every_kind(selector)), kind, monitor, {}) is selected


@pytest.mark.parametrize("kind", MONITOR_KINDS)
def test_each_kind_reads_its_own_selectors(kind: str) -> None:
    field = {
        "ServiceMonitor": "service_monitor",
        "PodMonitor": "pod_monitor",
        "Probe": "probe",
        "ScrapeConfig": "scrape_config",
    }
    only = cr(**{f"{field[kind]}_selector": ALL})
    for other in MONITOR_KINDS:
        assert selects(only, other, BUILD[other](), {}) is (other == kind)
    picky = cr(**every_kind(ALL), **{f"{field[kind]}_namespace_selector": LabelSelector((("env", "prod"),))})
    for other in MONITOR_KINDS:
        assert selects(picky, other, BUILD[other](), {"env": "dev"}) is (other != kind)


@pytest.mark.parametrize(
    ("allow", "deny", "namespace", "selected"),
    [
        ((), (), "shop", True),
        (("shop", "bank"), (), "shop", True),
        (("bank",), (), "shop", False),
        ((), ("shop",), "shop", False),
        ((), ("bank",), "shop", True),
    ],
)
def test_allow_and_deny_namespaces(
    allow: tuple[str, ...], deny: tuple[str, ...], namespace: str, selected: bool
) -> None:
    config = cr(**every_kind(ALL), allow_namespaces=allow, deny_namespaces=deny)
    for kind in MONITOR_KINDS:
        assert selects(config, kind, BUILD[kind](ns=namespace), {}) is selected


@pytest.mark.parametrize(
    ("namespace_selector", "namespace_labels", "selected"),
    [
        (ALL, {"env": "prod"}, True),
        (ALL, None, True),  # {} needs no labels: an unknown namespace is still every namespace
        (LabelSelector((("env", "prod"),)), {"env": "prod"}, True),
        (LabelSelector((("env", "prod"),)), {"env": "dev"}, False),
        (LabelSelector((("env", "prod"),)), {}, False),
        (LabelSelector((("env", "prod"),)), None, False),  # not known (yet): a real selector cannot match
        (exprs(("env", "DoesNotExist", ())), None, False),
        (exprs(("env", "DoesNotExist", ())), {}, True),
        (exprs(("kubernetes.io/metadata.name", "In", ("shop",))), {"kubernetes.io/metadata.name": "shop"}, True),
    ],
)
def test_the_namespace_selector_reads_the_namespaces_labels(
    namespace_selector: LabelSelector, namespace_labels: dict[str, str] | None, selected: bool
) -> None:
    config = cr(service_monitor_selector=ALL, service_monitor_namespace_selector=namespace_selector)
    assert selects(config, "ServiceMonitor", service_monitor(), namespace_labels) is selected


def test_selection_from_the_allocators_config_file() -> None:
    config = load_config(
        """
collector_namespace: observability
prometheus_cr:
  enabled: true
  service_monitor_selector: {}
  pod_monitor_selector: null
  probe_selector:
    matchLabels: {team: a}
  scrape_config_selector:
    matchexpressions: [{key: team, operator: In, values: [a, b]}]
  service_monitor_namespace_selector:
    matchLabels: {monitored: "true"}
  deny_namespaces: [kube-system]
"""
    ).prometheus_cr
    monitors = MonitorConfigs(config)
    monitors.set_namespaces({"shop": {"monitored": "true"}, "bank": {}, "kube-system": {"monitored": "true"}})
    given = [
        ("ServiceMonitor", service_monitor("shop", "web")),
        ("ServiceMonitor", service_monitor("bank", "api")),  # namespace not labelled
        ("ServiceMonitor", service_monitor("kube-system", "dns")),  # denied
        ("ServiceMonitor", service_monitor("new-ns", "x")),  # namespace unknown
        ("PodMonitor", pod_monitor("shop", "web", {"team": "a"})),  # null selector
        ("Probe", probe("bank", "site", {"team": "a"})),
        ("Probe", probe("bank", "other", {"team": "b"})),
        ("ScrapeConfig", scrape_config("bank", "nodes", {"team": "b"})),
        ("ScrapeConfig", scrape_config("bank", "unlabelled")),
    ]
    for kind, obj in given:
        monitors.upsert(kind, obj)
    configs, errors = monitors.compute()
    assert errors == []
    assert names(configs) == ["serviceMonitor/shop/web/0", "probe/bank/site", "scrapeConfig/bank/nodes"]

    # a namespace gaining its label brings its monitors in; the rest is unchanged
    monitors.set_namespaces(
        {"shop": {"monitored": "true"}, "bank": {"monitored": "true"}, "new-ns": {"monitored": "true"}}
    )
    configs, _ = monitors.compute()
    assert names(configs) == [
        "serviceMonitor/bank/api/0",
        "serviceMonitor/new-ns/x/0",
        "serviceMonitor/shop/web/0",
        "probe/bank/site",
        "scrapeConfig/bank/nodes",
    ]


def test_kinds_are_ordered_as_prometheus_operator_orders_them() -> None:
    monitors = MonitorConfigs(cr(**every_kind(ALL)))
    for kind in reversed(MONITOR_KINDS):
        for name in ("b", "a"):
            monitors.upsert(kind, BUILD[kind](name=name))
    configs, _ = monitors.compute()
    assert names(configs) == [job_of(k, "shop", n) for k in MONITOR_KINDS for n in ("a", "b")]


def test_the_order_matches_the_generator_over_all_monitors_at_once() -> None:
    monitors = MonitorConfigs(cr(**every_kind(ALL)))
    given = [service_monitor("app", "x"), service_monitor("app-2", "y"), service_monitor("app2", "z")]
    for obj in given:
        monitors.upsert("ServiceMonitor", obj)
    configs, _ = monitors.compute()
    assert tuple(names(configs)) == generate_scrape_configs(given, [], monitors.options).job_names


# ---------------------------------------------------------------------------------------- generation and cache


def test_generated_configs_equal_the_generators_own() -> None:
    monitors = MonitorConfigs(cr(**every_kind(ALL), scrape_interval=60_000))
    given = [(k, BUILD[k](ns="shop", name=n)) for k in MONITOR_KINDS for n in ("a", "b")]
    for kind, obj in given:
        monitors.upsert(kind, obj)
    configs, errors = monitors.compute()
    expected = generate_scrape_configs([obj for _, obj in given], [], monitors.options)
    assert errors == []
    assert configs == list(expected.scrape_configs)


def test_generator_options_follow_the_cr_settings() -> None:
    options = generator_options(cr(scrape_interval=90_000, deny_fs_access_through_sms=True))
    assert (options.scrape_interval, options.evaluation_interval) == ("1m30s", "1m30s")
    assert options.deny_fs_access_through_sms
    options = generator_options(cr(scrape_interval=30_000, evaluation_interval=120_000))
    assert (options.scrape_interval, options.evaluation_interval) == ("30s", "2m")


def test_an_unchanged_monitor_is_not_regenerated() -> None:
    monitors = MonitorConfigs(cr(**every_kind(ALL)))
    for kind in MONITOR_KINDS:
        monitors.upsert(kind, BUILD[kind]())
    first, _ = monitors.compute()
    second, _ = monitors.compute()
    assert len(first) == 4
    assert all(a is b for a, b in zip(first, second, strict=True))

    # the same object again after a resync (same resourceVersion): still cached
    for kind in MONITOR_KINDS:
        monitors.upsert(kind, BUILD[kind]())
    third, _ = monitors.compute()
    assert all(a is b for a, b in zip(first, third, strict=True))


def test_an_edit_regenerates_that_monitor_only() -> None:
    monitors = MonitorConfigs(cr(**every_kind(ALL)))
    monitors.upsert("ServiceMonitor", service_monitor(name="a"))
    monitors.upsert("ServiceMonitor", service_monitor(name="b"))
    monitors.upsert("PodMonitor", pod_monitor(name="a"))
    first, _ = monitors.compute()

    monitors.upsert("ServiceMonitor", service_monitor(name="b", rv="2", interval="15s"))
    second, _ = monitors.compute()
    assert names(second) == names(first)
    assert second[0] is first[0]
    assert second[2] is first[2]
    assert second[1] is not first[1]
    assert second[1]["scrape_interval"] == "15s"
    assert first[1].get("scrape_interval") != "15s"


def test_new_secrets_regenerate_every_monitor() -> None:
    monitors = MonitorConfigs(cr(**every_kind(ALL)))
    monitors.upsert("ServiceMonitor", service_monitor(name="a"))
    monitors.upsert("PodMonitor", pod_monitor(name="a"))
    first, _ = monitors.compute()
    monitors.set_secrets([secret("shop", "unrelated", x="y")])
    second, _ = monitors.compute()
    assert second == first
    assert all(a is not b for a, b in zip(first, second, strict=True))


def test_delete_and_replace() -> None:
    monitors = MonitorConfigs(cr(**every_kind(ALL)))
    monitors.upsert("ServiceMonitor", service_monitor(name="a"))
    monitors.upsert("ServiceMonitor", service_monitor(name="b"))
    monitors.upsert("PodMonitor", pod_monitor(name="a"))
    monitors.delete("ServiceMonitor", "shop", "a")
    monitors.delete("ServiceMonitor", "shop", "never-existed")
    assert names(monitors.compute()[0]) == ["serviceMonitor/shop/b/0", "podMonitor/shop/a/0"]
    assert monitors.monitor(("ServiceMonitor", "shop", "a")) is None
    assert monitors.monitor(("ServiceMonitor", "shop", "b")) is not None

    monitors.replace("ServiceMonitor", [service_monitor(name="c"), service_monitor(ns="bank", name="d")])
    assert names(monitors.compute()[0]) == ["serviceMonitor/bank/d/0", "serviceMonitor/shop/c/0", "podMonitor/shop/a/0"]
    monitors.replace("PodMonitor", [])
    assert names(monitors.compute()[0]) == ["serviceMonitor/bank/d/0", "serviceMonitor/shop/c/0"]


def test_a_deselected_then_reselected_monitor_comes_back_whole() -> None:
    selector = LabelSelector((("env", "prod"),))
    monitors = MonitorConfigs(cr(service_monitor_selector=ALL, service_monitor_namespace_selector=selector))
    monitors.upsert("ServiceMonitor", service_monitor())
    monitors.set_namespaces({"shop": {"env": "prod"}})
    first, _ = monitors.compute()
    monitors.set_namespaces({"shop": {"env": "dev"}})
    assert monitors.compute() == ([], [])
    monitors.set_namespaces({"shop": {"env": "prod"}})
    assert monitors.compute()[0] == first


def test_monitor_key() -> None:
    assert monitor_key("Probe", probe("bank", "site")) == ("Probe", "bank", "site")
    assert monitor_key("PodMonitor", {"metadata": {}}) == ("PodMonitor", "", "")


# --------------------------------------------------------------------------------------------------- errors


def basic_auth_monitor(ns: str, name: str, rv: str = "1") -> dict[str, Any]:
    return service_monitor(
        ns,
        name,
        rv=rv,
        basicAuth={"username": {"name": "creds", "key": "user"}, "password": {"name": "creds", "key": "pass"}},
    )


def test_a_monitor_with_a_missing_secret_is_left_out_with_its_error_the_rest_generate() -> None:
    monitors = MonitorConfigs(cr(**every_kind(ALL)))
    monitors.upsert("ServiceMonitor", service_monitor("shop", "a"))
    monitors.upsert("ServiceMonitor", basic_auth_monitor("shop", "b"))
    monitors.upsert("PodMonitor", pod_monitor("shop", "c"))
    monitors.set_secrets([secret("bank", "creds", user="u", **{"pass": "p"})])  # in the wrong namespace

    configs, errors = monitors.compute()
    assert names(configs) == ["serviceMonitor/shop/a/0", "podMonitor/shop/c/0"]
    ((key, error),) = errors
    assert key == ("ServiceMonitor", "shop", "b")
    assert error.field == "spec.endpoints[0].basicAuth.username.name"
    assert 'Secret "shop/creds" not found' in error.message
    assert error.obj == "ServiceMonitor shop/b"

    # asked again, the (cached) error is still reported
    assert monitors.compute()[1] == errors

    # the Secret appears: the monitor generates, with its credentials inlined
    monitors.set_secrets([secret("shop", "creds", user="admin", **{"pass": "s3cr3t"})])
    configs, errors = monitors.compute()
    assert errors == []
    assert names(configs) == ["serviceMonitor/shop/a/0", "serviceMonitor/shop/b/0", "podMonitor/shop/c/0"]
    assert configs[1]["basic_auth"] == {"username": "admin", "password": "s3cr3t"}


def test_a_broken_monitor_in_another_kind_does_not_hide_the_others() -> None:
    monitors = MonitorConfigs(cr(**every_kind(ALL)))
    bad_probe = probe("shop", "bad")
    del bad_probe["spec"]["prober"]
    monitors.upsert("Probe", bad_probe)
    monitors.upsert("ServiceMonitor", service_monitor("shop", "ok"))
    monitors.upsert("ScrapeConfig", scrape_config("shop", "ok"))
    configs, errors = monitors.compute()
    assert names(configs) == ["serviceMonitor/shop/ok/0", "scrapeConfig/shop/ok"]
    assert [key for key, _ in errors] == [("Probe", "shop", "bad")]
    assert "prober" in errors[0][1].field


def test_an_unselected_broken_monitor_reports_nothing() -> None:
    monitors = MonitorConfigs(cr(service_monitor_selector=LabelSelector((("team", "a"),))))
    monitors.upsert("ServiceMonitor", basic_auth_monitor("shop", "b"))
    assert monitors.compute() == ([], [])


def test_bad_scrape_classes_reject_every_monitor_with_one_error_not_owned_by_a_monitor() -> None:
    monitors = MonitorConfigs(
        cr(**every_kind(ALL), scrape_classes=({"name": "a", "default": True}, {"name": "b", "default": True}))
    )
    monitors.upsert("ServiceMonitor", service_monitor())
    configs, errors = monitors.compute()
    assert configs == []
    assert [key for key, _ in errors] == [("", "", "")]
    assert "default" in errors[0][1].message


# --------------------------------------------------------------------------------------------------- merging


@pytest.mark.parametrize(
    ("file_jobs", "cr_jobs", "merged", "clashes"),
    [
        ([], [], [], []),
        (["a", "b"], [], ["a", "b"], []),
        ([], ["serviceMonitor/x/y/0"], ["serviceMonitor/x/y/0"], []),
        (["a"], ["serviceMonitor/x/y/0", "a"], ["a", "serviceMonitor/x/y/0"], ["a"]),
        (["b", "a"], ["a", "b", "c"], ["b", "a", "c"], ["a", "b"]),
        (["a"], ["c", "c"], ["a", "c"], ["c"]),  # a second CR job of one name clashes with the first
    ],
)
def test_merge_jobs_the_file_wins(
    file_jobs: list[str], cr_jobs: list[str], merged: list[str], clashes: list[str]
) -> None:
    file_configs = [{"job_name": j, "from": "file"} for j in file_jobs]
    cr_configs = [{"job_name": j, "from": "cr", "i": i} for i, j in enumerate(cr_jobs)]
    out, found = merge_jobs(file_configs, cr_configs)
    assert list(out) == merged
    assert found == clashes
    for name, config in out.items():
        assert config["job_name"] == name
        assert config["from"] == ("file" if name in file_jobs else "cr")
        if name not in file_jobs:
            assert config["i"] == cr_jobs.index(name)  # the first of several wins
