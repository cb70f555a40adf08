"""Reading agreement inputs: long tables, run annotations, gold labels; mapping
codes to a level of the codebook hierarchy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ptmcoder.errors import InputRecordError, NotFoundError
from ptmcoder.tables import read_table

LONG_COLUMNS = ("unit", "rater", "code")


def read_long_table(path: str | Path) -> pd.DataFrame:
    """A long table (CSV or Parquet) with columns ``unit, rater, code``; extra
    columns are kept. Codes may be empty (rater saw the unit, gave no code)."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"input file not found: {path}")
    if path.suffix.lower() in (".jsonl", ".json"):
        return annotations_to_long(path)
    df = read_table(path)
    missing = [c for c in LONG_COLUMNS if c not in df.columns]
    if missing:
        raise InputRecordError(
            str(path),
            "header",
            None,
            f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}",
            "a long table has one row per code: unit,rater,code",
        )
    for col in LONG_COLUMNS:
        df[col] = df[col].astype("string")
    return df


@dataclass
class AnnotationLoad:
    """Annotation records read as a long table, with the failures counted."""

    table: pd.DataFrame
    records: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # annotator -> records with error_type
    #: what the reader left out (a torn last line), to report
    notes: list[str] = field(default_factory=list)


def load_annotations(ref: str | Path) -> AnnotationLoad:
    """A run's records (see :func:`ptmcoder.annotate.records.read_annotations`; ``ref``
    is a run reference or an ``annotations.jsonl`` file) as a long table. Records with
    ``error_type`` set contribute no codes; each becomes a row with an empty code (a
    missing rating) and is counted in ``failed``."""
    from ptmcoder.annotate.records import read_annotations

    read = read_annotations(ref)
    rows: list[tuple[str, str, str | None]] = []
    for record in read.records:
        if record.error_type is not None or not record.codes:
            rows.append((record.unit_id, record.annotator, None))
            continue
        for assignment in record.codes:
            rows.append((record.unit_id, record.annotator, assignment.code))
    table = pd.DataFrame(rows, columns=list(LONG_COLUMNS)).astype("string")
    return AnnotationLoad(table, len(read.records), read.failed(), read.notes)


def annotations_to_long(run_dir_or_jsonl: str | Path) -> pd.DataFrame:
    """``DataFrame[unit, rater, code]`` from a run directory or its annotations.jsonl;
    rater = the record's ``annotator``. Failed records are rows with an empty code
    (counted as missing ratings); their number is in ``df.attrs['failed']``."""
    load = load_annotations(run_dir_or_jsonl)
    df = load.table
    df.attrs["failed"] = dict(load.failed)
    df.attrs["records"] = load.records
    df.attrs["notes"] = list(load.notes)
    return df


def read_gold(path: str | Path, rater: str = "gold") -> pd.DataFrame:
    """Adjudicated labels: a table with ``unit, code`` (or a long table, whose
    rater column is replaced) as rater ``gold``."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"gold file not found: {path}")
    df = read_table(path)
    if "unit" not in df.columns or "code" not in df.columns:
        raise InputRecordError(str(path), "header", None, "gold labels need columns unit and code")
    out = pd.DataFrame({"unit": df["unit"], "rater": rater, "code": df["code"]}).astype("string")
    return out


def map_to_level(long_df: pd.DataFrame, codebook_ref: str, level: str) -> pd.DataFrame:
    """Replace each code with its ancestor at ``level`` of the codebook (``leaf``
    keeps leaf codes) with :meth:`~ptmcoder.codebook.Codebook.map_codes`. Codes above
    the level and codes the codebook lacks become missing ratings, counted in
    ``df.attrs['above_level']`` and ``df.attrs['unknown']`` (code -> rows); the
    lines to report are in ``df.attrs['notes']``."""
    from ptmcoder.codebook import load_codebook

    book = load_codebook(codebook_ref)
    mapping = book.map_codes(long_df["code"].tolist(), level)
    out = long_df.copy()
    out["code"] = pd.array(mapping.codes, dtype="string")
    out = out.drop_duplicates(subset=["unit", "rater", "code"])
    out.attrs["above_level"] = int(sum(mapping.above_level.values()))
    out.attrs["unknown"] = dict(mapping.unknown)
    out.attrs["notes"] = mapping.notes(f"codebook {book.id}")
    return out
