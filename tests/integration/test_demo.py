"""The README's first command works as written: `make demo` (here with --once, so it ends by itself): the operator
observes the guide's collector and the allocator answers /jobs and a collector's targets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import localcluster
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


def _node_heartbeat(kubeconfig: str) -> str:
    kubectl = localcluster.kubectl_path()
    assert kubectl is not None
    done = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", "get", "node", "demo-node", "-o",
         "jsonpath={.status.conditions[?(@.type=='Ready')].lastHeartbeatTime}"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _wait_for_line(log: Path, text: str, proc: subprocess.Popen[str], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        assert proc.poll() is None, f"the demo exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} within {within}s:\n{log.read_text()[-3000:]}")


def test_demo_runs_again_on_the_control_plane_it_left_up_keeps_its_node_alive_and_stops(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    cluster = localcluster.up(state)  # up before the demo: the demo leaves it up, as after `make demo`
    demo = [sys.executable, str(ROOT / "hack" / "demo.py"), "--dir", str(state)]
    try:
        first = subprocess.run([*demo, "--once"], capture_output=True, text=True, timeout=240, check=False)
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"demo: reusing the control plane that is up in {state}" in first.stdout
        # what an earlier run's dying node leaves: a pod evicted and stuck Terminating (no kubelet ends it)
        kubectl = localcluster.kubectl_path()
        assert kubectl is not None
        subprocess.run(
            [str(kubectl), f"--kubeconfig={cluster.kubeconfig}", "delete", "pod", "-n", "opentelemetry",
             "py-prometheus-app-0", "--wait=false"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip

        # again, running until stopped: the pod is started again and served, the node keeps beating
        log = tmp_path / "demo.log"
        with log.open("w") as out:
            proc = subprocess.Popen(demo, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            _wait_for_line(log, "Operator and allocator running", proc, 240)
            assert '"__address__": "10.244.0.11:8080"' in log.read_text()
            assert "The allocator's web UI" in log.read_text()
            beats = {_node_heartbeat(cluster.kubeconfig)}
            deadline = time.monotonic() + 40
            while len(beats) < 3 and time.monotonic() < deadline:  # two more heartbeats, 10 s apart
                time.sleep(1)
                beats.add(_node_heartbeat(cluster.kubeconfig))
            assert len(beats) >= 3, f"the node's heartbeat did not move: {beats}"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        text = log.read_text()
        assert "demo: stopping (Ctrl-C again to quit at once)" in text
        assert "Traceback" not in text, text[-3000:]
        assert "Unprocessed streams left" not in text

        # interrupted mid-way, twice: out at once
        with log.open("w") as out:
            proc = subprocess.Popen(demo, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            _wait_for_line(log, "applied examples/troubleshooting-guide.yaml", proc, 240)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(15) in (0, 130), log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    finally:
        localcluster.down(state)
