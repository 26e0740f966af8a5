"""The diagnosis from inside a running allocator: its own configuration instead of a collector's spec."""

from __future__ import annotations

from otel_operator.allocator.config import load_config
from otel_operator.diagnose.core import diagnose_allocator
from otel_operator.diagnose.model import Inputs

SM = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "sm", "namespace": "apps", "labels": {"team": "a"}},
    "spec": {"selector": {"matchLabels": {"app": "web"}}, "endpoints": [{"port": "prom"}]},
}
NS = {"metadata": {"name": "apps", "labels": {}}}


def config(cr: str) -> str:
    return f"collector_namespace: obs\nprometheus_cr: {cr}\nconfig: {{scrape_configs: []}}\n"


def test_prometheus_cr_off_is_the_answer() -> None:
    cfg = load_config("collector_namespace: obs\nconfig: {scrape_configs: [{job_name: a, static_configs: []}]}\n")
    [finding] = diagnose_allocator(Inputs(service_monitors=[SM], namespaces=[NS]), cfg)
    assert not finding.ok
    assert "prometheus_cr.enabled is false" in finding.what
    assert finding.fix is not None
    assert "prometheusCR.enabled: true" in finding.fix


def test_a_monitor_the_selector_misses_is_named_with_the_label() -> None:
    cfg = load_config(config("{enabled: true, service_monitor_selector: {matchlabels: {team: b}}}"))
    findings = diagnose_allocator(Inputs(service_monitors=[SM], namespaces=[NS]), cfg)
    [miss] = [f for f in findings if f.subject == "ServiceMonitor apps/sm"]
    assert not miss.ok
    assert "team" in miss.what
    assert miss.fix is not None


def test_the_nil_selector_trap() -> None:
    cfg = load_config(config("{enabled: true}"))
    findings = diagnose_allocator(Inputs(service_monitors=[SM], namespaces=[NS]), cfg)
    assert any(not f.ok and "serviceMonitorSelector is unset" in f.what and "{}" in (f.fix or "") for f in findings)
