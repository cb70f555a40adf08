"""Which coded units are human-coded units under another name: leakage by similarity.

A learner scored on a unit whose label it saw is scored in-sample. Matching a coded
unit to the human-coded ones by id alone misses the same post imported again under
other ids (``123`` for ``so:123``, a second corpus), with a body added, or with an
edited title: a reviewer coded the 477 demo posts again as a second corpus and the
learner, which had seen their labels, agreed with the gold at kappa 0.92 against 0.28
cross-fitted. So units are matched by their *text*, normalised (Unicode NFKC, case
folded, every run of non-alphanumeric characters one space), and a match is treated
as the same unit. The rules, strongest first (a pair is named by the first that holds):

- ``same text``: the normalised texts are equal;
- ``same title``: the normalised titles are equal and have at least
  :data:`MIN_TITLE_WORDS` words;
- ``contained``: the word 3-shingles of the shorter text lie in the longer one's for at
  least :data:`CONTAINED` of them, the shorter having at least :data:`MIN_SHINGLES`
  (an added or dropped body, an appended edit, a truncated copy);
- ``edited title``: the character 3-grams of the two titles have a Jaccard similarity
  of at least :data:`EDITED_TITLE`, both titles at least :data:`MIN_TITLE_CHARS`
  characters long.

A false match costs little (a unit is scored by a model fitted without one more fold);
a missed one scores a unit in-sample. Pairs are found with sparse matrix products
(scikit-learn ``CountVectorizer``), a block of rows at a time, so memory stays bounded.

>>> a = [("so:1", "Load a BERT model in PyTorch", "Load a BERT model in PyTorch")]
>>> b = [("x9", "load a bert model in pytorch!", "load a bert model in pytorch!")]
>>> [(m.unit, m.labelled, m.how) for m in find_matches(b, a)]
[('x9', 'so:1', 'same text')]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: a one-word title is too generic for "same title" alone ("Error")
MIN_TITLE_WORDS = 2
#: share of the shorter text's word 3-shingles found in the longer one
CONTAINED = 0.8
#: the shorter text needs this many word 3-shingles for "contained" (about 7 words)
MIN_SHINGLES = 5
#: Jaccard similarity of two titles' character 3-grams for "edited title"
EDITED_TITLE = 0.8
MIN_TITLE_CHARS = 20
#: rows of the left-hand side per sparse product (bounds memory)
BLOCK = 2_000

#: the rules in the order a pair is named by (strongest first)
RULES = ("same text", "same title", "contained", "edited title")

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)

#: (unit id, title, text) of one unit
Entry = tuple[str, str, str]


@dataclass(frozen=True)
class Match:
    """A coded unit taken to be a human-coded unit."""

    unit: str
    labelled: str
    how: str
    similarity: float


def normalise(text: str | None) -> str:
    """NFKC, case folded, every run of non-alphanumerics one space.

    >>> normalise("  Title: How to  load_a *BERT*?  ")
    'title how to load a bert'
    """
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    return _NON_WORD.sub(" ", folded).strip()


def _title(title: str, text: str) -> str:
    """The unit's title, else the first line of its text (``Title:`` dropped)."""
    if title and title.strip():
        return title
    first = (text or "").strip().split("\n", 1)[0]
    return first[7:] if first.startswith("Title: ") else first


