"""Leakage guard: is the unit being coded itself a codebook example?

Codebooks reconstructed from papers cite the paper's own issues and posts as
examples (``banyongrakkul2025`` cites "Threestudio #260" and its URL). An
annotator that reads a code's examples (the LLM prompt lists them; the embedded
annotator averages them into the code's vector) and is then scored on those
very units is scored in-sample. The guard finds, for one unit, every example
that cites it, so the annotator can leave exactly those examples out of the
code's description *for that unit* and the record can say so
(``Annotation.example_excluded``).

A unit and an example match when they share a key:

- a URL, normalised (scheme, ``www.``, query, fragment, trailing slash and
  case dropped; a GitHub issue or pull URL and a Stack Overflow question URL
  also yield the ids below);
- an id: ``gh:<owner>/<repo>#<number>`` or ``so:<question id>`` (the corpus
  ids), written in the example's URL or description;
- ``<repo> #<number>`` as papers write it ("SimSwap #416"): the repository
  name without its owner, case-insensitive, matched against the unit's repo.
  Two repositories with the same name and issue number would collide; the
  guard then leaves the example out (it errs on the side of no leakage).

Beyond the examples, a definition or an inclusion / exclusion criterion rebuilt from
a paper may *name* a cited unit ("as in SimSwap #416") or *quote* it (its title,
word for word). :meth:`LeakageGuard.quoted` finds those places for a unit: a text of
the codebook names it by one of the keys above, or holds the unit's normalised title
(:func:`ptmcoder.annotate.near_duplicates.normalise`) when that title has at least
:data:`MIN_QUOTED_WORDS` words. They cannot be left out without changing the
codebook, so the record is flagged (:meth:`LeakageGuard.flags`) and the unit's
agreement is in-sample for that code: a reviewer sees which.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ptmcoder.annotate.near_duplicates import normalise
from ptmcoder.codebook import Codebook, Example

#: a title quoted in the codebook counts when it has this many words (shorter titles,
#: "Model not loading", occur in definitions by chance)
MIN_QUOTED_WORDS = 5
#: record flag prefix of a codebook text that names or quotes the unit
QUOTED_FLAG = "codebook names this unit: "

_GH_URL = re.compile(
    r"github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/(?:issues|pull|discussions)/(\d+)"
)
_SO_URL = re.compile(r"stackoverflow\.com/(?:questions|q|a)/(\d+)")
_GH_ID = re.compile(r"\bgh:([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)#(\d+)")
_SO_ID = re.compile(r"\bso:(\d+)\b")
_REPO_NUMBER = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]*)\s*#(\d+)\b")
_URL = re.compile(r"https?://\S+")


def normalise_url(url: str) -> str:
    """``http://www.GitHub.com/a/b/issues/1/?x#y`` -> ``github.com/a/b/issues/1``."""
    text = url.strip().lower()
    text = re.sub(r"^[a-z]+://", "", text)
    text = re.sub(r"^www\.", "", text)
    text = re.split(r"[?#]", text, maxsplit=1)[0]
    return text.rstrip("/")


def _keys_of_text(text: str) -> set[str]:
    keys: set[str] = set()
    for m in _GH_URL.finditer(text):
        owner, repo, number = m.group(1).lower(), m.group(2).lower(), m.group(3)
        keys |= {f"gh:{owner}/{repo}#{number}", f"repo:{repo}#{number}"}
    for m in _SO_URL.finditer(text):
        keys.add(f"so:{m.group(1)}")
    for m in _GH_ID.finditer(text):
        owner, repo, number = m.group(1).lower(), m.group(2).lower(), m.group(3)
        keys |= {f"gh:{owner}/{repo}#{number}", f"repo:{repo}#{number}"}
    for m in _SO_ID.finditer(text):
        keys.add(f"so:{m.group(1)}")
    return keys


def example_keys(example: Example) -> set[str]:
    """Every key an example cites: its URL, ids and ``repo #number`` mentions."""
    keys: set[str] = set()
    if example.url:
        keys.add("url:" + normalise_url(example.url))
        keys |= _keys_of_text(example.url)
    text = example.description
    for url in _URL.findall(text):
        keys.add("url:" + normalise_url(url))
    keys |= _keys_of_text(text)
    for m in _REPO_NUMBER.finditer(_URL.sub(" ", text)):
        keys.add(f"repo:{m.group(1).lower()}#{m.group(2)}")
    return keys


