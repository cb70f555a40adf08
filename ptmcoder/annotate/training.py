"""The human-coded units ``annotate --train`` learns from.

- **Where the units come from.** The label table's units are looked up in
  ``--train-corpus`` when given (a held-out train/test split: train on one corpus,
  code another), else in the corpus being coded.
- **Ids as the input gave them.** Import may namespace an id (a CSV id ``tr0000``
  of a GitHub project becomes ``gh:owner/repo#tr0000``, a bare Stack Overflow id
  ``123`` becomes ``so:123``). A label matches a unit by its stored id, by an
  ``original_id`` column when the corpus has one, or by the id without its
  namespace. When no labelled unit matches, :func:`load_training` fails with both
  id forms shown; it never falls back to zero-shot silently.
- **Codes through the codebook.** A training code is a code id, or one of the
  codebook's aliases or names (case-insensitive; NLBSE's ``feature`` is an alias of
  ``enhancement`` in ``issue-type``), lifted to the run's level. Every code that is
  none of these is named with its count.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptmcoder.annotate.learn import SINGLE_LABEL_SHARE
from ptmcoder.annotate.prompt import allowed_codes, normalise_level
from ptmcoder.codebook import Codebook
from ptmcoder.corpus.units import load_labels, load_units, sample_file, unit_labels
from ptmcoder.errors import ConfigError

_NAMESPACE = re.compile(r"^(?:gh:[^#]*#|so:|[a-z]+:)")


def original_id(unit_id: str) -> str:
    """``gh:owner/repo#tr0000`` -> ``tr0000``; ``so:123`` -> ``123``; else unchanged."""
    return _NAMESPACE.sub("", unit_id, count=1)


def code_resolver(book: Codebook, level: str | None) -> Callable[[str], str | None]:
    """Training code -> allowed code at ``level`` (via id, alias or name), or None."""
    level = normalise_level(level)

    def resolve(code: str) -> str | None:
        key = book.resolve_label(code)
        if key is None:
            return None
        return book.ancestor_at(key, level)

    return resolve


def _single_code_share(table: Any, resolved: dict[str, str | None], allowed: set[str]) -> float:
    """Share of ratings (one rater's codes for one unit) with at most one allowed code.
    Two coders who disagree give a unit two consensus codes, so the coders' own ratings,
    not the consensus, say whether the codebook is applied one code per unit."""
    per: dict[tuple[str, str], set[str]] = {}
    for unit, rater, code in zip(table["unit"], table["rater"], table["code"], strict=True):
        mapped = resolved.get(code)
        if mapped is not None and mapped in allowed:
            per.setdefault((str(unit), str(rater)), set()).add(mapped)
    if not per:
        return 0.0
    return round(sum(1 for codes in per.values() if len(codes) <= 1) / len(per), 4)


@dataclass
class TrainingSet:
    """Human codes and the units they belong to."""

    labels: dict[str, list[str]]
    units: list[dict[str, Any]]
    source: str
    corpus: str
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def single_code(self) -> bool:
        """Whether the coders gave one code per unit (at least
        :data:`~ptmcoder.annotate.learn.SINGLE_LABEL_SHARE` of their ratings)."""
        return self.stats.get("codes_per_unit") == "one"


