"""REFI-QDA projects (``.qdpx``): a run's units and every rater's codings for a QDA program.

The archive follows section 8 of the specification: a zip holding ``project.qde``
(the XML of ``Project.xsd``) and a flat ``sources/`` folder with one UTF-8 plain-text
file per unit, named by the unit's GUID (``internal://<guid>.txt``). In the project:

- ``<Users>``: every rater, one ``User`` each: the run's annotators, the human
  coders of ``--humans`` and the adjudicator of ``--gold``; every selection and
  coding names its rater in ``creatingUser``.
- ``<CodeBook>``: the run's codebook, as in :func:`ptmcoder.export.qdc.write_codes`.
- ``<Sources>``: one ``TextSource`` per unit the run coded, named by the unit id
  (GUID :func:`ptmcoder.export.refi.unit_guid`, which is how ``import-codings``
  finds the unit again). Each code a rater gave is one ``PlainTextSelection`` with
  one ``Coding``: the span of the annotator's evidence quote where it occurs in the
  unit, else the whole source (programs such as QualCoder read codings only from
  selections). Offsets are code points by default, UTF-16 code units with
  ``offsets="utf16"`` or a ``target`` that counts them (NVivo, ATLAS.ti, MAXQDA; see
  :data:`ptmcoder.export.refi.TARGETS`); the end is exclusive. The project's
  description says which unit it holds (``offsets=...``), which ``import-codings`` reads.
- ``<Notes>``: an annotator's rationale and confidence for a code, referenced from
  its coding (and repeated in the selection's description, which programs show as
  the coding memo); failed records are notes on their source.

Every source, selection, coding and note carries its time (the record's, else the
run's) as ``creationDateTime`` (and ``modifiedDateTime`` where the schema has one),
in UTC ending in ``Z``: QualCoder's importer reads a date from each and stops at the
first note without one.

Large projects are streamed: the source files are written one by one as zip
entries, then ``project.qde`` is written element by element straight into its zip
entry (notes are spooled to a temporary file, since they follow the sources); no
XML tree or document string is built. Only the codings, grouped by unit, are held
in memory.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ptmcoder import __version__
from ptmcoder import codebook as cb
from ptmcoder.errors import PtmcoderError
from ptmcoder.export.qdc import write_codes
from ptmcoder.export.refi import (
    DEFAULT_OFFSETS,
    OFFSET_UNITS,
    PROJECT_NS,
    PROJECT_XSD,
    TARGETS,
    XSI_NS,
    TextStats,
    XmlWriter,
    clean_text,
    code_guid,
    find_span,
    guid,
    refi_datetime,
    to_offset,
    unit_guid,
    user_guid,
    utc_now,
)

#: the largest internal file the specification allows (section 8.5)
MAX_INTERNAL_BYTES = 2**31 - 1
LINE_ENDINGS = ("lf", "crlf")
_UNIT_NAMES = {"codepoints": "code points", "utf16": "UTF-16 code units"}
GOLD_RATER = "gold"


@dataclass
class Coding:
    """One code one rater gave one unit (with the annotator's reasons, if any)."""

    rater: str
    code: str
    evidence: str | None = None
    rationale: str | None = None
    confidence: float | None = None
    created_at: str | None = None


@dataclass
class ExportSummary:
    path: Path
    run_id: str
    codebook_id: str
    #: the program written for (None: the specification), the offset unit and line endings
    target: str | None = None
    offsets: str = DEFAULT_OFFSETS
    line_endings: str = "lf"
    units: int = 0
    #: rater -> (role, codings written)
    raters: dict[str, dict[str, Any]] = field(default_factory=dict)
    evidence_spans: int = 0
    whole_source: int = 0
    notes: int = 0
    failed_records: int = 0
    text: TextStats = field(default_factory=TextStats)
    #: rows of --humans/--gold not exported, and why
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "run_id": self.run_id,
            "codebook": self.codebook_id,
            "target": self.target,
            "offsets": self.offsets,
            "line_endings": self.line_endings,
            "units": self.units,
            "raters": self.raters,
            "codings": sum(r["codings"] for r in self.raters.values()),
            "evidence_spans": self.evidence_spans,
            "whole_source": self.whole_source,
            "notes": self.notes,
            "failed_records": self.failed_records,
            "text": self.text.as_dict(),
            "skipped": self.skipped,
            "warnings": self.warnings,
        }


# -- inputs --------------------------------------------------------------------


