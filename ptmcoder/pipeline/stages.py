"""The stages of a study, each one adapter that calls the library function the
matching CLI command calls, and the inputs that decide whether a stage is up to
date (:func:`stage_inputs`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ptmcoder import __version__
from ptmcoder.errors import ConfigError
from ptmcoder.files import canonical_json, jsonable, sha256_file, sha256_text, write_json
from ptmcoder.pipeline.config import (
    STAGES,
    RaterConfig,
    SampleDesign,
    Stage,
    StudyConfig,
    corpus_name,
    resolve_file,
)
from ptmcoder.pipeline.rundir import (
    CODINGS,
    GOLD,
    cascade_file,
    codes_by_unit,
    rater_codings,
    read_codings,
    read_map_tables,
    read_reference,
    read_stage_output,
    route_audit,
    route_dir,
)
from ptmcoder.runs import RaterSource, Run, rater_usage

#: bump when a stage's outputs change shape, so every stage reruns once
PIPELINE_VERSION = 2


@dataclass
class StageContext:
    config: StudyConfig
    study_path: Path
    run_dir: Path
    say: Callable[[str], None]
    stderr: Any = None
    progress: bool = False
    #: stage -> output hash of the stages run or skipped so far in this session
    outputs: dict[str, str] = field(default_factory=dict)
    #: the stage running now was asked for (--from / --force), not only out of date:
    #: it starts afresh instead of resuming what it left
    redo: bool = False
    #: (rater, sample stage output) -> that rater's settings (see _rater_settings)
    rater_settings: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)

    def dir(self, stage: Stage) -> Path:
        return self.run_dir / str(stage)

    def file(self, ref: str) -> Path:
        return resolve_file(ref, self.study_path.parent)


class StageUnavailable(Exception):
    """A stage the study does not configure (no ``[map]`` section): recorded as
    ``unavailable`` with the reason, and skipped."""


def _adapt_import(ctx: StageContext) -> dict[str, Any]:
    """import: ``ptmcoder.corpus.store.import_corpus`` into ``corpora/<corpus>``."""
    from ptmcoder.corpus.store import corpus_path, import_corpus

    cfg = ctx.config.import_
    summary = import_corpus(
        [ctx.file(f) for f in cfg.files],
        corpus_name(ctx.config),
        fmt=cfg.format,
        mapping=cfg.mapping,
        platform=cfg.platform,
        replace=True,
    )
    data = summary.to_dict()
    data["corpus"] = corpus_name(ctx.config)
    data["units_sha256"] = sha256_file(corpus_path(corpus_name(ctx.config)))
    return _shareable(data)


def _adapt_sample(ctx: StageContext) -> dict[str, Any]:
    """sample: ``corpus.sampling.draw_sample`` (what ``ptmcoder corpus sample`` calls),
    saved as the sample ``study`` and as the corpus ``<corpus>-sample``; ``all`` keeps
    the corpus as it is."""
    from ptmcoder.corpus import sampling
    from ptmcoder.corpus.store import corpus_path, load_corpus

    cfg, name = ctx.config.sample, corpus_name(ctx.config)
    population = len(load_corpus(name))
    if cfg.design == SampleDesign.ALL:
        return {"design": "all", "population": population, "units": population, "corpus": name}
    drawn = sampling.draw_sample(
        name,
        str(cfg.design),
        sample_name="study",
        out_corpus=f"{name}-sample",
        replace=True,
        **cfg.model_dump(exclude={"design", "group_column", "project_column"}),
        group_column=cfg.group_column,
        project_column=cfg.project_column,
    )
    return {
        **jsonable(drawn.record),
        "design": str(cfg.design),
        "population": population,
        "units": len(drawn.units),
        "corpus": f"{name}-sample",
        "units_sha256": sha256_file(corpus_path(f"{name}-sample")),
    }


def _rater_settings(ctx: StageContext, rater: RaterConfig) -> dict[str, Any]:
    """What decides a rater's codes: the stage settings, the rater's own, the files read.
    Computed once per rater and sample in a session (the up-to-date check and the stage
    both ask)."""
    key = (rater.name, ctx.outputs.get(str(Stage.SAMPLE)))
    if key not in ctx.rater_settings:
        ctx.rater_settings[key] = _compute_rater_settings(ctx, rater)
    return ctx.rater_settings[key]


def _compute_rater_settings(ctx: StageContext, rater: RaterConfig) -> dict[str, Any]:
    from ptmcoder.codebook import codebook_hash, load_codebook
    from ptmcoder.llm.prompts import load_prompt
    from ptmcoder.manifest import DEFAULT_PROMPT

    cfg = ctx.config.annotate
    prompt = rater.prompt or cfg.prompt or DEFAULT_PROMPT
    settings = {
        "codebook": cfg.codebook,
        "codebook_hash": codebook_hash(load_codebook(cfg.codebook)),
        "level": cfg.level,
        "limit": cfg.limit,
        "prompt": prompt,
        "prompt_sha256": load_prompt(prompt).sha256,
        "batch": cfg.batch if rater.batch is None else rater.batch,
        "rater": rater.model_dump(mode="json", exclude={"concurrency", "rpm", "tpm", "base_url"}),
        "seed": rater.seed if rater.seed is not None else cfg.seed,
        "sample": ctx.outputs.get(str(Stage.SAMPLE)),
    }
    if rater.train:
        settings["train_sha256"] = sha256_file(ctx.file(rater.train))
    return settings


def _adapt_annotate_rater(
    ctx: StageContext,
    rater: RaterConfig,
    corpus: str,
    run_dir: Path,
    marker: dict[str, Any],
    fingerprint: str | None = None,
    train_corpus: str | None = None,
) -> dict[str, Any]:
    """annotate one rater: ``ptmcoder.annotate.runner.annotate`` (what ``ptmcoder
    annotate`` calls) on an annotation store created, or resumed, at ``run_dir``, on
    the units of corpus ``fingerprint`` only (a cascade's later tier: a corpus of the
    escalated units, with ``train_corpus`` the study's, where its human codes' texts are)."""
    from ptmcoder.annotate.runner import AnnotateOptions, annotate, prepare_run

    cfg = ctx.config.annotate
    own = rater.model_dump(exclude={"name", "annotator", "prompt", "train", "batch", "seed"})
    given = dict(
        own,
        codebook=cfg.codebook,
        corpus=corpus,
        annotators=[rater.annotator],
        level=cfg.level,
        limit=cfg.limit,
        prompt=rater.prompt or cfg.prompt,
        train=str(ctx.file(rater.train)) if rater.train else None,
        train_corpus=train_corpus if rater.train else None,
        seed=rater.seed if rater.seed is not None else cfg.seed,
        batch=cfg.batch if rater.batch is None else rater.batch,
        progress=ctx.progress,
    )
    # only what the study sets: a resumed store compares the options set with its own
    options = AnnotateOptions(**{k: v for k, v in given.items() if v is not None})
    if not (run_dir / "manifest.json").is_file():
        if run_dir.exists():
            shutil.rmtree(run_dir)  # killed before its manifest was written
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        prepare_run(options, str(run_dir))
        write_json(run_dir / "settings.json", marker)
    result = annotate(options, run_ref=str(run_dir), stderr=ctx.stderr, expect_corpus=fingerprint)
    return {"calls": result.written, "cache": dict(result.cache), "interrupted": result.interrupted}


def corpus_snapshot(ctx: StageContext, corpus: str) -> str:
    """The fingerprint (``annotate.runner.corpus_fingerprint``) of the units the annotate
    stage codes, taken once at its start: every rater must code these units. The
    corpus must still be the one the run's import (or sample) stage wrote; one replaced
    since (``corpus import --replace`` of its name) is refused."""
    from ptmcoder.annotate.runner import corpus_fingerprint
    from ptmcoder.corpus.store import corpus_path
    from ptmcoder.corpus.units import load_units

    upstream = [read_stage_output(ctx.run_dir, s) or {} for s in (Stage.SAMPLE, Stage.IMPORT)]
    recorded = next((o.get("units_sha256") for o in upstream if o.get("corpus") == corpus), None)
    units = load_units(corpus).to_dict("records")
    path = Path(corpus_path(corpus))
    if recorded is not None and (not path.is_file() or sha256_file(path) != recorded):
        raise ConfigError(
            f"the corpus {corpus!r} was replaced after run {ctx.run_dir.name} imported it ({path})",
            hint="every rater of a run codes the corpus its import stage wrote; run the "
            "study again (the import stage restores it), or import the other corpus under "
            "another name",
        )
    limit = ctx.config.annotate.limit
    return corpus_fingerprint(units[:limit] if limit is not None else units)


def stage_current(ctx: StageContext, stage: Stage) -> bool:
    """Whether what a recorded stage wrote outside its run directory is still there:
    the corpus of the import (and sample) stage, by its file hash. A corpus replaced
    since (``corpus import --replace`` of its name) makes the stage run again."""
    from ptmcoder.corpus.store import corpus_path

    if stage not in (Stage.IMPORT, Stage.SAMPLE):
        return True
    output = read_stage_output(ctx.run_dir, stage) or {}
    recorded, corpus = output.get("units_sha256"), output.get("corpus")
    if recorded is None or corpus is None:
        return True
    path = Path(corpus_path(corpus))
    return path.is_file() and sha256_file(path) == recorded


def _adapt_annotate(ctx: StageContext) -> dict[str, Any]:
    """annotate: one annotation run per rater in ``annotate/<rater>/``. A rater whose
    settings hash is unchanged keeps its run (0 calls); a changed one is coded afresh.
    Every rater codes the corpus as it was at the stage's start (:func:`corpus_snapshot`):
    a corpus replaced half-way is refused, never coded by some raters only."""
    sample = read_stage_output(ctx.run_dir, Stage.SAMPLE) or {}
    corpus = sample.get("corpus") or corpus_name(ctx.config)
    fingerprint = corpus_snapshot(ctx, corpus)
    names = [r.name for r in ctx.config.annotate.raters]
    if len(set(names)) != len(names):
        raise ConfigError("annotate.raters: two raters have the same name")
    out_dir = ctx.dir(Stage.ANNOTATE)
    for stale in out_dir.iterdir() if out_dir.is_dir() else []:
        if stale.is_dir() and stale.name not in names:
            shutil.rmtree(stale)  # a cascade's route/ folder too: written afresh below
    summaries: dict[str, dict[str, Any]] = {}

    def code(
        rater: RaterConfig, corpus_: str, fingerprint_: str, cascade: dict[str, Any] | None
    ) -> dict[str, Any]:
        settings = _rater_settings(ctx, rater)
        # a later tier's units are what the tier before escalated: other units, afresh
        marked = {**settings, "cascade": cascade} if cascade and cascade["tier"] else settings
        settings_hash = sha256_text(canonical_json(marked))
        run_dir = out_dir / rater.name
        marker = run_dir / "settings.json"
        if run_dir.exists() and ctx.redo:
            shutil.rmtree(run_dir)  # --force annotate / --from annotate: code afresh
        if run_dir.exists():
            old = json.loads(marker.read_text()) if marker.is_file() else {}
            if old.get("hash") != settings_hash:
                shutil.rmtree(run_dir)
        ctx.say(f"annotate: rater {rater.name} ({rater.annotator})")
        session = _adapt_annotate_rater(
            ctx, rater, corpus_, run_dir, {"hash": settings_hash, "settings": marked},
            fingerprint_, train_corpus=corpus if corpus_ != corpus else None,
        )  # fmt: skip
        summary = rater_usage(RaterSource(rater.name, Run(run_dir), rater.annotator))
        summary["calls_this_session"] = session.get("calls", 0)
        summary["settings"] = settings
        summary["settings_hash"] = settings_hash
        summaries[rater.name] = summary
        return session

    route = ctx.config.route
    tiers = route.tiers if route is not None else []
    for rater in ctx.config.annotate.raters:
        if rater.name not in tiers:
            code(rater, corpus, fingerprint, None)
    cascade_summary = None
    if route is not None:
        from ptmcoder.pipeline.cascade import calibration_file, run_cascade

        calibration = calibration_file(
            ctx.config, ctx.file, route_dir(out_dir) / "calibration_gold.csv"
        )
        cascade_summary = run_cascade(ctx.config, out_dir, corpus, fingerprint, calibration, code)
    raters = [summaries[r.name] for r in ctx.config.annotate.raters if r.name in summaries]
    out = {
        "codebook": ctx.config.annotate.codebook,
        "level": ctx.config.annotate.level or "leaf",
        "corpus": corpus,
        "corpus_fingerprint": fingerprint,
        "raters": raters,
        "calls": sum(r["calls_this_session"] for r in raters),
    }
    if cascade_summary is not None:
        out["route"] = {k: v for k, v in cascade_summary.items() if k != "accepted_units"}
    return out


def _adapt_agree(ctx: StageContext) -> dict[str, Any]:
    """agree: ``agreement.evaluate`` (what ``ptmcoder agree`` calls) on the run and the
    study's human codes and gold labels, both cut to the units the raters coded and
    written beside the result, as ``ptmcoder agree agree/humans.csv --run RUN --gold
    agree/gold.csv --view V`` would read them: ``pairs`` (every pair with its n and
    CI), ``vs-humans`` (the same-unit comparison), ``calibration`` and, per rater,
    ``per-code`` against the gold labels."""
    from ptmcoder.agreement.evaluate import AgreeOptions, evaluate

    cfg, out = ctx.config.agree, ctx.dir(Stage.AGREE)
    codings = rater_codings(ctx.run_dir)
    codings.to_csv(out / CODINGS, index=False)
    annotators = list(dict.fromkeys(codings["rater"].tolist()))
    units = set(codings["unit"].dropna())
    gold, humans = _agree_inputs(ctx, units)
    base: dict[str, Any] = dict(
        run=str(ctx.run_dir),
        n_boot=cfg.bootstrap,
        seed=cfg.seed,
        min_n=cfg.min_n,
        ratings=cfg.ratings,
    )
    base.update(gold=str(out / GOLD) if gold is not None else None)

    def view(name: str, **options: Any) -> Any:
        return evaluate(AgreeOptions(**base, view=name, **options)).views[name].data

    result: dict[str, Any] = {
        "view": "vs-humans",
        "view_note": "pairs: each on the units both raters coded; the same-unit view "
        "below compares annotators and humans on the units all three coded",
        "annotators": annotators,
        "units": len(units),
        "bootstrap": cfg.bootstrap,
        "seed": cfg.seed,
        "humans": humans or [],
        "pairs": [],
        "per_code": {},
    }
    if gold is not None:
        result["gold"] = {"file": cfg.gold, "units": int(gold["unit"].nunique())}
    if humans:
        table = [str(out / "humans.csv")]
        result["pairs"] = jsonable(view("pairs", inputs=table, annotators=annotators))
        result["same_unit"] = jsonable(view("vs-humans", inputs=table, annotators=annotators))
    if gold is not None:
        has_confidence = codings_have_confidence(ctx.run_dir)
        result["calibration"] = jsonable(view("calibration")) if has_confidence else {}
        for name in annotators:
            per_code = view("per-code", annotators=[name], humans=["gold"])
            result["per_code"][name] = jsonable(per_code["codes"])
    return result


def _agree_inputs(ctx: StageContext, units: set[str]) -> tuple[pd.DataFrame | None, list[str]]:
    """Write the study's gold labels (``gold_rater``'s codes of a long table, else a
    ``unit, code`` table) and human codes, each cut to ``units``, into the agree
    stage's directory; returns the gold table and the humans' names."""
    from ptmcoder.agreement.io import read_gold, read_long_table

    cfg, out = ctx.config.agree, ctx.dir(Stage.AGREE)
    gold = None
    if cfg.gold:
        if cfg.gold_rater:
            raw = read_long_table(ctx.file(cfg.gold))
            gold = raw[raw["rater"] == cfg.gold_rater][["unit", "code"]].assign(rater="gold")
        else:
            gold = read_gold(ctx.file(cfg.gold))
        gold = gold[gold["unit"].isin(units)][["unit", "rater", "code"]]
        gold.to_csv(out / GOLD, index=False)
    humans: list[str] = []
    if cfg.humans:
        table = read_long_table(ctx.file(cfg.humans))
        table = table[table["unit"].isin(units)][["unit", "rater", "code"]]
        table.to_csv(out / "humans.csv", index=False)
        humans = sorted(table["rater"].dropna().unique())
    return gold, humans


def codings_have_confidence(run_dir: Path) -> bool:
    """Whether any rater of the run gave a confidence (the calibration view needs one)."""
    from ptmcoder.agreement.calibration import read_confidences

    return any(
        read_confidences(r.store.path)["confidence"].notna().any() for r in Run(run_dir).raters()
    )


def _adapt_review(ctx: StageContext) -> dict[str, Any]:
    """review build: ``ptmcoder.review.build_queue`` on the study run (what ``ptmcoder
    review build RUN`` calls: every rater's records under its name), then its status."""
    import ptmcoder.review as review

    cfg, agree = ctx.config.review, ctx.config.agree
    options = review.BuildOptions(
        gold=str(ctx.file(agree.gold)) if agree.gold else None,
        humans=str(ctx.file(agree.humans)) if agree.humans else None,
        seed=cfg.seed,
        audit_size=cfg.audit_size,
        agreement_below=cfg.agreement_below,
        confidence_below=cfg.confidence_below,
        route=str(routed) if (routed := cascade_file(ctx.run_dir)) else None,
    )
    built = review.build_queue(str(ctx.run_dir), options)
    with review.open_queue(str(ctx.run_dir)) as queue:
        status = jsonable(review.status(queue).to_json())
    audit = route_audit(ctx.run_dir) if routed else None
    if audit is not None:  # the report's Routing section reads it beside the audit
        from ptmcoder.report.sections import routing_audit

        audit = routing_audit(audit)
        status.setdefault("audit", {})["routing"] = audit
    return _shareable(
        {
            "raters": [r.name for r in Run(ctx.run_dir).raters()],
            "build": jsonable(built.to_json()),
            "status": status,
            **({"routing_audit": audit} if audit is not None else {}),
        }
    )


def _adapt_map(ctx: StageContext) -> dict[str, Any]:
    """map: ``crosswalk.translate_file`` (what ``ptmcoder map translate`` calls) on the
    configured codings; codes given by name are matched by id, name or alias
    (``--aliases``), and a label that matches no code is counted untranslated."""
    from ptmcoder.crosswalk import translate_file

    cfg = ctx.config.map
    if cfg is None or not cfg.enabled:
        raise StageUnavailable("not configured (no [map] section)")
    result = translate_file(
        ctx.file(cfg.input),
        cfg.source,
        cfg.target,
        relations=tuple(cfg.relations),
        level=cfg.level,
        include_suggestions=cfg.include_suggestions,
        code_column=cfg.code_column,
        aliases=cfg.match == "name",
        rater=cfg.rater,
    )
    out = ctx.dir(Stage.MAP)
    assert result.codings is not None
    result.codings[["unit", "rater", "code"]].to_csv(out / "input.csv", index=False)
    translated = result.table.rename(columns={"unit_id": "unit"})  # as map translate -o
    translated.to_csv(out / "translated.csv", index=False)
    return {"source": cfg.source, "target": cfg.target, **jsonable(result.to_dict())}


def _distribution(book: Any, codes: dict[str, list[str]], source: str) -> dict[str, Any]:
    """``stats.distribution`` of unit -> codes in ``book`` (a Codebook, or its id)."""
    from ptmcoder.codebook import load_codebook
    from ptmcoder.stats.distribution import CodedUnits, distribution

    if isinstance(book, str):
        book = load_codebook(book)
    result = distribution(book, CodedUnits(codes=codes, source=source))
    return jsonable(result.to_dict())


def _adapt_stats(ctx: StageContext) -> dict[str, Any]:
    """stats: the code distribution (``stats.distribution``) of each rater and the gold
    labels, the distribution in each taxonomy after mapping, and a test of every two
    raters' code distributions (``stats.shift.distribution_shift``): on the units both
    coded, Stuart-Maxwell (with Bhapkar) and McNemar per code with effect sizes; the
    chi-square test of homogeneity only for raters of different units."""
    from ptmcoder.codebook import load_codebook
    from ptmcoder.stats.shift import distribution_shift

    cfg = ctx.config.stats
    book = ctx.config.annotate.codebook
    loaded = load_codebook(book)  # once, for every rater's distribution
    codings = read_codings(ctx.run_dir)
    gold = read_reference(ctx.run_dir)
    result: dict[str, Any] = {"codebook": book, "distributions": {}, "taxonomies": {}}
    per_rater: dict[str, dict[str, list[str]]] = {}
    for rater, part in codings.groupby("rater", sort=False):
        per_rater[str(rater)] = codes_by_unit(part)
    if gold is not None:
        per_rater["gold"] = codes_by_unit(gold)
    for rater, codes in per_rater.items():
        result["distributions"][rater] = _distribution(loaded, codes, f"rater {rater}")
    names = list(per_rater)
    if len(names) >= 2:
        result["tests"] = [
            {
                "rater_a": a,
                "rater_b": b,
                **distribution_shift(
                    per_rater[a], per_rater[b], n_boot=cfg.bootstrap, seed=cfg.seed
                ),
            }
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        ]
    if ctx.config.gold is not None:
        result["findings"] = _findings(ctx, codings, loaded)
    result.update(_corpus_analyses(ctx))
    if "resolution" in cfg.analyses:
        result["resolution"] = _resolution_analysis(ctx, loaded, per_rater)
    mapping = read_stage_output(ctx.run_dir, Stage.MAP)
    source, target = read_map_tables(ctx.run_dir)
    if ctx.config.map is not None and source is not None:
        result["taxonomies"][ctx.config.map.source] = {
            "role": "source",
            **_distribution(ctx.config.map.source, codes_by_unit(source), "map input"),
        }
        if mapping is not None and target is not None:
            dist = _distribution(ctx.config.map.target, codes_by_unit(target), "map translated")
            n_in = mapping["n_input"]
            dist["untranslated_share"] = (1 - mapping["n_translated"] / n_in) if n_in else None
            result["taxonomies"][ctx.config.map.target] = {"role": "target", **dist}
    return result


def _corpus_analyses(ctx: StageContext) -> dict[str, Any]:
    """Tan et al.'s popularity (RQ1) and difficulty (RQ2) over the imported corpus, as
    ``ptmcoder stats popularity`` / ``stats difficulty`` compute and draw them."""
    from ptmcoder.corpus.store import corpus_path
    from ptmcoder.stats.difficulty import difficulty
    from ptmcoder.stats.engine import ptm_rule
    from ptmcoder.stats.popularity import popularity

    cfg = ctx.config.stats
    path = Path(corpus_path(corpus_name(ctx.config)))
    rule = ptm_rule(cfg.ptm_tags)
    out: dict[str, Any] = {}
    for name, analysis in (("popularity", popularity), ("difficulty", difficulty)):
        if name in cfg.analyses:
            result = analysis(path, rule=rule, since=cfg.since)
            result.draw_figures(ctx.dir(Stage.STATS))
            result.figures = [Path(f).name for f in result.figures]
            out[name] = jsonable(result.to_dict())
    return out


def _resolution_analysis(
    ctx: StageContext, book: Any, per_rater: dict[str, dict[str, list[str]]]
) -> dict[str, Any]:
    """Banyongrakkul et al.'s RQ2 as ``stats resolution`` computes it
    (:func:`ptmcoder.stats.resolution.resolution`): resolution days of the closed PTM-related
    issues against the others (balanced sample, one-sided Mann-Whitney U with Cliff's
    delta), and across the themes of the coded issues (Kruskal-Wallis), the themes taken
    from the gold labels when there are some, else from the first rater. Box plots go
    next to ``stats.json``."""
    from ptmcoder.corpus.store import corpus_path
    from ptmcoder.stats.resolution import load_issues, resolution, theme_table

    cfg = ctx.config.stats
    sample = ctx.config.sample
    column = cfg.ptm_column or (sample.group_column if cfg.ptm_labels is None else None)
    path = Path(corpus_path(corpus_name(ctx.config)))
    df, type_col = load_issues(
        path, ptm_labels=cfg.ptm_labels, ptm_column=column, issue_types=cfg.issue_types
    )
    source = "gold" if "gold" in per_rater else next(iter(per_rater), None)
    themes = None
    if source is not None:
        long = pd.DataFrame(
            [(u, c) for u, cs in per_rater[source].items() for c in cs], columns=["unit", "code"]
        )
        themes = theme_table(long, book)
    result = resolution(df, source=str(path), themes=themes, issue_type_col=type_col, seed=cfg.seed)
    result.draw_figures(ctx.dir(Stage.STATS))
    out = result.to_dict()
    out["figures"] = [Path(f).name for f in result.figures]
    return jsonable({"themes_from": source, "ptm": column or cfg.ptm_labels, **out})


def _findings(ctx: StageContext, codings: pd.DataFrame, book: Any) -> dict[str, Any]:
    """Each code's share of the coded units, per rater: the annotator alone (naive), the
    humans of ``[gold]`` alone (classical) and both (PPI++), as ``ptmcoder stats
    prevalence RUN --gold FILE`` computes it (:func:`ptmcoder.inference.prevalence`).
    With ``sample = N`` the gold file's units are the population and N of them are
    drawn (each with probability N / their number); the shares of the whole file are
    kept beside as ``census`` (what a study that coded every unit would know)."""
    import numpy as np

    from ptmcoder.agreement.io import read_gold
    from ptmcoder.corpus.sampling import gold_sample
    from ptmcoder.inference.prevalence import prevalence
    from ptmcoder.tables import read_long_table

    cfg = ctx.config.gold
    assert cfg is not None
    gold = read_gold(ctx.file(cfg.file))[["unit", "code"]].dropna().astype(str)
    gold["code"] = [book.resolve_label(str(c)) or str(c) for c in gold["code"]]
    design = None
    note = None
    census: dict[str, float] = {}
    if cfg.design:
        design = read_long_table(
            ctx.file(cfg.design),
            required=("unit", "inclusion_probability"),
            hint="the design is the CSV `ptmcoder sample gold` writes",
        )
    ann = codings[["unit", "rater", "code"]]
    if cfg.sample is not None:
        units = sorted(set(gold["unit"]) & set(ann["unit"]))
        # the design `ptmcoder sample gold` draws with: uniform, each unit's probability
        drawn = gold_sample(pd.DataFrame({"id": units}), cfg.sample, seed=cfg.seed).units
        n = len(drawn)
        per_unit = gold.groupby("unit")["code"].apply(set)
        for code in sorted({c for cs in per_unit for c in cs}):
            census[code] = float(np.mean([code in per_unit[u] for u in units]))
        ann = ann[ann["unit"].isin(units)]
        gold = gold.merge(
            drawn.rename(columns={"id": "unit"})[["unit", "inclusion_probability"]], on="unit"
        )
        note = (
            f"human sample: {n} of the {len(units)} coded units with a code in {cfg.file}, "
            f"drawn uniformly at random (seed {cfg.seed}), probability {n}/{len(units)} "
            "each; census: the shares over all of them"
        )
    raters = cfg.raters or list(dict.fromkeys(ann["rater"].astype(str)))
    out: dict[str, Any] = {"gold": cfg.file, "note": note, "census": census, "raters": {}}
    for rater in raters:
        result = prevalence(
            ann[ann["rater"] == rater],
            gold,
            rater=rater,
            design=design,
            assume_random=cfg.assume_random,
            sources=("annotations", cfg.file, cfg.design or "design"),
        )
        out["raters"][rater] = result.to_json()
    return jsonable(out)


def _adapt_report(ctx: StageContext) -> dict[str, Any]:
    from ptmcoder.report import write_report

    paths = write_report(ctx.run_dir, out_dir=ctx.dir(Stage.REPORT))
    return _shareable({"files": {k: str(v) for k, v in paths.items()}})


def _shareable(data: Any) -> Any:
    """``data`` with every absolute path inside the workspace written relative to it
    (``runs/<id>/report/report.md``, ``reviews/<id>.sqlite``): a stage output is shared
    with a run, and the machine's folders are no part of it."""
    from ptmcoder.paths import workspace

    root = str(workspace().resolve()).rstrip("/") + "/"
    if isinstance(data, dict):
        return {k: _shareable(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_shareable(v) for v in data]
    if isinstance(data, str) and data.startswith(root):
        return data[len(root) :]
    return data


ADAPTERS: dict[Stage, Callable[[StageContext], dict[str, Any]]] = {
    Stage.IMPORT: _adapt_import,
    Stage.SAMPLE: _adapt_sample,
    Stage.ANNOTATE: _adapt_annotate,
    Stage.AGREE: _adapt_agree,
    Stage.REVIEW: _adapt_review,
    Stage.MAP: _adapt_map,
    Stage.STATS: _adapt_stats,
    Stage.REPORT: _adapt_report,
}

#: the upstream stages whose outputs each stage reads
UPSTREAM: dict[Stage, tuple[Stage, ...]] = {
    Stage.IMPORT: (),
    Stage.SAMPLE: (Stage.IMPORT,),
    Stage.ANNOTATE: (Stage.SAMPLE,),
    Stage.AGREE: (Stage.ANNOTATE,),
    Stage.REVIEW: (Stage.AGREE,),
    Stage.MAP: (),
    Stage.STATS: (Stage.IMPORT, Stage.AGREE, Stage.MAP),
    Stage.REPORT: tuple(s for s in STAGES if s is not Stage.REPORT),
}


#: the files (config keys) each stage reads besides upstream outputs
def _stage_files(config: StudyConfig, stage: Stage) -> list[str]:
    if stage is Stage.IMPORT:
        return list(config.import_.files)
    if stage is Stage.ANNOTATE:
        trained = [r.train for r in config.annotate.raters if r.train]
        calibration = config.calibration_gold()["file"] if config.route is not None else None
        return trained + ([calibration] if calibration else [])
    if stage in (Stage.AGREE, Stage.REVIEW):
        return [f for f in (config.agree.humans, config.agree.gold) if f]
    if stage is Stage.MAP and config.map is not None:
        return [config.map.input]
    if stage is Stage.STATS and config.gold is not None:
        return [f for f in (config.gold.file, config.gold.design) if f]
    return []


def _extra_inputs(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    """Inputs a stage depends on that are neither files nor upstream outputs."""
    from ptmcoder.codebook import codebook_hash, load_codebook

    extra: dict[str, Any] = {}
    if stage is Stage.ANNOTATE:
        extra["raters"] = [_rater_settings(ctx, r) for r in ctx.config.annotate.raters]
    if stage is Stage.AGREE:
        extra["annotate"] = ctx.config.section(Stage.ANNOTATE)["raters"]
    if stage is Stage.REVIEW:
        extra["agree"] = ctx.config.section(Stage.AGREE)
        if ctx.config.route is not None:  # the queue is built from the cascade's routing
            extra["annotate"] = ctx.outputs.get(str(Stage.ANNOTATE))
    if stage is Stage.MAP:
        if ctx.config.map is not None:
            extra["codebooks"] = [
                codebook_hash(load_codebook(ctx.config.map.source)),
                codebook_hash(load_codebook(ctx.config.map.target)),
            ]
    if stage is Stage.STATS:
        extra["codebook"] = codebook_hash(load_codebook(ctx.config.annotate.codebook))
        extra["map"] = ctx.config.section(Stage.MAP)
    if stage is Stage.REPORT:
        extra["config"] = ctx.config.model_dump(mode="json", by_alias=True)
    return extra


def stage_inputs(ctx: StageContext, stage: Stage) -> dict[str, Any]:
    return {
        "pipeline_version": PIPELINE_VERSION,
        "ptmcoder_version": __version__,
        "stage": str(stage),
        "settings": ctx.config.section(stage),
        "upstream": {str(s): ctx.outputs.get(str(s)) for s in UPSTREAM[stage]},
        "files": {ref: sha256_file(ctx.file(ref)) for ref in _stage_files(ctx.config, stage)},
        "extra": _extra_inputs(ctx, stage),
    }
