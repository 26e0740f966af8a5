"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Result:
    case: str
    median_s: float
    items: int
    repeats: int

    def row(self) -> str:
        per = self.median_s / self.items if self.items else 0.0
        rate = f"{self.items / self.median_s:,.0f}/s" if self.median_s else "-"
        return f"| {self.case} | {_fmt(self.median_s)} | {_fmt(per)} | {rate} | {self.repeats} |"


def _fmt(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.2f} {unit}"
    return f"{seconds / 1e-9:.0f} ns"


def measure(case: str, fn: Callable[[], object], items: int, repeats: int = 7) -> Result:
    fn()  # warm caches (compiled validators, imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return Result(case, statistics.median(times), items, repeats)