def _run_records(run: Any) -> list[Any]:
    """Every rater's current annotation records, each under its rater's name (a
    study's rater, or the annotator of an annotate run): the one place this module
    reads them."""
    from ptmcoder.annotate.records import read_annotations

    out = []
    for rater in run.raters():
        if rater.store is run:  # an annotate run: its records name their annotators
            return read_annotations(run.path).records
        out += [
            r.model_copy(update={"annotator": rater.name})
            for r in read_annotations(rater.store.path).records
        ]
    return out


def _codebook_of(manifest: dict[str, Any]) -> cb.Codebook:
    config = manifest.get("config", {})
    given = config.get("codebook")
    ref = (manifest.get("codebook") or {}).get("id") or config.get("codebook_id") or given
    if given and Path(str(given)).is_file():
        ref = given
    if not ref:
        raise PtmcoderError("the run's manifest names no codebook")
    return cb.load_codebook(ref)


def _corpus_of(manifest: dict[str, Any]) -> str:
    ref = (manifest.get("corpus") or {}).get("ref") or manifest.get("config", {}).get("corpus")
    if not ref:
        raise PtmcoderError("the run's manifest names no corpus", hint="pass --corpus")
    return str(ref)


def read_rater_table(path: str | Path, *, rater: str | None = None) -> pd.DataFrame:
    """A long table of codes (the one reader, :func:`ptmcoder.tables.read_long_table`)
    as columns ``unit, rater, code``; with ``rater`` given the table needs no rater
    column (gold) and every row is that rater's."""
    from ptmcoder.tables import LONG_COLUMNS, read_long_table

    table = read_long_table(path, required=("unit", "code") if rater else LONG_COLUMNS)
    if rater:
        table = table.assign(rater=rater).astype({"rater": "string"})
    return table[["unit", "rater", "code"]]


# -- writing -------------------------------------------------------------------


