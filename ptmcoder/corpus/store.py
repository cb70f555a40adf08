"""Corpora on disk: ``corpora/NAME/units.parquet`` (columns of UNIT_SCHEMA) and
``corpora/NAME/import.json`` (sources, counts, skipped records with reasons,
duplicates, warnings).

An import streams every reader into a staging Parquet file in batches (a large
Posts.xml as Arrow tables, parsed by worker processes too and merged in file order;
see :mod:`.readers.posts_xml`), then finishes on disk: DuckDB finds duplicate ids
(the first occurrence is kept) and joins each question's accepted answer to the
answers' creation times (answers are keyed by their site's id, ``beer:12``, so two
sites' answer 12 are two answers); units closed before they were created are counted
and warned about; both results are narrow (row number, value) tables that
are merged back while the staging file is copied batch by batch into
``units.parquet``. Memory is bounded by the batch size (and the workers' ranges),
not by the corpus. A killed import's workers end when their input pipe closes.
Everything is written into a hidden
staging directory next to the target, which replaces the target only when
complete: an interrupted import leaves no half-written corpus and a previous
corpus of the same name intact.

An import (or save) of one name holds an exclusive lock on
``locks/corpus-NAME.lock`` (in the workspace) for its whole duration; a second
one at the same time is refused. Replacing an existing corpus takes two renames
(old aside, new in). A process killed between them leaves only the hidden
``.NAME.old-*`` copy: the next command that looks a corpus up (:func:`recover`)
puts it back, or, when the new corpus is already in place, removes it. It also
removes the staging directories (``.NAME.tmp-PID-*``) of imports killed mid-way,
whose process is gone.

A corpus file that cannot be read (truncated, overwritten) is a
:class:`DamagedCorpusError` naming it; :func:`ptmcoder.corpus.info.list_corpora`
lists the other corpora beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ptmcoder import duck, paths
from ptmcoder.corpus.readers import FORMATS, detect_format
from ptmcoder.corpus.readers.base import ImportContext, OnError, replaced_bytes
from ptmcoder.corpus.schema import UNIT_COLUMNS, UNIT_SCHEMA
from ptmcoder.corpus.sites import Site, parse_site
from ptmcoder.errors import NotFoundError, PtmcoderError
from ptmcoder.files import FileLock, fsync_dir, try_lock, write_atomic, write_json

UNITS_FILE = "units.parquet"
IMPORT_FILE = "import.json"
BATCH_ROWS = 5_000
STAGE_COMPRESSION = "snappy"  # the staging files: written and read once, fast both ways
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_STAGE_SCHEMA = UNIT_SCHEMA.append(pa.field("_row", pa.int64()))
_TS = pa.timestamp("us", tz="UTC")
_ANSWER_SCHEMA = pa.schema([("id", pa.string()), ("created_at", _TS)])
MAX_LISTED = 1000  # skipped records / duplicates listed in import.json (all are counted)


# ----------------------------------------------------------------------------- lookup


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_stagings(root: Path, name: str) -> list[Path]:
    """The staging directories of ``name`` whose process is gone (killed mid-import)."""
    stale = []
    for path in root.glob(f".{glob_escape(name)}.tmp-*"):
        parts = path.name.rsplit(".tmp-", 1)[-1].split("-")
        if parts and parts[0].isdigit() and not _pid_alive(int(parts[0])):
            stale.append(path)
    return stale


def _new_staging(root: Path, name: str) -> Path:
    """A fresh staging directory for corpus ``name``. Staging directories left by an
    import that was killed (its process is gone) are removed first (and by
    :func:`recover`, which every corpus command calls)."""
    for stale in _stale_stagings(root, name):
        shutil.rmtree(stale, ignore_errors=True)
    staging = root / f".{name}.tmp-{os.getpid()}-{int(time.time() * 1000)}"
    staging.mkdir()
    return staging


@contextlib.contextmanager
def _name_lock(root: Path, name: str, *, wait: bool = False) -> Iterator[bool]:
    """Hold the exclusive lock of corpus ``name`` (a :class:`~ptmcoder.files.FileLock`,
    which writes our pid into it). Yields False when another process holds it and
    ``wait`` is False."""
    root.mkdir(parents=True, exist_ok=True)
    with try_lock(_lock_path(name), wait=wait) as lock:
        yield lock is not None


def _lock_path(name: str) -> Path:
    # outside corpora/: a lock file is never removed (that would let two processes
    # hold locks on two different files of one name)
    return paths.workspace() / "locks" / f"corpus-{name}.lock"


@contextlib.contextmanager
def importing(name: str) -> Iterator[None]:
    """The lock of corpus ``name`` for an import; refused when another process holds it."""
    root = paths.corpora_dir()
    with _name_lock(root, name) as held:
        if not held:
            raise PtmcoderError(
                f"corpus {name!r} is being written by another process "
                f"(pid {FileLock(_lock_path(name)).holder()}); this import was not started",
                hint="wait for it to finish, or import under another --name",
            )
        _recover_name(root, name)
        yield


def _recover_name(root: Path, name: str) -> None:
    """Finish or undo a swap of ``name`` that a killed process left half done
    (the caller holds the name's lock)."""
    for stale in _stale_stagings(root, name):
        shutil.rmtree(stale, ignore_errors=True)
    target = root / name
    olds = sorted(root.glob(f".{glob_escape(name)}.old-*"))
    if not olds:
        return
    if not target.exists():
        # killed between the renames: the previous corpus goes back
        os.replace(olds[-1], target)
        olds = olds[:-1]
    for old in olds:  # the swap had finished; only the removal of the old copy had not
        shutil.rmtree(old, ignore_errors=True)


def recover() -> None:
    """Restore or finish every corpus swap interrupted by a kill (see the module
    docstring) and remove the staging directories of killed imports (their process
    is gone); names locked by a running import are left to it."""
    root = paths.corpora_dir()
    if not root.is_dir():
        return
    names = {p.name[1:].rsplit(".old-", 1)[0] for p in root.glob(".*.old-*")}
    for p in root.glob(".*.tmp-*"):
        name = p.name[1:].rsplit(".tmp-", 1)[0]
        if _stale_stagings(root, name):
            names.add(name)
    for name in sorted(names):
        if not _NAME.match(name):
            continue
        with _name_lock(root, name) as held:
            if held:
                _recover_name(root, name)


def known_corpora() -> list[str]:
    root = paths.corpora_dir()
    if not root.is_dir():
        return []
    recover()
    return sorted(
        p.name for p in root.iterdir() if not p.name.startswith(".") and (p / UNITS_FILE).is_file()
    )


def corpus_dir(name: str) -> Path:
    return paths.corpora_dir() / name


def corpus_path(name: str) -> Path:
    """The ``units.parquet`` of corpus ``name``; NotFoundError lists the known ones."""
    recover()
    path = corpus_dir(name) / UNITS_FILE
    if not path.is_file():
        known = known_corpora()
        raise NotFoundError(
            f"no corpus named {name!r} in {paths.corpora_dir()}",
            hint=("known corpora: " + ", ".join(known))
            if known
            else "import one: ptmcoder corpus import PATH --name NAME",
        )
    return path


def load_corpus(name_or_path: str | Path) -> pd.DataFrame:
    """A corpus as a DataFrame with the columns of UNIT_SCHEMA, in order.

    ``name_or_path`` is a corpus name, a corpus directory or a Parquet file.
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".parquet" and candidate.is_file():
        path = candidate
    elif candidate.is_dir() and (candidate / UNITS_FILE).is_file():
        path = candidate / UNITS_FILE
    else:
        path = corpus_path(str(name_or_path))
    return read_units(path).to_pandas()


class DamagedCorpusError(PtmcoderError):
    """A corpus file that cannot be read (truncated, overwritten, not Parquet)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        if path.name not in (UNITS_FILE, IMPORT_FILE):
            super().__init__(f"{path} cannot be read: {reason}", hint="check the file")
            return
        name = path.parent.name
        super().__init__(
            f"corpus {name!r}: {path} cannot be read: {reason}",
            hint=f"import it again (ptmcoder corpus import ... --name {name} --replace), "
            f"or remove {path.parent}",
        )


def read_units(path: Path) -> pa.Table:
    """The units of a ``units.parquet`` (columns of UNIT_SCHEMA); a damaged file or one
    without those columns is a :class:`DamagedCorpusError` naming it."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DamagedCorpusError(path, f"{type(exc).__name__}: {exc}") from None
    missing = [c for c in UNIT_COLUMNS if c not in table.column_names]
    if missing:
        raise DamagedCorpusError(path, f"no column {missing[0]!r} (not a ptmcoder corpus)")
    return table.select(UNIT_COLUMNS)


def count_units(path: Path) -> int:
    """The number of units of a ``units.parquet`` from its footer (a damaged file is a
    :class:`DamagedCorpusError`)."""
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (pa.ArrowException, OSError) as exc:
        raise DamagedCorpusError(path, f"{type(exc).__name__}: {exc}") from None


def import_record(name: str) -> dict[str, Any]:
    corpus_path(name)
    path = corpus_dir(name) / IMPORT_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DamagedCorpusError(path, f"{type(exc).__name__}: {exc}") from None
    if not isinstance(record, dict):
        raise DamagedCorpusError(path, "not a JSON object")
    return record


# ----------------------------------------------------------------------------- import


@dataclass
class ImportSummary:
    name: str
    path: Path
    units: int
    sources: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    skipped_count: int
    duplicates: list[dict[str, Any]]
    duplicate_rows_dropped: int
    counts: dict[str, int]
    warnings: list[str]
    seconds: float
    by_platform: dict[str, int] = field(default_factory=dict)
    by_site: dict[str, int] = field(default_factory=dict)  # Stack Exchange units per host

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "units": self.units,
            "by_platform": self.by_platform,
            "by_site": self.by_site,
            "sources": self.sources,
            "skipped_count": self.skipped_count,
            "skipped": self.skipped,
            "duplicate_rows_dropped": self.duplicate_rows_dropped,
            "duplicates": self.duplicates,
            "counts": self.counts,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }


class _BatchWriter:
    def __init__(self, path: Path, schema: pa.Schema, batch_rows: int = BATCH_ROWS) -> None:
        self.path, self.schema, self.batch_rows = path, schema, batch_rows
        self.rows: list[dict[str, Any]] = []
        self.tables: list[pa.Table] = []  # added whole (a parallel reader's), not yet written
        self.buffered = 0
        self.writer = pq.ParquetWriter(
            path, schema, compression=STAGE_COMPRESSION, use_dictionary=False
        )
        self.n = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self.flush()

    def add_table(self, table: pa.Table) -> None:
        self._flush_rows()
        self.tables.append(table)
        self.buffered += table.num_rows
        if self.buffered >= self.batch_rows:
            self.flush()

    def _flush_rows(self) -> None:
        if self.rows:
            self.tables.append(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.buffered += len(self.rows)
            self.rows = []

    def flush(self) -> None:
        self._flush_rows()
        if self.tables:
            self.writer.write_table(pa.concat_tables(self.tables))
            self.n += self.buffered
            self.tables, self.buffered = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


def _read_one(
    path: Path,
    fmt: str,
    ctx: ImportContext,
    mapping: dict[str, str] | None,
    platform: str | None,
    site: Site | None,
) -> Iterator[dict[str, Any]]:
    from ptmcoder.corpus.readers import github, plain_csv, posts_xml, se_api, sede_csv

    if fmt == "csv":
        if not mapping:
            raise PtmcoderError(
                f"{path}: a plain CSV needs a column mapping",
                hint="--map title=Title,body=Body,created_at=Date",
            )
        if platform not in ("github", "stackoverflow"):
            raise PtmcoderError(
                f"{path}: say which platform the rows come from",
                hint="--platform github or --platform stackoverflow",
            )
        return plain_csv.read(path, ctx, mapping=mapping, platform=platform)
    if fmt == "github":
        return github.read(path, ctx)
    module = {"sede-csv": sede_csv, "se-api": se_api, "posts-xml": posts_xml}[fmt]
    return module.read(path, ctx, site=site)


CLOSED_BEFORE_CREATED = "units closed before they were created (closed_at < created_at)"


def _closed_before_created(con: Any, s: str) -> tuple[int, list[str]]:
    """How many staged units were closed before they were created, and the sources of
    the first five (file and line or record)."""
    row = con.execute(f"""
        SELECT count(*), list(source ORDER BY _row)[1:5] FROM read_parquet('{s}')
        WHERE closed_at < created_at""").fetchone()
    return (int(row[0]), list(row[1] or [])) if row else (0, [])


def _finish(
    stage: Path, answers: Path, out: Path, memory_limit: str, tmp: Path, ctx: ImportContext
) -> tuple[int, list[dict[str, Any]], int, dict[str, int], dict[str, int]]:
    """Dedupe and join accepted-answer times on disk; stream stage -> out.

    Returns the units written, the duplicate ids, the duplicate rows dropped, the
    units per platform and the Stack Exchange units per site (counted while writing).
    Units closed before they were created are kept, counted and warned about (``ctx``)."""
    con = duck.connect(memory_limit=memory_limit, threads=2, temp_directory=str(tmp))
    s, a = str(stage).replace("'", "''"), str(answers).replace("'", "''")
    n_closed, where = _closed_before_created(con, s)
    if n_closed:
        ctx.count(CLOSED_BEFORE_CREATED, n_closed)
        ctx.warn(
            f"{n_closed} unit(s) have field 'closed_at' before 'created_at' (kept as read; "
            f"their resolution time would be negative): "
            + "; ".join(where)
            + (" ..." if n_closed > len(where) else "")
        )
    # ids only first: the sources and the rows to drop are looked up when there are any
    any_dup = con.execute(f"""
        SELECT count(*) FROM (SELECT id FROM read_parquet('{s}')
                              GROUP BY id HAVING count(*) > 1)""").fetchone()
    duplicates: list[dict[str, Any]] = []
    drop_rows = np.zeros(0, dtype=np.int64)
    if any_dup and any_dup[0]:
        dup_rows = con.execute(f"""
            SELECT id, count(*) AS n, list(source ORDER BY _row) AS sources
            FROM (SELECT id, source, _row FROM read_parquet('{s}'))
            GROUP BY id HAVING count(*) > 1 ORDER BY min(_row)""").fetchall()
        duplicates = [{"id": i, "occurrences": n, "sources": srcs[:5]} for i, n, srcs in dup_rows]
        dropped = con.execute(f"""
            SELECT _row FROM (SELECT _row, row_number() OVER (PARTITION BY id ORDER BY _row) AS k
                              FROM read_parquet('{s}')) WHERE k > 1 ORDER BY _row""").fetchnumpy()
        drop_rows = np.asarray(dropped["_row"], dtype=np.int64)
    accepted = con.execute(f"""
        SELECT q._row, epoch_us(a.created_at) AS us
        FROM (SELECT _row, split_part(id, ':', 1) || ':' || accepted_answer_id AS answer
              FROM read_parquet('{s}')
              WHERE accepted_answer_id IS NOT NULL AND accepted_answer_at IS NULL) q
        JOIN (SELECT id, min(created_at) AS created_at FROM read_parquet('{a}')
              WHERE created_at IS NOT NULL GROUP BY id) a
          ON a.id = q.answer
        ORDER BY q._row""").fetchnumpy()
    con.close()
    acc_rows = np.asarray(accepted["_row"], dtype=np.int64)
    acc_us = np.asarray(accepted["us"], dtype=np.int64)

    writer = pq.ParquetWriter(out, UNIT_SCHEMA, compression="zstd")
    n = 0
    by_platform: Counter[str] = Counter()
    by_site: Counter[str] = Counter()
    try:
        for batch in pq.ParquetFile(stage).iter_batches(batch_size=20_000):
            rows = batch.column("_row").to_numpy()
            lo, hi = int(rows[0]), int(rows[-1])
            i0, i1 = np.searchsorted(acc_rows, [lo, hi + 1])
            if i1 > i0:
                col = batch.column("accepted_answer_at").cast(pa.int64())
                values = np.asarray(col.fill_null(0).to_numpy(), dtype=np.int64).copy()
                valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False))
                pos = np.searchsorted(rows, acc_rows[i0:i1])
                values[pos] = acc_us[i0:i1]
                valid[pos] = True
                new = pa.array(values, type=pa.int64(), mask=~valid).cast(
                    pa.timestamp("us", tz="UTC")
                )
                batch = batch.set_column(
                    batch.schema.get_field_index("accepted_answer_at"), "accepted_answer_at", new
                )
            j0, j1 = np.searchsorted(drop_rows, [lo, hi + 1])
            table = pa.Table.from_batches([batch])
            if j1 > j0:
                keep = ~np.isin(rows, drop_rows[j0:j1])
                table = table.filter(pa.array(keep))
            table = table.select(UNIT_COLUMNS).cast(UNIT_SCHEMA)
            writer.write_table(table)
            n += table.num_rows
            platform = table.column("platform")
            by_platform.update(_value_counts(platform))
            se = table.filter(pc.equal(platform, "stackoverflow")).column("project")
            by_site.update(_value_counts(se))
    finally:
        writer.close()
    return n, duplicates, int(len(drop_rows)), dict(by_platform), dict(by_site)


def _value_counts(column: Any) -> dict[str, int]:
    counts = pc.value_counts(column.drop_null())
    values, n = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
    return dict(zip(values, n, strict=True))


def import_corpus(
    sources: Iterable[str | Path],
    name: str,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    platform: str | None = None,
    on_error: str | OnError = OnError.FAIL,
    replace: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    memory_limit: str = "256MB",
    site: str | Site | None = None,
) -> ImportSummary:
    """Read ``sources`` and store them as corpus ``name`` (see the module docstring).

    ``fmt`` overrides format detection (one of FORMATS); ``on_error`` is
    ``fail`` (stop at the first malformed record; nothing is written) or ``skip``
    (skip it, record file/location/field/reason in import.json and count it).
    ``progress(path, bytes_done, bytes_total)`` is called while reading. ``site`` is
    the Stack Exchange site of Posts.xml, Data Explorer and API files (a host such as
    ``beer.stackexchange.com`` or a short name such as ``beer``); by default each
    file's is read from its links or its file or folder name (:mod:`.sites`).
    """
    started = time.perf_counter()
    on_error = OnError(on_error)
    if not _NAME.match(name):
        raise PtmcoderError(
            f"invalid corpus name {name!r}", hint="use letters, digits, '.', '_' and '-'"
        )
    if fmt is not None and fmt not in FORMATS:
        raise PtmcoderError(f"unknown format {fmt!r}", hint="one of " + ", ".join(FORMATS))
    memory_limit = duck.check_memory_limit(memory_limit, "memory_limit")
    if isinstance(site, str):
        site = parse_site(site)
    files = [Path(s) for s in sources]
    if not files:
        raise PtmcoderError("no input files given")
    for f in files:
        if f.is_dir():
            raise PtmcoderError(
                f"{f}: a directory, not a file", hint="give the file inside it, e.g. its Posts.xml"
            )
        if not f.is_file():
            raise NotFoundError(f"no such file: {f}")
    recover()
    with importing(name):
        try:
            return _import_locked(
                files, name, fmt, mapping, platform, site, on_error, replace, progress,
                memory_limit, started,
            )  # fmt: skip
        except OSError as exc:  # a file that fails on read (I/O error, permissions)
            where = exc.filename or ", ".join(str(f) for f in files)
            verb = "read" if exc.filename is None or Path(exc.filename) in files else "written"
            raise PtmcoderError(
                f"{where}: cannot be {verb}: {exc.strerror or exc}; no corpus was written",
                hint="check the file (permissions, the disk) and import again",
            ) from None


def _import_locked(
    files: list[Path],
    name: str,
    fmt: str | None,
    mapping: dict[str, str] | None,
    platform: str | None,
    site: Site | None,
    on_error: OnError,
    replace: bool,
    progress: Callable[[str, int, int], None] | None,
    memory_limit: str,
    started: float,
) -> ImportSummary:
    target = corpus_dir(name)
    if target.exists() and not replace:
        raise PtmcoderError(
            f"corpus {name!r} already exists in {paths.corpora_dir()}",
            hint="pass --replace to overwrite it (its samples go with it)",
        )
    formats = [fmt or detect_format(f, has_mapping=bool(mapping)) for f in files]

    root = paths.corpora_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = _new_staging(root, name)
    try:
        stage = _BatchWriter(staging / "_stage_units.parquet", _STAGE_SCHEMA)
        answers = _BatchWriter(staging / "_stage_answers.parquet", _ANSWER_SCHEMA, 50_000)
        ctx = ImportContext(
            on_error=on_error,
            answer_sink=lambda i, t: answers.add({"id": i, "created_at": t}),
            answers_sink=lambda ids, times: answers.add_table(
                pa.table([pa.array(ids, pa.string()), pa.array(times, _TS)], schema=_ANSWER_SCHEMA)
            ),
        )
        source_info = []
        row = 0
        bad_before = replaced_bytes()
        for f, f_fmt in zip(files, formats, strict=True):
            total = f.stat().st_size
            if progress:
                ctx.progress = lambda done, _f=f, _t=total: progress(str(_f), done, _t)
                progress(str(f), 0, total)
            n_before, skipped_before, bad_file = row, len(ctx.skipped), replaced_bytes()
            counted_before = sum(ctx.counts.values())
            if f_fmt == "posts-xml":  # Arrow tables, from worker processes for a large file
                from ptmcoder.corpus.readers import posts_xml

                for table in posts_xml.read_tables(f, ctx, site=site):
                    n_rows = table.num_rows
                    stage.add_table(
                        table.append_column("_row", pa.array(range(row, row + n_rows), pa.int64()))
                    )
                    row += n_rows
            else:
                for unit in _read_one(f, f_fmt, ctx, mapping, platform, site):
                    unit["_row"] = row
                    row += 1
                    stage.add(unit)
            if (
                row == n_before
                and len(ctx.skipped) == skipped_before
                and sum(ctx.counts.values()) == counted_before
            ):
                raise PtmcoderError(
                    f"{f}: no records (the file is empty or has only a header) as format {f_fmt!r}",
                    hint="check the file, or its --format (one of " + ", ".join(FORMATS) + ")",
                )
            if progress:
                progress(str(f), total, total)
            replaced = replaced_bytes() - bad_file
            if replaced:
                ctx.warn(
                    f"{f}: {replaced} byte(s) were not valid UTF-8 and were replaced by U+FFFD"
                )
            source_info.append(
                {
                    "path": str(f.resolve()),
                    "format": f_fmt,
                    "bytes": total,
                    "units_read": row - n_before,
                    "skipped": len(ctx.skipped) - skipped_before,
                    "non_utf8_bytes": replaced,
                }
            )
        stage.close()
        answers.close()
        if row == 0:
            raise PtmcoderError(
                f"no units read from {', '.join(str(f) for f in files)}: "
                + (
                    f"all {len(ctx.skipped)} record(s) were malformed and skipped"
                    if ctx.skipped
                    else "no question or issue records"
                )
                + "; no corpus was written",
                hint="see the reasons with --on-error fail, or check --format",
            )
        tmp = staging / "_duckdb_tmp"
        n, duplicates, dropped, by_platform, by_site = _finish(
            stage.path, answers.path, staging / UNITS_FILE, memory_limit, tmp, ctx
        )
        for extra in (stage.path, answers.path):
            extra.unlink()
        shutil.rmtree(tmp, ignore_errors=True)
        skipped = [
            {"file": e.file, "record": e.record, "field": e.field_name, "reason": e.reason}
            for e in ctx.skipped
        ]
        summary = ImportSummary(
            name=name,
            path=target / UNITS_FILE,
            units=n,
            sources=source_info,
            skipped=skipped[:MAX_LISTED],
            skipped_count=len(skipped),
            duplicates=duplicates[:MAX_LISTED],
            duplicate_rows_dropped=dropped,
            counts=dict(ctx.counts),
            warnings=ctx.warnings,
            by_platform=by_platform,
            by_site=by_site,
            seconds=time.perf_counter() - started,
        )
        record = summary.to_dict()
        record.update(
            {
                "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "on_error": on_error.value,
                "mapping": mapping,
                "platform": platform,
                "non_utf8_bytes": replaced_bytes() - bad_before,
            }
        )
        write_json(staging / IMPORT_FILE, record)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by the complete ``staging`` directory; the renames are made
    durable with :func:`~ptmcoder.files.fsync_dir`, as :mod:`ptmcoder.files` does for
    a file."""
    if not target.exists():
        os.replace(staging, target)
        fsync_dir(target.parent)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}-{int(time.time() * 1000)}")
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)
        raise
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- samples


