"""Reading the small tables users hand to ptmcoder (labels, gold codes, id lists).

One reader for every stage, so that an empty or unreadable file is always an
:class:`~ptmcoder.errors.InputRecordError` naming the file, never a pandas
traceback, and so that every stage reads CSV cells the same way: as text, with
an empty cell read as missing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ptmcoder.errors import InputRecordError, NotFoundError


def read_table(path: str | Path, *, header_hint: str = "unit,rater,code") -> pd.DataFrame:
    """A CSV (all columns as text, empty cells missing), Parquet or JSON-lines file."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise InputRecordError(str(path), "header", None, "the file is empty",
                               f"the table needs a header line: {header_hint}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputRecordError(str(path), "file", None, f"cannot read it: {first}") from None