def unit_keys(unit: dict[str, Any]) -> set[str]:
    """Every key of a corpus unit: its id, its URL and what they name."""
    keys: set[str] = set()
    uid = str(unit.get("id") or "").strip()
    if uid:
        keys.add("id:" + uid.lower())
        keys |= _keys_of_text(uid)
    url = unit.get("url")
    if isinstance(url, str) and url.strip():
        keys.add("url:" + normalise_url(url))
        keys |= _keys_of_text(url)
    return keys


class LeakageGuard:
    """An index of a codebook's cited examples, asked once per unit.

    >>> from ptmcoder.codebook import load_codebook
    >>> guard = LeakageGuard(load_codebook("banyongrakkul2025"))
    >>> unit = {"id": "gh:threestudio-project/threestudio#260"}
    >>> guard.matches(unit)
    {'MU.io': {0}, 'MU.io.type-shape-mismatch': {0}}
    """

    def __init__(self, book: Codebook, nodes: Iterable[Any] | None = None) -> None:
        self.index: dict[str, list[tuple[str, int]]] = defaultdict(list)
        all_nodes = list(nodes) if nodes is not None else _all_nodes(book)
        for node in all_nodes:
            for i, ex in enumerate(node.examples):
                for key in example_keys(ex):
                    self.index[key].append((node.id, i))
        #: (code id, where, normalised text, keys it names) of every definition and
        #: criterion, and every example's description (quotes of a unit)
        self.texts: list[tuple[str, str, str, set[str]]] = []
        for node in all_nodes:
            places = [("definition", node.definition)]
            places += [(f"include {i + 1}", t) for i, t in enumerate(node.include)]
            places += [(f"exclude {i + 1}", t) for i, t in enumerate(node.exclude)]
            places += [(f"example {i + 1}", ex.description) for i, ex in enumerate(node.examples)]
            for where, text in places:
                keys = _keys_of_text(text)
                for m in _REPO_NUMBER.finditer(_URL.sub(" ", text)):
                    keys.add(f"repo:{m.group(1).lower()}#{m.group(2)}")
                self.texts.append((node.id, where, f" {normalise(text)} ", keys))

    def __bool__(self) -> bool:
        return bool(self.index)

    def matches(self, unit: dict[str, Any]) -> dict[str, set[int]]:
        """code id -> indices (into ``node.examples``) of the examples citing ``unit``."""
        out: dict[str, set[int]] = defaultdict(set)
        for key in unit_keys(unit):
            for code, i in self.index.get(key, ()):
                out[code].add(i)
        return dict(out)

    def quoted(self, unit: dict[str, Any]) -> dict[str, list[str]]:
        """code id -> the places (``definition``, ``include 2``, ``example 1``) of the
        codebook that name ``unit`` by a key or quote its title (module doc).

        >>> from ptmcoder.codebook import load_codebook
        >>> guard = LeakageGuard(load_codebook("banyongrakkul2025"))
        >>> guard.quoted({"id": "gh:threestudio-project/threestudio#260"})  # left out instead
        {}
        >>> guard.quoted({"id": "x", "title": "Tokenizer in the notebook: a Hugging Face example"})
        {}
        """
        keys = unit_keys(unit)
        title = unit.get("title")
        words = normalise(title if isinstance(title, str) else "")
        needle = f" {words} " if len(words.split()) >= MIN_QUOTED_WORDS else None
        left_out = {
            (code, f"example {i + 1}") for code, ii in self.matches(unit).items() for i in ii
        }
        out: dict[str, list[str]] = defaultdict(list)
        for code, where, text, named in self.texts:
            if (code, where) in left_out:  # a cited example: already left out for the unit
                continue
            if (named & keys) or (needle and needle in text):
                if where not in out[code]:
                    out[code].append(where)
        return dict(out)

    def flags(self, unit: dict[str, Any]) -> list[str]:
        """:meth:`quoted` as record flags: ``codebook names this unit: CODE (where)``."""
        return [
            f"{QUOTED_FLAG}{code} ({', '.join(places)})"
            for code, places in sorted(self.quoted(unit).items())
        ]


def _all_nodes(book: Codebook) -> list[Any]:
    return [node for node, _, _ in book.walk()] + list(book.special)


def keep_examples(examples: list[Example], excluded: set[int] | None) -> list[Example]:
    """The examples not cited by the unit (order kept)."""
    if not excluded:
        return list(examples)
    return [ex for i, ex in enumerate(examples) if i not in excluded]


__all__ = [
    "MIN_QUOTED_WORDS",
    "QUOTED_FLAG",
    "LeakageGuard",
    "example_keys",
    "keep_examples",
    "normalise_url",
    "unit_keys",
]
