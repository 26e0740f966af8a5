"""The README's first command works as written: `make demo` (here with --once, so it ends by itself): the operator
observes the guide's collector and the allocator answers /jobs and a collector's targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration


def test_demo_brings_up_a_cluster_and_the_operator_observes_the_collector(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    done = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "demo.py"), "--once", "--dir", str(state)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied examples/troubleshooting-guide.yaml" in done.stdout
    # a bad collector is refused at apply time by the operator's webhook, naming the object, the field and the fix
    assert "$ kubectl apply -f bad-collector.yaml" in done.stdout
    assert (
        'admission webhook "vopentelemetrycollector.otel-operator.opentelemetry.io" denied the request: '
        "OpenTelemetryCollector opentelemetry/bad-collector: spec.mode: the OpenTelemetry Collector mode is set to "
        "deployment, which does not support the target allocation deployment" in done.stdout
    )
    assert "otelcol   statefulset" in done.stdout
    assert "The operator has observed opentelemetry/otelcol." in done.stdout
    # the allocator's answer, fetched over HTTP, as the troubleshooting guide shows it
    assert '"_link": "/jobs/serviceMonitor%2Fopentelemetry%2Fsm-example%2F0/targets"' in done.stdout
    assert '"_link": "/jobs/otel-collector/targets"' in done.stdout
    assert '"__address__": "10.244.0.11:8080"' in done.stdout
    # --once stops what it started: no control-plane state is left behind
    assert not (state / "cluster.json").exists()