def _pairs(
    left: list[str],
    right: list[str],
    *,
    analyzer: str,
    ngram: int,
    measure: str,
    threshold: float,
    min_size: int,
    same_side: bool,
) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for every pair at or above ``threshold``: ``measure`` is
    ``jaccard`` or ``containment`` (of the smaller set), over binary n-gram sets with at
    least ``min_size`` members each (containment: the smaller one)."""
    from sklearn.feature_extraction.text import CountVectorizer

    docs = left + ([] if same_side else right)
    if not any(d.strip() for d in docs):
        return []
    vec = CountVectorizer(
        analyzer=analyzer, ngram_range=(ngram, ngram), binary=True, lowercase=False
    )
    if analyzer == "word":
        vec.set_params(token_pattern=r"\S+")
    try:
        matrix = vec.fit_transform(docs).tocsr()
    except ValueError:  # no n-gram in any document (texts shorter than n)
        return []
    A = matrix[: len(left)]
    B = A if same_side else matrix[len(left) :]
    size_a = np.asarray(A.sum(axis=1)).ravel()
    size_b = np.asarray(B.sum(axis=1)).ravel()
    Bt = B.T.tocsc()
    out: list[tuple[int, int, float]] = []
    for start in range(0, A.shape[0], BLOCK):
        inter = (A[start : start + BLOCK] @ Bt).tocoo()
        rows, cols, shared = inter.row + start, inter.col, inter.data.astype(np.float64)
        if same_side:
            keep = rows < cols
            rows, cols, shared = rows[keep], cols[keep], shared[keep]
        sa, sb = size_a[rows], size_b[cols]
        if measure == "jaccard":
            ok = (sa >= min_size) & (sb >= min_size)
            sim = shared / np.maximum(sa + sb - shared, 1)
        else:
            smaller = np.minimum(sa, sb)
            ok = smaller >= min_size
            sim = shared / np.maximum(smaller, 1)
        hit = ok & (sim >= threshold - 1e-12)
        out.extend(
            (int(i), int(j), float(s))
            for i, j, s in zip(rows[hit], cols[hit], sim[hit], strict=True)
        )
    return out


def _candidate_pairs(
    left: Sequence[Entry], right: Sequence[Entry], same_side: bool
) -> dict[tuple[int, int], tuple[str, float]]:
    """(left row, right row) -> (rule, similarity), the strongest rule per pair."""
    found: dict[tuple[int, int], tuple[str, float]] = {}

    def note(i: int, j: int, how: str, sim: float) -> None:
        key = (i, j)
        if key not in found or RULES.index(how) < RULES.index(found[key][0]):
            found[key] = (how, round(sim, 4))

    texts_l = [normalise(e[2]) for e in left]
    texts_r = texts_l if same_side else [normalise(e[2]) for e in right]
    titles_l = [normalise(_title(e[1], e[2])) for e in left]
    titles_r = titles_l if same_side else [normalise(_title(e[1], e[2])) for e in right]
    by_text: dict[str, list[int]] = {}
    for j, t in enumerate(texts_r):
        if t:
            by_text.setdefault(t, []).append(j)
    by_title: dict[str, list[int]] = {}
    for j, t in enumerate(titles_r):
        if len(t.split()) >= MIN_TITLE_WORDS:
            by_title.setdefault(t, []).append(j)
    for i, t in enumerate(texts_l):
        for j in by_text.get(t, []) if t else []:
            if not same_side or i < j:
                note(i, j, "same text", 1.0)
    for i, t in enumerate(titles_l):
        for j in by_title.get(t, []) if len(t.split()) >= MIN_TITLE_WORDS else []:
            if not same_side or i < j:
                note(i, j, "same title", 1.0)
    for i, j, sim in _pairs(
        texts_l,
        [] if same_side else texts_r,
        analyzer="word",
        ngram=3,
        measure="containment",
        threshold=CONTAINED,
        min_size=MIN_SHINGLES,
        same_side=same_side,
    ):
        note(i, j, "contained", sim)
    long_l = [t if len(t) >= MIN_TITLE_CHARS else "" for t in titles_l]
    long_r = long_l if same_side else [t if len(t) >= MIN_TITLE_CHARS else "" for t in titles_r]
    for i, j, sim in _pairs(
        long_l,
        [] if same_side else long_r,
        analyzer="char",
        ngram=3,
        measure="jaccard",
        threshold=EDITED_TITLE,
        min_size=1,
        same_side=same_side,
    ):
        if long_l[i] and long_r[j]:
            note(i, j, "edited title", sim)
    return found


def find_matches(coded: Sequence[Entry], labelled: Sequence[Entry]) -> list[Match]:
    """Every (coded unit, human-coded unit) pair taken to be one unit (see module doc),
    in the order of ``coded`` then ``labelled``. A coded unit with the id of a
    human-coded unit is a match only when a rule holds (another corpus may reuse ids)."""
    pairs = _candidate_pairs(coded, labelled, same_side=False)
    return [
        Match(coded[i][0], labelled[j][0], how, sim) for (i, j), (how, sim) in sorted(pairs.items())
    ]


def duplicate_groups(labelled: Sequence[Entry]) -> tuple[np.ndarray, list[Match]]:
    """Group the human-coded units that are one another's near-duplicates (connected
    components of the pairs the rules find): a group index per unit, and the pairs.
    Cross-fitting keeps a group in one fold, so no copy of a unit teaches its twin."""
    pairs = _candidate_pairs(labelled, labelled, same_side=True)
    parent = list(range(len(labelled)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in pairs:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups = np.array([find(i) for i in range(len(labelled))], dtype=np.int64)
    matches = [
        Match(labelled[i][0], labelled[j][0], how, sim)
        for (i, j), (how, sim) in sorted(pairs.items())
    ]
    return groups, matches


__all__ = [
    "CONTAINED",
    "EDITED_TITLE",
    "MIN_SHINGLES",
    "MIN_TITLE_CHARS",
    "MIN_TITLE_WORDS",
    "RULES",
    "Match",
    "duplicate_groups",
    "find_matches",
    "normalise",
]
