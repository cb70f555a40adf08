"""Parsing a model's answer: a pure function, text in, codes or an error out.

The expected answer is ``{"codes": [{"code", "rationale", "evidence",
"confidence"}], "none": bool}``. :func:`parse_answer` accepts the small
deviations models make that do not change the meaning (Markdown fences, prose
around one JSON object, confidence given in percent, a bare code string instead
of an object) and rejects everything else with an :class:`AnswerError` whose
``error_type`` names the failure: empty, refusal, malformed JSON, schema, or a
code outside the codebook. Evidence that does not occur in the unit is kept but
flagged (``evidence_found=False``) so a reviewer sees it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ptmcoder.annotate.records import CodeAssignment, ErrorType

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_REFUSAL = re.compile(
    r"^\s*(i'?m sorry|i am sorry|sorry,|i cannot|i can'?t|i can not|i won'?t|i will not|"
    r"i'?m (not able|unable)|i am (not able|unable)|as an ai|i must decline|"
    r"unfortunately,? i (cannot|can'?t))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ParsedAnswer:
    codes: list[CodeAssignment]
    none: bool
    #: fields the parser had to fix (for audit), e.g. "confidence-percent"
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AnswerError:
    error_type: ErrorType
    message: str

    def __str__(self) -> str:
        return f"{self.error_type.value}: {self.message}"


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def _strip_quotes(text: str) -> str:
    return text.strip().strip("\"'“”‘’`").strip().rstrip(".…").strip()


def evidence_in(evidence: str, unit_text: str) -> bool:
    """Whether a quote occurs in the unit, ignoring case, whitespace and quotes
    around it (and a trailing ellipsis)."""
    quote = _normalise(_strip_quotes(evidence))
    return bool(quote) and quote in _normalise(unit_text)


def _first_object(text: str) -> Any:
    """The first complete JSON object in ``text`` (for answers with prose around)."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("no JSON object found")


def _confidence(value: Any, notes: list[str]) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        except ValueError:
            return None
    if not isinstance(value, int | float) or value != value:
        return None
    if 1 < value <= 100:
        notes.append("confidence-percent")
        value = value / 100
    if 0 <= value <= 1:
        return float(value)
    return None


def parse_answer(
    text: str | None, allowed_codes: list[str] | set[str], unit_text: str | None = None
) -> ParsedAnswer | AnswerError:
    """Parse one answer against the allowed code ids (see the module docstring)."""
    if text is None or not text.strip():
        return AnswerError(ErrorType.EMPTY, "the answer is empty")
    raw = text.strip()
    fenced = _FENCE.match(raw)
    if fenced:
        raw = fenced.group(1).strip()
    notes: list[str] = []
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        try:
            data = _first_object(raw)
            notes.append("json-extracted")
        except ValueError:
            if _REFUSAL.match(raw):
                return AnswerError(ErrorType.REFUSAL, f"the model declined: {raw[:200]!r}")
            return AnswerError(ErrorType.MALFORMED_JSON, f"not JSON: {raw[:200]!r}")
    if not isinstance(data, dict):
        return AnswerError(ErrorType.SCHEMA, f"expected a JSON object, got {type(data).__name__}")
    refusal = data.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        return AnswerError(ErrorType.REFUSAL, f"the model declined: {refusal[:200]!r}")
    if "codes" not in data:
        return AnswerError(ErrorType.SCHEMA, "the answer has no 'codes' list")
    items = data["codes"]
    if items is None:
        items = []
    if not isinstance(items, list):
        return AnswerError(ErrorType.SCHEMA, "'codes' is not a list")

    allowed = list(allowed_codes)
    exact = set(allowed)
    folded: dict[str, str] = {}
    for name in allowed:
        folded.setdefault(name.casefold(), name)

    codes: list[CodeAssignment] = []
    seen: set[str] = set()
    unknown: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"code": item}
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            return AnswerError(ErrorType.SCHEMA, f"codes[{i}] has no string 'code'")
        given = item["code"].strip().strip("`").strip()
        code = given if given in exact else folded.get(given.casefold())
        if code is None:
            unknown.append(given)
            continue
        if code in seen:
            notes.append("duplicate-code")
            continue
        seen.add(code)
        evidence = item.get("evidence")
        evidence = evidence.strip() if isinstance(evidence, str) and evidence.strip() else None
        rationale = item.get("rationale")
        rationale = rationale.strip() if isinstance(rationale, str) and rationale.strip() else None
        found = evidence_in(evidence, unit_text) if evidence and unit_text is not None else None
        codes.append(
            CodeAssignment(
                code=code,
                rationale=rationale,
                evidence=evidence,
                evidence_found=found,
                confidence=_confidence(item.get("confidence"), notes),
            )
        )
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        return AnswerError(ErrorType.UNKNOWN_CODE, f"code(s) outside the codebook: {shown}")
    none = bool(data.get("none")) and not codes
    return ParsedAnswer(codes=codes, none=none or not codes, notes=notes)
