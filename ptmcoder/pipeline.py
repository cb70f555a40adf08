"""One study config -> stages -> up-to-date checks.

A study is one TOML file (``studies/*.toml``) read with :mod:`tomllib` into
:class:`StudyConfig` (pydantic, ``extra="forbid"``: an unknown key is refused with
the file, the key and the nearest known key). :func:`run_study` runs the stages in
order, data flowing one way::

    import -> sample -> annotate -> agree -> review -> map -> stats -> report

Each stage writes ``runs/<id>/<stage>/`` and, last, its stage record
``runs/<id>/<stage>/stage.json``: the content hash of its inputs and settings (the
upstream stages' output hashes, the hashes of the files it reads, its config
section), its outputs and their hash. A stage whose input hash equals the recorded
one is skipped; ``--from STAGE`` redoes that stage and every later one, ``--force
STAGE`` redoes that stage (later stages rerun only if its output changed).

Kill safety: before a stage runs, its old record is removed; the new one is written
(atomically, fsync-ed) only after every output is. A stage killed half-way has no
record and runs again. The run's ``manifest.json`` records every stage session as
it starts and as it ends (atomic replace + fsync), so a killed session is visible as
one that started and never ended.

The stages call the other modules through one small adapter function each
(``_adapt_*`` below), so that a module's entry point can be re-pointed in one place.
Stages whose module is not installed on this branch (review, crosswalk) are recorded
as ``unavailable`` ("stage not available (module missing)") and skipped.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import os
import shutil
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from ptmcoder import __version__
from ptmcoder.errors import ConfigError, NotFoundError, Problem, PtmcoderError, ValidationError
from ptmcoder.paths import bundled_dir, runs_dir, samples_dir

#: bump when a stage's outputs change shape, so every stage reruns once
PIPELINE_VERSION = 1
STAGE_RECORD = "stage.json"
MANIFEST = "manifest.json"
LOCK = "pipeline.lock"


class Stage(StrEnum):
    IMPORT = "import"
    SAMPLE = "sample"
    ANNOTATE = "annotate"
    AGREE = "agree"
    REVIEW = "review"
    MAP = "map"
    STATS = "stats"
    REPORT = "report"


STAGES: tuple[Stage, ...] = tuple(Stage)


# -- the study config -----------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StudyMeta(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    title: str = ""
    description: str = ""


class ImportConfig(_Model):
    files: list[str] = Field(min_length=1)
    corpus: str | None = None
    format: str | None = None
    platform: str | None = None
    mapping: dict[str, str] | None = None


class SampleDesign(StrEnum):
    ALL = "all"
    RANDOM = "random"
    COCHRAN = "cochran"
    TAN = "tan"
    BANYONGRAKKUL = "banyongrakkul"


class SampleConfig(_Model):
    design: SampleDesign = SampleDesign.ALL
    size: int | None = Field(default=None, ge=1)
    seed: int = 0
    confidence: float = 0.95
    margin: float = 0.05
    score_min: int = 1
    high_score: int = 9
    group_column: str = "ptm"
    project_column: str = "project"


class RaterConfig(_Model):
    """One annotator setting; it becomes one rater named ``name``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    annotator: str
    prompt: str | None = None
    train: str | None = None
    train_raters: list[str] = Field(default_factory=list)
    shots: int = 0
    seed: int | None = None
    samples: int = 1
    temperature: float | None = None
    embedded_temperature: float = 0.05
    multi_threshold: float = 0.5
    folds: int = 5
    #: embedded annotator with ``train``: seconds it may spend embedding with MiniLM
    learn_budget: float | None = None
    #: LLM annotators: output mode and the cap on one answer's tokens
    structured: Literal["auto", "json_schema", "json_object", "tools", "none"] = "auto"
    max_output_tokens: int = Field(default=1024, ge=1)
    batch: bool | None = None
    base_url: str | None = None
    #: requests in flight (default: 8, or 1 for an endpoint on this machine)
    concurrency: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    cache: bool = True


class AnnotateConfig(_Model):
    codebook: str
    level: str | None = None
    limit: int | None = Field(default=None, ge=1)
    prompt: str | None = None
    seed: int = 13
    batch: bool = False
    raters: list[RaterConfig] = Field(min_length=1)


class AgreeConfig(_Model):
    humans: str | None = None
    gold: str | None = None
    gold_rater: str | None = None
    bootstrap: int = Field(default=1000, ge=0)
    seed: int = 13
    #: same-unit view: triads with fewer common units are shown, left out of the means
    min_n: int = Field(default=20, ge=1)


class ReviewConfig(_Model):
    enabled: bool = True
    audit_size: int = Field(default=30, ge=0)
    seed: int = 0
    #: queue the units of codes whose kappa is below this (ptmcoder review build)
    agreement_below: float = 0.4
    #: queue the codes given with a confidence below this
    confidence_below: float = Field(default=0.5, ge=0.0, le=1.0)


class MapConfig(_Model):
    enabled: bool = True
    input: str
    rater: str | None = None
    code_column: str = "code"
    match: Literal["id", "name"] = "id"
    source: str
    target: str
    relations: list[str] = Field(default_factory=lambda: ["exact", "close", "narrow"])
    level: str | None = None
    #: count unreviewed suggestion rows and contested pairs too (default: only what a
    #: paper states and what a person reviewed)
    include_suggestions: bool = False


