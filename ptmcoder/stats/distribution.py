"""How coded units spread over the codebook: every node at every level.

Tan et al. (2024, RQ3) report each category's share of annotated questions;
Banyongrakkul et al. (2025, Fig. 4) label each group with a triple
(# challenges, # issue reports, # codes). For every node at every level this
module counts

- ``units``: distinct units with at least one code at or under the node (a unit
  counts once per node even when several of its leaf codes fall under it);
- ``share = units / n_coded``, where ``n_coded`` is the number of units with at
  least one code of the tree (special codes such as "false positive" do not
  make a unit coded; they are reported apart, as a share of all units with a
  successful record);
- ``challenges``: code assignments at or under the node (Banyongrakkul's first
  number; a unit with two codes under a theme is two challenges);
- ``codes``: distinct codes used at or under the node.

Codes are lifted to each level with :meth:`Codebook.ancestor_at`. Inputs: unit ->
codes pairs from an annotation run (JSON lines of
:class:`~ptmcoder.annotate.records.Annotation`), a long label table
(unit, rater, code) or translated codes (unit, code).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from ptmcoder.codebook import Codebook
from ptmcoder.errors import InputRecordError, NotFoundError, Problem, PtmcoderError, ValidationError
from ptmcoder.paths import runs_dir
from ptmcoder.tables import read_table

UNIT_COLUMNS = ("unit", "unit_id", "id")


@dataclass(frozen=True)
class CodedUnits:
    """Code assignments per unit, and what was left out on the way in."""

    codes: dict[str, list[str]]
    source: str
    failed: int = 0
    note: str = ""


@dataclass(frozen=True)
class NodeCount:
    id: str
    name: str
    level: str
    parent: str | None
    units: int
    share: float
    challenges: int
    codes: int


@dataclass
class DistributionResult:
    codebook: str
    source: str
    n_records: int
    n_coded: int
    n_failed: int
    levels: dict[str, list[NodeCount]]
    special: list[NodeCount]
    denominator: str
    figures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "analysis": "code distribution",
            "codebook": self.codebook,
            "source": self.source,
            "n_records": self.n_records,
            "n_coded": self.n_coded,
            "n_failed": self.n_failed,
            "denominator": self.denominator,
            "levels": {lvl: [asdict(r) for r in rows] for lvl, rows in self.levels.items()},
            "special": [asdict(r) for r in self.special],
            "figures": self.figures,
        }


# -- inputs ----------------------------------------------------------------------


def read_annotations(ref: str | Path, *, annotator: str | None = None) -> CodedUnits:
    """Codes per unit from ``annotations.jsonl`` (a file, a run directory or a run id).
    Failed records are counted in ``failed``, not dropped silently."""
    from ptmcoder.annotate.records import Annotation

    path = Path(ref)
    if not path.exists():
        path = runs_dir() / str(ref)
    if path.is_dir():
        path = path / "annotations.jsonl"
    if not path.exists():
        raise NotFoundError(
            f"no annotations at {ref}",
            hint="pass a run id, a run directory or an annotations.jsonl file",
        )
    records = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append(Annotation.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValueError) as exc:
                raise InputRecordError(
                    str(path), f"line {lineno}", None, str(exc).splitlines()[0]
                ) from None
    annotators = sorted({r.annotator for r in records})
    if annotator is None and len(annotators) > 1:
        raise PtmcoderError(
            f"{path} holds {len(annotators)} annotators: {', '.join(annotators)}",
            hint="pick one with --annotator",
        )
    codes: dict[str, list[str]] = {}
    failed = 0
    for r in records:
        if annotator is not None and r.annotator != annotator:
            continue
        if not r.ok:
            failed += 1
            continue
        codes.setdefault(r.unit_id, []).extend(c.code for c in r.codes)
    return CodedUnits(codes=codes, source=str(path), failed=failed)


def unit_column(df: pd.DataFrame, file: str) -> str:
    for name in UNIT_COLUMNS:
        if name in df.columns:
            return name
    raise InputRecordError(
        file,
        "header",
        None,
        f"no unit column (one of {', '.join(UNIT_COLUMNS)}); "
        f"columns are {', '.join(map(str, df.columns))}",
    )


def read_labels(path: str | Path, *, rater: str | None = None) -> CodedUnits:
    """Codes per unit from a long table (CSV, Parquet, JSONL): ``unit,rater,code``
    (pick ``rater``, e.g. ``final`` for adjudicated gold labels) or ``unit,code``
    (translated codes)."""
    path = Path(path)
    df = read_table(path)
    ucol = unit_column(df, str(path))
    if "code" not in df.columns:
        raise InputRecordError(str(path), "header", None, "no 'code' column")
    if "rater" in df.columns:
        raters = sorted(df["rater"].astype(str).unique())
        if rater is None:
            if len(raters) > 1:
                raise PtmcoderError(
                    f"{path} holds {len(raters)} raters: {', '.join(raters)}",
                    hint="pick one with --rater (e.g. --rater final)",
                )
        else:
            if rater not in raters:
                raise NotFoundError(
                    f"no rater {rater!r} in {path}", hint=f"raters are: {', '.join(raters)}"
                )
            df = df[df["rater"].astype(str) == rater]
    elif rater is not None:
        raise PtmcoderError(f"{path} has no 'rater' column, so --rater does not apply")
    df = df[df["code"].astype(str).str.strip() != ""]
    codes: dict[str, list[str]] = {}
    for unit, code in zip(df[ucol].astype(str), df["code"].astype(str), strict=True):
        codes.setdefault(unit, []).append(code.strip())
    return CodedUnits(codes=codes, source=str(path), note=f"rater {rater}" if rater else "")


# -- the count -------------------------------------------------------------------


def _check_codes(book: Codebook, coded: CodedUnits) -> None:
    known = book.index()
    unknown = sorted({c for cs in coded.codes.values() for c in cs if c not in known})
    if unknown:
        raise ValidationError(
            [
                Problem(coded.source, "code", f"code {c!r} is not in codebook {book.id!r}")
                for c in unknown[:20]
            ],
            hint="translate codes to this codebook first (ptmcoder map), "
            "or pick the right --codebook",
        )


def distribution(book: Codebook, coded: CodedUnits) -> DistributionResult:
    """Units, share, challenges and distinct codes for every node at every level."""
    _check_codes(book, coded)
    special_ids = {n.id for n in book.special}
    coded_units = [u for u, cs in coded.codes.items() if any(c not in special_ids for c in cs)]
    n_coded = len(coded_units)
    n_records = len(coded.codes)

    lift: dict[tuple[str, str], str | None] = {}
    levels: dict[str, list[NodeCount]] = {}
    for depth, level in enumerate(book.levels):
        units: dict[str, set[str]] = defaultdict(set)
        challenges: dict[str, int] = defaultdict(int)
        codes_used: dict[str, set[str]] = defaultdict(set)
        for unit, cs in coded.codes.items():
            for code in cs:
                if code in special_ids:
                    continue
                key = (code, level)
                if key not in lift:
                    lift[key] = book.ancestor_at(code, level)
                node_id = lift[key]
                if node_id is None:
                    continue
                units[node_id].add(unit)
                challenges[node_id] += 1
                codes_used[node_id].add(code)
        rows = []
        for node, d, path in book.walk():
            if d != depth:
                continue
            k = len(units.get(node.id, ()))
            rows.append(
                NodeCount(
                    id=node.id,
                    name=node.name,
                    level=level,
                    parent=path[-1].id if path else None,
                    units=k,
                    share=(k / n_coded) if n_coded else float("nan"),
                    challenges=challenges.get(node.id, 0),
                    codes=len(codes_used.get(node.id, ())),
                )
            )
        levels[level] = rows

    special_rows = []
    for node in book.special:
        hit = [u for u, cs in coded.codes.items() if node.id in cs]
        n_assign = sum(cs.count(node.id) for cs in coded.codes.values())
        special_rows.append(
            NodeCount(
                id=node.id,
                name=node.name,
                level="special",
                parent=None,
                units=len(hit),
                share=(len(hit) / n_records) if n_records else float("nan"),
                challenges=n_assign,
                codes=1 if hit else 0,
            )
        )
    denominator = (
        f"share = units / {n_coded} units with at least one code of the tree; "
        f"special codes: units / {n_records} units with a successful record"
    )
    return DistributionResult(
        codebook=book.id,
        source=coded.source,
        n_records=n_records,
        n_coded=n_coded,
        n_failed=coded.failed,
        levels=levels,
        special=special_rows,
        denominator=denominator,
    )
