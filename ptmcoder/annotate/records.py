"""The annotation record: one per unit and annotator, carrying its own failure.

A run stores its records as JSON lines in ``runs/<id>/annotations.jsonl``. A
failed item is a record with ``error_type`` set and no codes; it is counted and
sent to review, never dropped.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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
    #: embedded annotator: zero-shot (similarity to code descriptions) or few-shot
    #: (a classifier trained on human-coded units, cross-fitted); LLM: zero-shot or
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

    @property
    def ok(self) -> bool:
        return self.error_type is None
