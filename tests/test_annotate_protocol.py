"""Every annotator implements :class:`ptmcoder.annotate.base.Annotator`, and the LLM
annotator's ``annotate`` yields one record per unit as each is ready (the runner
writes each durably before taking the next)."""

from __future__ import annotations

import asyncio

import pytest
from fakes import FakeChatModel, answer

from ptmcoder.annotate.base import Annotator
from ptmcoder.annotate.embedded import EmbeddedAnnotator
from ptmcoder.annotate.llm import LLMAnnotator, LLMSettings
from ptmcoder.annotate.supervised import SupervisedAnnotator
from ptmcoder.codebook import load_codebook
from ptmcoder.llm.embed import TfidfEmbedder
from ptmcoder.llm.prompts import load_prompt

UNITS = [{"id": f"so:{i}", "title": f"Keras model {i} returns NaN loss"} for i in range(6)]


@pytest.fixture(scope="module")
def book():
    return load_codebook("humbatova-screening")


class SlowModel(FakeChatModel):
    """Answers after a delay that shrinks with the unit's number, so later units finish
    first; counts requests started and whether it was closed."""

    def __init__(self) -> None:
        super().__init__(fallback=lambda request: answer("generic"))
        self.closed = False

    async def complete(self, request):
        unit = next(m.content for m in request.messages if "Keras model" in m.content)
        number = int(unit.split("Keras model ")[1].split()[0])
        await asyncio.sleep(0.02 * (6 - number))
        return await super().complete(request)

    async def aclose(self) -> None:
        self.closed = True


def llm(book, model) -> LLMAnnotator:
    return LLMAnnotator(
        "openai:test", model, "m", book, None, load_prompt("apply_codebook.v1"), LLMSettings()
    )


def test_every_annotator_implements_the_protocol(book):
    assert isinstance(EmbeddedAnnotator(book, None, TfidfEmbedder()), Annotator)
    assert isinstance(SupervisedAnnotator(book, None), Annotator)
    assert isinstance(llm(book, FakeChatModel()), Annotator)


def test_llm_annotate_yields_each_record_when_ready(book):
    model = SlowModel()
    records = list(llm(book, model).annotate(UNITS, common={"run_id": "r"}, concurrency=6))
    assert sorted(r.unit_id for r in records) == sorted(u["id"] for u in UNITS)
    # all six in flight at once: the fastest (the last unit) comes back first
    assert records[0].unit_id == "so:5" and records[-1].unit_id == "so:0"
    assert all(r.run_id == "r" and r.codes[0].code == "generic" for r in records)
    assert model.closed


def test_stopping_early_cancels_what_is_in_flight_and_closes_the_model(book):
    model = SlowModel()
    stream = llm(book, model).annotate(UNITS, concurrency=2)
    first = next(stream)
    stream.close()
    assert first.unit_id in {"so:0", "so:1"}
    # only the units that had a slot were asked; the rest were never started
    assert len(model.requests) <= 3 and model.closed
