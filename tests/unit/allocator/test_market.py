"""`strategies.market.Market` against the specification, `ConsistentHashing.assign`: after every step of random
histories (targets added and removed in batches, the cap stepping up and down with their number, small and large
markets, with and without the load cap) the incremental assignment equals a from-scratch one, and `update` reports
exactly the targets whose collector changed."""

from __future__ import annotations

import random

import pytest

from otel_operator.allocator.strategies import Collector, ConsistentHashing, TargetRef
from otel_operator.allocator.strategies.market import Market


def _ref(i: int) -> TargetRef:
    return TargetRef(f"t{i:06d}", f"job{i % 7}", f"10.0.{i // 250}.{i % 250}:8080")


@pytest.mark.parametrize(
    "case",
    [
        (1, 3, 30, 200, 1, 1.1),
        (2, 10, 500, 150, 3, 1.1),
        (3, 5, 0, 150, 2, 1.1),  # from empty: every cap step on the way up
        (4, 1, 20, 60, 2, 1.1),
        (5, 30, 400, 100, 5, 1.1),  # few targets per collector: cap steps displace from many
        (6, 7, 300, 80, 4, None),  # plain rendezvous: no cap
        (7, 4, 50, 200, 1, 1.0),  # the tightest cap: ceil(n/m)
    ],
)
def test_every_step_equals_the_specification(case: tuple[int, int, int, int, int, float | None]) -> None:
    seed, collectors, start, steps, batch, load_factor = case
    rng = random.Random(seed)
    cs = [Collector(f"collector-{i}") for i in range(collectors)]
    spec = ConsistentHashing(load_factor=load_factor)
    alive = {i: _ref(i) for i in range(start)}
    market = Market(list(alive.values()), cs, load_factor)
    assert market.assignment() == spec.assign(list(alive.values()), cs)
    following = market.assignment()
    next_id = start
    for _ in range(steps):
        added, removed = [], []
        for _ in range(rng.randint(1, batch)):
            if alive and rng.random() < 0.45:
                gone = alive.pop(rng.choice(list(alive)))
                if gone in added:  # new in this batch: it never was (the model sends net changes)
                    added.remove(gone)
                else:
                    removed.append(gone.key)
            else:
                alive[next_id] = _ref(next_id)
                added.append(alive[next_id])
                next_id += 1
        changes = market.update(added, removed)
        expected = spec.assign(list(alive.values()), cs)
        assert market.assignment() == expected
        for key, collector in changes.items():
            if collector is None:
                following.pop(key, None)
            else:
                following[key] = collector
        assert following == expected  # the reported changes are enough to follow the assignment
        assert sum(market.load) == len(alive)
        assert max(market.load, default=0) <= market.cap


def test_without_collectors_nothing_is_assigned() -> None:
    market = Market([_ref(1)], [], 1.1)
    assert market.assignment() == {"t000001": None}
    assert market.update([_ref(2)], ["t000001"]) == {"t000001": None, "t000002": None}
    assert market.update([_ref(2)], ["t000002"]) == {"t000002": None}  # replaced: removed, then added again
    assert market.assignment() == {"t000002": None}


def test_a_change_moves_only_what_it_must() -> None:
    cs = [Collector(f"collector-{i}") for i in range(10)]
    refs = [_ref(i) for i in range(5000)]
    market = Market(refs, cs, 1.1)
    changes = market.update([_ref(99999)], [])
    assert "t099999" in changes
    assert len(changes) <= 3  # the new target, and at most a displaced one or two