def _rows(units: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """The units one at a time (not a list of every row's dict)."""
    columns = list(units.columns)
    for values in units.itertuples(index=False, name=None):
        yield dict(zip(columns, values, strict=True))


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _memo(coding: Coding) -> str | None:
    lines = []
    if coding.rationale:
        lines.append(f"Rationale: {coding.rationale}")
    if coding.confidence is not None:
        lines.append(f"Confidence: {coding.confidence:g}")
    if coding.evidence:
        lines.append(f"Evidence: {coding.evidence}")
    return "\n".join(lines) if lines else None


def export_project(
    run_ref: str | Path,
    output: str | Path | None = None,
    *,
    humans: str | Path | None = None,
    gold: str | Path | None = None,
    corpus: str | None = None,
    line_endings: str | None = None,
    offsets: str | None = None,
    target: str | None = None,
) -> ExportSummary:
    """Write run ``run_ref`` (with optional human and adjudicated codes) as a REFI-QDA
    project archive; returns what was written. ``output`` defaults to ``<run id>.qdpx``.

    ``target`` (``nvivo``, ``atlas``, ``maxqda``, ``qualcoder``) picks the offset unit
    and line endings that program reads; ``offsets`` and ``line_endings`` override it.
    Without either: code points (the specification's unit) and ``\n``."""
    from ptmcoder.corpus.units import load_units, unit_text
    from ptmcoder.runs import resolve_run

    if target is not None and target not in TARGETS:
        raise PtmcoderError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    chosen = TARGETS[target] if target else None
    offsets = offsets or (chosen.offsets if chosen else DEFAULT_OFFSETS)
    line_endings = line_endings or (chosen.line_endings if chosen else "lf")
    if offsets not in OFFSET_UNITS:
        raise PtmcoderError(f"offsets must be one of {', '.join(OFFSET_UNITS)}, not {offsets!r}")
    if line_endings not in LINE_ENDINGS:
        raise PtmcoderError(f"line endings must be one of {', '.join(LINE_ENDINGS)}")
    run = resolve_run(str(run_ref))
    # the codebook, corpus and hash the raters coded with (a study's: its first rater's)
    manifest = run.coding_manifest().model_dump(mode="json")
    book = _codebook_of(manifest)
    index = book.index()
    out_path = Path(output) if output else Path(f"{run.id}.qdpx")
    if out_path.is_dir():
        raise PtmcoderError(
            f"{out_path} is a directory", hint="give the path of the .qdpx file to write"
        )
    summary = ExportSummary(out_path, run.id, book.id, target, offsets, line_endings)
    project_time = refi_datetime(manifest.get("created_at")) or utc_now()
    run_hash = (manifest.get("codebook") or {}).get("hash")
    if run_hash and run_hash != cb.codebook_hash(book):
        summary.warnings.append(
            f"codebook {book.id} changed since the run coded with it ({run_hash[:19]})"
        )

    by_unit: dict[str, list[Coding]] = {}
    failures: dict[str, list[tuple[str, str, str | None]]] = {}
    roles: dict[str, str] = {}
    run_units: set[str] = set()
    for record in _run_records(run):
        roles.setdefault(record.annotator, "annotator")
        run_units.add(record.unit_id)
        if record.error_type is not None:
            summary.failed_records += 1
            failures.setdefault(record.unit_id, []).append(
                (
                    record.annotator,
                    f"{record.error_type.value}: {record.error or ''}".strip(),
                    record.created_at,
                )
            )
            continue
        for a in record.codes:
            by_unit.setdefault(record.unit_id, []).append(
                Coding(
                    record.annotator,
                    a.code,
                    a.evidence,
                    a.rationale,
                    a.confidence,
                    record.created_at,
                )
            )
    if not run_units:
        raise PtmcoderError(
            f"run {run.id} has no annotation records to export",
            hint="annotate first: ptmcoder annotate --run " + run.id,
        )

    def skip(reason: str) -> None:
        summary.skipped[reason] = summary.skipped.get(reason, 0) + 1

    def add_table(table: pd.DataFrame, role: str, source: str) -> None:
        for unit, rater, code in table.itertuples(index=False):
            if pd.isna(unit) or pd.isna(rater):
                skip(f"{source}: rows without unit or rater")
                continue
            if roles.setdefault(str(rater), role) != role:
                raise PtmcoderError(
                    f"rater {rater!r} of {source} has the name of a run {roles[str(rater)]}",
                    hint="rename the rater in the table",
                )
            reason = None
            if pd.isna(code) or not str(code).strip():
                reason = "rows without a code"
            elif str(unit) not in run_units:
                reason = "rows on units the run did not code"
            elif str(code) not in index:
                reason = f"code {code!r} not in codebook {book.id}"
            if reason:
                skip(f"{source}: {reason}")
                continue
            by_unit.setdefault(str(unit), []).append(Coding(str(rater), str(code)))

    if humans is not None:
        add_table(read_rater_table(humans), "human coder", str(humans))
    if gold is not None:
        add_table(read_rater_table(gold, rater=GOLD_RATER), "adjudicator", str(gold))
    for unit, unit_codings in by_unit.items():  # one coding per unit, rater and code
        kept: dict[tuple[str, str], Coding] = {}
        for c in unit_codings:
            if c.code not in index:
                skip(f"run: code {c.code!r} not in codebook {book.id}")
            else:
                kept.setdefault((c.rater, c.code), c)
        by_unit[unit] = list(kept.values())

    corpus_ref = corpus or _corpus_of(manifest)
    units = load_units(corpus_ref)
    units = units[units["id"].isin(run_units)]
    missing = run_units - set(units["id"])
    if not len(units):
        raise PtmcoderError(
            f"none of the run's {len(run_units)} units is in corpus {corpus_ref}",
            hint="pass --corpus with the corpus the run coded",
        )
    if missing:
        summary.warnings.append(
            f"{len(missing)} coded unit(s) are not in the corpus and were left out, "
            f"e.g. {sorted(missing)[0]}"
        )
    counts: Counter[str] = Counter()
    crlf = line_endings == "crlf"

    def source_text(row: dict[str, Any], stats: TextStats | None) -> str:
        text = clean_text(unit_text(row), stats)
        return text.replace("\n", "\r\n") if crlf else text

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            # pass 1: the plain-text sources, one zip entry each
            for row in _rows(units):
                data = source_text(row, summary.text).encode("utf-8")
                if len(data) > MAX_INTERNAL_BYTES:
                    raise PtmcoderError(
                        f"unit {row['id']} is larger than the 2 GB a REFI-QDA source may be"
                    )
                with zf.open(f"sources/{unit_guid(str(row['id']))}.txt", "w") as fh:
                    fh.write(data)
            # pass 2: project.qde, streamed into its entry
            with (
                zf.open("project.qde", "w", force_zip64=True) as raw,
                tempfile.TemporaryFile("w+", encoding="utf-8") as spool,
            ):
                out = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
                writer = XmlWriter(out, summary.text)
                notes = XmlWriter(spool, summary.text, depth=2)
                writer.declaration()
                writer.start(
                    "Project",
                    xmlns=PROJECT_NS,
                    **{"xmlns:xsi": XSI_NS, "xsi:schemaLocation": f"{PROJECT_NS} {PROJECT_XSD}"},
                    name=f"ptmcoder run {run.id}",
                    origin=f"ptmcoder {__version__}",
                    creationDateTime=project_time,
                    modifiedDateTime=project_time,
                )
                writer.start("Users")
                for rater in roles:
                    writer.empty("User", guid=user_guid(rater), name=rater, id=rater)
                writer.end("Users")
                writer.start("CodeBook")
                write_codes(writer, book)
                writer.end("CodeBook")
                writer.start("Sources")
                for row in _rows(units):
                    uid = str(row["id"])
                    text = source_text(row, None)
                    summary.units += 1
                    sguid = unit_guid(uid)
                    writer.start(
                        "TextSource",
                        guid=sguid,
                        name=uid,
                        plainTextPath=f"internal://{sguid}.txt",
                        creationDateTime=project_time,
                        modifiedDateTime=project_time,
                    )
                    if row.get("url") and isinstance(row.get("url"), str):
                        writer.text_element("Description", row["url"])
                    for c in by_unit.get(uid, []):
                        span = find_span(c.evidence, text) if c.evidence else None
                        start, end = span if span else (0, len(text))
                        if span:
                            summary.evidence_spans += 1
                        else:
                            summary.whole_source += 1
                        counts[c.rater] += 1
                        memo = _memo(c)
                        user = user_guid(c.rater)
                        when = refi_datetime(c.created_at) or project_time
                        writer.start(
                            "PlainTextSelection",
                            guid=guid("selection", uid, c.rater, c.code),
                            name=_snippet(text[start:end]) or uid,
                            startPosition=to_offset(text, start, offsets),
                            endPosition=to_offset(text, end, offsets),
                            creatingUser=user,
                            creationDateTime=when,
                            modifiedDateTime=when,
                        )
                        if memo:
                            writer.text_element("Description", memo)
                        writer.start(
                            "Coding",
                            guid=guid("coding", uid, c.rater, c.code),
                            creatingUser=user,
                            creationDateTime=when,
                        )
                        writer.empty("CodeRef", targetGUID=code_guid(book.id, c.code))
                        if memo:
                            note = guid("note", uid, c.rater, c.code)
                            writer.empty("NoteRef", targetGUID=note)
                            notes.start(
                                "Note",
                                guid=note,
                                name=f"{c.rater} on {uid}: {c.code}",
                                creatingUser=user,
                                creationDateTime=when,
                                modifiedDateTime=when,
                            )
                            notes.text_element("PlainTextContent", memo)
                            notes.end("Note")
                            summary.notes += 1
                        writer.end("Coding")
                        writer.end("PlainTextSelection")
                    for rater, message, failed_at in failures.get(uid, []):
                        when = refi_datetime(failed_at) or project_time
                        note = guid("note", uid, rater, "error")
                        writer.empty("NoteRef", targetGUID=note)
                        notes.start(
                            "Note",
                            guid=note,
                            name=f"{rater} on {uid}: no codes (failed)",
                            creatingUser=user_guid(rater),
                            creationDateTime=when,
                            modifiedDateTime=when,
                        )
                        notes.text_element("PlainTextContent", f"Failed record: {message}")
                        notes.end("Note")
                        summary.notes += 1
                    writer.end("TextSource")
                writer.end("Sources")
                if summary.notes:
                    spool.flush()
                    spool.seek(0)
                    writer.start("Notes")
                    writer.raw(iter(lambda: spool.read(1 << 16), ""))
                    writer.end("Notes")
                hash_text = (run_hash or cb.codebook_hash(book))[:19]
                writer.text_element(
                    "Description",
                    f"Run {run.id} exported by ptmcoder {__version__}: codebook {book.id} "
                    f"version {book.version} ({hash_text}), corpus "
                    f"{corpus_ref}; raters: "
                    + ", ".join(f"{r} ({roles[r]})" for r in roles)
                    + f"; selection offsets in {_UNIT_NAMES[offsets]} (offsets={offsets}), "
                    f"line endings {line_endings}" + (f", written for {target}" if target else ""),
                )
                writer.end("Project")
                writer.finish()
                out.detach()
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    summary.raters = {r: {"role": roles[r], "codings": counts.get(r, 0)} for r in roles}
    return summary