def save_sample(
    corpus: str, sample: str, units: pd.DataFrame, record: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``corpora/CORPUS/samples/SAMPLE.parquet`` and ``.json`` (atomically)."""
    if not _NAME.match(sample):
        raise PtmcoderError(
            f"invalid sample name {sample!r}", hint="use letters, digits, '.', '_' and '-'"
        )
    corpus_path(corpus)
    folder = corpus_dir(corpus) / "samples"
    data, meta = folder / f"{sample}.parquet", folder / f"{sample}.json"
    record = {
        **record,
        "corpus": corpus,
        "sample": sample,
        "units": len(units),
        "ids": units["id"].tolist(),
        "drawn_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_atomic(data, lambda fh: units.to_parquet(fh, index=False))
    write_json(meta, record)
    return data, meta


def save_corpus(
    df: pd.DataFrame, name: str, record: dict[str, Any], *, replace: bool = False
) -> Path:
    """Store a units DataFrame (e.g. a sample) as a new corpus ``name``."""
    if not _NAME.match(name):
        raise PtmcoderError(
            f"invalid corpus name {name!r}", hint="use letters, digits, '.', '_' and '-'"
        )
    with importing(name):
        target = corpus_dir(name)
        if target.exists() and not replace:
            raise PtmcoderError(f"corpus {name!r} already exists", hint="pass --replace")
        root = paths.corpora_dir()
        staging = _new_staging(root, name)
        try:
            table = pa.Table.from_pandas(df[UNIT_COLUMNS], preserve_index=False).cast(UNIT_SCHEMA)
            write_atomic(
                staging / UNITS_FILE, lambda fh: pq.write_table(table, fh, compression="zstd")
            )
            write_json(staging / IMPORT_FILE, {"name": name, "units": len(df), "derived": record})
            _swap_in(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target / UNITS_FILE
