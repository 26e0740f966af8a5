"""The diagnosis over plain objects: each failure scenario of the troubleshooting guide names its cause and fix."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from otel_operator.diagnose import Finding, Inputs, diagnose

NS = "opentelemetry"
Obj = dict[str, Any]


def collector(**ta: Any) -> Obj:
    target_allocator: Obj = {
        "enabled": True,
        "prometheusCR": {"enabled": True, "podMonitorSelector": {}, "serviceMonitorSelector": {}},
    }
    target_allocator.update(ta)
    return {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "otelcol", "namespace": NS},
        "spec": {
            "mode": "statefulset",
            "targetAllocator": target_allocator,
            "config": {
                "receivers": {"prometheus": {"config": {"scrape_configs": []}}},
                "exporters": {"debug": {}},
                "service": {"pipelines": {"metrics": {"receivers": ["prometheus"], "exporters": ["debug"]}}},
            },
        },
    }


def service_monitor(**spec: Any) -> Obj:
    base: Obj = {
        "selector": {"matchLabels": {"app": "my-app"}},
        "namespaceSelector": {"matchNames": [NS]},
        "endpoints": [{"port": "prom", "path": "/metrics"}],
    }
    base.update(spec)
    return {
        "metadata": {"name": "sm-example", "namespace": NS, "labels": {"release": "prometheus"}},
        "spec": base,
    }


def service(port: str = "prom", namespace: str = NS, labels: dict[str, str] | None = None) -> Obj:
    return {
        "metadata": {"name": "py-prometheus-app", "namespace": namespace, "labels": labels or {"app": "my-app"}},
        "spec": {"selector": {"app": "my-app"}, "ports": [{"name": port, "port": 8080}]},
    }


def endpoint_slice(port: str = "prom", namespace: str = NS) -> Obj:
    return {
        "metadata": {
            "name": "py-prometheus-app-abcde",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": "py-prometheus-app"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": ["10.244.0.11"],
                "conditions": {"ready": True},
                "targetRef": {"kind": "Pod", "name": "app-0", "namespace": namespace},
            }
        ],
        "ports": [{"name": port, "port": 8080, "protocol": "TCP"}],
    }


def pod(namespace: str = NS, port: str = "prom") -> Obj:
    return {
        "metadata": {"name": "app-0", "namespace": namespace, "labels": {"app": "my-app"}},
        "spec": {"containers": [{"name": "app", "ports": [{"name": port, "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": "10.244.0.11", "hostIP": "172.24.0.2"},
    }


def pod_monitor(**spec: Any) -> Obj:
    base: Obj = {"selector": {"matchLabels": {"app": "my-app"}}, "podMetricsEndpoints": [{"port": "prom"}]}
    base.update(spec)
    return {"metadata": {"name": "pm-example", "namespace": NS, "labels": {}}, "spec": base}


def world(**changes: Any) -> Inputs:
    base: dict[str, Any] = {
        "collectors": [collector()],
        "namespaces": [{"metadata": {"name": NS, "labels": {}}}, {"metadata": {"name": "other", "labels": {}}}],
        "service_monitors": [service_monitor()],
        "services": [service()],
        "endpoint_slices": [endpoint_slice()],
        "pods": [pod()],
    }
    base.update(changes)
    return Inputs(**base)


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.ok]


def test_the_guide_setup_is_healthy_and_says_where_the_target_is() -> None:
    findings = diagnose(world(), NS)
    assert problems(findings) == []
    target = [f for f in findings if f.subject.startswith("target 10.244.0.11:8080")]
    assert len(target) == 1
    assert "kept by job serviceMonitor/opentelemetry/sm-example/0" in target[0].what


def _ta_disabled() -> Inputs:
    c = collector()
    c["spec"]["targetAllocator"]["enabled"] = False
    return world(collectors=[c])


def _cr_disabled() -> Inputs:
    c = collector()
    c["spec"]["targetAllocator"]["prometheusCR"]["enabled"] = False
    return world(collectors=[c])


def _nil_selector() -> Inputs:
    c = collector()
    del c["spec"]["targetAllocator"]["prometheusCR"]["serviceMonitorSelector"]
    return world(collectors=[c])


def _monitor_label_mismatch() -> Inputs:
    c = collector()
    c["spec"]["targetAllocator"]["prometheusCR"]["serviceMonitorSelector"] = {"matchLabels": {"app": "my-app"}}
    return world(collectors=[c])


def _service_label_mismatch() -> Inputs:
    return world(services=[service(labels={"app": "other-app"})])


def _namespace_mismatch() -> Inputs:
    return world(services=[service(namespace="other")], endpoint_slices=[endpoint_slice(namespace="other")])


def _port_mismatch() -> Inputs:
    return world(services=[service(port="bleh")], endpoint_slices=[endpoint_slice(port="bleh")])


def _relabel_drop() -> Inputs:
    rule = {"action": "drop", "sourceLabels": ["__meta_kubernetes_pod_name"], "regex": "app-.*"}
    return world(service_monitors=[service_monitor(endpoints=[{"port": "prom", "relabelings": [rule]}])])


def _monitor_namespace_denied() -> Inputs:
    c = collector()
    c["spec"]["targetAllocator"]["prometheusCR"]["denyNamespaces"] = [NS]
    return world(collectors=[c])


def _pod_port_mismatch() -> Inputs:
    return world(
        service_monitors=[],
        pod_monitors=[pod_monitor()],
        pods=[pod(port="bleh")],
    )


def _no_collector() -> Inputs:
    return world(collectors=[])


# (scenario, inputs, subject of the finding, words its `what` must hold, words its `fix` must hold)
SCENARIOS: list[tuple[str, Callable[[], Inputs], str, list[str], list[str]]] = [
    (
        "allocator not enabled",
        _ta_disabled,
        "OpenTelemetryCollector opentelemetry/otelcol",
        ["spec.targetAllocator.enabled"],
        ["spec.targetAllocator.enabled: true"],
    ),
    (
        "prometheusCR not enabled",
        _cr_disabled,
        "OpenTelemetryCollector opentelemetry/otelcol",
        ["prometheusCR.enabled"],
        ["prometheusCR.enabled: true"],
    ),
    (
        "nil selector",
        _nil_selector,
        "ServiceMonitor opentelemetry/sm-example",
        ["serviceMonitorSelector is unset"],
        ["serviceMonitorSelector: {}"],
    ),
    (
        "monitor label mismatch",
        _monitor_label_mismatch,
        "ServiceMonitor opentelemetry/sm-example",
        ["label app=my-app is missing"],
        ["set app: my-app"],
    ),
    (
        "monitor namespace denied",
        _monitor_namespace_denied,
        "ServiceMonitor opentelemetry/sm-example",
        ["denyNamespaces"],
        ["remove opentelemetry from spec.targetAllocator.prometheusCR.denyNamespaces"],
    ),
    (
        "service label mismatch",
        _service_label_mismatch,
        "Service opentelemetry/py-prometheus-app",
        ["label app is 'other-app'", "wants 'my-app'"],
        ["set app: my-app"],
    ),
    (
        "namespace mismatch",
        _namespace_mismatch,
        "Service other/py-prometheus-app",
        ["namespace other is not watched", "opentelemetry"],
        ["add other to spec.namespaceSelector.matchNames"],
    ),
    (
        "port name mismatch",
        _port_mismatch,
        "Service opentelemetry/py-prometheus-app",
        ["no port named prom", "its ports: bleh"],
        ["spec.endpoints[0].port", "bleh"],
    ),
    (
        "relabel drop",
        _relabel_drop,
        "target 10.244.0.11:8080 of Service opentelemetry/py-prometheus-app",
        ["action drop", "__meta_kubernetes_pod_name", "'app-0'", "spec.endpoints[0].relabelings[0]"],
        ["spec.endpoints[0].relabelings[0]"],
    ),
    (
        "pod monitor port mismatch",
        _pod_port_mismatch,
        "Pod opentelemetry/app-0",
        ["no container port named prom", "bleh"],
        ["spec.podMetricsEndpoints[0].port"],
    ),
    (
        "no collector",
        _no_collector,
        "namespace opentelemetry",
        ["has no OpenTelemetryCollector"],
        ["--collector"],
    ),
]


@pytest.mark.parametrize(("scenario", "make", "subject", "what", "fix"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_each_failure_names_its_cause_and_fix(
    scenario: str, make: Callable[[], Inputs], subject: str, what: list[str], fix: list[str]
) -> None:
    found = [f for f in problems(diagnose(make(), NS)) if f.subject == subject]
    assert found, f"{scenario}: no problem reported on {subject}: {diagnose(make(), NS)}"
    finding = found[0]
    for word in what:
        assert word in finding.what, (scenario, finding)
    for word in fix:
        assert finding.fix is not None, (scenario, finding)
        assert word in finding.fix, (scenario, finding)


def test_relabel_drop_names_the_rule_index_in_the_job() -> None:
    drops = [f for f in diagnose(_relabel_drop(), NS) if "dropped by job" in f.what]
    assert len(drops) == 1
    # The job's chain: the endpoint's one rule comes after the generated ones; the index is the job's, not ours.
    assert "relabel_configs[" in drops[0].what
    assert "regex 'app-.*'" in drops[0].what


def test_other_service_ports_are_not_reported_as_drops() -> None:
    slice_ = endpoint_slice()
    slice_["ports"].append({"name": "admin", "port": 9000, "protocol": "TCP"})
    svc = service()
    svc["spec"]["ports"].append({"name": "admin", "port": 9000})
    assert problems(diagnose(world(services=[svc], endpoint_slices=[slice_]), NS)) == []


def test_unrelated_services_are_listed_but_not_problems_once_the_monitor_matched_one() -> None:
    other = service(labels={"app": "else"})
    other["metadata"]["name"] = "unrelated"
    findings = diagnose(world(services=[service(), other]), NS)
    assert problems(findings) == []
    [note] = [f for f in findings if f.subject == "Service opentelemetry/unrelated"]
    assert "label app is 'else'" in note.what


def test_a_service_without_endpoints_says_so() -> None:
    findings = problems(diagnose(world(endpoint_slices=[]), NS))
    assert [f.subject for f in findings] == ["Service opentelemetry/py-prometheus-app"]
    assert "discovered no target" in findings[0].what


@pytest.mark.parametrize(
    "answer",
    [
        {"10.244.0.11:8080": "otelcol-collector-0"},
        {
            "otelcol-collector-0": {
                "_link": "/jobs/x/targets?collector_id=otelcol-collector-0",
                "targets": [{"targets": ["10.244.0.11:8080"], "labels": {}}],
            }
        },
    ],
)
def test_kept_targets_name_their_collector(answer: dict[str, Any]) -> None:
    inputs = world(assignments={"serviceMonitor/opentelemetry/sm-example/0": answer})
    [target] = [f for f in diagnose(inputs, NS) if f.subject.startswith("target ")]
    assert target.ok
    assert "scraped by collector otelcol-collector-0" in target.what


def test_an_unassigned_kept_target_is_a_problem() -> None:
    inputs = world(assignments={"serviceMonitor/opentelemetry/sm-example/0": {}})
    [target] = problems(diagnose(inputs, NS))
    assert "assigned it to no collector" in target.what
    assert target.fix


def test_focus_keeps_the_collector_and_that_object() -> None:
    inputs = _port_mismatch()
    findings = diagnose(inputs, NS, focus="Service opentelemetry/py-prometheus-app")
    assert {f.subject for f in findings} == {
        "OpenTelemetryCollector opentelemetry/otelcol",
        "Service opentelemetry/py-prometheus-app",
    }
    missing = diagnose(inputs, NS, focus="Service opentelemetry/nope")
    assert any(f.subject == "Service opentelemetry/nope" and f.what == "not found" for f in missing)


def test_missing_crd_is_reported() -> None:
    findings = diagnose(world(missing_kinds=("PodMonitor",)), NS)
    assert [f.subject for f in problems(findings)] == ["kind PodMonitor"]


def test_deterministic_and_does_not_touch_its_inputs() -> None:
    inputs = _relabel_drop()
    before = copy.deepcopy(inputs)
    assert diagnose(inputs, NS) == diagnose(inputs, NS)
    assert inputs == before


def test_negative_findings_need_a_fix() -> None:
    with pytest.raises(ValueError, match="fix"):
        Finding("x", False, "broken")
