"""The command line: help, version, unbuilt commands, and `check resources`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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
        "__convert_classic_histograms_to_nhcb__": "false",
        "__always_scrape_classic_histograms__": "false",
        "__scrape_native_histograms__": "false",
        "instance": "10.0.0.1:8080",
        "job": "app",
        "team": "a",
    }
    assert dropped["discoveredLabels"]["__address__"] == "10.0.0.2:9090"
    assert dropped["labels"] == {}


def test_check_service_discovery_ends_its_line_on_a_terminal_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(CONFIG)
    assert main(["check", "service-discovery", str(config), "app"]) == 0
    piped = capsys.readouterr().out
    assert piped.endswith("]")  # as promtool prints it
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["check", "service-discovery", str(config), "app"]) == 0
    assert capsys.readouterr().out == piped + "\n"


def test_check_service_discovery_names_a_missing_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(CONFIG)
    assert main(["check", "service-discovery", str(config), "nope"]) == 1
    assert "nope" in capsys.readouterr().err
    assert main(["check", "service-discovery", str(tmp_path / "absent.yml"), "app"]) == 2


# --- opentelemetry.io/v1alpha1 collectors ---------------------------------------------------------------------------

V1ALPHA1 = """\
apiVersion: v1
kind: Namespace
metadata:
  name: obs
---
apiVersion: opentelemetry.io/v1alpha1
kind: OpenTelemetryCollector
metadata:
  name: old
  namespace: obs
spec:
  mode: statefulset
  minReplicas: 2
  maxReplicas: 4
  targetAllocator:
    enabled: true
    prometheusCR:
      enabled: true
      serviceMonitorSelector:
        team: obs
  config: |
    receivers:
      prometheus:
        config:
          scrape_configs:
          - job_name: self
            static_configs:
            - targets: [0.0.0.0:8888]
    exporters:
      debug: {}
    service:
      pipelines:
        metrics:
          receivers: [prometheus]
          exporters: [debug]
"""


def test_check_resources_says_v1alpha1_is_read_as_v1beta1_and_how_to_convert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(V1ALPHA1)
    assert main(["check", "resources", str(old)]) == 1
    out = capsys.readouterr().out
    assert (
        "error: OpenTelemetryCollector obs/old: apiVersion: opentelemetry.io/v1alpha1 is deprecated: the cluster "
        "converts it through the operator's conversion webhook, but this command reads OpenTelemetryCollector as "
        "opentelemetry.io/v1beta1 only" in out
    )
    assert f"otel-operator check resources --convert {old}" in out
    assert "1 checked, 1 problem(s)" in out  # never "0 checked" again


def test_check_resources_checks_the_converted_collector_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(V1ALPHA1.replace("mode: statefulset", "mode: statefull"))
    assert main(["check", "resources", str(old)]) == 1
    out = capsys.readouterr().out
    assert 'error: OpenTelemetryCollector obs/old (as v1beta1): spec.mode: "statefull" is not allowed' in out
    assert "1 checked, 2 problem(s)" in out


def test_convert_prints_the_file_with_v1beta1_collectors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(V1ALPHA1)
    assert main(["check", "resources", "--convert", str(old)]) == 0
    captured = capsys.readouterr()
    namespace, collector = list(yaml.safe_load_all(captured.out))
    assert namespace == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "obs"}}  # as it was
    assert collector["apiVersion"] == "opentelemetry.io/v1beta1"
    spec = collector["spec"]
    assert list(spec) == ["mode", "autoscaler", "targetAllocator", "config"]  # the file's order
    assert spec["autoscaler"] == {"minReplicas": 2, "maxReplicas": 4}
    assert spec["targetAllocator"]["prometheusCR"]["serviceMonitorSelector"] == {"matchLabels": {"team": "obs"}}
    assert spec["config"]["service"]["pipelines"]["metrics"]["receivers"] == ["prometheus"]
    assert "1 checked, 0 problem(s)" in captured.err  # the report goes to stderr
    assert "error" not in captured.err

    # and the result is what otel-operator takes
    new = tmp_path / "new.yaml"
    new.write_text(captured.out)
    assert main(["check", "resources", str(new)]) == 0
    assert "ok: OpenTelemetryCollector obs/old" in capsys.readouterr().out
    assert main(["render", "-f", str(new)]) == 0
    rendered = list(yaml.safe_load_all(capsys.readouterr().out))
    assert {"StatefulSet", "HorizontalPodAutoscaler", "TargetAllocator", "Deployment"} <= {o["kind"] for o in rendered}


def test_convert_keeps_multi_line_strings_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(
        V1ALPHA1.replace(
            "  mode: statefulset\n", "  mode: statefulset\n  podAnnotations:\n    a: |\n      x\n      y\n"
        )
    )
    assert main(["check", "resources", "--convert", str(old)]) == 0
    out = capsys.readouterr().out
    assert "    a: |\n      x\n      y\n" in out


def test_convert_prints_nothing_when_a_config_is_not_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(V1ALPHA1.replace("receivers: [prometheus]", "receivers: [prometheus"))
    assert main(["check", "resources", "--convert", str(old)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: OpenTelemetryCollector obs/old: spec.config: is not valid YAML (" in captured.err


def test_convert_reports_what_upstreams_conversion_drops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(
        V1ALPHA1.replace("    exporters:\n      debug: {}\n", "    exporters:\n      debug: {}\n    extras: 1\n")
    )
    assert main(["check", "resources", "--convert", str(old)]) == 0
    err = capsys.readouterr().err
    assert "warning: OpenTelemetryCollector obs/old: spec.config.extras: not a collector config section" in err


def test_render_refuses_a_v1alpha1_collector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(V1ALPHA1)
    assert main(["render", "-f", str(old)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: OpenTelemetryCollector obs/old: apiVersion: opentelemetry.io/v1alpha1 is deprecated" in captured.err
    assert "--convert" in captured.err


# --- the flags that shape what is built: --feature-gates, --labels-filter, --annotations-filter ---------------------

LABELLED = """\
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata:
  name: lab
  namespace: obs
  labels: {keep: "1", drop.filter.out: "x"}
  annotations:
    keep-annotation: "1"
    config.gke.io/x: "2"
    kubectl.kubernetes.io/last-applied-configuration: "{}"
