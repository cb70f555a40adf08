"""Client-side rate limits: requests per minute and tokens per minute.

Two token buckets refilled continuously. The request bucket holds ``burst``
requests (default 1, so requests are spaced ``60/rpm`` seconds apart and no
window of any length sees more than its share plus one). The token bucket holds
``tpm / 60 * token_burst_s`` tokens; a request larger than the bucket waits for a
full bucket and then overdraws it, so it is never starved.

A limit must be a finite positive number (leave it out for no limit), and a request
must fit in one minute of the token budget: a request of more tokens than ``tpm`` is
refused with :class:`RateLimitTooLow` when it is sized, before anything is sent
(``--tpm 1`` made every request of about 1,500 tokens wait about 1,500 minutes,
silently).

Waiters are served first come, first served. After a 429 the client calls
:meth:`RateLimiter.pause` with the server's ``Retry-After`` so that every task
holds back, not only the one that was refused.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from ptmcoder.errors import ConfigError

#: waits shorter than this are rounding remainders of the bucket arithmetic
_EPSILON = 1e-9


class RateLimitTooLow(ConfigError, ValueError):
    """A limit that is not a finite positive number, or a ``tpm`` below the tokens of
    one request (which would wait ``tokens / tpm`` minutes): a setting to fix."""


def check_limit(name: str, value: float | None) -> None:
    """``value`` is None (no limit) or a finite positive number; else
    :class:`RateLimitTooLow` naming ``--name``."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise RateLimitTooLow(
            f"--{name} {value!r}: a limit must be a finite number above 0",
            hint=f"leave --{name} out for no limit",
        )


def minutes_per_request(tokens: int, tpm: float) -> float:
    """How long one request of ``tokens`` tokens holds a ``tpm`` budget, in minutes.

    >>> minutes_per_request(1500, 1)
    1500.0
    """
    return tokens / tpm


class RateLimiter:
    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        burst: float = 1.0,
        token_burst_s: float = 6.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        check_limit("rpm", rpm)
        check_limit("tpm", tpm)
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._sleep = sleep
        now = clock()
        self._req_rate = rpm / 60.0 if rpm else None
        self._req_cap = max(1.0, burst)
        self._req = self._req_cap
        self._tok_rate = tpm / 60.0 if tpm else None
        self._tok_cap = max(1.0, tpm / 60.0 * token_burst_s) if tpm else 0.0
        self._tok = self._tok_cap
        self._last = now
        self._paused_until = 0.0
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.acquired = 0
        self.waited_s = 0.0
        self.pauses = 0

    def _get_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    def _refill(self, now: float) -> None:
        dt = max(0.0, now - self._last)
        self._last = now
        if self._req_rate:
            self._req = min(self._req_cap, self._req + dt * self._req_rate)
        if self._tok_rate:
            self._tok = min(self._tok_cap, self._tok + dt * self._tok_rate)

    def _wait_needed(self, tokens: int, now: float) -> float:
        wait = max(0.0, self._paused_until - now)
        if self._req_rate and self._req < 1.0:
            wait = max(wait, (1.0 - self._req) / self._req_rate)
        if self._tok_rate:
            need = min(float(tokens), self._tok_cap)
            if self._tok < need:
                wait = max(wait, (need - self._tok) / self._tok_rate)
        return wait

    async def acquire(self, tokens: int = 0) -> float:
        """Wait until one request of ``tokens`` tokens may be sent; returns the wait.
        A request of more tokens than ``tpm`` is refused (:class:`RateLimitTooLow`)."""
        if self.tpm and tokens > self.tpm:
            minutes = minutes_per_request(tokens, self.tpm)
            raise RateLimitTooLow(
                f"--tpm {self.tpm:g} is below one request's estimated {tokens:,} tokens: "
                f"each request would wait about {minutes:,.0f} minutes for its tokens",
                hint=f"set --tpm to at least {tokens:,} (a request's tokens), or leave it out",
            )
        if self._req_rate is None and self._tok_rate is None and not self._paused_until:
            self.acquired += 1
            return 0.0
        start = self._clock()
        async with self._get_lock():
            while True:
                now = self._clock()
                self._refill(now)
                wait = self._wait_needed(tokens, now)
                if wait <= _EPSILON:  # a rounding remainder: the clock may not advance
                    break
                await self._sleep(wait)
            if self._req_rate:
                self._req -= 1.0
            if self._tok_rate:
                self._tok -= tokens
        waited = self._clock() - start
        self.acquired += 1
        self.waited_s += waited
        return waited

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (after a 429 with Retry-After)."""
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self.pauses += 1

    def adjust(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once the real usage of a request is known."""
        if self._tok_rate:
            self._tok = min(self._tok_cap, self._tok + (estimated - actual))
