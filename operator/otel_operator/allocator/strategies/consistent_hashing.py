"""consistent-hashing (the default): rendezvous hashing with a load cap, solved as a stable matching.

Every target ranks the collectors by the rendezvous score `pair_score(h(target), h(collector))` (highest first), and
every collector holds at most `cap = max(ceil(n/m), floor(load_factor * n/m))` targets, preferring the targets that
score highest on it. The result is the unique stable matching of that market (targets propose, collectors keep
their best `cap` proposals, the rejected propose to their next choice). Because both sides rank by the same pair
score it is also what a greedy pass over all pairs in descending score would give, so it does **not** depend on the
order of the inputs: replicas agree without talking, and the assignment is a pure function of (targets, collectors).
Target changes only move the changed targets, plus the few displaced at full collectors or by a step of the cap.

Why not buraksezer/consistent like upstream: with 5 virtual nodes per collector its load spread is about 0.2 (relative
std-dev) and a join or leave moves 1.1-2x the ideal number of targets. Measured here (blake2b-64, targets
`10.T.x.y:8080/jobK`, collectors `collector-i`, 4 target sets; `bench/bench_allocation.py` prints the current table;
join ideal = n/(m+1), leave ideal = the leaving collector's targets; "max/mean" = busiest collector over the mean):

    n / m          max/mean   join mean (max)   leave mean (max)
    10000 / 10     1.06       1.00 (1.05)       1.00 (1.00)
    10000 / 50     1.10       1.05 (1.08)       1.04 (1.05)
    1000 / 10      1.10       1.03 (1.13)       1.04 (1.07)
    100 / 5        1.10       1.11 (1.26)       1.02 (1.09)
    500 / 30       1.08       1.75 (1.92)       1.53 (1.60)

So the balance bound (busiest within 10 % of the mean) holds whenever n/m >= 10, and the churn bound (<= 1.1x ideal)
holds on average for n/m >= 100, with single joins up to about 1.13x. Below that the cap is a handful of targets,
and one cap step (e.g. 18 -> 17 at 500 / 30 -> 31) displaces targets from every full collector: churn reaches 2x
ideal at about 17 targets per collector. That is the price of the 10 % balance bound; plain rendezvous hashing
(`load_factor=None`) moves exactly the ideal expected number but its spread is binomial (about 1 + 3/sqrt(n/m)).
Tried in a scratch simulation and rejected: a second hash for the collectors' ranking (worse: 500 / 30 join 2.3x),
collectors ranking by score margin (about equal), tighter caps (worse at n/m >= 100: load 1.04 gives 1.24x join at
10000 / 50) and `ceil(n/m) + 1` (better only at small n/m, 500 / 30 join 1.5x, but 1.4x at 10000 / 50).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .hashing import Collector, TargetRef, hash64, score_rows


def load_cap(n: int, m: int, load_factor: float) -> int:
    """Most targets one collector may hold: `load_factor` x the mean, but never below what fits all targets."""
    return max(math.ceil(n / m), math.floor(load_factor * n / m))


def capacity_match(target_hashes: list[int], collector_hashes: list[int], caps: Sequence[int]) -> list[int]:
    """Index of the collector for every target: the stable matching under rendezvous scores and capacities.

    Ties in score (vanishingly rare with 64 bits) are broken by index, consistently on both sides, so the matching is
    unique when the callers pass targets and collectors in a canonical (sorted) order. `sum(caps)` must be >= the
    number of targets.
    """
    rows = score_rows(target_hashes, collector_hashes)
    return match_rows(rows, [first_choice(row) for row in rows], caps)


def first_choice(row: list[int]) -> int:
    """The collector a target scores highest on (the lower index on a tie)."""
    return max(range(len(row)), key=row.__getitem__)


def match_rows(rows: list[list[int]], first: list[int], caps: Sequence[int]) -> list[int]:
    """`capacity_match` from precomputed score rows and first choices (which callers may cache per target)."""
    return _deferred_acceptance(rows, first, caps)[0]


def _deferred_acceptance(
    rows: list[list[int]], first: list[int], caps: Sequence[int]
) -> tuple[list[int], dict[int, list[int]], dict[int, int]]:
    """The matching, and for every target rejected at least once its ranking of the collectors and the position in
    it of the collector it ended with (what `market.Market` continues from)."""
    m = len(caps)
    cols = range(m)
    chosen = first  # most targets never need more than their first choice
    proposals: list[list[tuple[int, int]]] = [[] for _ in cols]
    for t, c in enumerate(first):
        proposals[c].append((rows[t][c], t))
    held: list[list[tuple[int, int]]] = []  # per collector: min-heap of (score, target) it keeps
    rejected: list[int] = []
    for c in cols:
        offers = proposals[c]
        if len(offers) > caps[c]:
            offers.sort(reverse=True)
            rejected += [t for _, t in offers[caps[c] :]]
            offers = offers[: caps[c]]
        heapq.heapify(offers)
        held.append(offers)
    ranking: dict[int, list[int]] = {}
    tried: dict[int, int] = {}
    if not rejected:
        return chosen, ranking, tried
    # deferred acceptance for the overflow: each rejected target walks down its own ranking
    while rejected:
        t = rejected.pop()
        order = ranking.get(t)
        if order is None:
            row = rows[t]
            order = ranking[t] = sorted(cols, key=lambda c: (row[c], c), reverse=True)
        k = tried.get(t, 0) + 1  # its first choice already said no
        tried[t] = k
        c = order[k]
        offer = (rows[t][c], t)
        heap = held[c]
        if len(heap) < caps[c]:
            heapq.heappush(heap, offer)
        elif heap and offer > heap[0]:  # a collector with capacity 0 takes nothing
            rejected.append(heapq.heapreplace(heap, offer)[1])
        else:
            rejected.append(t)
    chosen = [0] * len(rows)
    for c, heap in enumerate(held):
        for _, t in heap:
            chosen[t] = c
    return chosen, ranking, tried


def canonical(targets: Sequence[TargetRef], collectors: Sequence[Collector]) -> tuple[list[TargetRef], list[Collector]]:
    """Targets sorted and unique by key, collectors by name: the order the pure functions work in."""
    return (
        sorted({t.key: t for t in targets}.values(), key=lambda t: t.key),
        sorted({c.name: c for c in collectors}.values(), key=lambda c: c.name),
    )


@dataclass(frozen=True, slots=True)
class ConsistentHashing:
    """Rendezvous hashing with a load cap; see the module docstring. `load_factor=None` disables the cap."""

    load_factor: float | None = 1.1
    name: str = "consistent-hashing"
    # Score rows and first choices by target key, for one collector set: a reassignment after a few targets
    # changed scores only those (the rows were two thirds of a reassignment's time at 100k targets). The result
    # is the same as without it: the cache holds pure values.
    _rows: dict[tuple[str, ...], dict[str, tuple[list[int], int]]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    def assign(self, targets: Sequence[TargetRef], collectors: Sequence[Collector]) -> dict[str, str | None]:
        ts, cs = canonical(targets, collectors)
        if not cs:
            return {t.key: None for t in ts}
        n, m = len(ts), len(cs)
        cap = n if self.load_factor is None else load_cap(n, m, self.load_factor)
        names = tuple(c.name for c in cs)
        memo = self._rows.get(names)
        if memo is None:  # another collector set: the old rows are of no use
            self._rows.clear()
            memo = self._rows[names] = {}
        missing = [t for t in ts if t.key not in memo]
        if missing:
            fresh = score_rows([hash64(t.key) for t in missing], [hash64(name) for name in names])
            for t, row in zip(missing, fresh, strict=True):
                memo[t.key] = (row, first_choice(row))
        if len(memo) > 2 * n + 1024:  # targets come and go: keep only the current ones
            current = {t.key: memo[t.key] for t in ts}
            memo.clear()
            memo.update(current)
        pairs = [memo[t.key] for t in ts]
        chosen = match_rows([p[0] for p in pairs], [p[1] for p in pairs], [cap] * m)
        return {t.key: cs[c].name for t, c in zip(ts, chosen, strict=True)}
