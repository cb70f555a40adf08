"""The LLM annotator with a scripted fake model: repair, errors, self-consistency."""

from __future__ import annotations

import asyncio

import pytest
from fakes import FakeChatModel, answer

from ptmcoder.annotate.llm import LLMAnnotator, LLMSettings, vote
from ptmcoder.annotate.parse import ParsedAnswer
from ptmcoder.annotate.records import CodeAssignment, ErrorType
from ptmcoder.codebook import load_codebook
from ptmcoder.llm.errors import LLMError
from ptmcoder.llm.prompts import load_prompt

UNIT = {"id": "so:1", "title": "Keras model returns NaN loss", "body": ""}


@pytest.fixture(scope="module")
def book():
    return load_codebook("humbatova-screening")


def make(book, model, **settings):
    return LLMAnnotator(
        "openai:test",
        model,
        "gpt-4o-mini",
        book,
        None,
        load_prompt("apply_codebook.v1"),
        LLMSettings(**settings),
    )


def run(annotator, unit=UNIT):
    return asyncio.run(annotator.annotate_unit(unit, {"run_id": "r"}))


def test_valid_answer(book):
    model = FakeChatModel(answer("dl-fault", evidence="NaN loss"))
    rec = run(make(book, model))
    assert rec.ok and [c.code for c in rec.codes] == ["dl-fault"]
    assert rec.codes[0].evidence_found is True
    assert len(model.requests) == 1
    req = model.requests[0]
    assert req.json_schema["schema"]["properties"]["codes"]["items"]["properties"]["code"][
        "enum"
    ] == ["dl-fault", "generic", "false-positive", "unclear"]
    assert req.temperature == 0.0
    assert rec.input_tokens == 100 and rec.output_tokens == 20 and rec.run_id == "r"


@pytest.mark.parametrize(
    "bad,kind",
    [
        (answer("memory-leak"), ErrorType.UNKNOWN_CODE),
        ('{"codes": [', ErrorType.MALFORMED_JSON),
        ("", ErrorType.EMPTY),
        ("I'm sorry, I can't help with that.", ErrorType.REFUSAL),
    ],
)
def test_bad_answer_is_repaired_once(book, bad, kind):
    model = FakeChatModel(bad, answer("generic"))
    rec = run(make(book, model))
    assert rec.ok and rec.repaired and [c.code for c in rec.codes] == ["generic"]
    assert len(model.requests) == 2
    repair = model.requests[1].messages
    assert repair[-2].role == "assistant" and repair[-2].content == bad
    assert "could not be used" in repair[-1].content
    assert rec.input_tokens == 200  # both requests counted


@pytest.mark.parametrize(
    "bad,kind",
    [
        (answer("memory-leak"), ErrorType.UNKNOWN_CODE),
        ("not json at all", ErrorType.MALFORMED_JSON),
        ("", ErrorType.EMPTY),
        ("I cannot do that.", ErrorType.REFUSAL),
    ],
)
def test_still_bad_after_repair_is_an_error_row(book, bad, kind):
    model = FakeChatModel(bad, bad, answer("generic"))
    rec = run(make(book, model))
    assert rec.error_type is kind and not rec.codes
    assert len(model.requests) == 2  # at most one repair
    assert "after one repair" in rec.error
    assert rec.raw_answer == bad


def test_api_error_after_retries_is_an_error_row(book):
    model = FakeChatModel(LLMError("HTTP 500", kind="server", status=500, attempts=7))
    rec = run(make(book, model))
    assert rec.error_type is ErrorType.API and "500" in rec.error
    model = FakeChatModel(LLMError("slow", kind="timeout", attempts=7))
    assert run(make(book, model)).error_type is ErrorType.TIMEOUT


def test_bad_key_stops_the_run(book):
    model = FakeChatModel(LLMError("refused key", kind="client", status=401))
    with pytest.raises(LLMError):
        run(make(book, model))


def test_self_consistency_vote_share(book):
    texts = [
        answer("dl-fault"),
        answer("dl-fault", "generic"),
        answer("dl-fault"),
        "garbage",
        answer("generic"),
    ]
    model = FakeChatModel(texts)
    rec = run(make(book, model, samples=5))
    assert len(model.requests) == 1 and model.requests[0].n == 5
    assert model.requests[0].temperature == 0.7
    assert rec.invalid_samples == 1 and rec.samples == 5
    assert rec.scores == {"dl-fault": 0.75, "generic": 0.5}
    got = {c.code: (c.confidence, c.votes) for c in rec.codes}
    assert got == {"dl-fault": (0.75, 3), "generic": (0.5, 2)}


def test_samples_when_endpoint_ignores_n(book):
    replies = iter([answer("generic"), answer("dl-fault"), answer("dl-fault")])
    model = FakeChatModel()

    async def one_text(request):  # an endpoint that returns one choice whatever n is
        model.requests.append(request)
        from ptmcoder.llm.base import Completion

        return Completion(texts=[next(replies)], model=request.model)

    model.complete = one_text
    rec = run(make(book, model, samples=3))
    assert len(model.requests) == 3
    assert [r.seed for r in model.requests] == [13, 14, 15]  # distinct, cacheable
    assert {c.code for c in rec.codes} == {"dl-fault"}
    assert rec.scores == {
        "generic": pytest.approx(1 / 3, abs=1e-3),
        "dl-fault": pytest.approx(2 / 3, abs=1e-3),
    }


def test_vote_keeps_first_rationale():
    a = ParsedAnswer([CodeAssignment(code="x", rationale="first")], False)
    b = ParsedAnswer([CodeAssignment(code="x", rationale="second")], False)
    codes, scores = vote([a, b])
    assert codes[0].rationale == "first" and scores == {"x": 1.0}


def test_long_unit_is_truncated_and_recorded(book):
    model = FakeChatModel(answer("generic"))
    unit = {"id": "so:2", "title": "t", "body": "word " * 5000}
    rec = run(make(book, model, max_unit_tokens=100), unit)
    assert rec.truncated
    assert "truncated" in model.requests[0].messages[1].content
    assert len(model.requests[0].messages[1].content) < 2000
