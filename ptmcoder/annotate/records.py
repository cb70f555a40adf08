"""The annotation record: one per unit and annotator, carrying its own failure.

A run stores its records as JSON lines in ``runs/<id>/annotations.jsonl``. A
failed item is a record with ``error_type`` set and no codes; it is counted and
sent to review, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ptmcoder.errors import InputRecordError, NotFoundError
from ptmcoder.llm.redact import redact
from ptmcoder.runs import ANNOTATIONS, SUPERSEDED, ReadResult, read_jsonl, resolve_run

if TYPE_CHECKING:
    import pandas as pd


class ErrorType(StrEnum):
    MALFORMED_JSON = "malformed_json"
    UNKNOWN_CODE = "unknown_code"
    EMPTY = "empty"
    REFUSAL = "refusal"
    SCHEMA = "schema"
    API = "api"
    TIMEOUT = "timeout"
    #: the unit had no text to code (empty title and body)
    NO_TEXT = "no_text"
    #: the answer stopped at the output-token cap (finish_reason "length")
    OUTPUT_TRUNCATED = "output_truncated"


class CodeAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="node id in the codebook")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    rationale: str | None = None
    evidence: str | None = Field(default=None, description="a quote from the unit")
    #: whether ``evidence`` occurs in the unit's text (whitespace- and case-insensitive);
    #: None when there is no evidence or it was not checked
    evidence_found: bool | None = None
    #: with self-consistency (``samples`` > 1): how many samples assigned this code
    votes: int | None = None


class Annotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: str
    annotator: str
    codes: list[CodeAssignment] = Field(default_factory=list)
    error_type: ErrorType | None = None
    error: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    codebook_id: str | None = None
    codebook_hash: str | None = None
    level: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    cached: bool = False
    truncated: bool = False
    samples: int = 1
    # -- added in 0.1 (all optional, so older records still load) -----------------
    run_id: str | None = None
    created_at: str | None = Field(default=None, description="ISO 8601 UTC time written")
    #: embedded annotator: zero-shot (similarity to code descriptions) or supervised
    #: (a learner trained on human-coded units, cross-fitted; records written before
    #: the rename say few-shot and are read as supervised); LLM: zero-shot or
    #: few-shot:<k> examples in the prompt
    method: str | None = None
    #: a confidence for every allowed code (embedded annotator; vote share with samples)
    scores: dict[str, float] | None = None
    #: embedded annotator trained on human codes: the learner's uncalibrated decision
    #: value per code (``scores`` holds the calibrated probabilities)
    raw_scores: dict[str, float] | None = None
    #: the answer was fixed by the one repair request allowed
    repaired: bool = False
    cached_input_tokens: int | None = None
    #: samples whose answer could not be parsed (self-consistency only)
    invalid_samples: int = 0
    #: the raw answer of a failed item (for review), shortened
    raw_answer: str | None = None
    #: 1 for a unit's first record; n + 1 when ``--retry-errors`` replaced an error
    #: record of attempt n (which moved to the run's ``superseded.jsonl``)
    attempt: int = 1
    #: leakage guard: codes whose codebook examples cite this very unit and were left
    #: out of the code's description for it (see ptmcoder.annotate.leakage)
    example_excluded: list[str] = Field(default_factory=list)

    #: review reasons found in the unit itself, e.g. "possible injection: asks to
    #: ignore the instructions" (:mod:`ptmcoder.annotate.injection`); empty when none
    flags: list[str] = Field(default_factory=list)

    @field_validator("method")
    @classmethod
    def _learner_is_supervised(cls, value: str | None) -> str | None:
        """The learner trained on human codes was called ``few-shot`` (a bare word; the
        LLM's examples in the prompt are ``few-shot:<k>``): it is ``supervised``."""
        return "supervised" if value == "few-shot" else value

    @field_validator("error", "raw_answer")
    @classmethod
    def _no_secrets(cls, value: str | None) -> str | None:
        """No API key or bearer token is ever stored in a record."""
        return redact(value)

    @property
    def ok(self) -> bool:
        return self.error_type is None


# -- the one reader ------------------------------------------------------------------------


@dataclass
class AnnotationSet:
    """A run's annotation records, read by :func:`read_annotations`."""

    #: the ``annotations.jsonl`` read
    path: Path
    #: the current records: one per unit and annotator
    records: list[Annotation] = field(default_factory=list)
    #: error records replaced by ``--retry-errors`` (only with ``superseded=True``)
    superseded: list[Annotation] = field(default_factory=list)
    #: what was left out (a torn last line), for the caller to report
    notes: list[str] = field(default_factory=list)
    #: the run, when the records were read from a run directory
    run_id: str | None = None

    @property
    def annotators(self) -> list[str]:
        """The annotators in order of first appearance."""
        return list(dict.fromkeys(r.annotator for r in self.records))

    def failed(self) -> dict[str, int]:
        """Error records per annotator."""
        out: dict[str, int] = {}
        for r in self.records:
            if r.error_type is not None:
                out[r.annotator] = out.get(r.annotator, 0) + 1
        return out


def _validated(read: ReadResult) -> list[Annotation]:
    out = []
    for lineno, data in zip(read.lines, read.records, strict=True):
        try:
            out.append(Annotation.model_validate(data))
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            field_name = ".".join(str(p) for p in err["loc"]) or None
            raise InputRecordError(
                str(read.path),
                f"line {lineno}",
                field_name,
                err["msg"],
                hint="an annotation record is written by `ptmcoder annotate`; "
                "fix or remove this line",
            ) from None
    return out


def read_annotations(ref: str | Path, *, superseded: bool = False) -> AnnotationSet:
    """The one reader of a run's annotation records.

    ``ref`` is a run reference (``latest``, an id, an id prefix or a run directory,
    see :func:`ptmcoder.runs.resolve_run`) or an ``annotations.jsonl`` file. The
    rule is :func:`ptmcoder.runs.read_jsonl`'s: a torn last line is ignored and
    reported in ``notes``; any other unreadable line, or a record that is not an
    :class:`Annotation`, is an :class:`~ptmcoder.errors.InputRecordError` naming the
    file, the line and the field. ``superseded=True`` also reads the error records
    that ``--retry-errors`` replaced."""
    path = Path(ref)
    run_id = None
    if path.is_dir() and (path / ANNOTATIONS).is_file():  # a run directory, or a copy of one
        path, superseded_path = path / ANNOTATIONS, path / SUPERSEDED
    elif path.is_file():
        superseded_path = path.with_name(SUPERSEDED)
    else:
        run = resolve_run(str(ref))
        path, superseded_path, run_id = run.annotations_path, run.superseded_path, run.id
        if not path.exists():
            raise NotFoundError(
                f"run {run.id} has no annotation records yet ({path})",
                hint=f"resume it with `ptmcoder annotate --run {run.id}`",
            )
    read = read_jsonl(path)
    result = AnnotationSet(path, _validated(read), notes=read.notes, run_id=run_id)
    if superseded:
        old = read_jsonl(superseded_path)
        result.superseded = _validated(old)
        result.notes += old.notes
    return result


def annotations_to_long(ref: str | Path) -> pd.DataFrame:
    """A run's records (read by :func:`read_annotations`; ``ref`` is a run reference or
    an ``annotations.jsonl`` file) as the long table ``unit, rater, code`` of
    :mod:`ptmcoder.tables`, rater = the record's ``annotator``. A failed record (or one
    without codes) is a row with an empty code (a missing rating); the failures per
    annotator are in ``df.attrs['failed']``, the number of records in
    ``df.attrs['records']`` and what the reader left out in ``df.attrs['notes']``."""
    import pandas as pd

    from ptmcoder.tables import LONG_COLUMNS

    read = read_annotations(ref)
    rows: list[tuple[str, str, str | None]] = []
    for record in read.records:
        if record.error_type is not None or not record.codes:
            rows.append((record.unit_id, record.annotator, None))
            continue
        for assignment in record.codes:
            rows.append((record.unit_id, record.annotator, assignment.code))
    df = pd.DataFrame(rows, columns=list(LONG_COLUMNS)).astype("string")
    df.attrs["failed"] = read.failed()
    df.attrs["records"] = len(read.records)
    df.attrs["notes"] = list(read.notes)
    return df
