"""Where the Stack Overflow-scale analyses run: one streamed pass over the corpus
Parquet file, with DuckDB for what stays SQL.

Tan et al.'s baseline is every Stack Overflow question since 2018 (about ten
million rows), so ``popularity`` and ``difficulty`` must run in bounded memory.

**PTM membership** is the expensive part of both. In SQL it is a lambda over every
tag list (``list_bool_or(list_transform(tags, lambda t: t IN (...)))``), which
cost more than the whole scan: on 2 M rows 1.9 s against 0.47 s for a scan of
``tags`` (``list_has_any`` 4.4 s, a semi-join via ``unnest`` 2.1 s). :func:`map_ptm`
instead reads the file with pyarrow, ``tags`` with its leaf **dictionary-encoded**:
Parquet already stores the tags as a dictionary (tens of thousands of distinct
strings per row group) plus an index per tag, so membership is ``is_in`` over the
dictionary, an index lookup per tag and a binary search of the (rare) hits in the
list offsets. No tag string is materialised except those of PTM-related units.

**Both cores, as DuckDB's scan uses them.** The unit of work is a row group: one
thread per core (at most four without ``--threads``) decodes a row group and
reduces it with the analysis's own function, so decoding *and* reducing run in
parallel (pyarrow and numpy release the GIL); the results come back in row order.
Before, one thread decoded ahead while every reduction ran
on the main thread: 2.00-2.59x the reference on a quiet machine, because DuckDB's
two threads then had both cores and we had about one and a half.

``difficulty`` keeps its group counts and sums per row group, merged in order, and
the response times as float arrays (8 bytes per answered question: about 34 MB for
ten million questions) for the exact median and quartiles; per-tag rows are built
for PTM-related units only. ``popularity`` hands the PTM units' years and tags to
DuckDB. Peak memory is ``workers + 1`` row groups plus those arrays (about 525 MiB
RSS on 10 M rows with two workers, most of it the libraries themselves).

**What it still costs** (``benchmarks/bench_stats.py``, 10 M rows, 2 shared cores,
quiet machine, load average 0.4-1.2, two runs of three): ``difficulty`` 1.70, 1.94,
1.91x and 1.81, 1.61, 1.92x a DuckDB scan that reduces the same columns to one number
each (medians 1.91x and 1.81x; target 2x); ``popularity`` 1.25-1.59x and 1.09-1.51x
(medians 1.48x and 1.37x). What remains is pyarrow's decoding of the columns into
Arrow arrays, about 1.2 of the 1.6 CPU seconds: the string ``accepted_answer_id``
column alone takes 0.3 s, decoded whole only for its validity (DuckDB decodes it
too: 0.29 s for ``count(accepted_answer_id)``), and the timestamps 0.2 s each against
DuckDB's 0.03 s. The reductions take 0.22 CPU seconds, the PTM mask 0.16, and the
exact quartiles of the 4.2 M response times 0.07-0.16 s on one thread at the end.
Imports are extra and fixed: scipy.stats (1-3 s on the loaded box, for the
chi-square test) and pandas, which pyarrow loads on first use.

A corpus is named (``corpora/<name>/units.parquet``) or given as a ``.parquet``
path (or a directory of Parquet files).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# the DuckDB connection lives on the floor below (the corpus import uses it too);
# the statistics modules take connect and DEFAULT_MEMORY_LIMIT from here
from ptmcoder.duck import DEFAULT_MEMORY_LIMIT as DEFAULT_MEMORY_LIMIT
from ptmcoder.duck import connect as connect
from ptmcoder.duck import quote_literal
from ptmcoder.errors import NotFoundError, PtmcoderError

#: The 18 PTM-related Stack Overflow tags of Tan et al. (SANER 2024), Table I,
#: in the order of their frequency there.
TAN2024_PTM_TAGS: tuple[str, ...] = (
    "huggingface-transformers",
    "bert-language-model",
    "openai-api",
    "pre-trained-model",
    "huggingface-tokenizers",
    "huggingface",
    "gpt-3",
    "chatgpt-api",
    "huggingface-datasets",
    "gpt-2",
    "sentence-transformers",
    "fine-tune",
    "openai-whisper",
    "roberta-language-model",
    "roberta",
    "gpt-4",
    "bart",
    "t5-transformer",
)

T = TypeVar("T")


def resolve_corpus(ref: str | os.PathLike) -> Path:
    """A corpus name or a path to a Parquet file (or directory of them)."""
    path = Path(ref)
    if path.suffix == ".parquet" or path.exists():
        if not path.exists():
            raise NotFoundError(f"corpus file not found: {path}")
        return path
    from ptmcoder.corpus.store import corpus_path

    candidate = Path(corpus_path(str(ref)))  # NotFoundError lists the known corpora
    if not candidate.exists():
        raise NotFoundError(
            f"no corpus named {str(ref)!r} (looked for {candidate})",
            hint="import one with 'ptmcoder corpus import', or pass a .parquet path",
        )
    return candidate


def parquet_glob(path: Path) -> str:
    return str(path / "*.parquet") if path.is_dir() else str(path)


@dataclass(frozen=True)
class PtmRule:
    """How a unit is judged PTM-related: any tag in ``tags``, or a boolean ``column``."""

    tags: tuple[str, ...] | None = TAN2024_PTM_TAGS
    column: str | None = None

    def __post_init__(self) -> None:
        if (self.tags is None) == (self.column is None):
            raise PtmcoderError("give PTM tags or a PTM column, not both and not neither")
        if self.tags is not None and not self.tags:
            raise PtmcoderError("the PTM tag list is empty")

    def to_dict(self) -> dict:
        return {"tags": list(self.tags) if self.tags else None, "column": self.column}


#: The default rule (Tan et al.'s PTM tag list); PtmRule is frozen, so one shared instance is safe.
DEFAULT_PTM_RULE = PtmRule()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tag_list_sql(tags) -> str:
    return "[" + ", ".join(quote_literal(t) for t in tags) + "]::VARCHAR[]"


def _check_date(value: str, name: str) -> None:
    """A date bound must parse as an ISO date or timestamp (DuckDB would raise otherwise)."""
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise PtmcoderError(
            f"{name}: not a date: {value!r}", hint="write YYYY-MM-DD, e.g. --since 2018-01-01"
        ) from None


def units_relation_sql(path: Path, *, since: str | None = None) -> str:
    """``FROM`` clause text for the units, with the ``since`` filter applied."""
    clause = ""
    if since:
        _check_date(since, "since")
        clause = f" WHERE created_at >= CAST({quote_literal(since)} AS TIMESTAMPTZ)"
    return f"(SELECT * FROM read_parquet({quote_literal(parquet_glob(path))}){clause})"


#: rows per record batch of :func:`map_ptm`
BATCH_ROWS = 256 * 1024
_TS = pa.timestamp("us", tz="UTC")


def _since_us(since: str) -> int:
    """``since`` as microseconds since the epoch (a date without zone is UTC)."""
    _check_date(since, "since")
    t = datetime.fromisoformat(since)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000)


def timestamp_us(column: pa.Array) -> pa.Array:
    """A timestamp column as int64 microseconds since the epoch (nulls kept)."""
    if not pa.types.is_timestamp(column.type) or column.type.unit != "us":
        column = pc.cast(column, _TS)
    return column.view(pa.int64()) if column.offset == 0 else pc.cast(column, pa.int64())


def parquet_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def _ptm_mask(batch: pa.RecordBatch, rule: PtmRule, value_set: pa.Array | None) -> np.ndarray:
    """PTM membership of each row of ``batch`` as a numpy bool array.

    In tag mode the ``tags`` leaf arrives dictionary-encoded (see :func:`map_ptm`), so
    membership is ``is_in`` over the dictionary (tens of thousands of distinct tags, not
    tens of millions of tag strings), an index lookup per tag and a scatter to the row
    through ``list_parent_indices``: no tag string is ever materialised.
    """
    if rule.column is not None:
        col = batch.column(rule.column)
        flag = pc.fill_null(pc.cast(col, pa.bool_()), False)
        return flag.to_numpy(zero_copy_only=False)
    tags = batch.column("tags")
    mask = np.zeros(len(tags), dtype=bool)
    leaf = tags.values  # every tag of the batch; tags.offsets says whose
    if len(leaf) == 0:
        return mask
    if pa.types.is_dictionary(leaf.type):
        hit_dict = pc.fill_null(pc.is_in(leaf.dictionary, value_set=value_set), False)
        hit_dict = hit_dict.to_numpy(zero_copy_only=False)
        idx = leaf.indices
        if idx.null_count:
            idx = idx.fill_null(-1)  # -1 picks the appended False
            hit_dict = np.append(hit_dict, False)
        hit = hit_dict[idx.to_numpy(zero_copy_only=False)]
    else:
        hit = pc.fill_null(pc.is_in(leaf, value_set=value_set), False)
        hit = hit.to_numpy(zero_copy_only=False)
    # PTM tags are rare: map the hits' positions to their rows by binary search
    offsets = tags.offsets.to_numpy(zero_copy_only=False)
    rows = np.searchsorted(offsets, np.flatnonzero(hit), side="right") - 1
    rows = rows[(rows >= 0) & (rows < len(tags))]
    mask[rows] = True
    if tags.null_count:
        mask &= tags.is_valid().to_numpy(zero_copy_only=False)
    return mask


def _read_row_group(file: Path, i: int, columns: list[str]) -> list:
    """Row group ``i`` of ``file`` as record batches, ``tags`` dictionary-encoded, decoded
    in the calling thread (the parallelism is :func:`map_ptm`'s, one row group a thread,
    so ``--threads 1`` is one thread)."""
    try:
        pf = pq.ParquetFile(file, read_dictionary=["tags.list.element"])
        return list(
            pf.iter_batches(
                batch_size=BATCH_ROWS, row_groups=[i], columns=columns, use_threads=False
            )
        )
    except pa.ArrowNotImplementedError:  # the dictionary changes inside the row group
        pf = pq.ParquetFile(file)
        return list(
            pf.iter_batches(
                batch_size=BATCH_ROWS, row_groups=[i], columns=columns, use_threads=False
            )
        )


#: row groups worked on at once when ``threads`` is not given: one per core, at most
#: this many, so that a many-core machine does not hold dozens of row groups in memory
MAX_DEFAULT_WORKERS = 4


def scan_workers(threads: int | None) -> int:
    """Row groups worked on at once: ``threads``, else one per core up to
    :data:`MAX_DEFAULT_WORKERS` (at least one)."""
    if threads:
        return max(1, threads)
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def map_ptm(
    path: Path,
    rule: PtmRule,
    columns: list[str],
    fn: Callable[[pa.RecordBatch, np.ndarray], T],
    *,
    since: str | None = None,
    threads: int | None = None,
) -> Iterator[T]:
    """``fn(batch, ptm)`` for each record batch of the corpus, in file and row order.

    ``batch`` holds ``columns`` (``since`` applied), at most :data:`BATCH_ROWS` rows,
    ``ptm`` each row's PTM flag as a numpy bool array. ``tags`` is read with its leaf
    **dictionary-encoded**: the Parquet dictionary pages are kept as they are instead
    of being expanded into one string per tag, which is what made the SQL rule (a
    lambda over every tag list) cost more than the scan itself.

    Row groups are the unit of work: :func:`scan_workers` threads each decode one
    row group (pyarrow and numpy release the GIL) and reduce its batches with ``fn``,
    so the decoding *and* the caller's reductions use every core, as DuckDB's scan
    does. Results come back in order; at most ``workers + 1`` row groups are held at
    a time, so memory does not grow with the corpus. ``fn`` must not share mutable
    state between calls: it runs in several threads at once.
    """
    since_us = _since_us(since) if since else None
    need = list(dict.fromkeys(columns + ["tags" if rule.column is None else rule.column]))
    if since_us is not None and "created_at" not in need:
        need.append("created_at")
    value_set = pa.array(rule.tags, pa.string()) if rule.tags else None
    workers = scan_workers(threads)

    def work(file: Path, i: int) -> list[T]:
        out = []
        for batch in _read_row_group(file, i, need):
            if since_us is not None:
                keep = pc.greater_equal(timestamp_us(batch.column("created_at")), since_us)
                batch = batch.filter(pc.fill_null(keep, False))
                if batch.num_rows == 0:
                    continue
            out.append(fn(batch, _ptm_mask(batch, rule, value_set)))
        return out

    groups = [
        (file, i)
        for file in parquet_files(path)
        for i in range(pq.ParquetFile(file).metadata.num_row_groups)
    ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future] = deque()
        try:
            for file, i in groups:
                pending.append(pool.submit(work, file, i))
                if len(pending) > workers:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        finally:  # the caller stopped early or a row group failed: drop what is queued
            for f in pending:
                f.cancel()


def plain_tags(tags: pa.Array) -> pa.Array:
    """A ``tags`` column read by :func:`map_ptm` back as ``list<string>``."""
    if pa.types.is_dictionary(tags.type.value_type):
        return pc.cast(tags, pa.list_(pa.string()))
    return tags


def check_columns(con: duckdb.DuckDBPyConnection, path: Path, needed: list[str]) -> None:
    try:
        cols = {
            r[0]
            for r in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({quote_literal(parquet_glob(path))})"
            ).fetchall()
        }
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PtmcoderError(
            f"cannot read {path} as Parquet: {first}",
            hint="--corpus takes a corpus name or a units .parquet file",
        ) from None
    missing = [c for c in needed if c not in cols]
    if missing:
        raise PtmcoderError(
            f"{path}: missing column(s) {', '.join(missing)}",
            hint="corpora follow the unit schema (ptmcoder/corpus/schema.py)",
        )


def ptm_rule(tags: list[str] | tuple[str, ...] | None = None, column: str | None = None) -> PtmRule:
    """What makes a unit PTM-related: a boolean ``column`` of the corpus, or any of
    ``tags`` (default: Tan et al.'s 18 tags, Table I); not both. ``ptmcoder stats``
    and a study's stats stage both take their rule from here."""
    if tags and column:
        raise PtmcoderError("give --ptm-tags or --ptm-column, not both")
    if column:
        return PtmRule(tags=None, column=column)
    return PtmRule(tags=tuple(tags) if tags else TAN2024_PTM_TAGS)
