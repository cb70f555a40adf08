"""The LLM judge of ``map suggest --judge``: per candidate pair of codes that the similarity
step proposed, a chat model says how the source code relates to the target code (a SKOS
relation, or ``none``) and why, as structured JSON.

The prompt is the versioned ``prompts/judge_mapping.v1``; calls go through the project's
LLM layer (:func:`ptmcoder.llm.factory.make_chat_model`, whose client retries 429, 5xx and
timeouts) and the response cache, keyed on the prompt version and both codebooks' hashes.
A judged row keeps its similarity justification and score; the judge's relation becomes its
predicate (``none``: ``predicate_modifier: Not``), its rationale goes into ``comment``
prefixed with the model's name, and ``author_id`` names the model. An answer outside the
vocabulary, a malformed answer or a failed call is reported and leaves the pair a plain
similarity suggestion. Either way the row stays a suggestion until a human decides.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ptmcoder.codebook import Codebook, codebook_hash
from ptmcoder.crosswalk.model import Mapping, Predicate
from ptmcoder.files import sha256_text

JUDGE_PROMPT = "judge_mapping.v1"
JUDGE_PREFIX = "LLM judge"


class JudgeRelation(StrEnum):
    EXACT = "exact"
    CLOSE = "close"
    BROAD = "broad"  # the target is broader than the source
    NARROW = "narrow"  # the target is narrower than the source
    RELATED = "related"
    NONE = "none"


PREDICATE_OF: dict[JudgeRelation, Predicate] = {
    JudgeRelation.EXACT: Predicate.EXACT,
    JudgeRelation.CLOSE: Predicate.CLOSE,
    JudgeRelation.BROAD: Predicate.BROAD,
    JudgeRelation.NARROW: Predicate.NARROW,
    JudgeRelation.RELATED: Predicate.RELATED,
}

JUDGE_SCHEMA: dict[str, Any] = {
    "name": "mapping_judgement",
    "strict": True,
    "schema": {
        "type": "object",
        "additionalProperties": False,
        "required": ["relation", "rationale"],
        "properties": {
            "relation": {"type": "string", "enum": [r.value for r in JudgeRelation]},
            "rationale": {"type": "string"},
        },
    },
}


@dataclass(frozen=True)
class Judgement:
    relation: JudgeRelation
    rationale: str


def parse_judgement(text: str) -> Judgement | str:
    """A judge's answer -> :class:`Judgement`, or the reason it is unusable (pure)."""
    cleaned = text.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", cleaned, flags=re.S)
    if fence:
        cleaned = fence.group(1)
    try:
        data = json.loads(cleaned)
    except json.JSONDecodeError as exc:
        return f"malformed JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    relation = data.get("relation")
    if not isinstance(relation, str):
        return "no 'relation' string in the answer"
    try:
        rel = JudgeRelation(relation.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in JudgeRelation)
        return f"relation {relation!r} is not one of {known}"
    rationale = data.get("rationale")
    if not isinstance(rationale, str) or not rationale.strip():
        return "no 'rationale' string in the answer"
    return Judgement(rel, " ".join(rationale.split()))


def _neutralise(text: str) -> str:
    return re.sub(r"<(/?)(source|target)", r"&lt;\1\2", text, flags=re.I)


def code_text(node: Any) -> str:
    """A code as the judge sees it: name, definition, criteria, examples."""
    lines = [f"id: {node.id}", f"name: {node.name}", f"definition: {node.definition}"]
    lines += [f"includes: {c}" for c in node.include]
    lines += [f"excludes: {c}" for c in node.exclude]
    lines += [f"example: {ex.description}" for ex in node.examples]
    return _neutralise("\n".join(" ".join(line.split()) for line in lines))


@functools.lru_cache(maxsize=1)
def _judge_prompt() -> Any:
    """The judge's prompt files, read once per process rather than once per pair."""
    from ptmcoder.llm.prompts import load_prompt

    return load_prompt(JUDGE_PROMPT)


