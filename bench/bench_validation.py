"""Offline schema validation and defaulting: the cost the operator and `render` pay per resource."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from common import Result, measure
from otel_operator.api.validation import apply_defaults, validate

ROOT = Path(__file__).resolve().parent.parent
N = 1000


def run() -> list[Result]:
    docs = yaml.safe_load_all((ROOT / "examples" / "troubleshooting-guide.yaml").read_text())
    collector = next(d for d in docs if d["kind"] == "OpenTelemetryCollector")
    good = [copy.deepcopy(collector) for _ in range(N)]
    bad = copy.deepcopy(good)
    for doc in bad:
        doc["spec"]["mode"] = "statefull"
        doc["spec"]["targetAllocater"] = {}
    return [
        measure(f"validate {N} valid collectors", lambda: [validate(d) for d in good], N),
        measure(f"validate {N} collectors with 2 errors each", lambda: [validate(d) for d in bad], N),
        measure(f"apply_defaults to {N} collectors", lambda: [apply_defaults(d) for d in good], N),
    ]