spec:
  config:
    receivers: {otlp: {protocols: {grpc: {}}}}
    processors: {k8sattributes: {}}
    exporters: {debug: {}}
    service: {pipelines: {traces: {receivers: [otlp], processors: [k8sattributes], exporters: [debug]}}}
"""


def render(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> list[dict[str, Any]]:
    path = tmp_path / "collector.yaml"
    path.write_text(LABELLED)
    assert main(["render", "-f", str(path), *flags]) == 0
    return list(yaml.safe_load_all(capsys.readouterr().out))


def test_render_filters_labels_and_annotations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = render(tmp_path, capsys)
    deployment = next(o for o in plain if o["kind"] == "Deployment")
    assert deployment["metadata"]["labels"]["drop.filter.out"] == "x"
    assert "config.gke.io/x" in deployment["metadata"]["annotations"]

    # upstream's e2e flags (e2e-metadata-filters)
    filtered = render(
        tmp_path,
        capsys,
        "--labels-filter=.*filter.out",
        "--annotations-filter=.*filter.out",
        "--annotations-filter=config.*.gke.io.*",
    )
    for obj in filtered:
        meta = obj["metadata"]
        assert "drop.filter.out" not in (meta.get("labels") or {}), obj["kind"]
        assert "config.gke.io/x" not in (meta.get("annotations") or {}), obj["kind"]
        # the default filters still apply: the flag adds to them
        assert "kubectl.kubernetes.io/last-applied-configuration" not in (meta.get("annotations") or {})
    deployment = next(o for o in filtered if o["kind"] == "Deployment")
    assert deployment["metadata"]["labels"]["keep"] == "1"
    assert deployment["metadata"]["annotations"]["keep-annotation"] == "1"


def test_render_feature_gates_and_collector_rbac(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = {o["kind"] for o in render(tmp_path, capsys)}
    assert {"NetworkPolicy", "ClusterRole", "ClusterRoleBinding"} <= plain
    shaped = {
        o["kind"] for o in render(tmp_path, capsys, "--feature-gates=-operand.networkpolicy", "--no-collector-rbac")
    }
    assert not {"NetworkPolicy", "ClusterRole", "ClusterRoleBinding"} & shaped
    assert "Deployment" in shaped


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        ("--feature-gates=operator.nope", '--feature-gates: unknown feature gate "operator.nope"; known gates: '),
        ("--feature-gates=+", '--feature-gates: unknown feature gate "+"'),
        ("--labels-filter=(", "--labels-filter '(': not a regular expression: "),
        ("--annotations-filter=[a", "--annotations-filter '[a': not a regular expression: "),
    ],
)
@pytest.mark.parametrize("command", ["render", "run"])
def test_a_bad_flag_value_is_one_line_and_exit_2(
    command: str, flag: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text(LABELLED)
    argv = ["render", "-f", str(path), flag] if command == "render" else ["run", flag]
    assert main(argv) == 2  # `run` stops before it starts anything
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"otel-operator {command}: {says}")


def test_a_gate_otel_operator_does_not_act_on_is_accepted_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text(LABELLED)
    # upstream's Helm chart passes -operator.networkpolicy: accepted silently (otel-operator creates none)
    assert main(["render", "-f", str(path), "--feature-gates=-operator.networkpolicy"]) == 0
    assert "warning: feature gate" not in capsys.readouterr().err
    assert main(["render", "-f", str(path), "--feature-gates=operator.clusterobservability"]) == 0
    err = capsys.readouterr().err
    assert (
        "otel-operator render: warning: feature gate operator.clusterobservability is on, but otel-operator does "
        "not act on it" in err
    )


def test_run_passes_the_flags_to_what_it_builds() -> None:
    from otel_operator.cli import build_parser, operator_options
    from otel_operator.manifests import featuregates
    from otel_operator.manifests.labels import DEFAULT_ANNOTATION_FILTERS
    from otel_operator.reconcile.runner import build_options

    args = build_parser().parse_args(
        [
            "run",
            "--feature-gates=operator.targetallocator.fallbackstrategy",
            "--feature-gates=-operand.networkpolicy",
            "--labels-filter=^team$",
            "--labels-filter=.*filter.out",
            "--annotations-filter=^x/",
            "--no-collector-rbac",
        ]
    )
    options = build_options(operator_options(args))
    assert options.gate(featuregates.ALLOCATOR_FALLBACK_STRATEGY)
    assert not options.gate(featuregates.OPERAND_NETWORK_POLICY)
    assert options.gate(featuregates.GOLANG_FLAGS)  # untouched gates keep their default
    assert options.label_filters == ("^team$", ".*filter.out")
    assert options.annotation_filters == (*DEFAULT_ANNOTATION_FILTERS, "^x/")
    assert not options.collector_rbac
    assert options.allocator_rbac

    defaults = build_options(operator_options(build_parser().parse_args(["run"])))
    assert defaults.feature_gates == featuregates.DEFAULT_ENABLED
    assert defaults.label_filters == ()
    assert defaults.annotation_filters == DEFAULT_ANNOTATION_FILTERS
    assert defaults.collector_rbac


@pytest.mark.parametrize("command", ["run", "render"])
def test_help_lists_every_feature_gate(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from otel_operator.manifests.featuregates import GATES

    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    for flag in ("--feature-gates", "--labels-filter", "--annotations-filter", "--no-collector-rbac"):
        assert flag in out
    for name in GATES:
        assert f"  {name} (" in out


def test_the_allocator_takes_upstreams_flags_after_its_own_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the operator's Deployment runs it (`allocator --config FILE` then a TargetAllocator's spec.args): the flags
    reach the allocator's own parser, which names a misspelt one, instead of argparse refusing them all."""
    missing = str(tmp_path / "nope.yaml")
    assert main(["allocator", "--config", missing, "--zap-log-level=debug", "--listen-addr=:0"]) == 2
    err = capsys.readouterr().err
    assert "cannot read the config file" in err  # got past the flags
    assert "unrecognized arguments" not in err
    assert main(["allocator", "--config", missing, "--listen-adr=:8080"]) == 2
    assert 'did you mean "--listen-addr"?' in capsys.readouterr().err
    with pytest.raises(SystemExit):  # other commands still refuse what they do not know
        main(["render", "-f", missing, "--zap-log-level=debug"])


@pytest.mark.parametrize(
    ("zap", "level"),
    [
        ([("zap-log-level", "debug")], "debug"),
        ([("zap-log-level", "warn")], "warning"),
        ([("zap-log-level", "2")], "error"),
        ([("zap-log-level", "-5")], "debug"),
        ([("zap-log-level", "info"), ("zap-log-level", "error")], "error"),
        ([("zap-devel", "true")], None),
        ([("zap-log-level", "loud")], None),
    ],
)
def test_zap_log_levels_map_to_ours(zap: list[tuple[str, str]], level: str | None) -> None:
    from otel_operator.cli import zap_log_level

    assert zap_log_level(zap) == level
