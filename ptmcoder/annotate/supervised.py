"""The embedded annotator when human codes are given (``annotate --train``).

It learns the codes from the human-coded units with :func:`ptmcoder.annotate.learn.learn`
(representation and linear learner chosen by cross-validation, one-vs-rest, cross-fitted
calibration and per-code thresholds, 0..k codes per unit) and writes one record per unit:
``scores`` are the calibrated probabilities of every code, ``raw_scores`` the learner's
uncalibrated decision values. A human-coded unit is scored out of fold (never by a model
that saw its label).

**Representations, chosen by work, never by time.** TF-IDF is always computed. MiniLM
vectors pooled over chunks covering the whole unit (:mod:`ptmcoder.annotate.vectors`) join
the cross-validation in ``auto`` mode when the learning step has at most
``learn_max_texts`` distinct texts (the human-coded units and the run's units; default
:data:`DEFAULT_MINILM_TEXTS`); a text is read up to 8 chunks of 250 word pieces, so that
bounds the work. The count is fixed by the data and the options, cached vectors or not,
so the same command, seed and data choose the same representation on a quiet and on a
loaded machine. ``embedded:minilm`` forces them, ``embedded:tfidf`` leaves them out.
What was left out and why is in the manifest (``learner.representations_skipped``).
The option ``learn_budget`` (seconds, measured on the machine: results depended on its
load) is read from older runs and studies and ignored, with a note in the manifest.

**Fine-tuning** (:mod:`ptmcoder.annotate.finetune`): ``embedded:finetune`` fine-tunes
MiniLM on the human codes (cross-fitted) and lets it and its ensemble with the best
linear candidate compete in the same selection. ``auto`` mode never fine-tunes (a fixed
choice, recorded in the manifest), cached models or not.

**Evidence** is the unit's sentence sharing most content words with the code's
description (its name, definition, criteria and examples), a cheap lexical choice; no
sentence is embedded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ptmcoder.annotate.base import AnnotatorContext, Unit
from ptmcoder.annotate.embedded import content_words, lexical_evidence
from ptmcoder.annotate.prompt import allowed_nodes, normalise_level
from ptmcoder.annotate.records import Annotation, CodeAssignment, ErrorType
from ptmcoder.codebook import Codebook, Role
from ptmcoder.corpus.units import unit_text
from ptmcoder.llm.embed import MINILM
from ptmcoder.paths import workspace
from ptmcoder.progress import progress_bar

#: ``auto`` mode: MiniLM joins the cross-validation when the learning step has at most
#: this many distinct texts, unless ``learn_max_texts`` says otherwise (a work bound: at
#: most 8 chunks of 250 word pieces per text); the demo's 477 titles are far below it,
#: NLBSE's 3,000 issues above it
DEFAULT_MINILM_TEXTS = 2_000


class SupervisedAnnotator:
    """Codes units with a model learned from human codes (see module doc)."""

    def __init__(
        self,
        book: Codebook,
        level: str | None,
        *,
        name: str = "embedded",
        mode: str = "auto",
        seed: int = 13,
        folds: int = 5,
        max_texts: int | None = None,
        ignored_budget: float | None = None,
        cache_path: Path | None = None,
        status: Callable[[str], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        suggest: int = 0,
        suggest_dir: Path | None = None,
        single_code: bool | None = None,
    ) -> None:
        from ptmcoder.annotate.embedded import code_description_parts

        self.book = book
        self.level = normalise_level(level)
        self.name = name
        self.mode = mode
        self.seed = seed
        self.folds = folds
        #: ``auto`` mode: the most distinct texts MiniLM embeds (None: the default)
        self.max_texts = DEFAULT_MINILM_TEXTS if max_texts is None else max_texts
        #: ``learn_budget`` of an older run or study (seconds): ignored, with a note
        self.ignored_budget = ignored_budget
        self.cache_path = cache_path
        self.status = status or (lambda _m: None)
        self.progress = progress
        nodes = allowed_nodes(book, level)
        self.codes = [n.id for n in nodes]
        self.code_names = {n.id: n.name for n in nodes}
        self.special = [n.id for n in book.special if n.role in (Role.FALSE_POSITIVE, Role.NONE)]
        parts = code_description_parts(book, level)
        self.terms = {c: content_words(" ".join(parts.get(c, [c]))) for c in self.codes}
        #: the coders gave one code per unit: the annotator gives one (None: from Y)
        self.single_code = single_code
        self.learned: Any = None
        #: the nested cross-fit (:mod:`ptmcoder.annotate.crossfit`)
        self.fitted: Any = None
        #: coded unit id -> [(human-coded unit id, rule, similarity)] it is taken to be
        self.matched: dict[str, list[tuple[str, str, float]]] = {}
        self.leakage: dict[str, Any] = {}
        self.rows: dict[str, int] = {}
        self.model_name = "tfidf"
        self.embed_meta: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.features: dict[str, Any] = {}
        self.finetune_meta: dict[str, Any] | None = None
        #: what the manifest should say about the options (an ignored ``learn_budget``)
        self.notes: list[str] = []
        self.ids: list[str] = []
        #: after coding, propose ``suggest`` units for a human to code next, written to
        #: ``suggest_dir/suggestions.csv`` (:mod:`ptmcoder.annotate.active`)
        self.suggest, self.suggest_dir = suggest, suggest_dir
        self.suggestions: dict[str, Any] | None = None
        #: seconds :meth:`fit` took, and (units, seconds) of the last :meth:`annotate`
        self.fit_seconds: float | None = None
        self.coded: tuple[int, float] | None = None

    # -- fitting -------------------------------------------------------------------
    def _minilm(self, texts: list[str], n_texts: int) -> np.ndarray | None:
        """MiniLM pooled vectors of ``texts``, or None in ``auto`` mode when the learning
        step's ``n_texts`` distinct texts exceed :attr:`max_texts` (reason kept). The
        choice never depends on the time anything takes, nor on what is cached."""
        from ptmcoder.annotate.vectors import ChunkEmbedder, VectorCache, text_hash

        if self.mode == "auto" and n_texts > self.max_texts:
            self.skipped["minilm"] = (
                f"the learning step has {n_texts} distinct texts, over the limit of "
                f"{self.max_texts} (learn_max_texts, default {DEFAULT_MINILM_TEXTS}; a count "
                "of texts, never a time); ask for MiniLM with --annotator embedded:minilm"
            )
            return None
        started = time.perf_counter()
        cache = VectorCache(self.cache_path) if self.cache_path else None
        space_name = "sentence-transformers/all-MiniLM-L6-v2"
        probe = ChunkEmbedder(None, name=space_name, cache=cache)
        found: set[str] = set()
        if cache is not None:
            found = cache.present(probe.space, [text_hash(t) for t in texts])
        missing = len({text_hash(t) for t in texts} - found)
        model = None
        if missing:
            from ptmcoder.llm.embed import MiniLMEmbedder

            self.status(f"loading MiniLM to embed {missing} uncached text(s)")
            model = MiniLMEmbedder().model
        embedder = ChunkEmbedder(model, name=space_name, cache=cache)
        self.status(f"embedding {missing} text(s) with MiniLM, pooled over chunks")
        vectors = embedder.encode(texts, self.progress)
        self.embed_meta.update(
            {
                "model": space_name,
                "space": embedder.space,
                "limit_texts": self.max_texts if self.mode == "auto" else None,
                "seconds": round(time.perf_counter() - started, 3),
                **{
                    k: (round(v, 3) if isinstance(v, float) else v)
                    for k, v in embedder.stats.items()
                },
                "cache": {"hits": cache.hits, "misses": cache.misses} if cache else None,
            }
        )
        if cache is not None:
            cache.close()
        return vectors

    def _finetune(self, texts_lab, Y, texts_other):
        """The fine-tuned encoder as a learner for :func:`cross_fit` (a ``scored``
        factory); only asked for with ``embedded:finetune`` (``auto`` never fine-tunes).
        Each outer fold fine-tunes on its own units only, so the cost is that of
        :func:`~ptmcoder.annotate.finetune.cross_fit` once per outer fold and once more."""
        from ptmcoder.annotate import finetune
        from ptmcoder.annotate.learn import decisions_for, fold_ids

        settings = finetune.FineTuneSettings(seed=self.seed)
        cache_dir = self.cache_path.parent / "finetuned" if self.cache_path else None
        single = decisions_for(Y) == ("top1",)

        def factory(train, lab_rows, other_rows):
            def scored():
                Y_train = Y[train]
                folds = fold_ids(Y_train, settings.folds, settings.seed)
                raw_lab, raw_other, meta = finetune.cross_fit(
                    [texts_lab[i] for i in train],
                    Y_train,
                    [texts_lab[i] for i in lab_rows] + [texts_other[i] for i in other_rows],
                    folds,
                    settings,
                    single=single,
                    cache_dir=cache_dir,
                    status=self.status,
                    progress=self.progress,
                )
                if len(train) == len(Y):
                    self.finetune_meta = meta
                return "minilm-finetuned", raw_lab, raw_other

            return scored

        return factory

    def fit(
        self,
        labels: dict[str, list[str]],
        train_units: list[dict[str, Any]],
        units: list[dict[str, Any]],
        *,
        run_units: list[dict[str, Any]] | None = None,
    ) -> None:
        """Learn from ``labels`` of ``train_units``; score ``units`` (to be coded).
        ``run_units`` (default ``units``): every unit of the run, of which ``units`` are
        those this session codes; with the human-coded ones they are the texts counted
        against :attr:`max_texts`, so a resumed session chooses as the first did."""
        started = time.perf_counter()
        try:
            self._fit(labels, train_units, units, units if run_units is None else run_units)
        finally:
            self.fit_seconds = time.perf_counter() - started

    def _match(self, lab: list[dict[str, Any]], other: list[dict[str, Any]]):
        """Near-duplicate groups of the human-coded units, and for each other unit the
        human-coded unit it is taken to be (-1: none); counted for the manifest."""
        from ptmcoder.annotate.near_duplicates import duplicate_groups, find_matches

        def entry(u: dict[str, Any]) -> tuple[str, str, str]:
            title = u.get("title")
            title = str(title) if isinstance(title, str) else ""
            return (str(u["id"]), title, unit_text(u))

        lab_entries = [entry(u) for u in lab]
        groups, twins = duplicate_groups(lab_entries)
        row_of = {e[0]: i for i, e in enumerate(lab_entries)}
        other_row = {str(u["id"]): i for i, u in enumerate(other)}
        matched = np.full(len(other), -1, dtype=np.int64)
        self.matched = {}
        found = find_matches([entry(u) for u in other], lab_entries)
        for m in found:
            i = other_row[m.unit]
            if matched[i] < 0:  # the strongest match first (ordered by rule)
                matched[i] = row_of[m.labelled]
            self.matched.setdefault(m.unit, []).append((m.labelled, m.how, m.similarity))
        for i in range(len(other)):  # every human-coded unit it matched shares one fold
            rows = [row_of[lab_id] for lab_id, _, _ in self.matched.get(str(other[i]["id"]), [])]
            for r in rows[1:]:
                old, new = groups[r], groups[rows[0]]
                groups[groups == old] = new
        by_rule: dict[str, int] = {}
        for m in found:
            by_rule[m.how] = by_rule.get(m.how, 0) + 1
        twins_by_rule: dict[str, int] = {}
        for m in twins:
            twins_by_rule[m.how] = twins_by_rule.get(m.how, 0) + 1
        self.leakage = {
            "rules": "near_duplicates.RULES: same text, same title, contained, edited title",
            "coded_units_matched": int(np.sum(matched >= 0)),
            "pairs_by_rule": by_rule,
            "labelled_near_duplicate_pairs": twins_by_rule,
            "labelled_units_in_duplicate_groups": int(
                sum(c for c in np.unique(groups, return_counts=True)[1] if c > 1)
            ),
            "examples": [
                {"unit": m.unit, "labelled": m.labelled, "how": m.how, "similarity": m.similarity}
                for m in found[:20]
            ],
        }
        if found:
            self.status(
                f"{int(np.sum(matched >= 0))} coded unit(s) are human-coded units under "
                "another id or with edits ("
                + ", ".join(f"{n} {how}" for how, n in by_rule.items())
                + "): each is coded by the learner fitted without that unit's fold"
            )
        return groups, matched

    def _fit(self, labels, train_units, units, run_units) -> None:
        from ptmcoder.annotate.crossfit import cross_fit
        from ptmcoder.annotate.learn import combine, tfidf_features

        lab = [u for u in train_units if labels.get(str(u["id"])) and unit_text(u).strip()]
        lab_ids = [str(u["id"]) for u in lab]
        lab_text = {i: unit_text(u) for i, u in zip(lab_ids, lab, strict=True)}
        lab_row = {i: k for k, i in enumerate(lab_ids)}
        rows: dict[str, int] = {}
        other: list[dict[str, Any]] = []
        for u in units:
            uid, text = str(u["id"]), unit_text(u)
            if uid in rows or not text.strip():
                continue
            if lab_text.get(uid) == text:  # human-coded: scored out of fold
                rows[uid] = lab_row[uid]
            else:  # another unit, or a human-coded one under another id (matched below)
                rows[uid] = len(lab) + len(other)
                other.append(u)
        self.ids = lab_ids + [str(u["id"]) for u in other]
        texts = [unit_text(u) for u in lab + other]
        Y = np.array(
            [[int(c in labels[i]) for c in self.codes] for i in lab_ids], dtype=np.int64
        ).reshape(len(lab_ids), len(self.codes))
        n = len(lab)
        groups, matched = self._match(lab, other)
        self.status(f"learning from {n} human-coded units: TF-IDF features")
        tfidf = tfidf_features(texts)
        features: dict[str, Any] = {}
        if self.mode != "minilm":
            features["tfidf"] = (tfidf[:n], tfidf[n:])
        if self.ignored_budget is not None:
            self.notes.append(
                f"learn_budget = {self.ignored_budget:g} s was ignored: a time budget made the "
                "choice of representation depend on machine load; the limit is now "
                f"learn_max_texts = {self.max_texts} distinct texts"
            )
            self.status(self.notes[-1])
        if self.mode not in ("tfidf", "finetune"):
            counted = {unit_text(u) for u in lab} | {unit_text(u) for u in run_units}
            dense = self._minilm(texts, len({t for t in counted if t.strip()}))
            if dense is not None:
                self.model_name = "sentence-transformers/all-MiniLM-L6-v2"
                features["minilm"] = (dense[:n], dense[n:])
                both = combine(tfidf, dense)
                features["combined"] = (both[:n], both[n:])
        self.features = features
        scored = None
        if self.mode == "finetune" and n >= 8:
            scored = self._finetune(texts[:n], Y, texts[n:])
        elif self.mode == "auto":
            self.skipped["minilm-finetuned"] = (
                "auto mode never fine-tunes (a fixed choice, whatever the machine or the "
                "cache holds); ask for it with --annotator embedded:finetune"
            )
        self.fitted = cross_fit(
            self.codes,
            Y,
            features,
            matched,
            groups=groups,
            special=self.special,
            folds=self.folds,
            seed=self.seed,
            status=self.status,
            scored=scored,
            single=self.single_code,
        )
        self.learned = self.fitted.full
        if self.learned.learner.startswith(("minilm-finetuned", "ensemble")):
            self.model_name = f"{MINILM} (fine-tuned)"
        self.learned.skipped = dict(self.skipped)
        self.rows = rows

    def describe(self) -> dict[str, Any]:
        learned = self.learned
        fitted = self.fitted
        out: dict[str, Any] = {
            "name": self.name,
            "kind": "embedded",
            "model": self.model_name,
            "embedder": "tfidf" if learned.representation == "tfidf" else "minilm",
            "method": "supervised",
            "supervised": {
                "classifier": f"{learned.describe()}, chosen by cross-validation",
                "labelled_units": learned.n_labelled,
                "cross_fitting": f"nested, {len(fitted.folds)} outer folds: each human-coded "
                "unit, and each coded unit taken to be one, is coded by the whole learner "
                "fitted without its fold (choice, calibration and thresholds included)",
                "classes": learned.modelled,
            },
            "learner": {
                **learned.manifest(),
                "cross_fitting": fitted.manifest(),
                "leakage": self.leakage,
                "embedding": self.embed_meta or None,
                "finetune": self.finetune_meta,
                "max_texts": self.max_texts if self.mode == "auto" else None,
                "notes": self.notes,
            },
        }
        if self.fit_seconds is not None:
            out["prepare_seconds"] = round(self.fit_seconds, 3)
        if self.coded is not None:
            written, elapsed = self.coded
            total = elapsed + (self.fit_seconds or 0.0)
            out["units_per_second"] = round(written / total, 2) if total > 0 else None
            out["units_per_second_note"] = "units coded / (learning + coding time)"
        if self.suggestions is not None:
            out["suggestions"] = self.suggestions
        return out

    # -- annotation -----------------------------------------------------------------
    def annotate(
        self, units: Sequence[Unit], *, common: dict[str, Any] | None = None
    ) -> Iterator[Annotation]:
        """One record per unit from the fitted model; after the last one, the
        suggestions (when asked for)."""
        common = common or {}
        started, written = time.perf_counter(), 0
        for record in self._annotate(units, common):
            yield record
            written += 1
        self.coded = (written, time.perf_counter() - started)
        if self.suggest and self.suggest_dir is not None:
            from ptmcoder.annotate.active import write_suggestions

            self.suggestions = write_suggestions(self, self.suggest_dir, self.suggest, self.status)

    def _annotate(self, units: Sequence[Unit], common: dict[str, Any]) -> Iterator[Annotation]:
        from ptmcoder.annotate.injection import injection_flags

        fitted = self.fitted
        full = fitted.full
        k_folds = len(fitted.folds)
        how = (
            f"{full.describe()[:1].upper()}{full.describe()[1:]}, trained on "
            f"{full.n_labelled} human-coded units (outer {k_folds}-fold macro F1 "
            f"{fitted.cv_macro_f1:.2f})"
        )
        for unit in units:
            uid = str(unit["id"])
            text = unit_text(unit)
            row = self.rows.get(uid)
            if not text.strip() or row is None:
                yield Annotation(
                    unit_id=uid,
                    annotator=self.name,
                    model=self.model_name,
                    error_type=ErrorType.NO_TEXT,
                    error="the unit has no text",
                    latency_s=0.0,
                    **common,
                )
                continue
            learned = fitted.learner_of(row)
            fold = int(fitted.source[row])
            proba = fitted.proba[row]
            raw = fitted.raw[row]
            if fold < 0:
                scored_by = f"{how}; no human coded this unit"
                held_out: list[str] = []
            else:
                twins = self.matched.get(uid, [])
                held_out = [lab for lab, _, _ in twins] or [uid]
                taken = "; ".join(f"{lab} ({why}, {sim:.2f})" for lab, why, sim in twins)
                scored_by = (
                    f"{learned.describe()[:1].upper()}{learned.describe()[1:]}, learned "
                    f"from {learned.n_labelled} human-coded units without outer fold "
                    f"{fold + 1} of {k_folds}, which holds "
                    + (f"the human-coded unit(s) it is taken to be: {taken}" if twins else "it")
                )
            picked = [c for j, c in enumerate(self.codes) if fitted.chosen[row, j]]
            picked.sort(key=lambda c: -proba[self.codes.index(c)])
            assignments = []
            for code in picked:
                j = self.codes.index(code)
                assignments.append(
                    CodeAssignment(
                        code=code,
                        confidence=round(float(min(1.0, max(0.0, proba[j]))), 4),
                        rationale=(
                            f"{scored_by}: a calibrated probability of {proba[j]:.2f} for "
                            f"'{self.code_names[code]}' (threshold "
                            f"{learned.thresholds.get(code, 1.0):.2f}); the quote is the "
                            "unit's sentence sharing most words with the code's description."
                        ),
                        evidence=lexical_evidence(text, self.terms[code]),
                        evidence_found=True,
                    )
                )
            yield Annotation(
                unit_id=uid,
                annotator=self.name,
                codes=assignments,
                model=self.model_name,
                method="supervised",
                scores={c: round(float(proba[j]), 4) for j, c in enumerate(self.codes)},
                raw_scores={
                    c: round(float(raw[j]), 4)
                    for j, c in enumerate(self.codes)
                    if c in learned.thresholds
                },
                latency_s=0.0,
                flags=injection_flags(text, self.codes)
                + (
                    [f"held out: {', '.join(held_out)} (never learned from)"]
                    if held_out and held_out != [uid]
                    else []
                ),
                **common,
            )


def build(context: AnnotatorContext, kind: str) -> SupervisedAnnotator | None:
    """The embedded annotator of a run with human codes, fitted on them (with progress
    bars); ``kind`` is ``auto``, ``minilm``, ``tfidf`` or ``finetune``. None when the human
    codes cannot train a model (fewer than 2 codes with 2 units each, or under 4 units)."""
    labels = context.labels or {}
    counts: dict[str, int] = {}
    for codes in labels.values():
        for c in codes:
            counts[c] = counts.get(c, 0) + 1
    if sum(1 for n in counts.values() if n >= 2) < 2 or len(labels) < 4:
        return None
    spec, options = context.spec, context.options
    say = lambda msg: context.console.print(f"{spec}: {msg}", highlight=False)  # noqa: E731
    mode = kind if kind in ("minilm", "tfidf", "finetune") else "auto"
    with progress_bar(context.console, options.progress) as progress:
        task, task_total = None, None

        def advance(done: int, total: int) -> None:
            """Progress of a learning step: embedding chunks, then (a new bar, another
            total) fine-tuning examples and scoring."""
            nonlocal task, task_total
            if task is None or total != task_total:
                what = "embedding chunks" if task is None else "fine-tuning and scoring"
                if mode == "finetune":
                    what = "fine-tuning and scoring"
                task, task_total = progress.add_task(f"{spec}: {what}", total=total), total
            progress.update(task, completed=done)

        annotator = SupervisedAnnotator(
            context.book,
            options.level,
            name=spec,
            mode=mode,
            seed=options.seed,
            folds=options.folds,
            max_texts=options.learn_max_texts,
            ignored_budget=options.learn_budget,
            cache_path=workspace() / "cache" / "embeddings.sqlite",
            status=say,
            progress=advance,
            suggest=options.suggest,
            suggest_dir=context.run_path,
            single_code=context.single_code,
        )
        annotator.fit(labels, context.train_units, context.pending, run_units=context.units)
    return annotator
