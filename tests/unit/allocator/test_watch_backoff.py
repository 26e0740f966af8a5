"""The reflector's backoff as a pure function (issue 18, item 6): low caps for a server that is down or busy,
Retry-After honoured and bounded, a new count when the kind of failure changes."""

from __future__ import annotations

import pytest

from otel_operator.allocator.watch import (
    BackoffPolicy,
    BackoffState,
    Failure,
    classify,
    next_backoff,
    parse_retry_after,
    status_error,
)

POLICY = BackoffPolicy(initial=0.5, unreachable_max=1.0, unavailable_max=2.0, refused_max=30.0, retry_after_max=10.0)


def delays(failure: Failure, n: int, status: int | None = None) -> list[float]:
    state, out = BackoffState(), []
    for _ in range(n):
        step = next_backoff(POLICY, state, failure, status=status)
        state = step.state
        out.append(step.delay)
    return out


@pytest.mark.parametrize(
    ("failure", "status", "expected"),
    [
        (Failure.UNREACHABLE, None, [0.5, 1.0, 1.0, 1.0, 1.0, 1.0]),
        (Failure.UNAVAILABLE, 503, [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]),
        (Failure.REFUSED, 401, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]),
    ],
)
def test_delays_double_up_to_the_cap_of_the_failure(
    failure: Failure, status: int | None, expected: list[float]
) -> None:
    assert delays(failure, len(expected), status) == expected


def test_a_long_outage_never_waits_more_than_the_low_cap() -> None:
    assert max(delays(Failure.UNREACHABLE, 500)) == POLICY.unreachable_max


@pytest.mark.parametrize(
    ("status", "failure"),
    [(429, Failure.UNAVAILABLE), (500, Failure.UNAVAILABLE), (503, Failure.UNAVAILABLE), (504, Failure.UNAVAILABLE),
     (400, Failure.REFUSED), (401, Failure.REFUSED), (403, Failure.REFUSED), (422, Failure.REFUSED)],
)  # fmt: skip
def test_classify(status: int, failure: Failure) -> None:
    assert classify(status) is failure


def test_a_change_of_kind_starts_the_count_again() -> None:
    state = BackoffState()
    for _ in range(30):
        state = next_backoff(POLICY, state, Failure.UNREACHABLE).state
    first_answer = next_backoff(POLICY, state, Failure.UNAVAILABLE, status=503)
    assert first_answer.delay == POLICY.initial
    assert first_answer.changed
    assert first_answer.state == BackoffState(Failure.UNAVAILABLE, 503, 1)


def test_changed_only_when_the_kind_or_status_changes() -> None:
    one = next_backoff(POLICY, BackoffState(), Failure.UNAVAILABLE, status=503)
    two = next_backoff(POLICY, one.state, Failure.UNAVAILABLE, status=503)
    other = next_backoff(POLICY, two.state, Failure.UNAVAILABLE, status=500)
    assert (one.changed, two.changed, other.changed) == (True, False, True)
    assert other.state.attempts == 3  # same kind: the count goes on


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, 0.99])
def test_jitter_draws_between_half_and_the_full_delay(rand: float) -> None:
    state = BackoffState(Failure.REFUSED, 401, 3)  # the 4th attempt: 4 s before jitter
    delay = next_backoff(POLICY, state, Failure.REFUSED, status=401, rand=rand).delay
    assert delay == pytest.approx(4.0 * (1 - 0.5 * rand))
    assert 2.0 <= delay <= 4.0


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, 0.5), (3.0, 3.0), (0.1, 0.5), (600.0, 10.0), (-5.0, 0.5), (float("nan"), 0.5), (float("inf"), 0.5)],
)
def test_retry_after_is_the_least_delay_and_bounded(retry_after: float | None, expected: float) -> None:
    assert (
        next_backoff(POLICY, BackoffState(), Failure.UNAVAILABLE, status=429, retry_after=retry_after).delay == expected
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("7", 7.0),
        (" 2 ", 2.0),
        ("1.5", 1.5),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),  # now is 40 s: 100 - 40
        ("Thu, 01 Jan 1970 00:00:10 GMT", 0.0),  # in the past
        ("soon", None),
        ("-3", None),
        ("", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=40.0) == expected


def test_status_error_takes_retry_after_from_the_header_or_the_status() -> None:
    status = {"kind": "Status", "code": 429, "reason": "TooManyRequests", "details": {"retryAfterSeconds": 4}}
    assert status_error(429, status).retry_after == 4.0
    assert status_error(429, status, retry_after=1.0).retry_after == 1.0  # the header wins
    assert status_error(503, "unavailable").retry_after is None
    bad = {"code": 429, "details": {"retryAfterSeconds": True}}
    assert status_error(429, bad).retry_after is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"initial": float("inf")},
        {"unreachable_max": -1},
        {"jitter": 1.5},
        {"retry_after_max": float("nan")},
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        BackoffPolicy(**kwargs)
