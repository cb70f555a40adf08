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

Codes are lifted to each level with :meth:`Codebook.map_codes`. Inputs: unit ->
codes pairs from an annotation run (JSON lines of
:class:`~ptmcoder.annotate.records.Annotation`), a long label table
(unit, rater, code) or translated codes (unit, code).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from ptmcoder.codebook import Codebook
from ptmcoder.errors import InputRecordError, NotFoundError, PtmcoderError
from ptmcoder.tables import UNIT_ALIASES, as_long_table, read_table

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
    #: units at the node / units coded (a unit may carry several codes: these can sum
    #: to more than 1)
    share: float
    challenges: int
    codes: int
    #: codings at the node / all codings at its level (these sum to 1)
    share_of_codings: float | None = None


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
    #: codes the codebook lacks -> assignments (counted at no node; see Codebook.map_codes)
    unknown_codes: dict[str, int] = field(default_factory=dict)
    #: labels read through the codebook's aliases or names ("feature -> enhancement" -> n)
    aliases_applied: dict[str, int] = field(default_factory=dict)
    #: level -> units carrying codes of two or more nodes at that level
    multi_coded: dict[str, int] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)

    def draw_figures(self, out_dir: Path) -> list[str]:
        """One bar chart per level (units per node) into ``out_dir``; the paths are
        added to :attr:`figures` and returned."""
        from ptmcoder.stats import plots

        drawn = []
        for level, rows in self.levels.items():
            ranked = sorted(((r.name, r.units) for r in rows), key=lambda x: -x[1])
            fig = plots.distribution_chart(
                ranked,
                Path(out_dir) / f"distribution_{self.codebook}_{level}.png",
                title=f"{self.codebook}: units per {level} (n={self.n_coded})",
            )
            drawn.append(str(fig))
        self.figures += drawn
        return drawn

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
            "unknown_codes": self.unknown_codes,
            "aliases_applied": self.aliases_applied,
            "multi_coded": self.multi_coded,
            "figures": self.figures,
        }


# -- inputs ----------------------------------------------------------------------


def coded_units(ref: str | Path, *, annotator: str | None = None) -> CodedUnits:
    """Codes per unit from a run's records, read by the one reader
    :func:`ptmcoder.annotate.records.read_annotations` (``ref``: ``latest``, a run id
    or prefix, a run directory or an ``annotations.jsonl`` file). Failed records are
    counted in ``failed``, not dropped silently; a torn last line is reported in
    ``note``."""
    from ptmcoder.annotate.records import read_annotations

    read = read_annotations(ref)
    annotators = read.annotators
    if annotator is None and len(annotators) > 1:
        raise PtmcoderError(
            f"{read.path} holds {len(annotators)} annotators: {', '.join(annotators)}",
            hint="pick one with --annotator",
        )
    if annotator is not None and annotator not in annotators:
        raise NotFoundError(
            f"no annotator {annotator!r} in {read.path}",
            hint=f"annotators are: {', '.join(annotators)}",
        )
    codes: dict[str, list[str]] = {}
    failed = 0
    for r in read.records:
        if annotator is not None and r.annotator != annotator:
            continue
        if not r.ok:
            failed += 1
            continue
        codes.setdefault(r.unit_id, []).extend(c.code for c in r.codes)
    return CodedUnits(codes=codes, source=str(read.path), failed=failed, note="; ".join(read.notes))


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
    if not {"unit", *UNIT_ALIASES} & set(df.columns) and "id" in df.columns:
        df = df.rename(columns={"id": "unit"})
    df = as_long_table(df, str(path), required=("unit", "code"))
    ucol = "unit"
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


def distribution(book: Codebook, coded: CodedUnits) -> DistributionResult:
    """Units, share, challenges and distinct codes for every node at every level.

    Labels are read through the codebook's aliases and names
    (:meth:`~ptmcoder.codebook.Codebook.resolve_label`; counted in ``aliases_applied``),
    then lifted with :meth:`~ptmcoder.codebook.Codebook.map_codes`; a code the codebook
    lacks counts at no node and is reported in ``unknown_codes``."""
    aliased: Counter[str] = Counter()

    def code_of(label: str) -> str:
        found = book.resolve_label(label)
        if found is None or found == label:
            return label
        aliased[f"{label} -> {found}"] += 1
        return found

    coded = replace(coded, codes={u: [code_of(c) for c in cs] for u, cs in coded.codes.items()})
    special_ids = {n.id for n in book.special}
    tree_ids = {node.id for node, _, _ in book.walk()}
    coded_units = [u for u, cs in coded.codes.items() if any(c in tree_ids for c in cs)]
    n_coded = len(coded_units)
    n_records = len(coded.codes)

    pairs = [(u, c) for u, cs in coded.codes.items() for c in cs if c not in special_ids]
    unknown: dict[str, int] = {}
    levels: dict[str, list[NodeCount]] = {}
    multi: dict[str, int] = {}
    for depth, level in enumerate(book.levels):
        mapping = book.map_codes([c for _, c in pairs], level)
        unknown = dict(mapping.unknown)
        units: dict[str, set[str]] = defaultdict(set)
        challenges: dict[str, int] = defaultdict(int)
        codes_used: dict[str, set[str]] = defaultdict(set)
        for (unit, code), node_id in zip(pairs, mapping.codes, strict=True):
            if node_id is None:
                continue
            units[node_id].add(unit)
            challenges[node_id] += 1
            codes_used[node_id].add(code)
        rows = []
        total = sum(challenges.values())
        per_unit: dict[str, int] = defaultdict(int)
        for members in units.values():
            for unit in members:
                per_unit[unit] += 1
        multi[level] = sum(1 for k in per_unit.values() if k > 1)
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
                    share_of_codings=(challenges.get(node.id, 0) / total) if total else None,
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
    several = {lvl: k for lvl, k in multi.items() if k}
    if several:
        listed = ", ".join(f"{k} at {lvl}" for lvl, k in several.items())
        denominator += (
            f"; a unit may carry several codes ({listed}), so the unit shares of a level "
            "can sum to more than 100%; share of codings = codings at the node / all "
            "codings at its level (sums to 100%)"
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
        unknown_codes=unknown,
        aliases_applied=dict(aliased.most_common()),
        multi_coded=multi,
    )