def judge_messages(book_a: Codebook, book_b: Codebook, m: Mapping) -> list[Any]:
    from ptmcoder.llm.base import ChatMessage
    from ptmcoder.llm.prompts import fill

    prompt = _judge_prompt()
    index_a, index_b = book_a.index(), book_b.index()
    values = {
        "source_book": book_a.id,
        "target_book": book_b.id,
        "source": code_text(index_a[m.subject_code or ""].node),
        "target": code_text(index_b[m.object_code or ""].node),
    }
    return [
        ChatMessage(role="system", content=prompt.system.strip()),
        ChatMessage(role="user", content=fill(prompt.user, values).strip()),
    ]


def _judged_row(m: Mapping, spec: str, judgement: Judgement) -> Mapping:
    row = replace(m, extra=dict(m.extra))
    relation = judgement.relation
    if relation is JudgeRelation.NONE:
        row.predicate_id = Predicate.RELATED.value
        row.predicate_modifier = "Not"
    else:
        row.predicate_id = PREDICATE_OF[relation].value
    row.author_id = "ptmcoder:llm-judge/" + re.sub(r"\s+", "_", spec)
    row.author_label = f"{JUDGE_PREFIX} {spec}"
    row.mapping_tool = f"{m.mapping_tool} + {JUDGE_PREFIX} {spec} ({JUDGE_PROMPT})"
    row.comment = (
        f"{JUDGE_PREFIX} {spec} (model output, not a human decision): {relation.value}: "
        f"{judgement.rationale} | suggestion: needs a human decision (ptmcoder review)"
    )
    row.judge = {"model": spec, "relation": relation.value, "rationale": judgement.rationale}
    return row


def judge_suggestions(
    rows: list[Mapping],
    book_a: Codebook,
    book_b: Codebook,
    spec: str,
    *,
    base_url: str | None = None,
    timeout: float = 60.0,
    max_retries: int = 6,
    concurrency: int = 4,
    cache: bool = True,
    warn: Callable[[str], None] | None = None,
) -> list[Mapping]:
    """Ask the judge model ``spec`` (``openai:MODEL``, ``langchain:PROVIDER:MODEL``) about each
    candidate row; returns the rows in the same order, judged where the answer was usable.
    Unusable answers and failed calls are passed to ``warn`` and recorded in the row's
    ``judge`` field (``error``); the row itself is left as the similarity step made it."""
    from ptmcoder.llm.base import ChatRequest
    from ptmcoder.llm.cache import CachedChatModel, ResponseCache
    from ptmcoder.llm.errors import LLMError
    from ptmcoder.llm.factory import make_chat_model, parse_spec
    from ptmcoder.paths import workspace

    if not rows:
        return []
    model_name = parse_spec(spec)[2]
    inner = make_chat_model(spec, base_url=base_url, timeout=timeout, max_retries=max_retries)
    model: Any = inner
    store = None
    if cache:
        path = workspace() / "cache" / "responses.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        store = ResponseCache(path)
        both = sha256_text(f"{codebook_hash(book_a)}|{codebook_hash(book_b)}")
        model = CachedChatModel(inner, store, JUDGE_PROMPT, both)

    def report(m: Mapping, reason: str) -> Mapping:
        if warn is not None:
            warn(
                f"judge {spec}: {m.subject_id} -> {m.object_id}: {reason}; "
                "kept as a plain similarity suggestion"
            )
        row = replace(m, extra=dict(m.extra))
        row.judge = {"model": spec, "error": reason}
        return row

    async def one(m: Mapping, gate: asyncio.Semaphore) -> Mapping:
        request = ChatRequest(
            model=model_name,
            messages=judge_messages(book_a, book_b, m),
            temperature=0.0,
            json_schema=JUDGE_SCHEMA,
        )
        async with gate:
            try:
                completion = await model.complete(request)
            except LLMError as exc:
                return report(m, f"call failed ({exc.kind}): {exc.message}")
        text = completion.texts[0] if completion.texts else ""
        parsed = parse_judgement(text)
        if isinstance(parsed, str):
            discard = getattr(model, "discard", None)
            if discard is not None:  # an unusable answer is not replayed by a rerun
                discard(request)
            return report(m, parsed)
        return _judged_row(m, spec, parsed)

    async def run() -> list[Mapping]:
        gate = asyncio.Semaphore(max(1, concurrency))
        try:
            return list(await asyncio.gather(*(one(m, gate) for m in rows)))
        finally:
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()

    try:
        return asyncio.run(run())
    finally:
        if store is not None:
            store.close()
