"""Annotators are built through one registry keyed by the spec's prefix: an annotator
added there (one module with a builder, one entry) runs through ``annotate`` like the
shipped ones, and unknown specs are refused with the known ones named."""

from __future__ import annotations

import pytest

from ptmcoder.annotate import registry
from ptmcoder.annotate.base import Annotator, AnnotatorContext
from ptmcoder.annotate.options import AnnotateOptions
from ptmcoder.annotate.records import Annotation
from ptmcoder.annotate.runner import annotate
from ptmcoder.errors import ConfigError

SEEN: list[AnnotatorContext] = []


class Constant:
    """Codes every unit ``generic``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self):
        return {"name": self.name, "kind": "constant", "method": "constant"}

    def annotate(self, units, *, common=None):
        for unit in units:
            yield Annotation(unit_id=str(unit["id"]), annotator=self.name, **(common or {}))


def build(context: AnnotatorContext) -> Annotator:
    SEEN.append(context)
    return Constant(context.spec)


def test_an_annotator_added_to_the_registry_runs_through_annotate(isolated_home, monkeypatch):
    entry = registry.Registered("constant", f"{__name__}:build", examples=("constant:X",))
    monkeypatch.setitem(registry.REGISTRY, "constant", entry)
    units = isolated_home / "u.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\nx:2,pip install fails\n")
    options = AnnotateOptions(
        codebook="humbatova-screening",
        corpus=str(units),
        annotators=["constant:one"],
        progress=False,
    )
    result = annotate(options, run_ref="c")
    assert result.written == 2 and result.records == 2
    context = SEEN[-1]
    assert isinstance(context.options, AnnotateOptions) and context.book.id == "humbatova-screening"
    assert [u["id"] for u in context.pending] == ["x:1", "x:2"]
    manifest = result.run.manifest()
    assert manifest.annotators == [
        {"name": "constant:one", "kind": "constant", "method": "constant"}
    ]
    # resumed: nothing pending, the builder still sees the session (and codes nothing)
    again = annotate(AnnotateOptions(progress=False), run_ref="c")
    assert again.written == 0 and again.skipped == 2 and SEEN[-1].pending == []


@pytest.mark.parametrize(
    "spec, message, hint",
    [
        (
            "embedded:bogus",
            "unknown embedded annotator 'embedded:bogus'",
            "use embedded, embedded:minilm, embedded:tfidf, embedded:finetune",
        ),
        (
            "gpt-4o",
            "unknown annotator 'gpt-4o'",
            "use embedded, embedded:tfidf, embedded:finetune, openai:MODEL or "
            "langchain:PROVIDER:MODEL",
        ),
        ("openai", "unknown annotator 'openai'", "use embedded, "),
    ],
)
def test_unknown_specs_are_refused_naming_the_known_ones(spec, message, hint):
    with pytest.raises(ConfigError) as caught:
        registry.registered(spec)
    assert caught.value.message == message and caught.value.hint.startswith(hint)


def test_every_spec_family_is_registered_once():
    assert set(registry.REGISTRY) == {"embedded", "openai", "langchain"}
    assert [registry.registered(s).llm for s in ("embedded", "openai:m", "langchain:a:b")] == [
        False,
        True,
        True,
    ]
