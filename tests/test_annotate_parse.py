"""parse_answer: a pure function, tested by table."""

from __future__ import annotations

import json

import pytest

from ptmcoder.annotate.parse import AnswerError, ParsedAnswer, evidence_in, parse_answer
from ptmcoder.annotate.records import ErrorType

ALLOWED = ["dl-fault", "generic", "false-positive"]
UNIT = "Title: Restore checkpoint in Tensorflow - tensor name not found\n\nIt fails."


def ok(code="dl-fault", **kw):
    item = {
        "code": code,
        "rationale": "r",
        "evidence": "tensor name not found",
        "confidence": 0.9,
        **kw,
    }
    return json.dumps({"codes": [item], "none": False})


CASES = [
    # (id, text, expected codes or error type)
    ("plain", ok(), ["dl-fault"]),
    ("fenced", "```json\n" + ok() + "\n```", ["dl-fault"]),
    ("prose-around", "Here is my answer: " + ok() + " Hope it helps.", ["dl-fault"]),
    (
        "two-codes",
        json.dumps({"codes": [{"code": "dl-fault"}, {"code": "generic"}], "none": False}),
        ["dl-fault", "generic"],
    ),
    ("bare-strings", json.dumps({"codes": ["generic"], "none": False}), ["generic"]),
    ("case-insensitive", ok(code="DL-Fault"), ["dl-fault"]),
    (
        "duplicate-merged",
        json.dumps({"codes": [{"code": "generic"}, {"code": "generic"}]}),
        ["generic"],
    ),
    ("none", json.dumps({"codes": [], "none": True}), []),
    ("null-codes", json.dumps({"codes": None, "none": True}), []),
    ("special-code", ok(code="false-positive"), ["false-positive"]),
    ("empty", "", ErrorType.EMPTY),
    ("whitespace", "  \n ", ErrorType.EMPTY),
    ("none-text", None, ErrorType.EMPTY),
    ("malformed", '{"codes": [{"code": "dl-fault"', ErrorType.MALFORMED_JSON),
    ("not-json", "dl-fault", ErrorType.MALFORMED_JSON),
    ("refusal-text", "I'm sorry, but I can't help with that.", ErrorType.REFUSAL),
    ("refusal-field", json.dumps({"refusal": "I cannot comply"}), ErrorType.REFUSAL),
    ("unknown-code", ok(code="memory-leak"), ErrorType.UNKNOWN_CODE),
    (
        "one-unknown-of-two",
        json.dumps({"codes": [{"code": "dl-fault"}, {"code": "X"}]}),
        ErrorType.UNKNOWN_CODE,
    ),
    ("array", json.dumps([{"code": "dl-fault"}]), ErrorType.SCHEMA),
    ("no-codes-key", json.dumps({"code": "dl-fault"}), ErrorType.SCHEMA),
    ("codes-not-list", json.dumps({"codes": "dl-fault"}), ErrorType.SCHEMA),
    ("item-without-code", json.dumps({"codes": [{"label": "dl-fault"}]}), ErrorType.SCHEMA),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parse_table(text, expected):
    result = parse_answer(text, ALLOWED, UNIT)
    if isinstance(expected, ErrorType):
        assert isinstance(result, AnswerError), result
        assert result.error_type is expected
    else:
        assert isinstance(result, ParsedAnswer), result
        assert [c.code for c in result.codes] == expected
        assert result.none == (not expected)


@pytest.mark.parametrize(
    "given,expected",
    [
        (0.7, 0.7),
        (1, 1.0),
        (0, 0.0),
        (85, 0.85),
        ("0.4", 0.4),
        ("60%", 0.6),
        (-0.1, None),
        (250, None),
        ("high", None),
        (True, None),
        (None, None),
    ],
)
def test_confidence_normalised(given, expected):
    result = parse_answer(ok(confidence=given), ALLOWED, UNIT)
    assert isinstance(result, ParsedAnswer)
    assert result.codes[0].confidence == (pytest.approx(expected) if expected is not None else None)


def test_evidence_checked_against_unit():
    found = parse_answer(ok(evidence='"Tensor name NOT   found"'), ALLOWED, UNIT)
    missing = parse_answer(ok(evidence="a made-up quote"), ALLOWED, UNIT)
    unchecked = parse_answer(ok(), ALLOWED, None)
    assert found.codes[0].evidence_found is True
    assert missing.codes[0].evidence_found is False
    assert missing.codes[0].evidence == "a made-up quote"  # kept, flagged for review
    assert unchecked.codes[0].evidence_found is None


def test_evidence_in_rejects_empty_quote():
    assert not evidence_in('""', UNIT)
    assert evidence_in("It fails...", UNIT)
