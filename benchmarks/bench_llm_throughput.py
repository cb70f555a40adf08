"""Throughput of OpenAIChatModel under a requests-per-minute ceiling.

The local OpenAI-compatible server answers after a fixed latency and enforces an
RPM ceiling (token bucket with a small burst; over it: 429 with Retry-After).
The client runs with the same RPM limit and enough concurrent tasks. Printed:
the achieved requests per minute as a share of the ceiling (target >= 0.90) and
the number of 429s the ceiling produced.

    python benchmarks/bench_llm_throughput.py [--rpm 600] [--seconds 30] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from llm_server import LLMServer  # noqa: E402

from ptmcoder.llm.base import ChatMessage, ChatRequest  # noqa: E402
from ptmcoder.llm.limiter import RateLimiter  # noqa: E402
from ptmcoder.llm.openai_client import OpenAIChatModel  # noqa: E402


async def drive(model: OpenAIChatModel, total: int, concurrency: int) -> tuple[int, int, float]:
    next_id = iter(range(total))
    ok = failed = 0

    async def worker() -> None:
        nonlocal ok, failed
        for i in next_id:
            request = ChatRequest(
                model="gpt-4o-mini",
                messages=[
                    ChatMessage(role="user", content=f"Stack Overflow question {i}: how do I ...")
                ],
            )
            try:
                await model.complete(request)
                ok += 1
            except Exception:
                failed += 1

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, failed, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rpm", type=float, default=600.0, help="the ceiling (server and client)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the run")
    p.add_argument("--latency", type=float, default=0.05, help="server latency per request")
    p.add_argument("--burst", type=float, default=2.0, help="server-side burst allowance")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    total = int(args.rpm / 60.0 * args.seconds)
    with LLMServer(latency=args.latency, rpm_limit=args.rpm, rpm_burst=args.burst) as server:
        model = OpenAIChatModel(
            "gpt-4o-mini", base_url=server.base_url, timeout=10, limiter=RateLimiter(rpm=args.rpm)
        )
        ok, failed, elapsed = asyncio.run(drive(model, total, args.concurrency))
        rate_limited = server.rate_limited
        times = list(server.request_times)
    achieved = ok / elapsed * 60.0
    # the same number over the server's own clock: first to last request received
    span = (times[-1] - times[0]) if len(times) > 1 else float("nan")
    result = {
        "ceiling_rpm": args.rpm,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "requests": total,
        "completed": ok,
        "failed": failed,
        "elapsed_s": round(elapsed, 3),
        "achieved_rpm": round(achieved, 1),
        "ratio": round(achieved / args.rpm, 4),
        "server_side_rpm": round((len(times) - 1) / span * 60.0, 1) if span == span else None,
        "http_429": rate_limited,
        "client_retries": model.stats["retries"],
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>16}: {v}")
        print("PASS" if result["ratio"] >= 0.90 else "FAIL", "(target ratio >= 0.90)")
    return 0 if result["ratio"] >= 0.90 else 1


if __name__ == "__main__":
    sys.exit(main())
