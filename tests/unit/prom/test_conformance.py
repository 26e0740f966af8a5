"""The relabel conformance vectors (expected output produced by promtool), checked for the three properties their
README asks of a target allocator, and for promtool's own output.

The vectors were made by a Prometheus older than 3.13, which did not seed the three histogram labels yet; v3.14's
output for these configs is exactly the vectors plus those labels ("false" on every target: checked when
docs/fidelity.md was written). So ours is compared without them, and they are checked on their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from otel_operator.prom.labels import HISTOGRAM_LABELS, SCRAPE_DEFAULT_LABELS
from otel_operator.prom.promconfig import parse_config, service_discovery
from otel_operator.prom.targets import AssembledTarget, Mode

CASES = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "relabel"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "golden.json").is_file()) if CASES.is_dir() else []


def without_histogram_labels(labels: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in labels.items() if name not in HISTOGRAM_LABELS}


def load(case: str) -> tuple[str, list[dict[str, Any]]]:
    if not CASES.is_dir():
        pytest.skip(f"conformance vectors not found: {CASES} is missing")
    folder = CASES / case
    return (folder / "prometheus.yaml").read_text(), json.loads((folder / "golden.json").read_text())


def allocator_view(config_text: str) -> list[AssembledTarget]:
    """Every discovered target as the allocator assembles it, in promtool's order (jobs, then static configs)."""
    config = parse_config(config_text)
    return [
        target
        for job in config.jobs
        for group in config.static_groups[job.job_name]
        for target in job.assemble_group(group, Mode.ALLOCATOR)
    ]


def test_vectors_are_present() -> None:
    if not CASES.is_dir():
        pytest.skip(f"conformance vectors not found: {CASES} is missing")
    assert len(CASE_NAMES) >= 10


@pytest.mark.parametrize("case", CASE_NAMES or ["<none>"])
def test_promtool_output(case: str) -> None:
    """Our Prometheus semantics reproduce promtool's whole output, discovered labels included."""
    text, golden = load(case)
    ours = [entry for job in parse_config(text).jobs for entry in service_discovery(text, job.job_name)]
    for entry in ours:  # v3.13+: on every target, before and (when kept) after relabeling
        for key in ("discoveredLabels", *(["labels"] if entry["labels"] else [])):
            assert {name: entry[key][name] for name in HISTOGRAM_LABELS} == dict.fromkeys(HISTOGRAM_LABELS, "false")
    older = [{**e, "discoveredLabels": without_histogram_labels(e["discoveredLabels"]),
              "labels": without_histogram_labels(e["labels"])} for e in ours]  # fmt: skip
    assert older == golden


@pytest.mark.parametrize("case", CASE_NAMES or ["<none>"])
def test_keep_drop_parity(case: str) -> None:
    text, golden = load(case)
    targets = allocator_view(text)
    assert len(targets) == len(golden)
    assert [t.kept for t in targets] == [bool(g["labels"]) for g in golden]


@pytest.mark.parametrize("case", CASE_NAMES or ["<none>"])
def test_identity_is_promtools_label_set(case: str) -> None:
    """Two kept targets are the same target exactly when promtool gives them the same labels."""
    text, golden = load(case)
    kept = [(t, g["labels"]) for t, g in zip(allocator_view(text), golden, strict=True) if t.kept]
    for i, (target_a, labels_a) in enumerate(kept):
        assert without_histogram_labels(target_a.labels) == labels_a
        for target_b, labels_b in kept[i + 1 :]:
            assert (target_a.identity == target_b.identity) == (labels_a == labels_b)


@pytest.mark.parametrize("case", CASE_NAMES or ["<none>"])
def test_served_labels(case: str) -> None:
    """What the allocator serves is the discovered labels without the scrape defaults the collector adds."""
    text, golden = load(case)
    for target, expected in zip(allocator_view(text), golden, strict=True):
        if target.kept:
            served = {k: v for k, v in expected["discoveredLabels"].items() if k not in SCRAPE_DEFAULT_LABELS}
            assert dict(target.served_labels) == served
