"""Reading agreement inputs: long tables, run annotations, gold labels; mapping
codes to a level of the codebook hierarchy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ptmcoder.errors import InputRecordError, NotFoundError, PtmcoderError
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


def _annotations_file(path: Path) -> Path:
    if path.is_dir():
        candidate = path / "annotations.jsonl"
        if not candidate.exists():
            raise NotFoundError(f"no annotations.jsonl in {path}")
        return candidate
    if not path.exists():
        raise NotFoundError(f"annotations file not found: {path}")
    return path


def load_annotations(run_dir_or_jsonl: str | Path) -> AnnotationLoad:
    """Read ``annotations.jsonl`` records (see :mod:`ptmcoder.annotate.records`).
    Records with ``error_type`` set contribute no codes; each becomes a row with
    an empty code (a missing rating) and is counted in ``failed``."""
    from ptmcoder.annotate.records import Annotation

    path = _annotations_file(Path(run_dir_or_jsonl))
    rows: list[tuple[str, str, str | None]] = []
    failed: dict[str, int] = {}
    n = 0
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = Annotation.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputRecordError(
                    str(path), f"line {lineno}", None, f"invalid JSON: {exc.msg}"
                ) from None
            except Exception as exc:  # pydantic.ValidationError
                raise InputRecordError(
                    str(path), f"line {lineno}", None, str(exc).splitlines()[0]
                ) from None
            n += 1
            if record.error_type is not None:
                failed[record.annotator] = failed.get(record.annotator, 0) + 1
                rows.append((record.unit_id, record.annotator, None))
                continue
            if not record.codes:
                rows.append((record.unit_id, record.annotator, None))
            for assignment in record.codes:
                rows.append((record.unit_id, record.annotator, assignment.code))
    table = pd.DataFrame(rows, columns=list(LONG_COLUMNS)).astype("string")
    return AnnotationLoad(table, n, failed)


def annotations_to_long(run_dir_or_jsonl: str | Path) -> pd.DataFrame:
    """``DataFrame[unit, rater, code]`` from a run directory or its annotations.jsonl;
    rater = the record's ``annotator``. Failed records are rows with an empty code
    (counted as missing ratings); their number is in ``df.attrs['failed']``."""
    load = load_annotations(run_dir_or_jsonl)
    df = load.table
    df.attrs["failed"] = dict(load.failed)
    df.attrs["records"] = load.records
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
    keeps leaf codes). Codes above the level become missing ratings (counted in
    ``df.attrs['above_level']``); codes not in the codebook are an error."""
    from ptmcoder.codebook import load_codebook

    book = load_codebook(codebook_ref)
    index = book.index()
    codes = long_df["code"].dropna().unique().tolist()
    unknown = sorted(c for c in codes if c not in index)
    if unknown:
        raise PtmcoderError(
            f"{len(unknown)} code(s) are not in codebook {book.id!r}: {', '.join(unknown[:10])}"
            + (" ..." if len(unknown) > 10 else ""),
            hint="map free-text labels to codebook ids first, or drop --codebook",
        )
    if level not in ("leaf", "leaves"):
        book.level_index(level)  # raises NotFoundError with the known levels
    mapping = {c: book.ancestor_at(c, level) for c in codes}
    out = long_df.copy()
    out["code"] = (
        out["code"].map(lambda c: mapping.get(c) if isinstance(c, str) else None).astype("string")
    )
    out.attrs["above_level"] = int(
        sum(1 for c in long_df["code"].dropna() if mapping.get(c) is None)
    )
    return out.drop_duplicates(subset=["unit", "rater", "code"])