class StatsConfig(_Model):
    #: distribution: the codes of each rater and taxonomy; popularity and difficulty:
    #: Tan et al.'s RQ1/RQ2 over the whole imported corpus (PTM-tagged questions
    #: against the rest as baseline)
    #: resolution: Banyongrakkul et al.'s RQ2 over the imported issues (resolution time of
    #: PTM-related against other issues, and across the themes of the coded ones)
    analyses: list[Literal["distribution", "popularity", "difficulty", "resolution"]] = Field(
        default_factory=lambda: ["distribution"]
    )
    #: resolution: the boolean column marking PTM-related issues (default: [sample]
    #: group_column), or the GitHub labels that do (exactly one of the two)
    ptm_column: str | None = None
    ptm_labels: list[str] | None = None
    #: resolution: a corpus column with the issue type, for the independence test
    issue_types: str | None = None
    #: the tags that make a question PTM-related (default: Tan et al.'s 18, Table I)
    ptm_tags: list[str] | None = None
    #: popularity and difficulty: questions created on or after this date only
    since: str | None = None
    bootstrap: int = Field(default=1000, ge=0)
    seed: int = 13


class ReportConfig(_Model):
    title: str | None = None


class StudyConfig(_Model):
    study: StudyMeta
    import_: ImportConfig = Field(alias="import")
    sample: SampleConfig = Field(default_factory=SampleConfig)
    annotate: AnnotateConfig
    agree: AgreeConfig = Field(default_factory=AgreeConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    map: MapConfig | None = None
    stats: StatsConfig = Field(default_factory=StatsConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

    def section(self, stage: Stage) -> dict[str, Any]:
        value = {
            Stage.IMPORT: self.import_,
            Stage.SAMPLE: self.sample,
            Stage.ANNOTATE: self.annotate,
            Stage.AGREE: self.agree,
            Stage.REVIEW: self.review,
            Stage.MAP: self.map,
            Stage.STATS: self.stats,
            Stage.REPORT: self.report,
        }[stage]
        return value.model_dump(mode="json") if value is not None else {}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the key at ``loc`` (for suggestions)."""
    model: Any = StudyConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        f = fields.get(part)
        if f is None:
            return None
        annotation = f.annotation
        for candidate in getattr(annotation, "__args__", ()) or (annotation,):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
        else:
            return None
    return model


def _known_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _problems(exc: PydanticValidationError, file: str) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc)
        where = where.replace(".[", "[")
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            known = _known_keys(model) if model else []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            message = f"unknown key {loc[-1]!r}"
            message += f"; did you mean {close[0]!r}?" if close else ""
            if known:
                message += f" (known: {', '.join(known)})"
        problems.append(Problem(file, f"key {where}", message))
    return problems


def find_study(ref: str | Path) -> Path:
    """A study file: a path, or the name of a bundled study (``demo``, ``studies/demo.toml``)."""
    path = Path(ref)
    if path.is_file():
        return path
    name = path.name if path.suffix == ".toml" else f"{path.name}.toml"
    bundled = bundled_dir("studies") / name
    if bundled.is_file():
        return bundled
    known = sorted(p.stem for p in bundled_dir("studies").glob("*.toml"))
    raise NotFoundError(f"no study file {ref}", hint=f"bundled studies: {', '.join(known)}")


def load_study(ref: str | Path) -> tuple[StudyConfig, Path]:
    """Read and validate a study file; every problem names the file and the key."""
    path = find_study(ref)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError([Problem(str(path), "", f"invalid TOML: {exc}")]) from None
    try:
        return StudyConfig.model_validate(data), path.resolve()
    except PydanticValidationError as exc:
        raise ValidationError(
            _problems(exc, str(path)), hint="see studies/*.toml for commented examples"
        ) from None


def resolve_file(ref: str, base: Path) -> Path:
    """``samples:NAME`` is a bundled sample file; a relative path is relative to the study."""
    if ref.startswith("samples:"):
        path = samples_dir() / ref.split(":", 1)[1]
    else:
        path = Path(ref).expanduser()
        if not path.is_absolute():
            path = base / path
    if not path.is_file():
        raise NotFoundError(f"no such file: {ref} ({path})")
    return path


# -- durable files and hashes -----------------------------------------------------------


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def hash_paths(paths: list[Path], root: Path) -> str:
    """One hash over files (their path relative to ``root`` and content)."""
    parts = {str(p.relative_to(root)): sha256_file(p) for p in sorted(paths)}
    return sha256_text(canonical(parts))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically and durably (temporary file, fsync, rename, fsync the directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, default=_json_default)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        obj = obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, set | frozenset | tuple):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def _clean(obj: Any) -> Any:
    """NaN -> None, numpy scalars -> Python, recursively (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def utcnow() -> str:
    from ptmcoder.runs import utcnow as now

    return now()


# -- the run directory and its one reader per artifact -----------------------------------


def read_manifest(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(run_dir) / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"{run_dir} has no {MANIFEST}", hint="is it a pipeline run?") from None


def read_stage_record(run_dir: Path, stage: Stage | str) -> dict[str, Any] | None:
    """The stage record, or None when the stage never finished."""
    path = Path(run_dir) / str(stage) / STAGE_RECORD
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_stage_output(run_dir: Path, stage: Stage | str) -> dict[str, Any] | None:
    """A stage's main output (``<stage>/<stage>.json``), or None when it has none."""
    path = Path(run_dir) / str(stage) / f"{stage}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_codings(run_dir: Path) -> pd.DataFrame:
    """The annotators' codes of a pipeline run, long: ``unit, rater, code`` (agree stage)."""
    path = Path(run_dir) / "agree" / "codings.csv"
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist", hint="run the agree stage first")
    return pd.read_csv(path, dtype="string", keep_default_na=False).replace({"": pd.NA})


def read_reference(run_dir: Path) -> pd.DataFrame | None:
    """The gold labels the agree stage used (``unit, rater, code``), or None."""
    path = Path(run_dir) / "agree" / "gold.csv"
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype="string", keep_default_na=False).replace({"": pd.NA})


def is_pipeline_run(path: Path) -> bool:
    """Whether ``path`` is a pipeline run directory (runs/ also holds annotation runs
    and, in a checkout, files such as README.md)."""
    if not Path(path).is_dir():
        return False
    try:
        return read_manifest(path).get("kind") == "pipeline"
    except (NotFoundError, json.JSONDecodeError, OSError):
        return False


def resolve_pipeline_run(ref: str | Path) -> Path:
    """A pipeline run by path, id, or ``latest``."""
    path = Path(ref)
    if (path / MANIFEST).is_file() and is_pipeline_run(path):
        return path
    root = runs_dir()
    runs = sorted(p for p in root.glob("*") if is_pipeline_run(p)) if root.is_dir() else []
    if str(ref) == "latest" and runs:
        return runs[-1]
    matches = [p for p in runs if p.name == str(ref)] or [
        p for p in runs if p.name.startswith(str(ref))
    ]
    if len(matches) == 1:
        return matches[0]
    raise NotFoundError(
        f"no pipeline run {ref!r} in {root}", hint="`ptmcoder run STUDY.toml` creates one"
    )


# -- the stage context and the adapters -------------------------------------------------


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
    """A stage's module is not installed on this branch."""


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def corpus_name(config: StudyConfig) -> str:
    return config.import_.corpus or f"study-{config.study.id}"


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
    return data


def _adapt_sample(ctx: StageContext) -> dict[str, Any]:
    """sample: the designs of ``ptmcoder.corpus.sampling``; ``all`` keeps the corpus."""
    from ptmcoder.corpus import sampling
    from ptmcoder.corpus.store import corpus_path, load_corpus, save_corpus

    cfg = ctx.config.sample
    name = corpus_name(ctx.config)
    df = load_corpus(name)
    population = len(df)
    if cfg.design == SampleDesign.ALL:
        return {"design": "all", "population": population, "units": population, "corpus": name}
    if cfg.design in (SampleDesign.RANDOM, SampleDesign.COCHRAN):
        n = cfg.size
        if cfg.design == SampleDesign.COCHRAN:
            n = sampling.cochran_sample_size(population, cfg.confidence, cfg.margin)
        if n is None:
            raise ConfigError("sample.size is needed for design 'random'")
        ordered = df.sort_values("id", kind="stable").reset_index(drop=True)
        picked = ordered.sample(n=min(n, population), random_state=cfg.seed)
        record = {"design": str(cfg.design), "seed": cfg.seed, "size": int(n)}
    elif cfg.design == SampleDesign.TAN:
        result = sampling.tan_sample(
            df,
            confidence=cfg.confidence,
            margin=cfg.margin,
            score_min=cfg.score_min,
            high_score=cfg.high_score,
            seed=cfg.seed,
        )
        picked, record = result.units, result.record
    else:
        result = sampling.balanced_stratified_sample(
            df, group_col=cfg.group_column, project_col=cfg.project_column, seed=cfg.seed
        )
        picked, record = result.units, result.record
    target = f"{name}-sample"
    save_corpus(picked, target, record, replace=True)
    return {
        **_clean(record),
        "design": str(cfg.design),
        "population": population,
        "units": len(picked),
        "corpus": target,
        "units_sha256": sha256_file(corpus_path(target)),
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
    from ptmcoder.annotate.prompt import DEFAULT_PROMPT, load_prompt
    from ptmcoder.codebook import codebook_hash, load_codebook

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
    ctx: StageContext, rater: RaterConfig, corpus: str, run_dir: Path, marker: dict[str, Any]
) -> dict[str, Any]:
    """annotate one rater: ``ptmcoder.annotate.runner.annotate`` on a run created (or
    resumed) at ``run_dir``; returns the annotator's summary for the report."""
    from ptmcoder.annotate.runner import AnnotateOptions, _config_snapshot, annotate
    from ptmcoder.codebook import load_codebook
    from ptmcoder.runs import create_run

    cfg = ctx.config.annotate
    settings = dict(
        codebook=cfg.codebook,
        corpus=corpus,
        annotators=[rater.annotator],
        level=cfg.level,
        limit=cfg.limit,
        samples=rater.samples,
        temperature=rater.temperature,
        train=str(ctx.file(rater.train)) if rater.train else None,
        train_raters=list(rater.train_raters),
        shots=rater.shots,
        seed=rater.seed if rater.seed is not None else cfg.seed,
        embedded_temperature=rater.embedded_temperature,
        multi_threshold=rater.multi_threshold,
        folds=rater.folds,
        learn_budget=rater.learn_budget,
        structured=rater.structured,
        max_output_tokens=rater.max_output_tokens,
        batch=cfg.batch if rater.batch is None else rater.batch,
        base_url=rater.base_url,
        concurrency=rater.concurrency,
        rpm=rater.rpm,
        tpm=rater.tpm,
        cache=rater.cache,
        progress=ctx.progress,
    )
    # only what the study sets: a resumed run compares the options set with its own
    options = AnnotateOptions(**{k: v for k, v in settings.items() if v is not None})
    if rater.prompt or cfg.prompt:
        options.prompt = rater.prompt or cfg.prompt  # type: ignore[assignment]
    if not (run_dir / "manifest.json").is_file():
        if run_dir.exists():
            shutil.rmtree(run_dir)  # killed before its manifest was written
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        book = load_codebook(cfg.codebook)
        create_run(_config_snapshot(options, book), run_id=run_dir.name, root=run_dir.parent)
        write_json(run_dir / "settings.json", marker)
    result = annotate(options, run_ref=str(run_dir), stderr=ctx.stderr)
    return {"calls": result.written, "cache": dict(result.cache), "interrupted": result.interrupted}


def _annotator_summary(name: str, run_dir: Path, session: dict[str, Any]) -> dict[str, Any]:
    from ptmcoder.runs import Run

    run = Run(run_dir)
    manifest = run.manifest()
    records = run.records()
    meta = (manifest.annotators or [{}])[0]
    latencies = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    tokens_in = sum(r.get("input_tokens") or 0 for r in records)
    tokens_out = sum(r.get("output_tokens") or 0 for r in records)
    costs = [r["cost_usd"] for r in records if r.get("cost_usd") is not None]
    cache = manifest.cache
    return {
        "rater": name,
        "annotator": manifest.config.annotators[0],
        "model": meta.get("model") or next((r.get("model") for r in records), None),
        "prompt": manifest.prompt.id if manifest.prompt else None,
        "prompt_version": next((r.get("prompt_version") for r in records), None),
        "few_shot": bool(manifest.config.train),
        "records": len(records),
        "errors": sum(1 for r in records if r.get("error_type")),
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cost_usd": round(sum(costs), 6) if costs else None,
        "latency_mean_s": round(sum(latencies) / len(latencies), 4) if latencies else None,
        "cache_hits": cache.hits,
        "cache_misses": cache.misses,
        "cached_records": sum(1 for r in records if r.get("cached")),
        "seconds": round(sum(s.seconds or 0 for s in manifest.sessions), 3),
        "calls_this_session": session.get("calls", 0),
        "run_dir": str(run_dir),
        "run_manifest_sha256": sha256_file(run.manifest_path),
    }


def _adapt_annotate(ctx: StageContext) -> dict[str, Any]:
    """annotate: one annotation run per rater in ``annotate/<rater>/``. A rater whose
    settings hash is unchanged keeps its run (0 calls); a changed one is coded afresh."""
    sample = read_stage_output(ctx.run_dir, Stage.SAMPLE) or {}
    corpus = sample.get("corpus") or corpus_name(ctx.config)
    names = [r.name for r in ctx.config.annotate.raters]
    if len(set(names)) != len(names):
        raise ConfigError("annotate.raters: two raters have the same name")
    out_dir = ctx.dir(Stage.ANNOTATE)
    for stale in out_dir.iterdir() if out_dir.is_dir() else []:
        if stale.is_dir() and stale.name not in names:
            shutil.rmtree(stale)
    raters = []
    for rater in ctx.config.annotate.raters:
        settings = _rater_settings(ctx, rater)
        settings_hash = sha256_text(canonical(settings))
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
            ctx, rater, corpus, run_dir, {"hash": settings_hash, "settings": settings}
        )
        summary = _annotator_summary(rater.name, run_dir, session)
        summary["settings"] = settings
        summary["settings_hash"] = settings_hash
        raters.append(summary)
    return {
        "codebook": ctx.config.annotate.codebook,
        "level": ctx.config.annotate.level or "leaf",
        "corpus": corpus,
        "raters": raters,
        "calls": sum(r["calls_this_session"] for r in raters),
    }


def annotation_codings(run_dir: Path) -> pd.DataFrame:
    """The annotators' codes, long (``unit, rater, code``), rater = the configured name."""
    from ptmcoder.agreement.io import annotations_to_long

    summary = read_stage_output(run_dir, Stage.ANNOTATE)
    if summary is None:
        raise NotFoundError(f"{run_dir} has no annotate stage output")
    frames = []
    for rater in summary["raters"]:
        long = annotations_to_long(Path(run_dir) / "annotate" / rater["rater"])
        long["rater"] = rater["rater"]
        frames.append(long[["unit", "rater", "code"]])
    return pd.concat(frames, ignore_index=True).astype("string")


def _adapt_agree(ctx: StageContext) -> dict[str, Any]:
    """agree: each annotator against every pair of humans on the units all three coded
    (``agreement.sameunit``), every pair with its n and bootstrap CI
    (``agreement.views.annotator_vs_humans``), the per-code kappa of each annotator
    against the gold labels, and the calibration of each annotator's confidences
    against them (ECE and Brier before and after cross-fitted isotonic recalibration)."""
    from ptmcoder.agreement.data import rating_matrix
    from ptmcoder.agreement.io import read_gold, read_long_table
    from ptmcoder.agreement.views import annotator_vs_humans, per_code_table

    cfg = ctx.config.agree
    annotated = annotation_codings(ctx.run_dir)
    annotators = list(dict.fromkeys(annotated["rater"].tolist()))
    units = set(annotated["unit"].dropna())
    out = ctx.dir(Stage.AGREE)
    annotated.to_csv(out / "codings.csv", index=False)
    result: dict[str, Any] = {
        "view": "vs-humans",
        "view_note": "pairs: each on the units both raters coded; the same-unit view "
        "below compares annotators and humans on the units all three coded",
        "annotators": annotators,
        "units": len(units),
        "bootstrap": cfg.bootstrap,
        "seed": cfg.seed,
        "humans": [],
        "pairs": [],
        "per_code": {},
    }
    gold = None
    if cfg.gold:
        if cfg.gold_rater:
            raw = read_long_table(ctx.file(cfg.gold))
            gold = raw[raw["rater"] == cfg.gold_rater][["unit", "code"]].assign(rater="gold")
        else:
            gold = read_gold(ctx.file(cfg.gold))
        gold = gold[gold["unit"].isin(units)][["unit", "rater", "code"]]
        gold.to_csv(out / "gold.csv", index=False)
        result["gold"] = {"file": cfg.gold, "units": int(gold["unit"].nunique())}
    if cfg.humans:
        humans_long = read_long_table(ctx.file(cfg.humans))
        humans_long = humans_long[humans_long["unit"].isin(units)]
        humans = sorted(humans_long["rater"].dropna().unique())
        result["humans"] = humans
        long_all = pd.concat([annotated, humans_long[["unit", "rater", "code"]]])
        table = annotator_vs_humans(
            long_all,
            annotators=annotators,
            humans=humans,
            gold=gold,
            seed=cfg.seed,
            n_boot=cfg.bootstrap,
        )
        result["pairs"] = _clean(table.to_dict(orient="records"))
        from ptmcoder.agreement.sameunit import same_unit_comparison

        same = same_unit_comparison(
            long_all,
            annotators=annotators,
            humans=humans,
            min_n=cfg.min_n,
            n_boot=cfg.bootstrap,
            seed=cfg.seed,
        )
        result["same_unit"] = _clean(same.to_json())
    if gold is not None:
        result["calibration"] = _calibration(ctx, annotators, gold)
        for name in annotators:
            both = pd.concat([annotated[annotated["rater"] == name], gold], ignore_index=True)
            matrix = rating_matrix(both, raters=[name, "gold"])
            table = per_code_table(matrix, n_boot=cfg.bootstrap, seed=cfg.seed)
            result["per_code"][name] = _clean(table.to_dict(orient="records"))
    return result


def _calibration(ctx: StageContext, annotators: list[str], gold: pd.DataFrame) -> dict[str, Any]:
    """Each rater's confidences against the gold labels, before and after cross-fitted
    isotonic recalibration (``agreement.calibration``); {} when no rater gives one."""
    from ptmcoder.agreement.calibration import calibration_table, read_confidences

    cfg = ctx.config.agree
    frames = [
        read_confidences(Path(ctx.run_dir) / "annotate" / name).assign(rater=name)
        for name in annotators
    ]
    preds = pd.concat(frames, ignore_index=True)
    if preds["confidence"].notna().sum() == 0:
        return {}
    table = calibration_table(
        preds, gold, recalibrate="isotonic", seed=cfg.seed, n_boot=cfg.bootstrap
    )
    return {name: _clean(c.to_json()) for name, c in table.items()}


def _adapt_review(ctx: StageContext) -> dict[str, Any]:
    """review build: the queue of the study's raters (``ptmcoder.review.build_queue`` over
    the first rater's run, with every rater's records under its name), then its status."""
    import ptmcoder.review as review

    cfg, agree = ctx.config.review, ctx.config.agree
    summary = read_stage_output(ctx.run_dir, Stage.ANNOTATE)
    if summary is None:
        raise NotFoundError(f"{ctx.run_dir} has no annotate stage output")
    raters = {
        r["rater"]: str(Path(ctx.run_dir) / "annotate" / r["rater"]) for r in summary["raters"]
    }
    primary = next(iter(raters.values()))
    options = review.BuildOptions(
        gold=str(ctx.file(agree.gold)) if agree.gold else None,
        humans=str(ctx.file(agree.humans)) if agree.humans else None,
        seed=cfg.seed,
        audit_size=cfg.audit_size,
        agreement_below=cfg.agreement_below,
        confidence_below=cfg.confidence_below,
        raters=raters,
    )
    built = review.build_queue(primary, options)
    with review.open_queue(primary) as queue:
        status = review.status(queue)
    return {"build": _clean(built.to_json()), "status": _clean(status.to_json())}


def map_input(ctx: StageContext) -> pd.DataFrame:
    """The codings the map stage translates: ``unit_id, rater, code`` in the source taxonomy
    (codes given by name are matched to node ids, case-insensitively)."""
    from ptmcoder.codebook import load_codebook
    from ptmcoder.tables import read_table

    cfg = ctx.config.map
    assert cfg is not None
    df = read_table(ctx.file(cfg.input))
    unit = next((c for c in ("unit", "unit_id", "id") if c in df.columns), None)
    if unit is None or cfg.code_column not in df.columns:
        raise ConfigError(
            f"map.input {cfg.input}: needs a unit column and {cfg.code_column!r}",
            hint=f"columns are {', '.join(map(str, df.columns))}",
        )
    if cfg.rater and "rater" in df.columns:
        df = df[df["rater"].astype(str) == cfg.rater]
    codes = df[cfg.code_column].astype("string").str.strip()
    keep = codes.notna() & (codes != "")
    out = pd.DataFrame(
        {
            "unit_id": df.loc[keep, unit].astype(str),
            "rater": df.loc[keep, "rater"].astype(str) if "rater" in df.columns else "input",
            "code": codes[keep],
        }
    )
    if cfg.match == "name":
        book = load_codebook(cfg.source)
        names = {node.name.strip().lower(): node.id for node, _d, _p in book.walk()}
        ids = out["code"].str.lower().map(names)
        out.attrs["unmatched"] = dict(Counter(out.loc[ids.isna(), "code"].tolist()))
        out = out.assign(code=ids).dropna(subset=["code"])
    else:
        out.attrs["unmatched"] = {}
    return out.reset_index(drop=True)


def _adapt_map(ctx: StageContext) -> dict[str, Any]:
    """map translate: ``ptmcoder.crosswalk.translate(codings, source, target,
    relations=..., level=...)`` returning ``.table``, ``.untranslated``, ``.n_input``,
    ``.n_translated`` and ``.to_dict()`` (module of the crosswalk issue)."""
    cfg = ctx.config.map
    if cfg is None or not cfg.enabled:
        raise StageUnavailable("not configured (no [map] section)")
    codings = map_input(ctx)
    out = ctx.dir(Stage.MAP)
    codings.to_csv(out / "input.csv", index=False)
    if not _module_available("ptmcoder.crosswalk"):
        raise StageUnavailable("stage not available (module missing): ptmcoder.crosswalk")
    from ptmcoder import crosswalk

    result = crosswalk.translate(
        codings,
        cfg.source,
        cfg.target,
        relations=tuple(cfg.relations),
        level=cfg.level,
        include_suggestions=cfg.include_suggestions,
    )
    result.table.to_csv(out / "translated.csv", index=False)
    return {
        "source": cfg.source,
        "target": cfg.target,
        "relations": cfg.relations,
        "include_suggestions": cfg.include_suggestions,
        "n_input": int(result.n_input),
        "n_translated": int(result.n_translated),
        "untranslated": _clean(dict(result.untranslated)),
        "unmatched_names": codings.attrs.get("unmatched", {}),
        "detail": _clean(result.to_dict()),
    }


def _distribution(book: Any, codes: dict[str, list[str]], source: str) -> dict[str, Any]:
    """``stats.distribution`` of unit -> codes in ``book`` (a Codebook, or its id)."""
    from ptmcoder.codebook import load_codebook
    from ptmcoder.stats.distribution import CodedUnits, distribution

    if isinstance(book, str):
        book = load_codebook(book)
    result = distribution(book, CodedUnits(codes=codes, source=source))
    return _clean(result.to_dict())


def codes_by_unit(df: pd.DataFrame, unit: str = "unit") -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {}
    for u, c in zip(df[unit].astype(str), df["code"], strict=True):
        if isinstance(c, str) and c:
            codes.setdefault(u, []).append(c)
    return codes


def _adapt_stats(ctx: StageContext) -> dict[str, Any]:
    """stats: the code distribution (``stats.distribution``) of each rater and the gold
    labels, the distribution in each taxonomy after mapping, and a chi-square test of the
    raters' code distributions (Cramér's V with a bootstrap CI)."""
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
    result.update(_corpus_analyses(ctx))
    if "resolution" in cfg.analyses:
        result["resolution"] = _resolution_analysis(ctx, loaded, per_rater)
    mapping = read_stage_output(ctx.run_dir, Stage.MAP)
    map_dir = ctx.run_dir / "map"
    if ctx.config.map is not None and (map_dir / "input.csv").is_file():
        source = pd.read_csv(map_dir / "input.csv", dtype="string")
        result["taxonomies"][ctx.config.map.source] = {
            "role": "source",
            **_distribution(ctx.config.map.source, codes_by_unit(source, "unit_id"), "map input"),
        }
        if mapping is not None and (map_dir / "translated.csv").is_file():
            target = pd.read_csv(map_dir / "translated.csv", dtype="string")
            ucol = next(c for c in ("unit_id", "unit", "id") if c in target.columns)
            ccol = next(c for c in ("code", "target_code", "object_id") if c in target.columns)
            dist = _distribution(
                ctx.config.map.target,
                codes_by_unit(target.rename(columns={ccol: "code"}), ucol),
                "map translated",
            )
            n_in = mapping["n_input"]
            dist["untranslated_share"] = (1 - mapping["n_translated"] / n_in) if n_in else None
            result["taxonomies"][ctx.config.map.target] = {"role": "target", **dist}
    return result


def _corpus_analyses(ctx: StageContext) -> dict[str, Any]:
    """Tan et al.'s popularity (RQ1) and difficulty (RQ2) over the imported corpus, as
    ``stats popularity`` / ``stats difficulty`` compute them (``ptmcoder.stats``)."""
    from ptmcoder.corpus.store import corpus_path
    from ptmcoder.stats.engine import DEFAULT_PTM_RULE, PtmRule

    cfg = ctx.config.stats
    wanted = [a for a in cfg.analyses if a in ("popularity", "difficulty")]
    if not wanted:
        return {}
    path = Path(corpus_path(corpus_name(ctx.config)))
    rule = PtmRule(tags=tuple(cfg.ptm_tags)) if cfg.ptm_tags else DEFAULT_PTM_RULE
    out: dict[str, Any] = {}
    if "popularity" in wanted:
        from ptmcoder.stats.popularity import popularity

        out["popularity"] = _clean(popularity(path, rule=rule, since=cfg.since).to_dict())
    if "difficulty" in wanted:
        from ptmcoder.stats.difficulty import difficulty

        out["difficulty"] = _clean(difficulty(path, rule=rule, since=cfg.since).to_dict())
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
    return _clean({"themes_from": source, "ptm": column or cfg.ptm_labels, **out})


def _adapt_report(ctx: StageContext) -> dict[str, Any]:
    from ptmcoder.report import write_report

    paths = write_report(ctx.run_dir, out_dir=ctx.dir(Stage.REPORT))
    return {"files": {k: str(v) for k, v in paths.items()}}


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
        return [r.train for r in config.annotate.raters if r.train]
    if stage in (Stage.AGREE, Stage.REVIEW):
        return [f for f in (config.agree.humans, config.agree.gold) if f]
    if stage is Stage.MAP and config.map is not None:
        return [config.map.input]
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
        extra["available"] = _module_available("ptmcoder.review")
        extra["agree"] = ctx.config.section(Stage.AGREE)
    if stage is Stage.MAP:
        extra["available"] = _module_available("ptmcoder.crosswalk")
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


# -- running --------------------------------------------------------------------------


@dataclass
class StageOutcome:
    stage: str
    status: str  # ran | skipped | unavailable | failed
    seconds: float
    input_hash: str
    output_hash: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PipelineResult:
    run_dir: Path
    study: str
    outcomes: list[StageOutcome]
    seconds: float
    report_md: Path | None = None
    report_html: Path | None = None
    annotator_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": str(self.run_dir),
            "study": self.study,
            "seconds": round(self.seconds, 3),
            "annotator_calls": self.annotator_calls,
            "report_md": str(self.report_md) if self.report_md else None,
            "report_html": str(self.report_html) if self.report_html else None,
            "stages": [o.to_dict() for o in self.outcomes],
        }


