"""The client-side rate limiter, on an injected clock: the fake clock advances only
when the limiter sleeps, so every timing below is exact and independent of load."""

from __future__ import annotations

import asyncio

import pytest

from ptmcoder.llm.limiter import RateLimiter, RateLimitTooLow


class FakeClock:
    """``clock()`` and ``sleep(s)`` for a :class:`RateLimiter`: sleeping advances time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


def limiter(clock: FakeClock, **kw) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kw)


async def _stamps(lim: RateLimiter, clock: FakeClock, count: int, tokens: int = 0, tasks: int = 8):
    stamps: list[float] = []
    queue = list(range(count))

    async def worker():
        while queue:
            queue.pop()
            await lim.acquire(tokens)
            stamps.append(clock())

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return sorted(stamps)


def test_rpm_spaces_requests_evenly():
    # 1200 rpm = 20 per second: 21 requests take 1 s (the first one is free)
    clock = FakeClock()
    start = clock()
    stamps = asyncio.run(_stamps(limiter(clock, rpm=1200), clock, 21))
    assert stamps[-1] - start == pytest.approx(1.0)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.05)  # never two at once


def test_no_sliding_window_exceeds_its_share():
    clock = FakeClock()
    stamps = asyncio.run(_stamps(limiter(clock, rpm=3000), clock, 40))  # 50/s
    for i, t in enumerate(stamps):
        in_window = sum(1 for s in stamps[i:] if s < t + 0.2 - 1e-9)
        assert in_window <= 0.2 * 50 + 1


def test_tpm_limits_tokens():
    # 60000 tpm = 1000 tokens/s; a bucket of 500 tokens (0.5 s): 1000 tokens in
    # requests of 250 take 0.5 s (500 at once, 500 refilled over 0.5 s)
    clock = FakeClock()
    start = clock()
    asyncio.run(_stamps(limiter(clock, tpm=60_000, token_burst_s=0.5), clock, 4, tokens=250))
    assert clock() - start == pytest.approx(0.5)


def test_request_larger_than_bucket_is_not_starved():
    clock = FakeClock()
    lim = limiter(clock, tpm=6000, token_burst_s=1.0)  # bucket of 100 tokens
    asyncio.run(_stamps(lim, clock, 1, tokens=5_000))  # within a minute's 6000
    assert clock.sleeps == []


def test_request_larger_than_a_minute_of_tpm_is_refused_with_the_wait():
    # --tpm 1 with requests of ~1,500 tokens: each would wait ~1,500 minutes
    clock = FakeClock()
    lim = limiter(clock, tpm=1)
    with pytest.raises(RateLimitTooLow, match=r"--tpm 1 .*1,500 tokens.*1,500 minutes"):
        asyncio.run(lim.acquire(1500))
    assert clock.sleeps == [] and lim.acquired == 0


def test_pause_holds_everyone_back():
    clock = FakeClock()
    lim = limiter(clock, rpm=60_000)

    async def go():
        lim.pause(0.5)
        return await _stamps(lim, clock, 5)

    start = clock()
    stamps = asyncio.run(go())
    assert stamps[0] - start == pytest.approx(0.5)
    assert lim.pauses == 1


def test_unlimited_does_not_wait():
    clock = FakeClock()
    lim = limiter(clock)
    asyncio.run(_stamps(lim, clock, 100))
    assert clock.sleeps == [] and lim.acquired == 100


def test_the_real_clock_is_the_default():
    lim = RateLimiter(rpm=60_000)  # 1000/s: two requests, one 1 ms gap at most
    asyncio.run(lim.acquire())
    assert lim.acquired == 1


@pytest.mark.parametrize(
    "kw", [{"rpm": 0}, {"tpm": -5}, {"rpm": float("nan")}, {"tpm": float("inf")}]
)
def test_rejects_non_positive_or_non_finite_limits(kw):
    (name,) = kw
    with pytest.raises(RateLimitTooLow, match=f"--{name}"):
        RateLimiter(**kw)
