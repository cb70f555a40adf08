"""Reading the small tables users hand to ptmcoder (labels, gold codes, id lists).

One reader for every stage, so that an empty or unreadable file is always an
:class:`~ptmcoder.errors.InputRecordError` naming the file, never a pandas
traceback, and so that every stage reads CSV cells the same way: as text, with
an empty cell, or one of the spellings of a missing value that pandas and R write
(:data:`MISSING`), read as missing, so ``nan`` and ``NaN`` are never two codes.

**Long tables** (one row per code a rater gave a unit) have one column convention,
:data:`LONG_COLUMNS` ``unit, rater, code``, and one reader, :func:`read_long_table`
(a frame already in memory goes through :func:`as_long_table`): ``unit_id`` is
accepted for ``unit`` on input, and a missing column is an error naming the file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ptmcoder.errors import InputRecordError, NotFoundError

#: cell values read as missing (case-sensitive, as pandas and R write them)
MISSING = ("", "nan", "NaN", "NAN", "NA", "N/A", "<NA>", "null", "NULL")

#: the columns of a long table: one row per code a rater gave a unit
LONG_COLUMNS = ("unit", "rater", "code")
#: other names of the ``unit`` column accepted on input (read as ``unit``)
UNIT_ALIASES = ("unit_id",)
LONG_HINT = "a long table has one row per code: unit,rater,code"


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
        column = next((c for c in ("unit", *UNIT_ALIASES, "id") if c in table.columns), None)
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


def as_long_table(
    df: pd.DataFrame,
    source: str,
    *,
    required: tuple[str, ...] = LONG_COLUMNS,
    hint: str = LONG_HINT,
) -> pd.DataFrame:
    """A copy of ``df`` in the one convention of long tables: a ``unit_id`` column is
    renamed ``unit`` (when there is no ``unit``), ``unit``, ``rater`` and ``code`` are
    text (pandas ``string``; an empty code stays missing), other columns are kept. A
    column of ``required`` that is absent is an
    :class:`~ptmcoder.errors.InputRecordError` naming ``source`` (the file) and the
    columns found.

    >>> as_long_table(pd.DataFrame({"unit_id": [1], "rater": ["a"], "code": ["x"]}), "t.csv")
      unit rater code
    0    1     a    x
    """
    if "unit" not in df.columns:
        alias = next((c for c in UNIT_ALIASES if c in df.columns), None)
        if alias is not None:
            df = df.rename(columns={alias: "unit"})
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputRecordError(
            source,
            "header",
            None,
            f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}",
            hint,
        )
    df = df.copy()
    for col in LONG_COLUMNS:
        if col in df.columns:
            df[col] = df[col].astype("string")
    return df


def read_long_table(
    path: str | Path,
    *,
    required: tuple[str, ...] = LONG_COLUMNS,
    hint: str = LONG_HINT,
) -> pd.DataFrame:
    """The one reader of long tables (CSV, Parquet, JSON lines, JSON): columns ``unit,
    rater, code`` (``unit_id`` accepted for ``unit``; see :func:`as_long_table`), extra
    columns kept. ``required`` names the columns a caller cannot do without (gold
    labels: ``unit, code``)."""
    frame = read_table(path, header_hint=",".join(required))
    return as_long_table(frame, str(path), required=required, hint=hint)
