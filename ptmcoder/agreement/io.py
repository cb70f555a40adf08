"""Reading agreement inputs: long tables, run annotations, gold labels; mapping
codes to a level of the codebook hierarchy."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ptmcoder import tables
from ptmcoder.annotate.records import annotations_to_long
from ptmcoder.errors import NotFoundError

if TYPE_CHECKING:
    from ptmcoder.codebook import Codebook


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
    keeps leaf codes) with :meth:`~ptmcoder.codebook.Codebook.map_codes`, after reading
    a label that is not a code id as the code whose alias or name it is (see
    :func:`resolve_labels`; NLBSE's ``feature`` is ``enhancement`` in ``issue-type``).
    Codes above the level and codes the codebook lacks become missing ratings, counted
    in ``df.attrs['above_level']`` and ``df.attrs['unknown']`` (code -> rows); labels
    read through an alias or name are counted in ``df.attrs['aliased']`` ("label ->
    code" -> rows); the lines to report are in ``df.attrs['notes']``."""
    from ptmcoder.codebook import load_codebook

    book = load_codebook(codebook_ref)
    codes, aliased = resolve_labels(long_df["code"].tolist(), book)
    mapping = book.map_codes(codes, level)
    out = long_df.copy()
    out["code"] = pd.array(mapping.codes, dtype="string")
    out = out.drop_duplicates(subset=["unit", "rater", "code"])
    out.attrs["above_level"] = int(sum(mapping.above_level.values()))
    out.attrs["unknown"] = dict(mapping.unknown)
    out.attrs["aliased"] = dict(aliased)
    notes = []
    if aliased:
        listed = ", ".join(f"{k} ({n})" for k, n in aliased.most_common())
        notes.append(
            f"codebook {book.id}: {sum(aliased.values())} label(s) read through the "
            f"codebook's aliases and names: {listed}"
        )
    out.attrs["notes"] = notes + mapping.notes(f"codebook {book.id}")
    return out


def resolve_labels(codes: list[Any], book: Codebook) -> tuple[list[Any], Counter[str]]:
    """Each label that is not a code id of ``book`` replaced by the code whose id, alias
    or name it is (case and spacing ignored; an id wins over another code's alias or
    name); a label that matches nothing is kept, for
    :meth:`~ptmcoder.codebook.Codebook.map_codes` to count as unknown. Returns the codes
    and the count of each replacement (``"feature -> enhancement"`` -> rows).

    >>> from ptmcoder.codebook import load_codebook
    >>> resolve_labels(["bug", "feature", "Feature Request", "nonsense", None],
    ...                load_codebook("issue-type"))
    (['bug', 'enhancement', 'enhancement', 'nonsense', None], Counter({'feature -> enhancement': 1, 'Feature Request -> enhancement': 1}))
    """  # noqa: E501
    out: list[Any] = []
    aliased: Counter[str] = Counter()
    for raw in codes:
        label = raw.strip() if isinstance(raw, str) else None
        found = book.resolve_label(label)
        if not label or found is None or found == label:
            out.append(raw)
            continue
        aliased[f"{label} -> {found}"] += 1
        out.append(found)
    return out, aliased
