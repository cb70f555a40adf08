"""Units, their text, and the human codes given to them: what every stage reads.

``--corpus`` is a corpus name (:func:`ptmcoder.corpus.store.load_corpus`, or a
bundled sample such as ``humbatova_so``), a ``.parquet`` file, or a CSV/JSONL file
with at least ``id`` and ``title`` (:func:`load_units`). :func:`unit_text` is the
text of a unit that is coded, shown and exported. Human codes are a long table
``unit, rater, code`` (:func:`load_labels`), reduced to each unit's consensus codes
by :func:`unit_labels`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ptmcoder.errors import InputRecordError, NotFoundError
from ptmcoder.paths import samples_dir
from ptmcoder.tables import read_table


def _read_file(path: Path) -> pd.DataFrame:
    """A units file through :func:`~ptmcoder.tables.read_table` (the one empty-cell
    rule)."""
    return _no_missing_text(read_table(path, header_hint="id,title,body"))


def _no_missing_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A missing title or body (None, NaN: a corpus without titles) is empty text,
    never the string ``"nan"``."""
    for column in ("title", "body"):
        if column in frame.columns:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), "")
            frame[column] = frame[column].astype(str)
    return frame


#: bundled sample files a name can resolve to (what :func:`read_table` reads)
SAMPLE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".parquet")


def sample_names() -> list[str]:
    """The bundled sample files by name (file name without extension)."""
    base = samples_dir()
    if not base.is_dir():
        return []
    return sorted(p.stem for p in base.iterdir() if p.suffix.lower() in SAMPLE_SUFFIXES)


def sample_file(name: str, *patterns: str) -> Path | None:
    """A bundled sample: the first of ``patterns`` (``{}`` is the name, with ``-`` also
    read as ``_``) that exists, else the sample file whose name without extension is
    ``name`` (so ``humbatova_so_final`` finds ``humbatova_so_final.csv``)."""
    base = samples_dir()
    names = dict.fromkeys((name, name.replace("-", "_")))
    for pattern in patterns:
        for n in names:
            if (base / pattern.format(n)).is_file():
                return base / pattern.format(n)
    for n in names:
        for suffix in SAMPLE_SUFFIXES:
            if (base / f"{n}{suffix}").is_file():
                return base / f"{n}{suffix}"
    return None


def _sample_path(name: str) -> Path | None:
    return sample_file(name, "{}_titles.csv")


def load_units(ref: str, *, limit: int | None = None) -> pd.DataFrame:
    """The units of a corpus as a DataFrame with at least ``id``, ``title``, ``body``."""
    path = Path(ref)
    frame: pd.DataFrame | None = None
    source = str(path)
    if path.is_file():
        frame = _read_file(path)
    else:
        from ptmcoder.corpus.store import load_corpus

        try:
            frame = load_corpus(ref)
            source = f"corpus:{ref}"
        except NotFoundError:
            frame = None
        if frame is None:
            sample = _sample_path(ref)
            if sample is None:
                raise NotFoundError(
                    f"no corpus {ref!r}",
                    hint="pass a corpus name, a .parquet file, a CSV/JSONL "
                    "file with id and title columns, or a bundled "
                    "sample: " + ", ".join(sample_names()),
                )
            frame = _read_file(sample)
            source = str(sample)
    for column in ("id", "title"):
        if column not in frame.columns:
            raise InputRecordError(
                source,
                "header",
                column,
                f"the corpus has no {column!r} column",
                "units need at least id and title",
            )
    frame = _no_missing_text(frame.copy())
    frame["id"] = frame["id"].astype(str)
    if "body" not in frame.columns:
        frame["body"] = ""
    duplicated = frame["id"][frame["id"].duplicated()]
    if len(duplicated):
        raise InputRecordError(
            source, f"id {duplicated.iloc[0]!r}", "id", "unit ids must be unique", None
        )
    if limit is not None:
        frame = frame.head(limit)
    frame.attrs["source"] = source
    return frame.reset_index(drop=True)


def unit_text(unit: dict[str, Any]) -> str:
    """The text that is coded: the title, then the body when there is one. A missing
    title or body (None, NaN) is no text."""
    title, body = (_text(unit.get(key)) for key in ("title", "body"))
    if body:
        return f"Title: {title}\n\n{body}" if title else body
    return title


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    return str(value).strip()


def load_labels(ref: str, *, raters: list[str] | None = None) -> pd.DataFrame:
    """Human codes as a long table ``unit, rater, code`` (a file, or a bundled sample:
    ``humbatova_so`` for ``humbatova_so_labels.csv``, or any sample file name without
    its extension such as ``humbatova_so_final``).

    ``attrs``: ``source``, ``raters_available`` (all raters of the file) and
    ``raters_unknown`` (the requested ``raters`` the file does not have)."""
    path = Path(ref)
    if not path.is_file():
        sample = sample_file(ref, "{}_labels.csv")
        if sample is None:
            raise NotFoundError(
                f"no label file {ref!r}",
                hint="pass a CSV/JSONL/Parquet long table with columns "
                "unit, rater, code, or a bundled sample: " + ", ".join(sample_names()),
            )
        path = sample
    frame = read_table(path)
    missing = [c for c in ("unit", "code") if c not in frame.columns]
    if missing:
        raise InputRecordError(
            str(path),
            "header",
            missing[0],
            f"the label table has no {missing[0]!r} column",
            "labels are a long table: unit, rater, code",
        )
    if "rater" not in frame.columns:
        frame["rater"] = "human"
    frame = frame.dropna(subset=["unit", "code"])  # a rater who gave no code trains nothing
    frame = frame[["unit", "rater", "code"]].fillna("").astype(str)
    available = sorted(frame["rater"].unique())
    if raters:
        frame = frame[frame["rater"].isin(raters)]
    frame = frame.reset_index(drop=True)
    frame.attrs["source"] = str(path)
    frame.attrs["raters_available"] = available
    frame.attrs["raters_unknown"] = [r for r in (raters or []) if r not in available]
    return frame


def unit_labels(labels: pd.DataFrame, allowed: list[str], map_code=None) -> dict[str, list[str]]:
    """unit id -> its consensus codes: every code at least half of the unit's raters
    assigned (at least the most frequent one). ``map_code`` lifts a code to the run's
    level (None drops it)."""
    out: dict[str, list[str]] = {}
    allowed_set = set(allowed)
    for unit, group in labels.groupby("unit", sort=False):
        raters = group["rater"].nunique() or 1
        counts: dict[str, set[str]] = {}
        for rater, code in zip(group["rater"], group["code"], strict=True):
            mapped = map_code(code) if map_code else code
            if mapped is None or mapped not in allowed_set:
                continue
            counts.setdefault(mapped, set()).add(rater)
        if not counts:
            continue
        ranked = sorted(counts, key=lambda c: (-len(counts[c]), allowed.index(c)))
        chosen = [c for c in ranked if len(counts[c]) * 2 >= raters] or ranked[:1]
        out[str(unit)] = chosen
    return out
