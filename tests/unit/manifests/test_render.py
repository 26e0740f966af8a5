"""Golden tests of `otel-operator render`: each mode with and without a target allocator, the troubleshooting
guide, a standalone TargetAllocator, and resources that cannot be built.

Each `tests/data/render/<case>.input.yaml` (and the guide, `examples/troubleshooting-guide.yaml`) is rendered and
compared, byte for byte, with `<case>.golden.yaml`: the exit status and stderr as leading comments, then stdout.

After an intended change, regenerate the goldens and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/manifests/test_render.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_operator.allocator.config import load_config
from otel_operator.cli import main

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "render"
GUIDE = "troubleshooting-guide"
CASES = sorted([GUIDE, *(p.name.removesuffix(".input.yaml") for p in DATA.glob("*.input.yaml"))])


def source(case: str) -> Path:
    return ROOT / "examples" / f"{GUIDE}.yaml" if case == GUIDE else DATA / f"{case}.input.yaml"


def render(case: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["render", "-f", str(source(case))])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def golden_text(code: int, out: str, err: str) -> str:
    header = [f"# exit status {code}"] + [f"# stderr: {line}" for line in err.splitlines()]
    return "\n".join(header) + "\n" + out


@pytest.mark.parametrize("case", CASES)
def test_render_matches_golden(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = golden_text(*render(case, capsys))
    golden = DATA / f"{case}.golden.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert golden.exists(), f"no golden for {case}; create it with UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"render of {case} changed; if intended, regenerate with UPDATE_GOLDEN=1"


def test_every_golden_has_an_input() -> None:
    goldens = sorted(p.name.removesuffix(".golden.yaml") for p in DATA.glob("*.golden.yaml"))
    assert goldens == CASES


def rendered(case: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out, err = render(case, capsys)
    assert code == 0, err
    return [d for d in yaml.safe_load_all(out) if d is not None]


@pytest.mark.parametrize("case", [c for c in CASES if c not in ("deployment-allocator", "sidecar", "ingress-invalid")])
def test_rendered_configs_load(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every targetallocator.yaml loads in the allocator without a problem; every collector.yaml parses as a
    collector config with the sections the collector needs."""
    objects = rendered(case, capsys)
    maps = [o for o in objects if o["kind"] == "ConfigMap"]
    assert maps
    for config_map in maps:
        data = config_map["data"]
        if "targetallocator.yaml" in data:
            # as the allocator's pod loads it: the namespace from OTELCOL_NAMESPACE (downward API), not the file
            namespace = config_map["metadata"]["namespace"]
            assert "collector_namespace" not in data["targetallocator.yaml"]
            # raises on any problem
            config = load_config(data["targetallocator.yaml"], env={"OTELCOL_NAMESPACE": namespace})
            assert config.collector_namespace == namespace
        else:
            collector = yaml.safe_load(data["collector.yaml"])
            assert {"receivers", "exporters", "service"} <= set(collector)
            assert collector["service"]["pipelines"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (GUIDE, 1),  # rendered: ignored the Namespace, Service and ServiceMonitor
        ("statefulset", 1),
        ("daemonset-allocator", 1),
    ],
)
def test_one_workload_per_collector(case: str, expected: int, capsys: pytest.CaptureFixture[str]) -> None:
    objects = rendered(case, capsys)
    collectors = [
        o for o in objects if o["kind"] in ("StatefulSet", "DaemonSet") and "collector" in o["metadata"]["name"]
    ]
    assert len(collectors) == expected


def test_the_guides_allocator_points_at_the_guides_collector(capsys: pytest.CaptureFixture[str]) -> None:
    objects = rendered(GUIDE, capsys)
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    collector = yaml.safe_load(
        next(o for o in objects if o["metadata"]["name"].startswith("otelcol-collector-"))["data"]["collector.yaml"]
    )
    assert collector["receivers"]["prometheus"] == {
        "config": {},
        "target_allocator": {
            "endpoint": "http://otelcol-targetallocator:80",
            "interval": "30s",
            "collector_id": "${POD_NAME}",
        },
    }
    # the allocator's pod gives the namespace as OTELCOL_NAMESPACE (downward API), not the file
    allocator_env = by_name[("Deployment", "otelcol-targetallocator")]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "OTELCOL_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in (
        allocator_env["env"]
    )
    text = by_name[("ConfigMap", "otelcol-targetallocator")]["data"]["targetallocator.yaml"]
    allocator = load_config(text, env={"OTELCOL_NAMESPACE": "opentelemetry"})
    assert allocator.collector_namespace == "opentelemetry"
    pod_labels = by_name[("StatefulSet", "otelcol-collector")]["spec"]["template"]["metadata"]["labels"]
    assert allocator.collector_selector is not None
    assert allocator.collector_selector.matches(pod_labels)
    assert [job.job_name for job in allocator.config.jobs] == ["otel-collector"]
    assert allocator.prometheus_cr.enabled
    assert allocator.prometheus_cr.service_monitor_selector is not None
    env = by_name[("StatefulSet", "otelcol-collector")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in env


def test_render_names_what_it_cannot_build(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = render("deployment-allocator", capsys)
    assert code == 1
    assert out == ""  # nothing half-rendered
    assert "spec.mode: the OpenTelemetry Collector mode is set to deployment" in err
    assert 'rename one of them to "prometheus"' in err


def test_render_namespace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resource = yaml.safe_load((DATA / "sidecar.input.yaml").read_text())
    resource["spec"]["mode"] = "deployment"
    del resource["metadata"]["namespace"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(resource))
    assert main(["render", "-f", str(path), "-n", "team-a"]) == 0
    objects = list(yaml.safe_load_all(capsys.readouterr().out))
    assert {o["metadata"]["namespace"] for o in objects if o} == {"team-a"}
    assert main(["render", "-f", str(path)]) == 0
    assert {o["metadata"]["namespace"] for o in yaml.safe_load_all(capsys.readouterr().out) if o} == {"default"}
    resource["metadata"]["namespace"] = "team-b"
    path.write_text(yaml.safe_dump(resource))
    assert main(["render", "-f", str(path), "-n", "team-a"]) == 1
    assert 'metadata.namespace: is "team-b", not "team-a"' in capsys.readouterr().err


def test_render_unreadable_or_empty_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "-f", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    assert main(["render", "-f", str(broken)]) == 2
    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    capsys.readouterr()
    assert main(["render", "-f", str(other)]) == 1
    assert "no OpenTelemetryCollector or TargetAllocator" in capsys.readouterr().err


def test_render_reports_schema_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\n"
        "metadata: {name: c, namespace: ns}\nspec: {mode: statefull, config: {receivers: {}, exporters: {}}}\n"
    )
    assert main(["render", "-f", str(bad)]) == 1
    err = capsys.readouterr().err
    assert 'error: OpenTelemetryCollector ns/c: spec.mode: "statefull" is not allowed' in err


def test_render_takes_the_operators_options(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["render", "-f", str(source(GUIDE)), "--target-allocator-image", "me/otel-operator:dev"]
    assert main([*argv, "--collector-image", "me/otelcol:1", "--no-allocator-rbac"]) == 0
    objects = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    images = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
        for o in objects
        if "template" in o.get("spec", {})
    }
    assert images == {"otelcol-collector": "me/otelcol:1", "otelcol-targetallocator": "me/otel-operator:dev"}
