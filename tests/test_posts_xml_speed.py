"""Issue #18: the faster Posts.xml import gives exactly what the plain one gave.

* the value parsers' fast paths (plain digits, the dumps' ISO times) agree with their
  general path on any text (a ``str`` subclass always takes the general path);
* read_tables with worker processes and small ranges (so that every hostile detail
  lands near some cut) gives what read() gives: the same units in the same order, the
  same source lines and rows, skipped records, errors, counts, answers, replaced bytes
  and last progress; so does reading range by range in this process, also on random
  rows cut every 1-400 bytes (hypothesis); the store imports the same corpus each
  way; a worker that dies hands its ranges back; a killed parallel import leaves no
  worker running and no corpus.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from fakes import posts_row
from hypothesis import given, settings
from hypothesis import strategies as st

from ptmcoder.corpus import store
from ptmcoder.corpus.readers import posts_xml
from ptmcoder.corpus.readers.base import (
    FieldError,
    ImportContext,
    OnError,
    parse_id,
    parse_int,
    parse_time,
    replaced_bytes,
)
from ptmcoder.corpus.schema import UNIT_SCHEMA
from ptmcoder.errors import InputRecordError

TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A-?[0-9]{1,22}(\.[0-9]*)?\Z"),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]{1,15})?([+-][0-9:]{1,6}|Z)?\Z"),
    st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2019-01-23T19:24:21.123"]
        + ["007", "0", "٣٣", "²", "10000000000000000000"]
    ),
)


class Text(str):
    """Not exactly ``str``: the fast paths (``type(value) is str``) pass it by."""


def _outcome(parse, value):
    try:
        return parse(value, "F")
    except FieldError as exc:
        return ("error", exc.field_name, exc.reason)


@settings(max_examples=1000, deadline=None)
@given(TEXT)
def test_fast_paths_agree_with_the_general_path(text):
    for parse in (parse_int, parse_id, parse_time):
        assert _outcome(parse, text) == _outcome(parse, Text(text)), parse.__name__


# ----------------------------------------------------- the parallel reader = the plain one
REPO = Path(__file__).resolve().parents[1]
RANGE = 16 << 10  # 16 KiB ranges: a 300 KB file is cut about 20 times


def _generate(path: Path, size: int, seed: int) -> str:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_posts_xml import generate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    generate(path, size, seed=seed)
    return path.read_text(encoding="utf-8")


def _read(
    path: Path, on_error: OnError, parallel: bool, in_process: bool = False, cut: int = RANGE
) -> dict:
    """What read() (or read_tables, with a worker or range by range in this process
    when ``in_process``) gives for ``path``."""
    answers: list = []
    progress: list[int] = []
    ctx = ImportContext(on_error=on_error, answer_sink=lambda i, t: answers.append((i, t)))
    ctx.progress = progress.append
    before = replaced_bytes()
    tables: list[pa.Table] = []
    error = None
    try:
        if parallel:
            workers = None if in_process else 1
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(posts_xml.CpuSample, "spare_workers", lambda self: 0)
                tables = list(
                    posts_xml.read_tables(
                        path,
                        ctx,
                        workers=workers,
                        range_bytes=cut,
                        min_bytes=0,
                    )
                )
        else:
            tables = [pa.Table.from_pylist(list(posts_xml.read(path, ctx)), schema=UNIT_SCHEMA)]
    except InputRecordError as exc:
        error = (exc.file, exc.record, exc.field_name, exc.reason)
    units = pa.concat_tables(tables).to_pylist() if tables else []
    return {
        "units": units if error is None else None,
        "answers": answers if error is None else None,
        "error": error,
        "skipped": [(e.file, e.record, e.field_name, e.reason) for e in ctx.skipped],
        "counts": list(ctx.counts.items()) if error is None else None,
        "replaced": replaced_bytes() - before if error is None else None,
        "last_progress": progress[-1] if progress and error is None else None,
    }


def _assert_same(path: Path) -> dict:
    for on_error in (OnError.SKIP, OnError.FAIL):
        plain = _read(path, on_error, parallel=False)
        assert _read(path, on_error, parallel=True) == plain, on_error
        assert _read(path, on_error, parallel=True, in_process=True) == plain, on_error
    return plain  # the SKIP outcome is checked first; FAIL's is returned


def _insert_before_rows(text: str, every: int, insert) -> str:
    parts = text.split("  <row ")
    return "  <row ".join(
        part + (insert(i) if i % every == every - 1 and i < len(parts) - 1 else "")
        for i, part in enumerate(parts)
    )


def test_a_clean_file_gives_the_same_units_in_the_same_order(tmp_path):
    path = tmp_path / "Posts.xml"
    _generate(path, 300_000, seed=3)
    outcome = _read(path, OnError.FAIL, parallel=True)
    assert len(outcome["units"]) > 30 and outcome["last_progress"] == path.stat().st_size
    assert outcome["units"][-1]["source"].startswith("Posts.xml:line ")
    _assert_same(path)


def test_bad_fields_are_skipped_or_fail_at_the_same_row(tmp_path):
    path = tmp_path / "Posts.xml"
    text = _generate(path, 300_000, seed=4)
    text = text.replace('Score="7"', 'Score="lots"')
    bad = (
        '<row PostTypeId="1" Title="no id"/>\n  ',
        '<row Id="9{i}" PostTypeId="1" Title=" " CreationDate="2020-01-01"/>\n  ',
        '<row Id="8{i}" PostTypeId="2" CreationDate="yesterday"/>\n  ',
    )
    text = _insert_before_rows(text, 13, lambda i: bad[i % 3].format(i=i))
    path.write_text(text, encoding="utf-8")
    plain = _read(path, OnError.SKIP, parallel=False)
    assert len(plain["skipped"]) > 5 and plain["units"]
    assert _read(path, OnError.FAIL, parallel=False)["error"] is not None
    _assert_same(path)


def test_undecodable_bytes_are_replaced_and_counted_once(tmp_path):
    path = tmp_path / "Posts.xml"
    text = _generate(path, 300_000, seed=5).replace("tensor", "tensör")
    raw = text.encode("utf-8").replace(b"model", b"mod\xffel")
    # a character cut short just before a row (where the ranges are cut), and inside one
    raw = raw.replace(b"\n  <row ", b"\n\xe2\x82  <row ", 9).replace(b"Score=", b"\xc3 Score=", 5)
    path.write_bytes(raw)
    assert _read(path, OnError.SKIP, parallel=False)["replaced"] > 100
    _assert_same(path)


@pytest.mark.parametrize(
    "hostile",
    [
        "comment",  # a <row inside a comment, cut between two ranges
        "cdata",
        "nested",  # rows one level deeper than the root
        "truncated",
        "junk-after-root",
        "doctype",
        "crlf",
        "cr",
    ],
)
def test_hostile_files_give_the_plain_readers_rows_and_errors(tmp_path, hostile):
    path = tmp_path / "Posts.xml"
    text = _generate(path, 300_000, seed=6)
    head, *rows = text.split("\n  <row ")
    seps = ["\n  <row "] * len(rows)
    m = len(rows) // 2
    if hostile == "comment":
        seps[m], seps[m + 12] = "\n  <!-- <row ", " -->\n  <row "
    elif hostile == "cdata":
        seps[m], seps[m + 12] = "\n  <![CDATA[<row ", "]]>\n  <row "
    elif hostile == "nested":
        seps[m], seps[m + 15] = "\n<group>\n  <row ", "\n</group>\n  <row "
    text = head + "".join(sep + row for sep, row in zip(seps, rows, strict=True))
    if hostile == "truncated":
        text = text[: len(text) * 2 // 3]
    elif hostile == "junk-after-root":
        text += "<posts/>\n"
    elif hostile == "doctype":
        text = text.replace("<posts>", '<!DOCTYPE posts [<!ENTITY e "x">]>\n<posts>', 1)
    elif hostile == "crlf":
        text = text.replace("\n", "\r\n")
    elif hostile == "cr":
        text = text.replace("\n", "\r")
    path.write_bytes(text.encode("utf-8"))
    outcome = _assert_same(path)
    if hostile in ("truncated", "junk-after-root", "doctype"):
        assert outcome["error"] is not None
    else:
        assert outcome["units"] and outcome["error"] is None


def test_a_stretch_without_row_tags_is_read_in_bounded_memory(tmp_path, monkeypatch):
    """No ``<row`` for more than MAX_RANGES ranges (other elements, one huge row): that
    part is never held whole; the one-process reader reads on from its start."""
    path = tmp_path / "Posts.xml"
    text = _generate(path, 200_000, seed=11)
    at = text.index("\n  <row ", len(text) // 3)
    filler = "".join(f'  <item n="{i}">{"x" * 200}</item>\n' for i in range(2000))  # ~460 KB
    path.write_text(f"{text[:at]}\n{filler}{text[at + 1 :]}", encoding="utf-8")
    sizes: list[int] = []
    real = posts_xml._parse_range

    def parse_range(name, start, end, *args):
        sizes.append(end - start)
        return real(name, start, end, *args)

    monkeypatch.setattr(posts_xml, "_parse_range", parse_range)
    outcome = _read(path, OnError.SKIP, parallel=True, in_process=True)
    assert outcome == _read(path, OnError.SKIP, parallel=False) and outcome["units"]
    assert sizes and max(sizes) <= posts_xml.MAX_RANGES * RANGE


def test_a_worker_that_dies_hands_its_ranges_back(tmp_path, monkeypatch):
    path = tmp_path / "Posts.xml"
    _generate(path, 300_000, seed=10)
    real = posts_xml._Workers

    def workers(n: int) -> posts_xml._Workers:
        pool = real(n)
        pool.procs[0].kill()  # before, or while, it gets its first ranges
        return pool

    monkeypatch.setattr(posts_xml, "_Workers", workers)
    assert _read(path, OnError.FAIL, parallel=True) == _read(path, OnError.FAIL, parallel=False)


def test_the_store_imports_the_same_corpus_with_workers(tmp_path, monkeypatch):
    path = tmp_path / "Posts.xml"
    text = _generate(path, 400_000, seed=8).replace('Score="5"', 'Score="x"')
    path.write_bytes(text.encode("utf-8").replace(b"model", b"mod\xffel", 7))
    monkeypatch.setattr(posts_xml, "RANGE_BYTES", RANGE)
    started: list[posts_xml._Workers] = []
    real = posts_xml._Workers

    def workers(n: int) -> posts_xml._Workers:
        started.append(real(n))
        return started[-1]

    monkeypatch.setattr(posts_xml, "_Workers", workers)
    records = []
    # one process (as before #18), range by range in this process, with a worker
    for min_bytes, spare in ((1 << 40, 0), (0, 0), (0, 1)):
        monkeypatch.setattr(posts_xml, "PARALLEL_MIN_BYTES", min_bytes)
        monkeypatch.setattr(posts_xml.CpuSample, "spare_workers", lambda self, n=spare: n)
        name = f"c{len(records)}"
        summary = store.import_corpus([path], name, on_error="skip")
        record = store.import_record(name)
        for volatile in ("name", "path", "seconds", "imported_at"):
            record.pop(volatile)
        records.append((store.load_corpus(name), record, summary.units))
    assert len(started) == 1 and all(p.poll() is not None for p in started[0].procs)
    (plain, plain_record, n), *others = records
    assert n > 30 and plain_record["skipped_count"] > 0 and plain_record["non_utf8_bytes"] == 7
    for units, record, _ in others:
        assert units.equals(plain)
        assert record == plain_record


def test_killing_a_parallel_import_leaves_no_worker_and_no_corpus(tmp_path, isolated_home):
    path = tmp_path / "Posts.xml"
    _generate(path, 3_000_000, seed=9)
    code = (
        "import sys\n"
        "from ptmcoder.corpus import store\n"
        "from ptmcoder.corpus.readers import posts_xml\n"
        "posts_xml.PARALLEL_MIN_BYTES, posts_xml.RANGE_BYTES = 0, 64 << 10\n"
        "posts_xml.CpuSample.spare_workers = lambda self: 1\n"
        "real = posts_xml._Workers\n"
        "def workers(n):\n"
        "    pool = real(n)\n"
        "    print(*[p.pid for p in pool.procs], flush=True)\n"
        "    return pool\n"
        "posts_xml._Workers = workers\n"
        "def progress(path, done, total):\n"
        "    if done and done < total:\n"
        "        print('progress', flush=True)\n"
        "        sys.stdin.readline()  # wait here to be killed\n"
        f"store.import_corpus([{str(path)!r}], 'c', progress=progress)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PTMCODER_HOME": str(isolated_home)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    worker_pids = [int(x) for x in proc.stdout.readline().split()]
    assert proc.stdout.readline().strip() == b"progress"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_running(pid) for pid in worker_pids):
        time.sleep(0.1)
    assert worker_pids and not any(_running(pid) for pid in worker_pids)
    assert store.known_corpora() == []
    store.import_corpus([path], "c")  # the lock is free; the killed import's staging goes
    assert store.known_corpora() == ["c"]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


ATTR = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=12)
ROW = st.fixed_dictionaries(
    {
        "Id": st.sampled_from(["1", "2", "007", "x", "", "99999999999999999999"]),
        "PostTypeId": st.sampled_from(["1", "1", "2", "3", "x"]),
        "CreationDate": st.sampled_from(["2020-01-01T00:00:00.000", "2020-13-01", "", "1e20"]),
        "Title": ATTR,
        "Body": st.sampled_from(["<p>a &amp; b</p>", "<pre><code>x &lt; 1\n</code></pre>", ""])
        | ATTR,
        "Score": st.sampled_from(["3", "-1", "3.5", "nan"]),
    },
    optional={"AcceptedAnswerId": st.sampled_from(["2", "x"]), "Tags": ATTR},
)
BETWEEN = st.sampled_from(
    ["\n  ", "\r\n  ", "\r", "", "\n<!-- <row Id='9' PostTypeId='1'/> -->\n", "<![CDATA[<row]]>"]
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(ROW, BETWEEN), max_size=12),
    tail=st.sampled_from(["</posts>\n", "", "<row Id=", "</posts><row/>", "&amp;", "</posts>"]),
    cut=st.integers(min_value=1, max_value=400),
)
def test_any_rows_cut_anywhere_read_as_by_the_plain_reader(tmp_path_factory, rows, tail, cut):
    path = tmp_path_factory.mktemp("xml") / "Posts.xml"
    body = "".join(posts_row(r) + between for r, between in rows)
    path.write_bytes(f'<?xml version="1.0"?>\n<posts>\n{body}{tail}'.encode("utf-8", "replace"))
    for on_error in (OnError.SKIP, OnError.FAIL):
        plain = _read(path, on_error, parallel=False)
        assert _read(path, on_error, parallel=True, in_process=True, cut=cut) == plain
