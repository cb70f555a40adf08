"""The retry delay schedule and Retry-After parsing (pure, table-driven)."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from ptmcoder.llm.retry import backoff_delay, delay_schedule, parse_retry_after

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    "headers,expected",
    [
        (None, None),
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "soon"}, None),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"retry-after-ms": "bad", "Retry-After": "2"}, 2.0),
        ({"Retry-After": formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": formatdate(NOW - 30, usegmt=True)}, 0.0),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers, now=NOW) == expected


@pytest.mark.parametrize(
    "retry,base,cap,upper",
    [
        (0, 1.0, 60.0, 1.0),
        (1, 1.0, 60.0, 2.0),
        (3, 1.0, 60.0, 8.0),
        (10, 1.0, 60.0, 60.0),
        (4, 0.5, 5.0, 5.0),
    ],
)
def test_full_jitter_stays_within_the_exponential_ceiling(retry, base, cap, upper):
    rng = random.Random(42)
    draws = [backoff_delay(retry, base=base, cap=cap, rng=rng) for _ in range(500)]
    assert all(0.0 <= d <= upper for d in draws)
    assert max(draws) > 0.8 * upper  # full jitter spreads over the whole range
    assert min(draws) < 0.2 * upper


def test_retry_after_is_a_floor_with_bounded_jitter():
    rng = random.Random(0)
    draws = [backoff_delay(2, retry_after=4.0, rng=rng) for _ in range(200)]
    assert all(4.0 <= d <= 4.4 for d in draws)


def test_schedule_is_reproducible_with_a_seed():
    a = delay_schedule(5, seed=3)
    assert a == delay_schedule(5, seed=3)
    assert a != delay_schedule(5, seed=4)
    assert [round(d, 6) for d in delay_schedule(3, retry_afters=[1.0, None, 2.0], seed=0)][0] >= 1.0


def test_negative_retry_rejected():
    with pytest.raises(ValueError):
        backoff_delay(-1, rng=random.Random())
