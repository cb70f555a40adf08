"""Suggested mappings between two codebooks from the similarity of their codes' texts,
written into the pair's crosswalk as suggestion rows for a human to decide."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ptmcoder.crosswalk.io import (
    load_codebook,
    load_mapping_set,
    new_mapping_set,
    next_record_id,
    read_mapping_file,
    resolve_mapping_set,
    writable_path,
    write_mapping_set,
)
from ptmcoder.crosswalk.judge import judge_suggestions
from ptmcoder.crosswalk.model import (
    SUFFIX,
    Justification,
    Mapping,
    MappingSet,
    Predicate,
    Status,
)
from ptmcoder.errors import NotFoundError, PtmcoderError, ValidationError
from ptmcoder.paths import workspace

# -- suggestions -------------------------------------------------------------------------


def _node_text(node: Any) -> str:
    parts = [node.name + ".", node.definition]
    parts += list(node.include)
    parts += [ex.description for ex in node.examples]
    return " ".join(" ".join(parts).split())


def _no_term_codes(ms: MappingSet, side: str) -> set[str]:
    """Codes a stated or reviewed row says have no counterpart (on this side)."""
    attr = f"{side}_code"
    return {
        getattr(m, attr)
        for m in ms.mappings
        if m.no_term
        and not m.negated
        and m.status in (Status.STATED, Status.REVIEWED)
        and getattr(m, attr)
    }


def suggest(
    a: str,
    b: str,
    top_k: int = 3,
    threshold: float = 0.5,
    *,
    level_a: str | None = None,
    level_b: str | None = None,
    embedder: str = "auto",
    warn: Any = None,
    judge: str | None = None,
    base_url: str | None = None,
) -> list[Mapping]:
    """Candidate ``skos:relatedMatch`` rows between the codes of A and B (leaves by default)
    from the cosine similarity of their names, definitions, criteria and examples, embedded
    with all-MiniLM-L6-v2 (offline; TF-IDF when it is not installed). For each code on either
    side its ``top_k`` most similar codes on the other side scoring at least ``threshold``.
    Pairs already in the crosswalk and codes a paper or reviewer says have no counterpart are
    skipped. With ``judge`` (a model spec such as ``openai:MODEL``, at ``base_url``) an LLM
    judge then names each pair's SKOS relation with a rationale
    (:func:`ptmcoder.crosswalk.judge.judge_suggestions`). The rows are suggestions: a human
    decides (:func:`record_decision`)."""
    import numpy as np

    from ptmcoder.llm.embed import make_embedder

    if judge:
        from ptmcoder.llm.factory import parse_spec

        parse_spec(judge)  # a bad spec fails before the embedding work
    if top_k < 1:
        raise PtmcoderError("top_k must be at least 1")
    if not 0 <= threshold <= 1:
        raise PtmcoderError("threshold must be in [0, 1]")
    book_a, book_b = load_codebook(a), load_codebook(b)
    nodes_a, nodes_b = book_a.tree_nodes(level_a), book_b.tree_nodes(level_b)
    try:
        existing = load_mapping_set((a, b))
    except NotFoundError:
        existing = None
    known_pairs: set[tuple[str, str]] = set()
    skip_a: set[str] = set()
    skip_b: set[str] = set()
    if existing is not None:
        known_pairs = {(m.subject_code or "", m.object_code or "") for m in existing.mappings}
        nf_a, nf_b = _no_term_codes(existing, "subject"), _no_term_codes(existing, "object")
        index_a, index_b = book_a.index(), book_b.index()
        skip_a = {n.id for n in nodes_a if {n.id, *index_a[n.id].ancestors} & nf_a}
        skip_b = {n.id for n in nodes_b if {n.id, *index_b[n.id].ancestors} & nf_b}
    texts_a = [_node_text(n) for n in nodes_a]
    texts_b = [_node_text(n) for n in nodes_b]
    model = make_embedder(embedder, warn=warn)
    model.fit(texts_a + texts_b)
    va, vb = model.encode(texts_a), model.encode(texts_b)
    sim = np.asarray(va @ vb.T, dtype=float)
    measure = (
        "cosine similarity of all-MiniLM-L6-v2 sentence embeddings"
        if model.kind == "minilm"
        else "cosine similarity of TF-IDF vectors (word 1-2 grams)"
    )
    justification = (
        Justification.SEMANTIC_SIMILARITY if model.kind == "minilm" else Justification.LEXICAL
    )
    picked: dict[tuple[int, int], float] = {}
    for i in range(len(nodes_a)):
        for j in np.argsort(-sim[i])[:top_k]:
            if sim[i, j] >= threshold:
                picked[(i, int(j))] = float(sim[i, j])
    for j in range(len(nodes_b)):
        for i in np.argsort(-sim[:, j])[:top_k]:
            if sim[i, j] >= threshold:
                picked[(int(i), j)] = float(sim[i, j])
    out: list[Mapping] = []
    for (i, j), score in sorted(picked.items(), key=lambda kv: (-kv[1], kv[0])):
        na, nb = nodes_a[i], nodes_b[j]
        if (na.id, nb.id) in known_pairs or na.id in skip_a or nb.id in skip_b:
            continue
        out.append(
            Mapping(
                subject_id=f"{a}:{na.id}",
                subject_label=na.name,
                predicate_id=Predicate.RELATED.value,
                object_id=f"{b}:{nb.id}",
                object_label=nb.name,
                mapping_justification=justification.value,
                author_id="ptmcoder:map-suggest",
                confidence=round(score, 4),
                similarity_score=round(score, 4),
                similarity_measure=measure,
                mapping_tool=f"ptmcoder map suggest ({model.name})",
                comment="suggestion: needs a human decision (ptmcoder review)",
            )
        )
    if judge:
        out = judge_suggestions(out, book_a, book_b, judge, base_url=base_url, warn=warn)
    return out


def add_suggestions(a: str, b: str, mappings: list[Mapping], date: str) -> tuple[Path, int]:
    """Append suggestion rows (oriented A -> B) to the pair's crosswalk file, creating it
    when there is none; returns (file, rows added)."""
    try:
        path, inverted = resolve_mapping_set((a, b))
        ms, problems = read_mapping_file(path)
        if problems:
            raise ValidationError(problems, hint="fix the file before adding suggestions")
    except NotFoundError:
        path = workspace() / "codebooks" / "crosswalks" / f"{a}__{b}{SUFFIX}"
        ms, inverted = new_mapping_set(a, b, path), False
    present = {(m.subject_id, m.object_id) for m in ms.mappings}
    added = 0
    for m in mappings:
        row = m.inverse() if inverted else replace(m, extra=dict(m.extra))
        row.inverted = False
        if (row.subject_id, row.object_id) in present:
            continue
        row.record_id = next_record_id(ms)
        row.mapping_date = date
        ms.mappings.append(row)
        present.add((row.subject_id, row.object_id))
        added += 1
    target = writable_path(path)
    ms.path = target
    write_mapping_set(ms, target)
    return target, added
