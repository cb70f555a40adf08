"""Reading the small tables users hand to ptmcoder (labels, gold codes, id lists).

One reader for every stage, so that an empty or unreadable file is always an
:class:`~ptmcoder.errors.InputRecordError` naming the file, never a pandas
traceback, and so that every stage reads CSV cells the same way: as text, with
an empty cell, or one of the spellings of a missing value that pandas and R write
(:data:`MISSING`), read as missing, so ``nan`` and ``NaN`` are never two codes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ptmcoder.errors import InputRecordError, NotFoundError

#: cell values read as missing (case-sensitive, as pandas and R write them)
MISSING = ("", "nan", "NaN", "NAN", "NA", "N/A", "<NA>", "null", "NULL")


def read_table(path: str | Path, *, header_hint: str = "unit,rater,code") -> pd.DataFrame:
    """A CSV (all columns as text, :data:`MISSING` cells missing), Parquet, JSON-lines
    or JSON (an array of records) file."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".json":  # an array of records
            return pd.read_json(path, dtype=False)
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=list(MISSING))
    except pd.errors.EmptyDataError:
        raise InputRecordError(
            str(path),
            "header",
            None,
            "the file is empty",
            f"the table needs a header line: {header_hint}",
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputRecordError(str(path), "file", None, f"cannot read it: {first}") from None


def read_ids(path: str | Path) -> set[str]:
    """Unit ids from a table with a ``unit``, ``unit_id`` or ``id`` column (CSV,
    Parquet, JSON lines), or from a plain text file with one id a line."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"file not found: {path}")
    if path.suffix.lower() in (".csv", ".parquet", ".pq", ".jsonl", ".ndjson"):
        table = read_table(path, header_hint="id")
        column = next((c for c in ("unit", "unit_id", "id") if c in table.columns), None)
        if column is None:
            raise InputRecordError(
                str(path),
                "header",
                None,
                "no id column (one of unit, unit_id, id); columns are "
                + ", ".join(map(str, table.columns)),
            )
        return set(table[column].dropna().astype(str))
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
