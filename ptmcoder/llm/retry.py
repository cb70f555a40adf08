"""The retry policy: exponential backoff with full jitter, honouring ``Retry-After``.

Only 429, 5xx, timeouts and connection failures are retried (see
:mod:`ptmcoder.llm.errors`). The delay before retry ``k`` (0-based) is drawn from
``uniform(0, min(cap, base * 2**k))`` ("full jitter", Brooker, *Exponential
Backoff And Jitter*, AWS Architecture Blog, 2015). When the server says how long
to wait (``retry-after-ms`` or ``Retry-After`` as seconds or an HTTP date), the
delay is that value plus up to ``retry_after_jitter`` of it, never less.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ptmcoder.llm.errors import LLMError

T = TypeVar("T")


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` / ``Retry-After``, or None.

    ``Retry-After`` is either delta-seconds or an HTTP date (RFC 9110, 10.2.3).
    Negative or unparseable values give None; a date in the past gives 0.
    """
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return value if value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff_delay(
    retry: int,
    *,
    base: float = 1.0,
    cap: float = 60.0,
    retry_after: float | None = None,
    retry_after_jitter: float = 0.1,
    rng: random.Random,
) -> float:
    """The delay before retry number ``retry`` (0 for the first retry)."""
    if retry < 0:
        raise ValueError("retry must be >= 0")
    if retry_after is not None:
        return retry_after + rng.uniform(0.0, retry_after_jitter * retry_after)
    return rng.uniform(0.0, min(cap, base * (2.0**retry)))


def delay_schedule(
    retries: int,
    *,
    base: float = 1.0,
    cap: float = 60.0,
    retry_afters: list[float | None] | None = None,
    seed: int = 0,
) -> list[float]:
    """The delays of ``retries`` consecutive retries with a seeded RNG (pure)."""
    rng = random.Random(seed)
    afters = retry_afters or [None] * retries
    return [
        backoff_delay(k, base=base, cap=cap, retry_after=afters[k], rng=rng) for k in range(retries)
    ]


@dataclass
class RetryPolicy:
    """How many times to retry and how long to wait; the RNG is injectable."""

    max_retries: int = 6
    base: float = 1.0
    cap: float = 60.0
    #: a server asking for a longer wait than this fails the call instead
    max_retry_after: float = 300.0
    retry_after_jitter: float = 0.1
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        return backoff_delay(
            retry,
            base=self.base,
            cap=self.cap,
            retry_after=retry_after,
            retry_after_jitter=self.retry_after_jitter,
            rng=self.rng,
        )


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    classify: Callable[[BaseException], LLMError | None],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    on_retry: Callable[[LLMError], None] | None = None,
) -> T:
    """The one retry loop of every model client: ``await call()`` until it succeeds.

    An exception is turned into an :class:`~ptmcoder.llm.errors.LLMError` by
    ``classify`` (None: not a model error, re-raised as is). A retryable error (429,
    5xx, timeout, connection) is retried up to ``policy.max_retries`` times after
    ``policy.delay``; any other error, the last one, or a server asking to wait longer
    than ``policy.max_retry_after`` is raised. ``on_retry`` sees each error that is
    retried (counters, pausing a rate limiter)."""
    retries = 0
    while True:
        try:
            return await call()
        except Exception as exc:  # classified below; not ours: re-raised
            error = classify(exc)
            if error is None:
                raise
            if not error.retryable or retries >= policy.max_retries:
                raise error from exc
            if error.retry_after is not None and error.retry_after > policy.max_retry_after:
                error.message += (
                    f" (the server asks to wait {error.retry_after:.0f} s, "
                    f"more than the {policy.max_retry_after:.0f} s allowed)"
                )
                raise error from exc
            if on_retry is not None:
                on_retry(error)
            delay = policy.delay(retries, error.retry_after)
            retries += 1
            await sleep(delay)
