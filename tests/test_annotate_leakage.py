"""Leakage guard on banyongrakkul2025's cited issues: a unit that a codebook example
cites is coded without that example, by the LLM prompt and the embedded vectors alike."""

from __future__ import annotations

import asyncio
import re

import pytest
from fakes import FakeChatModel, answer

from ptmcoder.annotate.embedded import EmbeddedAnnotator
from ptmcoder.annotate.leakage import LeakageGuard, example_keys, normalise_url, unit_keys
from ptmcoder.annotate.llm import LLMAnnotator, LLMSettings
from ptmcoder.annotate.prompt import allowed_nodes, render_system
from ptmcoder.codebook import load_codebook
from ptmcoder.llm.embed import TfidfEmbedder
from ptmcoder.llm.prompts import load_prompt

THREESTUDIO = {
    "id": "gh:threestudio-project/threestudio#260",
    "url": "https://github.com/threestudio-project/threestudio/issues/260",
    "title": "RuntimeError: expected scalar type Half but found Float",
    "body": "Training crashes with a dtype mismatch between tensors.",
}
OTHER = {
    "id": "gh:threestudio-project/threestudio#261",
    "url": "https://github.com/threestudio-project/threestudio/issues/261",
    "title": "RuntimeError: expected scalar type Half but found Float",
    "body": "Training crashes with a dtype mismatch between tensors.",
}


@pytest.fixture(scope="module")
def book():
    return load_codebook("banyongrakkul2025")


def cited(book):
    """(node, example index, example) of every example that names a GitHub issue."""
    out = []
    for node, _, _ in book.walk():
        for i, ex in enumerate(node.examples):
            m = re.search(r"github\.com/([^/]+)/([^/]+)/issues/(\d+)", ex.url or "")
            if m:
                out.append((node, i, ex, m))
    return out


def test_every_cited_issue_is_found_by_url_and_by_id(book):
    guard = LeakageGuard(book)
    examples = cited(book)
    assert len(examples) >= 40
    for node, i, ex, m in examples:
        by_url = guard.matches({"id": "x", "url": ex.url.replace("http://", "https://www.")})
        by_id = guard.matches({"id": f"gh:{m.group(1)}/{m.group(2)}#{m.group(3)}"})
        assert i in by_url[node.id] and i in by_id[node.id], (node.id, ex.url)


def test_repo_number_mentions_match_and_neighbours_do_not(book):
    guard = LeakageGuard(book)
    # "SimSwap #251" is cited without a URL: the repo name and number still match
    hits = guard.matches({"id": "gh:neuralchen/SimSwap#251"})
    assert hits and all(
        "SimSwap #251" in [ex.description for ex in node.examples][min(idx)]
        for node, _, _ in book.walk()
        for code, idx in hits.items()
        if node.id == code
    )
    assert guard.matches(OTHER) == {}
    assert guard.matches({"id": "so:123", "url": "https://stackoverflow.com/questions/123"}) == {}
    assert normalise_url("HTTP://www.GitHub.com/a/b/issues/1/?x=1#c") == "github.com/a/b/issues/1"
    assert "repo:simswap#416" in example_keys(
        next(ex for n, _, _ in book.walk() for ex in n.examples if "SimSwap #416" in ex.description)
    )
    assert "gh:a/b#3" in unit_keys({"id": "gh:A/b#3"})


def test_llm_prompt_leaves_the_cited_example_out_for_that_unit_only(book):
    template = load_prompt("apply_codebook.v1")
    model = FakeChatModel(answer("MU.io.type-shape-mismatch"), answer("MU.io.type-shape-mismatch"))
    annotator = LLMAnnotator(
        "openai:test", model, "gpt-4o-mini", book, None, template, LLMSettings()
    )
    own = annotator.messages(THREESTUDIO)[0][0].content
    other = annotator.messages(OTHER)[0][0].content
    assert other == render_system(template, book, None)
    assert "Threestudio #260" in other and "Threestudio #260" not in own
    rec = asyncio.run(annotator.annotate_unit(THREESTUDIO, {}))
    assert rec.example_excluded == ["MU.io", "MU.io.type-shape-mismatch"]
    assert asyncio.run(annotator.annotate_unit(OTHER, {})).example_excluded == []


def test_embedded_vectors_leave_the_cited_example_out(book):
    annotator = EmbeddedAnnotator(book, None, TfidfEmbedder())
    annotator.prepare([THREESTUDIO, OTHER])
    own, other = annotator.annotate([THREESTUDIO, OTHER])
    leaves = {n.id for n in allowed_nodes(book, None)}
    assert own.example_excluded == sorted(
        c for c in ("MU.io", "MU.io.type-shape-mismatch") if c in leaves
    )
    assert own.example_excluded and other.example_excluded == []
    # same text, so the only difference is the left-out example
    changed = [c for c in own.scores if own.scores[c] != other.scores[c]]
    assert changed
    vectors, codes = annotator.guarded_code_vectors(THREESTUDIO)
    ci = annotator.codes.index(codes[0])
    assert (vectors[ci] != annotator.code_vectors[ci]).any()
    assert (vectors[:ci] == annotator.code_vectors[:ci]).all()


def test_a_definition_quoting_or_naming_a_unit_flags_that_unit(book):
    """Definitions rebuilt from a paper can name a cited issue or quote its title; the
    guard cannot leave them out, so the unit's record is flagged with the places."""
    node = next(n for n, _, _ in book.walk() if n.is_leaf)
    changed = node.model_copy(
        update={
            "definition": node.definition
            + ' As in "RuntimeError: expected scalar type Half but found Float".',
            "include": [*node.include, "problems like threestudio #261"],
        }
    )
    guard = LeakageGuard(book, [changed])
    assert guard.quoted(OTHER) == {node.id: ["definition", f"include {len(changed.include)}"]}
    assert guard.flags(OTHER) == [
        f"codebook names this unit: {node.id} (definition, include {len(changed.include)})"
    ]
    short = {**OTHER, "id": "gh:a/b#1", "url": None, "title": "found Float"}
    assert guard.quoted(short) == {}  # a title under 5 words is not taken as a quote


def test_embedded_records_carry_the_codebook_quote_flag(book):
    annotator = EmbeddedAnnotator(book, None, TfidfEmbedder())
    units = [THREESTUDIO, {**OTHER, "id": "x", "url": None}]
    annotator.prepare(units)
    records = {r.unit_id: r for r in annotator.annotate(units)}
    # its cited examples are left out (example_excluded), not flagged as quotes
    own = records[THREESTUDIO["id"]]
    assert own.example_excluded
    assert not [f for f in own.flags if f.startswith("codebook names")]
    node = next(n for n, _, _ in book.walk() if n.id == own.example_excluded[0])
    quoting = node.model_copy(update={"definition": node.definition + " " + OTHER["title"]})
    annotator.guard = LeakageGuard(book, [quoting])
    records = {r.unit_id: r for r in annotator.annotate(units)}
    assert [f for f in records["x"].flags if f.startswith("codebook names")] == [
        f"codebook names this unit: {node.id} (definition)"
    ]
