"""The official Stack Overflow data dump ``Posts.xml`` (``<posts><row Id=...
PostTypeId=... /></posts>``), streamed.

expat calls back on each ``<row>`` start tag; no element tree is built, so
memory stays flat whatever the file size. Bytes that are not UTF-8 are replaced
(and counted) before they reach the parser. Answer rows only pass their id and
creation time on (``ctx.answer``); the store joins the accepted answer's time to
its question afterwards, on disk.

A large file (48 MiB or more; :func:`read_tables`, which the store uses) is cut
into 4 MiB byte ranges just before a ``<row`` tag. This process parses the first
range while :class:`CpuSample` measures what the other processes leave idle; when
that is half a core or more, worker processes parse ranges too (each with its own
expat parser, the range wrapped in the root element's tags, its units built into an
Arrow table); on a busy machine a worker would only take turns with this process,
and all ranges are parsed here. This process merges the ranges in file order,
adding the earlier ranges' line breaks and rows, so the units, their order, the
``source`` lines and row numbers, the skipped records, the counts and the replaced
bytes are those of the one-process reader (:func:`read`). A range that does not
parse as a complete fragment (a cut inside a comment or CDATA section, a DTD, rows
nested deeper, a truncated or malformed file) or a worker that dies ends the range
reading: the one-process reader reads the file again from the start, passing over
the rows already merged, so every refusal, error message and line/column is exactly
its own.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import pickle
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn
from xml.parsers import expat

from ptmcoder.corpus.readers.base import (
    DECODE_ERRORS,
    FieldError,
    ImportContext,
    add_replaced_bytes,
    replaced_bytes,
)
from ptmcoder.corpus.readers.sede_csv import post_to_unit
from ptmcoder.corpus.sites import STACK_OVERFLOW, Site, assumed_warning, site_of_path
from ptmcoder.errors import InputRecordError

CHUNK = 1 << 20
RANGE_BYTES = 4 << 20  # one range: a worker task
PARALLEL_MIN_BYTES = 48 << 20  # smaller files: read() in one pass, no ranges
MAX_RANGES = 16  # a range longer than this many RANGE_BYTES is read by read()
BATCH_ROWS = 5_000  # units per table yielded by the one-process path of read_tables
_ROW_TAG = re.compile(rb"<row[\s/>]")


class _Found(Exception):
    pass


class _DoctypeRefused(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _refusal(name: str, line: int) -> InputRecordError:
    return InputRecordError(
        name,
        f"line {line}",
        None,
        "a DTD (<!DOCTYPE ...>, entity declarations, external entities) is "
        "refused: Stack Overflow dumps have none, and entity expansion can "
        "exhaust memory",
        hint="remove the <!DOCTYPE ...> declaration if the file is a real dump",
    )


def _new_parser(rows: list[tuple[int, dict[str, str]]]) -> expat.XMLParserType:
    """An expat parser that appends (line, attributes) of each ``<row>`` to ``rows``
    and refuses any DTD at its declaration, before an entity is defined or expanded."""
    parser = expat.ParserCreate(encoding="utf-8")

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "row":
            rows.append((parser.CurrentLineNumber, attrs))

    def refuse(*_args: object) -> NoReturn:
        raise _DoctypeRefused(parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    return parser


def file_site(path: Path, site: Site | None, ctx: ImportContext) -> Site:
    """The site of a dump: ``site`` (``--site``), else the one its file or folder name
    tells, else Stack Overflow (with a warning)."""
    if site is None:
        site = site_of_path(path)
        if site is None:
            ctx.warn(assumed_warning(path))
            site = STACK_OVERFLOW
    return site


def read(
    path: Path,
    ctx: ImportContext,
    *,
    site: Site | None = None,
    skip_rows: int = 0,
    counted_from: int = 0,
) -> Iterator[dict[str, Any]]:
    """The units of ``path`` (a dump of ``site``, see :func:`file_site`) in one process.

    ``skip_rows`` and ``counted_from`` continue a parallel read that stopped: the
    first ``skip_rows`` rows (already merged) are parsed but not converted again, and
    undecodable bytes before offset ``counted_from`` (already counted) are replaced
    without being counted."""
    name = str(path)
    site = file_site(path, site, ctx)
    pending: list[tuple[int, dict[str, str]]] = []
    parser = _new_parser(pending)
    decoder = codecs.getincrementaldecoder("utf-8")(errors=DECODE_ERRORS)
    # before counted_from (a '<', so no character straddles it): replaced, not counted
    uncounted = codecs.getincrementaldecoder("utf-8")(errors="replace")
    done = 0
    rows = 0
    with open(path, "rb") as fh:
        while True:
            if done < counted_from:
                chunk = fh.read(min(CHUNK, counted_from - done))
                final = False
                text = uncounted.decode(chunk, final=done + len(chunk) >= counted_from)
                payload = text.encode("utf-8")
            else:
                chunk = fh.read(CHUNK)
                final = not chunk
                if chunk.isascii() and not decoder.getstate()[0]:
                    payload = chunk  # UTF-8 already, nothing pending in the decoder
                else:
                    payload = decoder.decode(chunk, final=final).encode("utf-8")
            try:
                parser.Parse(payload, final)
                error = None
            except expat.ExpatError as exc:
                error = exc
            except _DoctypeRefused as refused:
                raise _refusal(name, refused.line) from None
            for line, attrs in pending:
                rows += 1
                if rows <= skip_rows:
                    continue
                where = f"line {line} (row {rows})"
                try:
                    unit = post_to_unit(attrs, f"{path.name}:{where}", ctx, site)
                except FieldError as exc:
                    ctx.bad(InputRecordError(name, where, exc.field_name, exc.reason))
                    continue
                if unit is not None:
                    yield unit
            pending.clear()
            done += len(chunk)
            if ctx.progress and done > counted_from:
                ctx.progress(done)
            if error is not None:
                ctx.bad(
                    InputRecordError(
                        name,
                        f"line {error.lineno}, column {error.offset}",
                        None,
                        f"malformed or truncated XML ({expat.ErrorString(error.code)}); "
                        f"rows after this point are not read",
                    )
                )
                return
            if final:
                return


# ------------------------------------------------------------------------ in parallel


@dataclass
class _Range:
    """What a worker found in one byte range; line and row numbers are counted from
    the range's start (line 1, row 1), the merge adds the earlier ranges' counts."""

    ok: bool = True  # parsed as a complete fragment; False: read it in one process
    rows: int = 0
    line_breaks: int = 0  # as expat counts them: LF, CRLF and a lone CR
    replaced: int = 0
    units: Any = None  # pa.Table of UNIT_SCHEMA, source left empty
    unit_at: list[tuple[int, int]] = field(default_factory=list)  # (line, row) per unit
    errors: list[tuple[int, int, str, str]] = field(default_factory=list)  # line, row, ...
    answer_ids: list[str] = field(default_factory=list)
    answer_times: list[Any] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def _parse_range(
    path: str,
    start: int,
    end: int,
    root: bytes,
    first: bool,
    last: bool,
    site: Site = STACK_OVERFLOW,
) -> _Range:
    """Parse bytes ``start:end`` of ``path`` as ``<root>`` + range + ``</root>`` (the
    first range has the real start, the last the real end) and build its units (of
    ``site``)."""
    import pyarrow as pa

    from ptmcoder.corpus.schema import UNIT_SCHEMA

    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    before = replaced_bytes()
    payload = data if data.isascii() else data.decode("utf-8", DECODE_ERRORS).encode("utf-8")
    out = _Range(replaced=replaced_bytes() - before)
    add_replaced_bytes(-out.replaced)  # counted when the range is merged (maybe in a worker)
    found: list[tuple[int, dict[str, str]]] = []
    parser = _new_parser(found)

    def answer(answer_id: str, created_at: Any) -> None:
        out.answer_ids.append(answer_id)
        out.answer_times.append(created_at)

    ctx = ImportContext(answer_sink=answer)
    units: list[dict[str, Any]] = []

    def convert() -> None:
        for line, attrs in found:
            out.rows += 1
            try:
                unit = post_to_unit(attrs, "", ctx, site)
            except FieldError as exc:
                out.errors.append((line, out.rows, exc.field_name, exc.reason))
                continue
            if unit is not None:
                units.append(unit)
                out.unit_at.append((line, out.rows))
        found.clear()

    view = memoryview(payload)
    try:
        if not first:
            parser.Parse(b"<" + root + b">", False)
        # a CHUNK at a time, each chunk's rows converted while still in the CPU's cache
        for at in range(0, len(view), CHUNK):
            parser.Parse(view[at : at + CHUNK], False)
            convert()
        parser.Parse(b"" if last else b"</" + root + b">", True)
        convert()
    except (expat.ExpatError, _DoctypeRefused):
        return _Range(ok=False)
    # expat's own count (LF, CRLF, a lone CR), ending on the wrapper's end tag, which adds
    # no line; the last range's count is never used
    out.line_breaks = parser.CurrentLineNumber - 1
    out.counts = ctx.counts
    if units:
        out.units = pa.Table.from_pylist(units, schema=UNIT_SCHEMA)
    return out


def _root_name(path: Path) -> bytes | None:
    """The root element's name, or None when the head of the file is not a plain
    document start (a DTD, an error, no element in the first MiB)."""
    names: list[str] = []
    parser = expat.ParserCreate(encoding="utf-8")

    def start(tag: str, _attrs: dict[str, str]) -> None:
        names.append(tag)
        raise _Found

    def refuse(*_args: object) -> NoReturn:
        raise _DoctypeRefused(0)

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = refuse
    with open(path, "rb") as fh:
        head = fh.read(CHUNK)
    try:
        parser.Parse(head.decode("utf-8", errors="replace").encode("utf-8"), False)
    except _Found:
        pass
    except (expat.ExpatError, _DoctypeRefused):
        return None
    if not names or names[0] == "row":
        return None
    return names[0].encode("utf-8")


def _cuts(path: Path, size: int, range_bytes: int) -> Iterator[int]:
    """Offsets of ``<row`` tags about every ``range_bytes``, then ``size``."""
    with open(path, "rb") as fh:
        pos = range_bytes
        while pos < size:
            fh.seek(pos)
            window = fh.read(1 << 16)
            while window:
                m = _ROW_TAG.search(window)
                if m:
                    yield pos + m.start()
                    break
                # keep the last 4 bytes: a tag may straddle two windows
                pos += max(len(window) - 4, 1)
                fh.seek(pos)
                window = fh.read(1 << 16)
            else:
                break
            pos += m.start() + range_bytes
    yield size


MAX_WORKERS = 3
MIN_SAMPLE = 0.1  # seconds over which CpuSample measures the other processes


class CpuSample:
    """The cores other processes kept busy from its creation to :meth:`spare_workers`
    (from /proc/stat, less this process's own CPU time; Linux)."""

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                jiffies = [int(x) for x in fh.readline().split()[1:9]]
            tick = os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            return None
        busy = (sum(jiffies) - jiffies[3] - jiffies[4]) / tick  # all but idle and iowait
        return busy, time.process_time(), time.monotonic()

    def spare_workers(self) -> int:
        """Worker processes worth starting besides this one: one per core left idle by
        other processes and this one, from half an idle core on, at most MAX_WORKERS.
        0 on a busy machine, where a worker would only take turns with this process (the
        kernel may also share the cores per session rather than per process) and cost
        its start and the copying of its units."""
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        if cores < 2 or self.start is None:
            return 0
        wait = MIN_SAMPLE - (time.monotonic() - self.start[2])
        if wait > 0:  # /proc/stat counts in ticks of 10 ms: too short a window says little
            time.sleep(wait)
        end = self._read()
        if end is None or end[2] <= self.start[2]:
            return 0
        others = (end[0] - self.start[0]) - (end[1] - self.start[1])  # CPU seconds
        idle = cores - 1 - max(others, 0.0) / (end[2] - self.start[2])
        return max(0, min(MAX_WORKERS, cores - 1, int(idle + 0.5)))


def _serve() -> None:
    """A worker process: read (range index, _parse_range arguments) tasks from stdin and
    answer each with ("ok", (index, _Range)) or ("error", traceback) on stdout, until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the importing process's
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print cannot corrupt the answers
    tasks = sys.stdin.buffer
    while True:
        try:
            task = pickle.load(tasks)
        except EOFError:
            return
        index, args = task
        try:
            reply: tuple[str, Any] = ("ok", (index, _parse_range(*args)))
        except Exception:  # a bug: reported to the importing process, which raises it
            reply = ("error", traceback.format_exc())
        pickle.dump(reply, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


class _Workers:
    """``n`` worker processes (``python -c ...posts_xml._serve()``, not forked: they
    inherit no thread or lock of the caller, and the caller's main module is not
    imported again), each with a thread that reads its replies into one queue."""

    def __init__(self, n: int) -> None:
        import ptmcoder

        # the workers import the ptmcoder this process runs (a checkout may shadow the
        # installed one); an installed package is found on the default path anyway
        package_root = Path(ptmcoder.__file__).resolve().parents[1]
        env = dict(os.environ)
        if package_root.name not in ("site-packages", "dist-packages"):
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(package_root), env.get("PYTHONPATH")) if p
            )
        code = "from ptmcoder.corpus.readers.posts_xml import _serve; _serve()"
        self.replies: queue.Queue[tuple[int, str, Any]] = queue.Queue()
        self.procs = [
            subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=env)
            for _ in range(n)
        ]  # fmt: skip
        self.busy = [0] * n
        self.dead: set[int] = set()
        for w, proc in enumerate(self.procs):
            threading.Thread(target=self._read, args=(w, proc), daemon=True).start()

    def _read(self, w: int, proc: subprocess.Popen[bytes]) -> None:
        while True:
            try:
                kind, payload = pickle.load(_pipe(proc.stdout))
            except Exception:  # EOF: the process ended (killed, out of memory)
                self.replies.put((w, "gone", None))
                return
            self.replies.put((w, kind, payload))

    def send(self, w: int, task: tuple[Any, ...]) -> None:
        stdin = _pipe(self.procs[w].stdin)
        pickle.dump(task, stdin, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.flush()
        self.busy[w] += 1

    def close(self, *, kill: bool) -> None:
        for proc in self.procs:
            with contextlib.suppress(OSError):
                _pipe(proc.stdin).close()
            if kill:
                proc.kill()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    """A worker's stdin or stdout: never None, :class:`_Workers` opens both as pipes."""
    assert stream is not None
    return stream


def read_tables(
    path: Path,
    ctx: ImportContext,
    *,
    site: Site | None = None,
    workers: int | None = None,
    range_bytes: int | None = None,
    min_bytes: int | None = None,
) -> Iterator[Any]:
    """The units of ``path`` as Arrow tables of UNIT_SCHEMA, in file order, with the
    skipped records, counts, answers and progress of :func:`read`.

    A file of at least ``min_bytes`` is read range by range (see the module docstring)
    by this process and ``workers`` worker processes; by default the first range is
    parsed here while :class:`CpuSample` measures what the other processes leave idle,
    which decides. This process merges the ranges; a worker's answers go to
    ``ctx.answer_table`` in one call."""
    import pyarrow as pa

    from ptmcoder.corpus.schema import UNIT_SCHEMA

    site = file_site(path, site, ctx)
    size = path.stat().st_size
    range_bytes = RANGE_BYTES if range_bytes is None else range_bytes
    min_bytes = PARALLEL_MIN_BYTES if min_bytes is None else min_bytes
    sample = CpuSample() if workers is None else None
    root = _root_name(path) if size >= min_bytes and workers != 0 else None
    merged_rows = 0
    resume_at = 0
    if root is not None:
        name, prefix = str(path), f"{path.name}:"
        source_at = UNIT_SCHEMA.get_field_index("source")
        cuts = _cuts(path, size, range_bytes)
        ranges: list[tuple[int, int]] = []
        done: dict[int, _Range] = {}
        n_workers = 0
        window = 3  # ranges cut but not merged yet: bounds memory (2 more per worker)
        merged = 0
        line_base = 0
        pool: _Workers | None = None

        too_long = eof = False

        def cut() -> int | None:
            """The index of the next range, or None (end of file, window full, or a range
            too long: no ``<row`` in MAX_RANGES ranges' bytes; it is left to read(),
            which reads on from its start in bounded memory)."""
            nonlocal too_long, eof
            if too_long or len(ranges) - merged >= window:
                return None
            end = next(cuts, None)
            if end is None:
                eof = True
                return None
            ranges.append((ranges[-1][1] if ranges else 0, end))
            if end - ranges[-1][0] > MAX_RANGES * range_bytes:
                too_long = True
                done[len(ranges) - 1] = _Range(ok=False)
                return None
            return len(ranges) - 1

        def task(i: int) -> tuple[Any, ...]:
            start, end = ranges[i]
            return (name, start, end, root, start == 0, end == size, site)

        def lost(w: int) -> None:
            """Worker ``w`` is gone (killed): from the first range not parsed yet on,
            the file is read in this process."""
            assert pool is not None
            pool.dead.add(w)
            for i in range(merged, len(ranges)):
                done.setdefault(i, _Range(ok=False))

        def hand_out() -> None:
            if pool is None:
                return
            for w in range(n_workers):
                while w not in pool.dead and pool.busy[w] < 2:
                    i = cut()
                    if i is None:
                        return
                    try:
                        pool.send(w, (i, task(i)))
                    except OSError:
                        lost(w)

        def take(reply: tuple[int, str, Any]) -> None:
            assert pool is not None
            w, kind, payload = reply
            if kind == "gone":
                lost(w)
                return
            if kind == "error":
                raise RuntimeError(f"Posts.xml worker failed:\n{payload}")
            pool.busy[w] -= 1
            index, res = payload
            done[index] = res

        def start(n: int) -> None:
            nonlocal pool, n_workers, window
            try:
                pool = _Workers(n)
            except OSError:  # no process can be started here
                return
            n_workers = n
            window += 2 * n
            hand_out()

        finished = False
        try:
            first = cut()
            if workers:  # asked for: they start while range 0 is parsed here
                start(workers)
            if first is not None:
                done[first] = _parse_range(*task(first))
            if sample is not None and (n := sample.spare_workers()):
                start(n)
            while True:
                while merged not in done:
                    if pool is not None:
                        try:
                            take(pool.replies.get_nowait())
                            continue
                        except queue.Empty:
                            pass
                    i = cut()  # parse a range here rather than wait
                    if i is not None:
                        done[i] = _parse_range(*task(i))
                    elif pool is not None and merged < len(ranges):
                        take(pool.replies.get())
                    else:
                        break
                if merged not in done:
                    finished = eof and merged == len(ranges)  # every range merged
                    if not finished:  # not expected; read() goes on from what was merged
                        resume_at = ranges[merged - 1][1] if merged else 0
                    break
                res = done.pop(merged)
                if not res.ok:
                    resume_at = ranges[merged][0]
                    break
                add_replaced_bytes(res.replaced)
                for key, n in res.counts.items():
                    ctx.count(key, n)
                if res.answer_ids:
                    ctx.answer_table(res.answer_ids, res.answer_times)
                for line, row, field_name, reason in res.errors:
                    where = f"line {line + line_base} (row {row + merged_rows})"
                    ctx.bad(InputRecordError(name, where, field_name, reason))
                if res.units is not None:
                    sources = [
                        f"{prefix}line {line + line_base} (row {row + merged_rows})"
                        for line, row in res.unit_at
                    ]
                    yield res.units.set_column(source_at, "source", pa.array(sources, pa.string()))
                merged_rows += res.rows
                line_base += res.line_breaks
                merged += 1
                if ctx.progress:
                    ctx.progress(ranges[merged - 1][1])
                hand_out()
        finally:
            if pool is not None:
                pool.close(kill=not finished)
        if finished:
            return
    batch: list[dict[str, Any]] = []
    for unit in read(path, ctx, site=site, skip_rows=merged_rows, counted_from=resume_at):
        batch.append(unit)
        if len(batch) >= BATCH_ROWS:
            yield pa.Table.from_pylist(batch, schema=UNIT_SCHEMA)
            batch = []
    if batch:
        yield pa.Table.from_pylist(batch, schema=UNIT_SCHEMA)
