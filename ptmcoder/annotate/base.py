"""What every annotator offers the runner: :class:`Annotator`, and the unit it codes.

A unit crosses from the corpus into the annotators as a :class:`Unit` (the
normalised record of :mod:`ptmcoder.corpus.schema`, as a dict). Every annotator,
embedded (zero-shot), supervised (learned from human codes) or LLM, has a name,
describes itself for the run's manifest, and turns units into one
:class:`~ptmcoder.annotate.records.Annotation` per unit, yielded as each is
ready, so the runner writes each record durably before the next one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TypedDict, runtime_checkable

from ptmcoder.annotate.records import Annotation


class Unit(TypedDict, total=False):
    """A corpus unit as the annotators read it (``id`` always; the rest may be absent)."""

    id: str
    platform: str
    url: str | None
    title: str | None
    body: str | None
    tags: list[str] | None
    project: str | None
    created_at: Any


@runtime_checkable
class Annotator(Protocol):
    """The one interface of the embedded, supervised and LLM annotators."""

    name: str

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the annotator (model, method, settings)."""
        ...

    def annotate(
        self, units: Sequence[Unit], *, common: dict[str, Any] | None = None
    ) -> Iterator[Annotation]:
        """One record per unit (``common`` fields added to each), yielded as ready."""
        ...
