"""Benchmark: ``stats difficulty`` and ``stats popularity`` on 10 million questions.

Generates ``benchmarks/_work/so_<rows>.parquet`` (git-ignored) with the unit schema
(:data:`ptmcoder.corpus.schema.UNIT_SCHEMA`), in chunks with numpy and pyarrow,
then runs, each in a fresh child process so that its peak RSS is its own:

1. ``raw_scan``: pyarrow decoding, batch by batch, every column ``difficulty`` reads
   (``created_at``, ``tags`` with every tag string, ``accepted_answer_id``,
   ``accepted_answer_at``, ``answer_count``, ``view_count``), for context;
2. ``duckdb_scan``, the reference: DuckDB reducing those columns to one number each;
3. ``difficulty`` with Tan et al.'s 18 tags;
4. ``duckdb_scan_pop``, popularity's reference: the same over ``created_at`` and ``tags``;
5. ``popularity`` with Tan et al.'s 18 tags.

The sequence runs ``--repeat`` times (default 3), so each analysis is timed right
after its reference under the same load; it prints every time, the ratio
analysis / reference of each run and their median (target: at most 2), the peak
RSS of each step (the child's ``ru_maxrss``), and fails if a step reaches 1 GiB.
Imports happen before the clock and are reported apart (scipy.stats and pandas
take seconds on the loaded box; a fixed cost, not a per-row one). Usage::

    python benchmarks/bench_stats.py [--rows 10000000] [--repeat 3] [--memory-limit 1GB]
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ptmcoder.corpus.schema import UNIT_SCHEMA
from ptmcoder.stats.engine import TAN2024_PTM_TAGS

WORK = Path(__file__).resolve().parent / "_work"
LIMIT_BYTES = 1024**3
T0 = np.datetime64("2018-01-01T00:00:00", "us").astype(np.int64)
T1 = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)


def _chunk(rng: np.random.Generator, start: int, n: int, ptm_share: float) -> pa.Table:
    ids = np.arange(start, start + n, dtype=np.int64)
    id_str = pc.cast(pa.array(ids), pa.string())
    vocab = pa.array([f"tag{i}" for i in range(20_000)] + list(TAN2024_PTM_TAGS))
    n_tags = rng.integers(1, 6, n)
    offsets = np.concatenate([[0], np.cumsum(n_tags)]).astype(np.int32)
    # Zipf-like tag popularity over the ordinary vocabulary
    idx = np.minimum(rng.zipf(1.3, offsets[-1]) - 1, 19_999)
    is_ptm = rng.random(n) < ptm_share
    first = offsets[:-1][is_ptm]
    idx[first] = 20_000 + rng.choice(len(TAN2024_PTM_TAGS), first.size, p=_tag_weights())
    tags = pa.ListArray.from_arrays(pa.array(offsets), vocab.take(pa.array(idx)))
    created = rng.integers(T0, T1, n)
    p_acc = np.where(is_ptm, 0.261, 0.422)
    accepted = rng.random(n) < p_acc
    rt_us = (np.exp(rng.normal(np.where(is_ptm, 6.7, 4.0), 2.2, n)) * 60e6).astype(np.int64)
    acc_at = np.where(accepted, created + rt_us, 0)
    titles = pa.array([f"How do I fix error {i} when calling the model?" for i in range(1000)])
    bodies = pa.array([f"I get error {i} ```x = f({i})``` what does it mean?" for i in range(100)])
    ts = pa.timestamp("us", tz="UTC")
    cols = {
        "id": pc.binary_join_element_wise("so:", id_str, ""),
        "platform": pa.array(np.full(n, "stackoverflow", dtype=object), pa.string()),
        "url": pc.binary_join_element_wise("https://stackoverflow.com/questions/", id_str, ""),
        "title": titles.take(pa.array(rng.integers(0, 1000, n))),
        "body": bodies.take(pa.array(rng.integers(0, 100, n))),
        "tags": tags,
        "created_at": pa.array(created, ts),
        "score": pa.array(rng.poisson(1.5, n).astype(np.int64)),
        "view_count": pa.array(np.exp(rng.normal(5.5, 1.3, n)).astype(np.int64) + 1),
        "answer_count": pa.array(rng.poisson(np.where(is_ptm, 0.9, 1.3)).astype(np.int64)),
        "comment_count": pa.array(rng.poisson(2.0, n).astype(np.int64)),
        "accepted_answer_at": pa.array(acc_at, ts, mask=~accepted),
        "project": pa.array(np.full(n, "stackoverflow.com", dtype=object), pa.string()),
        "state": pa.nulls(n, pa.string()),
        "closed_at": pa.nulls(n, ts),
        "source": pa.array(np.full(n, "bench_stats.py", dtype=object), pa.string()),
    }
    acc_id = pc.binary_join_element_wise("a", pc.cast(pa.array(ids + 10**9), pa.string()), "")
    cols["accepted_answer_id"] = pc.if_else(
        pa.array(accepted), acc_id, pa.scalar(None, pa.string())
    )
    return pa.Table.from_pydict(cols, schema=UNIT_SCHEMA)


def _tag_weights() -> np.ndarray:
    # Table I frequencies of Tan et al.
    w = np.array(
        [2563, 1763, 1053, 423, 413, 403, 245, 219, 187, 174, 142, 114, 107, 62, 32, 22, 14, 6],
        dtype=np.float64,
    )
    return w / w.sum()


def generate(
    path: Path, rows: int, *, chunk: int = 1_000_000, seed: int = 0, ptm_share: float = 0.01
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, UNIT_SCHEMA, compression="zstd") as writer:
        for start in range(0, rows, chunk):
            writer.write_table(
                _chunk(rng, start, min(chunk, rows - start), ptm_share), row_group_size=256 * 1024
            )
            print(f"  generated {min(start + chunk, rows):,} rows", file=sys.stderr)
    tmp.rename(path)


def _duckdb_scan(path: str, memory_limit: str, threads: int) -> dict:
    """The reference for ``difficulty``: DuckDB reducing each column it reads to one number."""
    from ptmcoder.stats.engine import connect

    con = connect(memory_limit=memory_limit, threads=threads)
    row = con.execute(f"""SELECT count(*), sum(len(tags)), count(accepted_answer_id),
        epoch_ms(max(accepted_answer_at)), sum(answer_count), sum(view_count),
        epoch_ms(min(created_at))
        FROM read_parquet('{path}')""").fetchone()
    return {"rows": row[0]}


def _duckdb_scan_pop(path: str, memory_limit: str, threads: int) -> dict:
    """The reference for ``popularity``: the same over the two columns it reads."""
    from ptmcoder.stats.engine import connect

    con = connect(memory_limit=memory_limit, threads=threads)
    row = con.execute(f"""SELECT count(*), sum(len(tags)), epoch_ms(min(created_at))
        FROM read_parquet('{path}')""").fetchone()
    return {"rows": row[0]}


NEEDED = [
    "created_at",
    "tags",
    "accepted_answer_id",
    "accepted_answer_at",
    "answer_count",
    "view_count",
]


def _arrow_scan(path: str, memory_limit: str, threads: int) -> dict:
    """Decode every needed column (every tag string included) batch by batch."""
    pa.set_cpu_count(threads)
    rows = 0
    for batch in pq.ParquetFile(path).iter_batches(columns=NEEDED, batch_size=256 * 1024):
        rows += batch.num_rows
    return {"rows": rows}


def _difficulty(path: str, memory_limit: str, threads: int) -> dict:
    from ptmcoder.stats.difficulty import difficulty

    r = difficulty(Path(path), memory_limit=memory_limit, threads=threads)
    g = {x.name: x for x in r.groups}
    return {
        "n_ptm": g["ptm"].n,
        "n_other": g["non-ptm"].n,
        "pct_no_acc_ptm": round(g["ptm"].pct_no_acc, 4),
        "pct_no_acc_other": round(g["non-ptm"].pct_no_acc, 4),
        "chi2": round(r.tests[0].chi2, 2),
    }


def _popularity(path: str, memory_limit: str, threads: int) -> dict:
    from ptmcoder.stats.popularity import popularity

    r = popularity(Path(path), memory_limit=memory_limit, threads=threads)
    return {"n_ptm": r.n, "years": len(r.per_year), "top_tag": r.top_tags[0][0]}


#: modules each step imports, loaded before its clock starts and timed apart: scipy.stats
#: alone takes 1-3 s to import on the loaded box, and pyarrow imports pandas (0.4-1 s)
#: on its first ``pa.array`` call; fixed costs that do not grow with the rows
IMPORTS = {
    "_difficulty": ["ptmcoder.stats.difficulty", "pandas"],
    "_popularity": ["ptmcoder.stats.popularity", "pandas"],
}


def _child(fn, args, queue) -> None:
    t = time.perf_counter()
    for name in IMPORTS.get(fn.__name__, []):
        importlib.import_module(name)
    import_seconds = time.perf_counter() - t
    t = time.perf_counter()
    out = fn(*args)
    out["seconds"] = time.perf_counter() - t
    out["import_seconds"] = import_seconds
    out["max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put(out)


def measure(fn, *args) -> dict:
    """Run ``fn(*args)`` in a fresh process: its result, wall time and peak RSS."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    while True:
        try:
            out = queue.get(timeout=1)
            break
        except Exception:  # queue.Empty: check that the child is still alive
            if not proc.is_alive():
                raise RuntimeError(f"{fn.__name__} failed (exit code {proc.exitcode})") from None
    proc.join()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="question rows to generate")
    ap.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    ap.add_argument("--regenerate", action="store_true", help="rebuild the Parquet file")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the whole sequence")
    ap.add_argument("--json", action="store_true", help="also print every measurement as JSON")
    args = ap.parse_args(argv)
    path = WORK / f"so_{args.rows}.parquet"
    if args.regenerate or not path.exists():
        t = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {path} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    size = path.stat().st_size
    common = (str(path), args.memory_limit, args.threads)
    steps = {
        "raw_scan": _arrow_scan,
        "duckdb_scan": _duckdb_scan,
        "difficulty": _difficulty,
        "duckdb_scan_pop": _duckdb_scan_pop,
        "popularity": _popularity,
    }
    # each analysis right after its reference, so both see the same load; the whole
    # sequence --repeat times, each ratio taken within one repetition
    reps = [{name: measure(fn, *common) for name, fn in steps.items()} for _ in range(args.repeat)]
    pairs = {"difficulty": "duckdb_scan", "popularity": "duckdb_scan_pop"}
    ratios = {
        f"{name}_vs_{ref}": [r[name]["seconds"] / r[ref]["seconds"] for r in reps]
        for name, ref in pairs.items()
    }
    report = {
        "rows": args.rows,
        "parquet_bytes": size,
        "memory_limit": args.memory_limit,
        "threads": args.threads,
        "repeat": args.repeat,
        "runs": reps,
        "ratios": ratios,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    print(
        f"\n{args.rows:,} rows ({size / 1e9:.2f} GB Parquet), DuckDB memory_limit "
        f"{args.memory_limit}, {args.threads} threads, {args.repeat} run(s) of every step"
    )
    print("  raw_scan        = pyarrow decoding every column difficulty reads, tag strings too")
    print("  duckdb_scan     = DuckDB reducing every column difficulty reads (reference)")
    print("  duckdb_scan_pop = DuckDB reducing created_at and tags (popularity's reference)")
    for name in steps:
        secs = ", ".join(f"{r[name]['seconds']:.2f}" for r in reps)
        rss = max(r[name]["max_rss_bytes"] for r in reps) / 2**20
        imp = max(r[name]["import_seconds"] for r in reps)
        print(
            f"  {name:<15} {secs} s   peak RSS {rss:5.0f} MiB   (imports before the clock "
            f"<= {imp:.2f} s)"
        )
    for (name, ref), values in zip(pairs.items(), ratios.values(), strict=True):
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(
            f"  ratio {name} / {ref}: x{statistics.median(values):.2f} median of "
            f"{len(values)} (runs: {shown}; target <= 2)"
        )
    worst = max(r[name]["max_rss_bytes"] for r in reps for name in steps)
    if worst >= LIMIT_BYTES:
        print(f"FAIL: peak RSS {worst / 2**30:.2f} GiB >= 1 GiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
