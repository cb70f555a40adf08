"""What every annotator offers the runner: :class:`Annotator`, and the unit it codes.

A unit crosses from the corpus into the annotators as a :class:`Unit` (the
normalised record of :mod:`ptmcoder.corpus.schema`, as a dict). Every annotator,
embedded (zero-shot), supervised (learned from human codes) or LLM, has a name,
describes itself for the run's manifest, and turns units into one
:class:`~ptmcoder.annotate.records.Annotation` per unit, yielded as each is
ready, so the runner writes each record durably before the next one.

The runner builds an annotator through the registry
(:mod:`ptmcoder.annotate.registry`): the builder registered for the spec's prefix
gets one :class:`AnnotatorContext` (the run's options, codebook, units, human codes,
prompt and console) and returns a prepared :class:`Annotator` (model loaded,
learner fitted), or None when there is nothing to code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from ptmcoder.annotate.records import Annotation

if TYPE_CHECKING:
    from rich.console import Console

    from ptmcoder.annotate.options import AnnotateOptions
    from ptmcoder.codebook import Codebook
    from ptmcoder.llm.prompts import PromptTemplate


#: A corpus unit as the annotators read it: one record of the corpus frame
#: (:func:`ptmcoder.corpus.units.load_units`), keyed ``id`` (always), ``platform``,
#: ``url``, ``title``, ``body``, ``tags``, ``project``, ``created_at`` (the rest may be
#: absent). A dict, not a TypedDict: its values are the frame's, so a missing title
#: or body is NaN, and the runner hands the frame's records as they are.
Unit: TypeAlias = dict[str, Any]


@runtime_checkable
class Annotator(Protocol):
    """The one interface of the embedded, supervised and LLM annotators.

    The runner draws a progress bar while it takes the records, unless the annotator
    has a false ``shows_progress`` attribute (a batch job reports its own progress)."""

    name: str

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the annotator (model, method, settings)."""
        ...

    def annotate(
        self, units: Sequence[Unit], *, common: dict[str, Any] | None = None
    ) -> Iterator[Annotation]:
        """One record per unit (``common`` fields added to each), yielded as ready."""
        ...


@dataclass
class AnnotatorContext:
    """What the runner hands an annotator's builder for one annotator of a session."""

    #: the annotator as given (``embedded:tfidf``, ``openai:gpt-4o-mini``, ...)
    spec: str
    options: AnnotateOptions
    book: Codebook
    #: the run's directory (caches and files an annotator keeps beside its records)
    run_path: Path
    #: every unit of the corpus (what an annotator may prepare or fit on)
    units: list[dict[str, Any]]
    #: the units this session codes (those without a record of this annotator yet)
    pending: list[dict[str, Any]]
    #: stderr: status lines and progress bars
    console: Console
    warn: Callable[[str], None]
    prompt: PromptTemplate
    #: the human codes of ``--train`` (unit id -> codes) and their units, if any
    labels: dict[str, list[str]] | None = None
    train_units: list[dict[str, Any]] = field(default_factory=list)
    #: whether the coders of ``labels`` gave one code per unit (from their ratings,
    #: :attr:`ptmcoder.annotate.training.TrainingSet.single_code`); None: unknown
    single_code: bool | None = None
    #: counters (``cache_hits``, ``cache_misses``) the builder may expose for the runner
    #: to flush into the manifest while the annotator works
    live_stats: dict[str, Any] | None = None