def load_training(
    train: str,
    book: Codebook,
    level: str | None,
    corpus_units: list[dict[str, Any]],
    *,
    raters: list[str] | None = None,
    train_corpus: str | None = None,
    corpus_name: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> TrainingSet:
    """The human-coded units of ``train`` (see module doc); warnings go to ``warn``."""
    warn = warn or (lambda _msg: None)
    table = load_labels(train, raters=raters or None)
    source = Path(table.attrs.get("source", train)).name
    unknown_raters = table.attrs.get("raters_unknown") or []
    if unknown_raters:
        available = table.attrs.get("raters_available") or []
        message = (
            f"--train-rater {', '.join(unknown_raters)}: no such rater in {source}; its "
            f"raters are {', '.join(available) or '(none)'}"
        )
        if not Path(train).is_file():
            hints = [
                f"{train}_{r}" for r in unknown_raters if sample_file(f"{train}_{r}") is not None
            ]
            if hints:
                message += f" (for those labels use --train {' / '.join(hints)})"
        warn(message)
    if table.empty:  # e.g. no row of the requested raters: the caller warns
        return TrainingSet({}, [], source, train_corpus or (corpus_name or ""), {"label_rows": 0})
    resolve = code_resolver(book, level)
    resolved: dict[str, str | None] = {c: resolve(c) for c in table["code"].unique()}
    allowed_list = allowed_codes(book, level)
    allowed = set(allowed_list)
    unknown = Counter(c for c in table["code"] if resolved[c] is None or resolved[c] not in allowed)
    aliased = Counter(
        f"{c} -> {resolved[c]}"
        for c in table["code"]
        if resolved[c] is not None and resolved[c] != c and resolved[c] in allowed
    )
    if unknown:
        listing = ", ".join(f"{c!r} (n={n})" for c, n in unknown.most_common())
        warn(
            f"--train {source}: {sum(unknown.values())} code(s) not in codebook {book.id!r} "
            f"at level {normalise_level(level)} were left out: {listing}"
        )
    if train_corpus:
        units = load_units(train_corpus).to_dict("records")
        where = f"--train-corpus {train_corpus}"
    else:
        units = corpus_units
        where = f"the corpus {corpus_name or ''}".rstrip()
    by_key: dict[str, str] = {}
    for unit in units:
        uid = str(unit["id"])
        by_key.setdefault(uid, uid)
    for unit in units:  # then the ids as the input gave them (never over a stored id)
        uid = str(unit["id"])
        orig = unit.get("original_id")
        for key in (orig if isinstance(orig, str) and orig else None, original_id(uid)):
            if key:
                by_key.setdefault(key, uid)
    given_units = list(table["unit"])
    table = table.assign(unit=table["unit"].map(lambda u: by_key.get(str(u))))
    unmatched = int(table["unit"].isna().sum())
    matched_table = table[table["unit"].notna()]
    labels = unit_labels(matched_table, allowed_list, resolved.get)
    given_ids = list(dict.fromkeys(str(u) for u in given_units))
    if not labels:
        example_label = given_ids[0] if given_ids else "(none)"
        example_unit = str(units[0]["id"]) if units else "(no units)"
        if matched_table.empty:
            raise ConfigError(
                f"--train {source}: none of its {len(given_ids)} unit ids is in {where} "
                f"(labels use ids like {example_label!r}; units have ids like "
                f"{example_unit!r})",
                hint="pass the corpus the labels belong to with --train-corpus, or a label "
                "file whose unit column uses the corpus's ids",
            )
        raise ConfigError(
            f"--train {source}: its units are in {where}, but none has a code of codebook "
            f"{book.id!r} at level {normalise_level(level)}",
            hint="check --codebook, --level and --train-rater",
        )
    if unmatched:
        warn(
            f"--train {source}: {unmatched} label row(s) name a unit that is not in {where}; "
            "left out"
        )
    ids = set(labels)
    train_units = [u for u in units if str(u["id"]) in ids]
    single_share = _single_code_share(matched_table, resolved, allowed)
    stats = {
        "file": table.attrs.get("source", train),
        "corpus": train_corpus or corpus_name,
        "label_rows": int(len(table)),
        "units_labelled": len(labels),
        "rows_unit_not_found": unmatched,
        "unknown_codes": dict(unknown.most_common()),
        "aliases_applied": dict(aliased.most_common()),
        "codes": dict(Counter(c for cs in labels.values() for c in cs).most_common()),
        "ratings_with_one_code": single_share,
        "codes_per_unit": "one" if single_share >= SINGLE_LABEL_SHARE else "several",
    }
    return TrainingSet(labels, train_units, source, train_corpus or (corpus_name or ""), stats)
