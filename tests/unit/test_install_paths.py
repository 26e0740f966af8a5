"""Every documented install path applies this project's CRDs only: prometheus-operator's ServiceMonitor, PodMonitor,
Probe and ScrapeConfig CRDs in a cluster are never overwritten (the tests' stand-ins for them live in
tests/data/standin-crds/, never in crds/)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OURS = {"opentelemetry.io"}


def crd_groups(paths: list[Path]) -> set[str]:
    groups = set()
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                groups.add(doc["spec"]["group"])
    return groups


def test_the_chart_and_the_kubectl_manifest_carry_only_our_crds() -> None:
    assert crd_groups(sorted((ROOT / "charts" / "otel-operator" / "crds").glob("*.yaml"))) == OURS
    assert crd_groups([ROOT / "deploy" / "otel-operator.yaml"]) == OURS


def test_crds_holds_no_other_projects_crd() -> None:
    assert crd_groups(sorted((ROOT / "crds").glob("*.yaml"))) == OURS


def test_no_documented_command_applies_the_stand_ins() -> None:
    applied = []
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            command = line.split("#", 1)[0]
            if re.search(r"\bkubectl (apply|create|replace)\b", command):
                applied += [(doc.name, path) for path in re.findall(r"-f\s+(\S+)", command)]
    assert applied, "the docs show install commands"
    for doc, path in applied:
        assert "standin" not in path, f"{doc}: `kubectl ... -f {path}` applies the stand-ins"
        target = ROOT / path
        if target.exists():
            files = sorted(target.glob("*.yaml")) if target.is_dir() else [target]
            assert crd_groups(files) <= OURS, f"{doc}: {path} carries another project's CRDs"
