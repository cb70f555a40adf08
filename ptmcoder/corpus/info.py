"""What is in a corpus: counts by platform, year, tag or label and project, and
how many units lack each field (the statistics need score, times, state...)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from ptmcoder.corpus.schema import UNIT_COLUMNS
from ptmcoder.corpus.store import (
    DamagedCorpusError,
    corpus_dir,
    corpus_path,
    count_units,
    import_record,
    known_corpora,
    load_corpus,
)


def list_corpora() -> dict[str, Any]:
    """The corpora of the workspace (name, units, samples, path) and, apart, the ones
    whose ``units.parquet`` cannot be read (name, path, reason): one damaged corpus
    does not hide the others."""
    rows: list[dict[str, Any]] = []
    damaged: list[dict[str, Any]] = []
    for name in known_corpora():
        path = corpus_dir(name) / "units.parquet"
        try:
            units = count_units(path)
        except DamagedCorpusError as exc:
            damaged.append({"name": name, "path": str(path), "reason": exc.reason})
            continue
        samples = sorted(p.stem for p in (corpus_dir(name) / "samples").glob("*.parquet"))
        rows.append({"name": name, "units": units, "samples": samples, "path": str(path)})
    return {"corpora": rows, "damaged": damaged}


def _missing(series: pd.Series) -> int:
    if series.name == "tags":
        return int(series.map(lambda v: v is None or len(v) == 0).sum())
    missing = series.isna()
    if series.dtype == object or str(series.dtype) in ("str", "string"):
        missing |= series.astype("string").str.strip().eq("").fillna(False)
    return int(missing.sum())


def describe(df: pd.DataFrame, *, top: int = 20) -> dict[str, Any]:
    """Counts (each with its n) and the missing-field report of a units table."""
    n = len(df)
    years = df["created_at"].dt.year.value_counts(dropna=False).sort_index()
    tags: Counter[str] = Counter()
    for value in df["tags"]:
        if value is not None:
            tags.update(value)
    projects = df["project"].value_counts(dropna=True)
    platforms = df["platform"].value_counts(dropna=True)
    states = df["state"].value_counts(dropna=True)
    return {
        "units": n,
        "by_platform": {str(k): int(v) for k, v in platforms.items()},
        "by_year": {("unknown" if pd.isna(k) else str(int(k))): int(v) for k, v in years.items()},
        "by_state": {str(k): int(v) for k, v in states.items()},
        "tags": {"distinct": len(tags), "top": dict(tags.most_common(top))},
        "projects": {
            "distinct": int(len(projects)),
            "top": {str(k): int(v) for k, v in projects.head(top).items()},
        },
        "missing": {col: _missing(df[col]) for col in UNIT_COLUMNS},
    }


def corpus_info(name: str, *, top: int = 20) -> dict[str, Any]:
    """:func:`describe` of corpus ``name`` plus its import record's counts."""
    path = corpus_path(name)
    info = {"name": name, "path": str(path), **describe(load_corpus(name), top=top)}
    record = import_record(name)
    info["import"] = {
        k: record.get(k)
        for k in (
            "imported_at",
            "sources",
            "skipped_count",
            "duplicate_rows_dropped",
            "counts",
            "warnings",
            "non_utf8_bytes",
        )
        if k in record
    }
    return info
