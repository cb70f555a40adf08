"""Translating codings from one codebook into another through their crosswalk, under a
stated relation policy, with provenance and every untranslated coding counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ptmcoder.codebook import Codebook
from ptmcoder.crosswalk.io import load_codebook, load_mapping_set
from ptmcoder.crosswalk.model import DEFAULT_RELATIONS, Evidence, Mapping, Relation
from ptmcoder.errors import PtmcoderError
from ptmcoder.tables import LONG_COLUMNS, UNIT_ALIASES, as_long_table, read_table


def _compose(relation: Relation) -> Relation | None:
    """The relation of a code to the target when the mapping row is on its ancestor."""
    if relation in (Relation.EXACT, Relation.CLOSE, Relation.NARROW):
        return Relation.NARROW
    if relation is Relation.RELATED:
        return Relation.RELATED
    return None  # the ancestor is broader than the target: nothing follows for the code


@dataclass
class TranslateResult:
    source: str
    target: str
    relations: tuple[str, ...]
    level: str | None
    evidence: Evidence
    table: pd.DataFrame
    untranslated: dict[str, int]
    reasons: dict[str, str]
    n_input: int
    n_translated: int
    n_empty: int
    file: str
    source_counts: dict[str, int] = field(default_factory=dict)
    target_counts: dict[str, int] = field(default_factory=dict)
    source_level: str | None = None
    source_level_counts: dict[str, int] = field(default_factory=dict)
    #: the codings as read (after --rater and --aliases), when read from a file
    codings: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def n_untranslated(self) -> int:
        return sum(self.untranslated.values())

    @property
    def conserved(self) -> bool:
        return self.n_input == self.n_translated + self.n_untranslated

    def to_dict(self) -> dict[str, Any]:
        share = self.n_untranslated / self.n_input if self.n_input else 0.0
        return {
            "source": self.source,
            "target": self.target,
            "file": self.file,
            "relations": list(self.relations),
            "level": self.level,
            "evidence": self.evidence.value,
            "n_input": self.n_input,
            "n_translated": self.n_translated,
            "n_untranslated": self.n_untranslated,
            "untranslated_share": round(share, 4),
            "n_output_rows": int(self.table["code"].notna().sum()),
            "n_empty_rows": self.n_empty,
            "conserved": self.conserved,
            "untranslated": [
                {"code": c, "count": n, "reason": self.reasons.get(c, "")}
                for c, n in sorted(self.untranslated.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "source_counts": self.source_counts,
            "source_level": self.source_level,
            "source_level_counts": self.source_level_counts,
            "target_counts": self.target_counts,
        }


def _parse_relations(relations: Iterable[str] | str) -> tuple[str, ...]:
    items = relations.split(",") if isinstance(relations, str) else list(relations)
    out = []
    for item in items:
        item = item.strip().lower()
        if not item:
            continue
        try:
            out.append(Relation(item).value)
        except ValueError:
            raise PtmcoderError(
                f"unknown relation {item!r}",
                hint=f"relations are {', '.join(r.value for r in Relation)}",
            ) from None
    if not out:
        raise PtmcoderError("no relation given", hint="e.g. --relations exact,close,narrow")
    return tuple(dict.fromkeys(out))


def translate(
    codings: pd.DataFrame,
    source: str,
    target: str,
    relations: Sequence[str] | str = DEFAULT_RELATIONS,
    level: str | None = None,
    include_suggestions: bool = False,
    reviewed_only: bool = False,
) -> TranslateResult:
    """Translate codings (a long table: ``unit`` or ``unit_id``, ``rater``, ``code``, see
    :func:`ptmcoder.tables.as_long_table`) from codebook ``source`` into ``target`` through
    their crosswalk; the translated table names its unit column ``unit_id``.

    A code uses the rows on itself, else those on its nearest ancestor that has any (an
    ancestor's exact/close/broad row makes the code *narrower* than the target; a related row
    stays related). Only rows whose relation is in ``relations`` translate; one code may give
    several target codes (one output row each) and several codes may give the same one (kept
    once per unit and rater). ``level`` lifts target codes to that level of the target
    codebook. Every input coding is translated or counted in ``untranslated`` with a reason.
    Counted rows: stated and reviewed (``include_suggestions`` adds suggestions and contested
    pairs; ``reviewed_only`` keeps human decisions only)."""
    evidence = Evidence.from_flags(reviewed_only, include_suggestions)
    wanted = set(_parse_relations(relations))
    ms = load_mapping_set((source, target))
    book_s, book_t = load_codebook(source), load_codebook(target)
    index_s, index_t = book_s.index(), book_t.index()
    if level is not None and level not in ("leaf", "leaves"):
        book_t.level_index(level)
    codings = as_long_table(
        codings,
        "codings",
        hint="a long table has one row per coding: unit (or unit_id), rater, code",
    )
    allowed = evidence.statuses
    by_subject: dict[str, list[Mapping]] = {}
    for m in ms.mappings:
        if m.subject_code and m.status in allowed and not m.negated:
            by_subject.setdefault(m.subject_code, []).append(m)

    plan: dict[str, list[tuple[str, str, str]] | str] = {}

    def resolve(code: str) -> list[tuple[str, str, str]] | str:
        """(target code, relation, record id) triples, or the reason it cannot translate."""
        if code not in index_s:
            return f"not a code of {source}"
        chain = [code, *reversed(index_s[code].ancestors)]
        for depth, node in enumerate(chain):
            rows = by_subject.get(node)
            if not rows:
                continue
            if any(m.no_term for m in rows) and not any(m.positive for m in rows):
                nf = next(m for m in rows if m.no_term)
                where = "" if depth == 0 else f" (row on ancestor {node})"
                return (
                    f"no counterpart in {target}: {nf.record_id or 'line ' + str(nf.line)}{where}"
                )
            out: list[tuple[str, str, str]] = []
            seen_relations: set[str] = set()
            for m in rows:
                if not m.positive:
                    continue
                rel = m.relation if depth == 0 else _compose(m.relation)
                if rel is None:
                    continue
                seen_relations.add(rel.value)
                if rel.value not in wanted:
                    continue
                tcode = m.object_code or ""
                if level is not None:
                    lifted = book_t.ancestor_at(tcode, level) if tcode in index_t else None
                    if lifted is None:
                        seen_relations.add(f"{rel.value} above level {level}")
                        continue
                    tcode = lifted
                rid = (m.record_id or f"line {m.line}") + ("" if depth == 0 else f" via {node}")
                out.append((tcode, rel.value, rid))
            if out:
                return out
            return (
                f"only {', '.join(sorted(seen_relations))} mapping(s), not in --relations"
                if seen_relations
                else "no usable mapping"
            )
        return "no mapping"

    records: list[dict[str, Any]] = []
    untranslated: Counter[str] = Counter()
    reasons: dict[str, str] = {}
    source_counts: Counter[str] = Counter()
    n_input = n_translated = n_empty = 0
    for unit, rater, code in zip(
        codings["unit"],
        codings["rater"],
        codings["code"],
        strict=True,
    ):
        if pd.isna(code) or not str(code).strip():
            n_empty += 1
            records.append(
                {
                    "unit_id": unit,
                    "rater": rater,
                    "code": pd.NA,
                    "source_code": pd.NA,
                    "relation": pd.NA,
                    "mapping_id": pd.NA,
                }
            )
            continue
        code = str(code).strip()
        n_input += 1
        source_counts[code] += 1
        if code not in plan:
            plan[code] = resolve(code)
        result = plan[code]
        if isinstance(result, str):
            untranslated[code] += 1
            reasons[code] = result
            continue
        n_translated += 1
        for tcode, rel, rid in result:
            records.append(
                {
                    "unit_id": unit,
                    "rater": rater,
                    "code": tcode,
                    "source_code": code,
                    "relation": rel,
                    "mapping_id": rid,
                }
            )
    columns = ["unit_id", "rater", "code", "source_code", "relation", "mapping_id"]
    table = pd.DataFrame(records, columns=columns).astype("string")
    if len(table):
        table = (
            table.groupby(["unit_id", "rater", "code"], dropna=False, sort=False)
            .agg(
                source_code=("source_code", lambda s: ";".join(dict.fromkeys(s.dropna()))),
                relation=("relation", lambda s: ";".join(dict.fromkeys(s.dropna()))),
                mapping_id=("mapping_id", lambda s: ";".join(dict.fromkeys(s.dropna()))),
            )
            .reset_index()
            .astype("string")
        )
        for col in ("source_code", "relation", "mapping_id"):
            table[col] = table[col].mask(table[col] == "")
    target_counts = Counter(table["code"].dropna().tolist()) if len(table) else Counter()
    return TranslateResult(
        source=source,
        target=target,
        relations=tuple(r for r in (x.value for x in Relation) if r in wanted),
        level=level,
        evidence=evidence,
        table=table,
        untranslated=dict(untranslated),
        reasons=reasons,
        n_input=n_input,
        n_translated=n_translated,
        n_empty=n_empty,
        file=str(ms.path),
        source_counts=dict(source_counts.most_common()),
        target_counts=dict(target_counts.most_common()),
    )


def resolve_labels(codings: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """Replace free-text labels in ``code`` by codebook ids matched on id, name or alias
    (case-insensitive, whitespace collapsed); labels that match nothing are kept as they are
    (and later reported as untranslated)."""
    out = codings.copy()
    out["code"] = out["code"].map(
        lambda c: (book.resolve_label(c) or c) if isinstance(c, str) else c
    )
    return out


def read_codings(path: str | Path, code_column: str = "code") -> pd.DataFrame:
    """Codings to translate as a long table ``unit, rater, code``: from a table file
    (CSV/Parquet/JSONL with ``unit``, ``unit_id`` or ``id``; a table without ``rater`` gets
    rater ``all``), a run directory or its ``annotations.jsonl``. ``code_column`` names
    another column holding the codes (e.g. ``taxonomy_tag``)."""
    from ptmcoder.agreement.io import annotations_to_long
    from ptmcoder.errors import InputRecordError

    path = Path(path)
    if path.is_dir() or path.name.endswith("annotations.jsonl"):
        df = annotations_to_long(path)
    else:
        df = read_table(path)
    if code_column != "code":
        if code_column not in df.columns:
            raise InputRecordError(str(path), "header", code_column, "no such column")
        df = df.drop(columns=[c for c in ("code",) if c in df.columns]).rename(
            columns={code_column: "code"}
        )
    if not {"unit", *UNIT_ALIASES} & set(df.columns) and "id" in df.columns:
        df = df.rename(columns={"id": "unit"})
    if "rater" not in df.columns:
        df = df.assign(rater="all")
    df = as_long_table(
        df, str(path), hint="codings need a unit column (unit, unit_id or id) and a code column"
    )
    return df[list(LONG_COLUMNS)]


def translate_file(
    path: str | Path,
    source: str,
    target: str,
    relations: Sequence[str] | str = DEFAULT_RELATIONS,
    level: str | None = None,
    include_suggestions: bool = False,
    reviewed_only: bool = False,
    code_column: str = "code",
    aliases: bool = False,
    source_level: str | None = None,
    rater: str | None = None,
) -> TranslateResult:
    """:func:`translate` the codings in a file (see :func:`read_codings`); ``rater`` keeps
    one rater's. ``aliases`` first matches free-text labels to source codes by id, name or
    alias; ``source_level`` adds the input distribution at that level of the source
    codebook (``source_level_counts``). ``ptmcoder map translate`` and a study's map stage
    both call this."""
    codings = read_codings(path, code_column)
    if rater is not None:
        codings = codings[codings["rater"].astype(str) == rater].reset_index(drop=True)
    book = load_codebook(source)
    if aliases:
        codings = resolve_labels(codings, book)
    result = translate(
        codings, source, target, relations, level, include_suggestions, reviewed_only
    )
    if source_level is not None:
        codes = list(result.source_counts)
        mapped = book.map_codes(codes, source_level)  # the one level mapper
        lifted: Counter[str] = Counter()
        for code, up in zip(codes, mapped.codes, strict=True):
            if up is None:
                where = "above" if code in mapped.above_level else "not in"
                up = f"({where} {source_level if where == 'above' else source}: {code})"
            lifted[up] += result.source_counts[code]
        result.source_level_counts = dict(lifted.most_common())
        result.source_level = source_level
    result.codings = codings
    return result
