"""consistent-hashing's matching kept up to date target by target: what a change costs is what it moves.

`ConsistentHashing.assign` (the specification) solves the whole market from scratch: every target ranks the
collectors by rendezvous score, every collector keeps its `cap` best proposals. Both sides rank by the same pair
score, so the stable matching is unique, and any sequence of steps that ends in a stable matching ends in *that* one.
`Market` keeps the matching and takes the steps a change needs:

- a new target proposes down its ranking (deferred acceptance): a full collector takes it only by rejecting its
  weakest target, which proposes on from where it was;
- a removed target leaves a vacancy, filled by the best target that ranks that collector above its own (every such
  target was rejected there once, so each collector keeps the targets it rejected in a heap); the target that moves
  leaves a vacancy in turn, and so on until a collector has no such candidate;
- a step of the cap (`load_cap` follows the number of targets) gives every collector a vacancy, or makes every
  collector over it reject its weakest.

Heaps drop stale entries lazily (a target gone, or no longer below that collector in its ranking). Nothing is stored
per (target, collector) pair: a score is recomputed from the two 64-bit hashes when needed, and a target's full
ranking is kept only once it has been rejected somewhere. Ties of 64-bit scores are not reproduced exactly (the
specification breaks them by index; they do not occur in practice). `tests/unit/allocator/test_market.py` checks
the result against `assign` after every step of random histories.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from .consistent_hashing import _deferred_acceptance, first_choice, load_cap
from .hashing import MASK64, Collector, TargetRef, hash64, score_rows

_MUL = 0x9E3779B97F4A7C15  # the mix of hashing.pair_score, inlined in the hot paths


def _score(target_hash: int, collector_hash: int) -> int:
    x = target_hash ^ collector_hash
    return ((x ^ (x >> 32)) * _MUL) & MASK64


class Market:
    """The consistent-hashing assignment of a changing target set over a fixed collector set."""

    def __init__(
        self, targets: Sequence[TargetRef], collectors: Sequence[Collector], load_factor: float | None
    ) -> None:
        cs = sorted({c.name: c for c in collectors}.values(), key=lambda c: c.name)
        self.names = tuple(c.name for c in cs)
        self.hashes = [hash64(name) for name in self.names]
        self.load_factor = load_factor
        ts = sorted({t.key: t for t in targets}.values(), key=lambda t: t.key)
        self.refs: dict[str, TargetRef] = {t.key: t for t in ts}
        self.thash: dict[str, int] = {t.key: hash64(t.key) for t in ts}
        m = len(self.names)
        self.cap = self._cap(len(ts))
        self.where: dict[str, int] = {}  # target key → collector index
        self.load = [0] * m
        self.held: list[list[tuple[int, str]]] = [[] for _ in range(m)]  # min-heaps of (score, key)
        self.rejected: list[list[tuple[int, str]]] = [[] for _ in range(m)]  # min-heaps of (-score, key)
        self.ranking: dict[str, list[int]] = {}  # a target's collectors, best first, once it was rejected
        self._moves: dict[str, int | None] = {}
        if not m or not ts:
            return
        rows = score_rows([self.thash[t.key] for t in ts], self.hashes)
        chosen, ranking, tried = _deferred_acceptance(rows, [first_choice(r) for r in rows], [self.cap] * m)
        keys = [t.key for t in ts]
        for t, c in enumerate(chosen):
            key = keys[t]
            self.where[key] = c
            self.load[c] += 1
            self.held[c].append((rows[t][c], key))
        for t, order in ranking.items():
            key = keys[t]
            self.ranking[key] = order
            for above in order[: tried[t]]:
                self.rejected[above].append((-rows[t][above], key))
        for heap in (*self.held, *self.rejected):
            heapq.heapify(heap)

    def _cap(self, n: int) -> int:
        m = len(self.names)
        if not m:
            return 0
        return n if self.load_factor is None else load_cap(n, m, self.load_factor)

    # ---------------------------------------------------------------------------------------------- reading

    def assignment(self) -> dict[str, str | None]:
        names = self.names
        if not names:
            return dict.fromkeys(self.refs)
        return {key: names[c] for key, c in self.where.items()}

    # ---------------------------------------------------------------------------------------------- changing

    def update(self, added: Iterable[TargetRef], removed: Iterable[str]) -> dict[str, str | None]:
        """Remove targets, then add targets (a key in both is replaced: a new ref); the new collector of every target
        whose collector changed (None: removed)."""
        self._moves = {}
        gone = [key for key in dict.fromkeys(removed) if key in self.refs]
        for key in gone:
            del self.refs[key]
        fresh = [t for t in {t.key: t for t in added}.values() if t.key not in self.refs]
        for t in fresh:
            self.refs[t.key] = t
        if not self.names:
            return {**dict.fromkeys(gone), **dict.fromkeys((t.key for t in fresh), None)}
        cap = self._cap(len(self.refs))
        if cap > self.cap:  # first: so that everything fits while the targets come in
            self.cap = cap
            self._fill(range(len(self.names)))
        for key in gone:
            self._remove(key)
        for t in fresh:
            self.thash[t.key] = hash64(t.key)
            self._propose(t.key, 0)
        if cap < self.cap:
            self.cap = cap
            for c in range(len(self.names)):
                while self.load[c] > cap:
                    self._evict(c)
        self._compact()
        names = self.names
        return {key: (None if c is None else names[c]) for key, c in self._moves.items()}

    def _remove(self, key: str) -> None:
        c = self.where.pop(key)
        del self.thash[key]
        self.ranking.pop(key, None)
        self.load[c] -= 1
        self._moves[key] = None
        self._fill((c,))

    def _order(self, key: str) -> list[int]:
        order = self.ranking.get(key)
        if order is None:
            h = self.thash[key]
            scores = [_score(h, ch) for ch in self.hashes]
            order = self.ranking[key] = sorted(range(len(scores)), key=lambda c: (scores[c], c), reverse=True)
        return order

    def _first(self, key: str) -> int:
        h = self.thash[key]
        scores = [_score(h, ch) for ch in self.hashes]
        return first_choice(scores)

    def _weakest(self, c: int) -> tuple[int, str]:
        heap, where = self.held[c], self.where
        while where.get(heap[0][1]) != c:
            heapq.heappop(heap)
        return heap[0]

    def _propose(self, key: str, k: int) -> None:
        """Deferred acceptance for `key` from position `k` of its ranking, and for whoever it displaces."""
        pending = [(key, k)]
        while pending:
            key, k = pending.pop()
            h = self.thash[key]
            while True:
                c = self._first(key) if k == 0 and key not in self.ranking else self._order(key)[k]
                score = _score(h, self.hashes[c])
                if self.load[c] < self.cap:
                    self._accept(key, c, score)
                    break
                if self.cap and (score, key) > self._weakest(c):
                    _, loser = heapq.heapreplace(self.held[c], (score, key))
                    self._take(key, c)
                    self.load[c] -= 1  # the loser's leaving
                    heapq.heappush(self.rejected[c], (-_score(self.thash[loser], self.hashes[c]), loser))
                    del self.where[loser]
                    pending.append((loser, self._position(loser, c) + 1))
                    break
                heapq.heappush(self.rejected[c], (-score, key))
                if k == 0:
                    k = self._order(key).index(c)  # the first choice said no: walk the ranking from there
                k += 1

    def _position(self, key: str, c: int) -> int:
        return self._order(key).index(c) if key in self.ranking or c != self._first(key) else 0

    def _accept(self, key: str, c: int, score: int) -> None:
        heapq.heappush(self.held[c], (score, key))
        self._take(key, c)

    def _take(self, key: str, c: int) -> None:
        self.where[key] = c
        self.load[c] += 1
        self._moves[key] = c

    def _evict(self, c: int) -> None:
        """`c` is over the cap: its weakest target goes, and proposes on."""
        _, loser = self._weakest(c)
        heapq.heappop(self.held[c])
        del self.where[loser]
        self.load[c] -= 1
        heapq.heappush(self.rejected[c], (-_score(self.thash[loser], self.hashes[c]), loser))
        self._propose(loser, self._position(loser, c) + 1)

    def _fill(self, vacancies: Iterable[int]) -> None:
        """Give every vacancy to the best target that ranks its collector above its own, chain by chain."""
        queue = list(vacancies)
        while queue:
            c = queue.pop()
            heap = self.rejected[c]
            while self.load[c] < self.cap and heap:
                neg, key = heapq.heappop(heap)
                now = self.where.get(key)
                if now is None or _score(self.thash[key], self.hashes[now]) >= -neg:
                    continue  # gone, or it has since found a collector it ranks higher
                self.load[now] -= 1
                heapq.heappush(self.held[c], (-neg, key))
                self._take(key, c)
                queue.append(now)

    def _compact(self) -> None:
        """Drop stale heap entries once a heap is mostly stale (the lazy deletions would otherwise pile up)."""
        limit = 2 * (len(self.refs) // max(1, len(self.names))) + 1024
        where, thash, hashes = self.where, self.thash, self.hashes
        for c, heap in enumerate(self.held):
            if len(heap) > limit:
                heap[:] = [e for e in heap if where.get(e[1]) == c]
                heapq.heapify(heap)
        for heap in self.rejected:
            if len(heap) > limit:
                kept = []
                for neg, key in heap:
                    now = where.get(key)
                    if now is not None and _score(thash[key], hashes[now]) < -neg:
                        kept.append((neg, key))
                heap[:] = kept
                heapq.heapify(heap)
