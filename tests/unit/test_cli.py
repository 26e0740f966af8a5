"""The command line: help, version, unbuilt commands, and `check resources`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from otel_operator import __version__
from otel_operator.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"otel-operator {__version__}"


@pytest.mark.parametrize("command", ["run", "allocator", "render", "check", "diagnose"])
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: otel-operator {command}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["diagnose", "--service", "no-slash"], ["diagnose", "--pod", "a/b/c"]])
def test_diagnose_rejects_a_bad_object_name(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "NAMESPACE/NAME" in capsys.readouterr().err


def test_allocator_reports_every_config_problem_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "targetallocator.yaml"
    bad.write_text("allocation_strategy: round-robin\ncolectors: [a]\n")
    assert main(["allocator", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "allocation_strategy" in err
    assert "round-robin" in err
    assert "colectors" in err


def test_allocator_names_a_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["allocator", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_check_resources_accepts_the_guide(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "resources", str(ROOT / "examples" / "troubleshooting-guide.yaml")]) == 0
    out = capsys.readouterr().out
    assert "ok: OpenTelemetryCollector opentelemetry/otelcol" in out
    assert "2 checked, 0 problem(s)" in out


def test_check_resources_names_bad_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\n"
        "metadata: {name: c, namespace: ns}\nspec: {mode: statefull, config: {receivers: {}, exporters: {}}}\n"
    )
    assert main(["check", "resources", str(bad)]) == 1
    out = capsys.readouterr().out
    assert 'error: OpenTelemetryCollector ns/c: spec.mode: "statefull" is not allowed' in out
    assert "error: OpenTelemetryCollector ns/c: spec.config.service: required field is missing" in out


def test_check_resources_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    assert main(["check", "resources", str(broken)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["check", "resources", str(tmp_path / "missing.yaml")]) == 2


def test_console_script_and_module_entry_points() -> None:
    for cmd in (["otel-operator", "--version"], [sys.executable, "-m", "otel_operator", "--version"]):
        exe = Path(sys.executable).parent / cmd[0] if cmd[0] == "otel-operator" else None
        argv = [str(exe), *cmd[1:]] if exe else cmd
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == f"otel-operator {__version__}"


def test_check_monitors_prints_the_guides_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "monitors", str(ROOT / "examples" / "troubleshooting-guide.yaml")]) == 0
    captured = capsys.readouterr()
    jobs = [c["job_name"] for c in yaml.safe_load(captured.out)["scrape_configs"]]
    assert jobs == [f"serviceMonitor/opentelemetry/sm-example/{i}" for i in range(3)]
    assert "note: ignored Service opentelemetry/py-prometheus-app" in captured.err
    assert "3 scrape config(s), 0 error(s)" in captured.err


def test_check_monitors_reports_a_bad_monitor_and_keeps_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = (ROOT / "examples" / "troubleshooting-guide.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: needs-secret, namespace: ns}\n"
        "spec:\n  selector: {}\n  endpoints:\n  - port: web\n"
        "    basicAuth: {username: {name: absent, key: user}, password: {name: absent, key: pass}}\n"
    )
    (tmp_path / "guide.yaml").write_text(guide)
    assert main(["check", "monitors", str(tmp_path / "guide.yaml"), str(bad)]) == 1
    captured = capsys.readouterr()
    assert len(yaml.safe_load(captured.out)["scrape_configs"]) == 3
    assert "error: ServiceMonitor ns/needs-secret: spec.endpoints[0].basicAuth" in captured.err


CONFIG = """
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["10.0.0.1:8080", "10.0.0.2:9090"]
        labels: {team: a}
    relabel_configs:
      - source_labels: [__address__]
        regex: ".*:9090"
        action: drop
"""


def test_check_service_discovery_prints_promtools_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(CONFIG)
    assert main(["check", "service-discovery", str(config), "app"]) == 0
    kept, dropped = json.loads(capsys.readouterr().out)
    assert kept["labels"] == {
        "__address__": "10.0.0.1:8080",
        "__metrics_path__": "/metrics",
        "__scheme__": "http",
        "__scrape_interval__": "1m",
        "__scrape_timeout__": "10s",
        "instance": "10.0.0.1:8080",
        "job": "app",
        "team": "a",
    }
    assert dropped["discoveredLabels"]["__address__"] == "10.0.0.2:9090"
    assert dropped["labels"] == {}


def test_check_service_discovery_names_a_missing_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(CONFIG)
    assert main(["check", "service-discovery", str(config), "nope"]) == 1
    assert "nope" in capsys.readouterr().err
    assert main(["check", "service-discovery", str(tmp_path / "absent.yml"), "app"]) == 2