class _Manifest:
    """The pipeline run's manifest; every change is written durably at once."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / MANIFEST
        self.data = read_manifest(run_dir)

    def save(self) -> None:
        write_json(self.path, self.data)

    def start(self, stage: Stage, input_hash: str) -> dict[str, Any]:
        entry = {
            "stage": str(stage),
            "input_hash": input_hash,
            "started_at": utcnow(),
            "pid": os.getpid(),
            "status": "running",
        }
        self.data.setdefault("sessions", []).append(entry)
        self.save()
        return entry

    def end(self, entry: dict[str, Any], outcome: StageOutcome) -> None:
        entry.update(
            {
                "finished_at": utcnow(),
                "status": outcome.status,
                "seconds": round(outcome.seconds, 3),
                "output_hash": outcome.output_hash,
                "note": outcome.note,
            }
        )
        self.save()


def _output_hash(stage_dir: Path) -> str:
    files = [p for p in stage_dir.rglob("*") if p.is_file() and p.name not in (STAGE_RECORD, LOCK)]
    files = [p for p in files if not p.name.startswith(".") and p.suffix not in (".lock",)]
    return hash_paths(files, stage_dir)


def _lock(run_dir: Path) -> int:
    import fcntl

    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"pipeline run {run_dir.name} is being run by another process",
            hint="wait for it to finish",
        ) from None
    return fd


def _open_run(config: StudyConfig, study_path: Path, run: str | None, new: bool) -> Path:
    """The run directory: ``run`` (id or path), else the latest run of this study, else new."""
    from ptmcoder.runs import git_commit, new_run_id

    root = runs_dir()
    if run:
        path = Path(run) if os.sep in run else root / run
    else:
        mine = []
        if root.is_dir() and not new:
            for p in sorted(root.iterdir()):
                if is_pipeline_run(p) and read_manifest(p).get("study_id") == config.study.id:
                    mine.append(p)
        path = mine[-1] if mine else root / f"{new_run_id()}-{config.study.id}"
    path.mkdir(parents=True, exist_ok=True)
    manifest = path / MANIFEST
    if not manifest.is_file():
        write_json(
            manifest,
            {
                "run_id": path.name,
                "kind": "pipeline",
                "study_id": config.study.id,
                "created_at": utcnow(),
                "sessions": [],
            },
        )
    data = read_manifest(path)
    data.update(
        {
            "study_file": str(study_path),
            "study_sha256": sha256_file(study_path),
            "config": config.model_dump(mode="json", by_alias=True),
            "ptmcoder_version": __version__,
            "git_commit": git_commit(),
        }
    )
    write_json(manifest, data)
    return path


def parse_stage(name: str | None) -> Stage | None:
    if name is None:
        return None
    try:
        return Stage(name)
    except ValueError:
        close = difflib.get_close_matches(name, [str(s) for s in STAGES], n=1)
        raise ConfigError(
            f"unknown stage {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
            hint="stages: " + ", ".join(str(s) for s in STAGES),
        ) from None


def run_study(
    study: str | Path,
    *,
    run: str | None = None,
    new: bool = False,
    from_stage: str | None = None,
    force: list[str] | tuple[str, ...] = (),
    overrides: Callable[[StudyConfig], StudyConfig] | None = None,
    say: Callable[[str], None] | None = None,
    stderr: Any = None,
    progress: bool = False,
) -> PipelineResult:
    """Run every stage of a study that is not up to date; see the module docstring."""
    started = time.perf_counter()
    config, study_path = load_study(study)
    if overrides is not None:
        config = overrides(config)
    first = parse_stage(from_stage)
    forced = {parse_stage(s) for s in force}
    say = say or (lambda _m: None)
    run_dir = _open_run(config, study_path, run, new)
    fd = _lock(run_dir)
    ctx = StageContext(config, study_path, run_dir, say, stderr=stderr, progress=progress)
    manifest = _Manifest(run_dir)
    outcomes: list[StageOutcome] = []
    calls = 0
    try:
        redo = False
        for stage in STAGES:
            redo = redo or stage is first
            stage_dir = ctx.dir(stage)
            inputs = stage_inputs(ctx, stage)
            input_hash = sha256_text(canonical(inputs))
            record = read_stage_record(run_dir, stage)
            fresh = (
                record is not None
                and record.get("status") in ("complete", "unavailable")
                and record.get("input_hash") == input_hash
                and not redo
                and stage not in forced
            )
            if fresh:
                assert record is not None
                ctx.outputs[str(stage)] = record.get("output_hash")
                outcome = StageOutcome(
                    str(stage),
                    "skipped",
                    0.0,
                    input_hash,
                    record["output_hash"],
                    record.get("note"),
                )
                entry = manifest.start(stage, input_hash)
                manifest.end(entry, outcome)
                outcomes.append(outcome)
                say(f"{stage}: up to date, skipped")
                continue
            say(f"{stage}: running")
            ctx.redo = redo or stage in forced
            entry = manifest.start(stage, input_hash)
            t0 = time.perf_counter()
            record_path = stage_dir / STAGE_RECORD
            if record_path.exists():
                record_path.unlink()
                _fsync_dir(stage_dir)
            if stage is not Stage.ANNOTATE and stage_dir.exists():
                shutil.rmtree(stage_dir)  # annotate keeps its runs (resume, per-rater reuse)
            stage_dir.mkdir(parents=True, exist_ok=True)
            try:
                output = ADAPTERS[stage](ctx)
                status, note = "complete", None
            except StageUnavailable as exc:
                output, status, note = None, "unavailable", str(exc)
                say(f"{stage}: {note}")
            except BaseException as exc:
                failed = StageOutcome(
                    str(stage), "failed", time.perf_counter() - t0, input_hash, note=str(exc)
                )
                manifest.end(entry, failed)
                raise
            if output is not None:
                write_json(stage_dir / f"{stage}.json", output)
            output_hash = _output_hash(stage_dir)
            seconds = time.perf_counter() - t0
            write_json(
                record_path,
                {
                    "stage": str(stage),
                    "status": status,
                    "note": note,
                    "input_hash": input_hash,
                    "inputs": inputs,
                    "output_hash": output_hash,
                    "outputs": sorted(
                        str(p.relative_to(stage_dir))
                        for p in stage_dir.rglob("*")
                        if p.is_file() and p.name != STAGE_RECORD and not p.name.startswith(".")
                    )[:200],
                    "started_at": entry["started_at"],
                    "finished_at": utcnow(),
                    "seconds": round(seconds, 3),
                },
            )
            ctx.outputs[str(stage)] = output_hash
            if stage is Stage.ANNOTATE and output:
                calls += int(output.get("calls", 0))
            outcome = StageOutcome(
                str(stage),
                "ran" if status == "complete" else status,
                seconds,
                input_hash,
                output_hash,
                note,
            )
            manifest.end(entry, outcome)
            outcomes.append(outcome)
    finally:
        os.close(fd)
    report = ctx.dir(Stage.REPORT)
    return PipelineResult(
        run_dir=run_dir,
        study=config.study.id,
        outcomes=outcomes,
        seconds=time.perf_counter() - started,
        report_md=report / "report.md" if (report / "report.md").is_file() else None,
        report_html=report / "report.html" if (report / "report.html").is_file() else None,
        annotator_calls=calls,
    )


def summary_lines(run_dir: Path) -> list[str]:
    """A one-screen summary of a run, from its stage outputs (an interval that was not
    computed, e.g. with bootstrap = 0, is left out, never printed as zeros)."""
    from ptmcoder.report import _ci, _fmt

    lines = []
    manifest = read_manifest(run_dir)
    lines.append(f"study {manifest.get('study_id')}  run {run_dir.name}")
    imp = read_stage_output(run_dir, Stage.IMPORT) or {}
    sample = read_stage_output(run_dir, Stage.SAMPLE) or {}
    lines.append(
        f"corpus: {imp.get('units')} units imported; sample {sample.get('design')}: "
        f"{sample.get('units')} units"
    )
    ann = read_stage_output(run_dir, Stage.ANNOTATE) or {}
    for r in ann.get("raters", []):
        lines.append(
            f"rater {r['rater']}: {r['annotator']} ({'few-shot' if r['few_shot'] else 'zero-shot'})"
            f", {r['records']} records, {r['errors']} errors"
        )
    agree = read_stage_output(run_dir, Stage.AGREE) or {}
    for row in agree.get("pairs", []):
        if row.get("kind") in ("annotator-gold", "annotator-consensus"):
            k = row.get("cohen_kappa")
            ks = "undefined" if k is None else _fmt(k)
            ci = _ci(row.get("cohen_kappa_ci_low"), row.get("cohen_kappa_ci_high"))
            lines.append(f"kappa {row['rater_a']} vs {row['rater_b']}: {ks} {ci} n={row['n']}")
    for name, row in (agree.get("same_unit") or {}).get("summary", {}).items():
        a, h, d = row.get("annotator_vs_humans"), row.get("humans_vs_humans"), row.get("difference")
        if a is None or h is None or d is None:
            lines.append(f"same units, {name}: undefined ({row.get('triads_used')} triads)")
            continue
        lines.append(
            f"same units, {name}: kappa vs humans {_fmt(a)}, humans vs humans {_fmt(h)}, "
            f"difference {_fmt(d)} {_ci(row.get('ci_low'), row.get('ci_high'))} "
            f"({row['triads_used']} triads, n={row['n']}; "
            f"{row['triads_below_min_n']} under n={agree['same_unit']['min_n']} left out)"
        )
    for name, cal in (agree.get("calibration") or {}).items():
        if cal.get("ece") is not None:
            lines.append(
                f"calibration {name}: ECE {_fmt(cal['ece'])} "
                f"{_ci(cal.get('ece_ci_low'), cal.get('ece_ci_high'))}, "
                f"Brier {_fmt(cal['brier'])}, n={cal['n']}"
            )
    rv = read_stage_output(run_dir, Stage.REVIEW) or {}
    audit = ((rv.get("status") or {}).get("audit")) or {}
    if rv:
        built = rv.get("build") or {}
        lines.append(
            f"review queue: {built.get('items')} items "
            + ", ".join(f"{k} {v}" for k, v in (built.get("by_reason") or {}).items())
            + (
                f"; audit sample {audit.get('sampled')} units, {audit.get('n')} reviewed"
                if audit
                else ""
            )
        )
    for stage in (Stage.REVIEW, Stage.MAP):
        rec = read_stage_record(run_dir, stage) or {}
        if rec.get("status") != "complete":
            lines.append(f"{stage}: {rec.get('note') or 'not run'}")
    mapped = read_stage_output(run_dir, Stage.MAP)
    if mapped:
        lines.append(
            f"map {mapped['source']} -> {mapped['target']}: {mapped['n_translated']} of "
            f"{mapped['n_input']} codings translated"
        )
    return lines


def require_stage(run_dir: Path, stage: Stage) -> dict[str, Any]:
    out = read_stage_output(run_dir, stage)
    if out is None:
        raise PtmcoderError(f"run {run_dir.name} has no {stage} output", hint="run the study")
    return out
