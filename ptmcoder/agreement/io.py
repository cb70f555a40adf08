"""Reading agreement inputs: long tables, run annotations, gold labels; mapping
codes to a level of the codebook hierarchy."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ptmcoder import tables
from ptmcoder.annotate.records import annotations_to_long
from ptmcoder.errors import NotFoundError


def read_long_table(path: str | Path) -> pd.DataFrame:
    """A long table (CSV or Parquet) with columns ``unit, rater, code`` read by the one
    reader, :func:`ptmcoder.tables.read_long_table` (``unit_id`` accepted for ``unit``;
    extra columns kept), or a run's ``annotations.jsonl`` as one. Codes may be empty
    (rater saw the unit, gave no code)."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"input file not found: {path}")
    if path.suffix.lower() in (".jsonl", ".json"):
        return annotations_to_long(path)
    return tables.read_long_table(path)


def read_gold(path: str | Path, rater: str = "gold") -> pd.DataFrame:
    """Adjudicated labels: a table with ``unit, code`` (or a long table, whose
    rater column is replaced) as rater ``gold``; ``unit_id`` is read as ``unit``."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"gold file not found: {path}")
    df = tables.read_long_table(
        path, required=("unit", "code"), hint="gold labels need columns unit and code"
    )
    return pd.DataFrame({"unit": df["unit"], "rater": rater, "code": df["code"]}).astype("string")


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
