"""The annotation record: one per unit and annotator, carrying its own failure.

A run stores its records as JSON lines in ``runs/<id>/annotations.jsonl``. A
failed item is a record with ``error_type`` set and no codes; it is counted and
sent to review, never dropped.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class ErrorType(str, Enum):
    MALFORMED_JSON = "malformed_json"
    UNKNOWN_CODE = "unknown_code"
    EMPTY = "empty"
    REFUSAL = "refusal"
    SCHEMA = "schema"
    API = "api"
    TIMEOUT = "timeout"


class CodeAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="node id in the codebook")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    rationale: str | None = None
    evidence: str | None = Field(default=None, description="a quote from the unit")


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

    @property
    def ok(self) -> bool:
        return self.error_type is None
