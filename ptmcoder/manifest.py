"""The typed ``manifest.json`` of a run, and how older manifests are read.

One model, :class:`Manifest`, for a run of either origin (``annotate`` or a study),
with the annotate stage's settings (:class:`RunConfig`: the options that change the
answers, the operational ones that may change between sessions, and the codebook
they coded with). :func:`upgrade_manifest` turns a manifest written by an earlier
version into this version's data; :mod:`ptmcoder.runs` is its one reader and writer.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ptmcoder.errors import ConfigError
from ptmcoder.llm.base import StructuredMode


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# -- the annotate stage's settings ------------------------------------------------------

#: the prompt a run uses unless ``prompt`` names another version
DEFAULT_PROMPT = "apply_codebook.v1"

#: settings that may change when a run is resumed (they do not change the answers)
OPERATIONAL = (
    "base_url",
    "concurrency",
    "rpm",
    "tpm",
    "timeout",
    "max_retries",
    "cache",
    "progress",
    "retry_errors",
)


#: the bounds of the settings below, stated once (the CLI, a resumed run's manifest and
#: a study's raters all meet them through these models): a number outside its range,
#: NaN or an infinity is a located error naming the field, never a silent default
MAX_TEMPERATURE = 2.0
MAX_SAMPLES = 100
MAX_FOLDS = 100
#: seconds; a day: a longer wait for one answer is a typo, not a setting
MAX_TIMEOUT = 86_400.0
MAX_RETRIES = 100
MAX_CONCURRENCY = 1_000


class AnsweringSettings(_Strict):
    """Options that change the answers: fixed for the life of a run."""

    # NaN and infinities are refused for every float field (a NaN temperature was
    # written to the manifest as null and a resumed run coded at 0.0 without a word)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    codebook: str | None = None
    corpus: str | None = None
    annotators: list[str] = []
    level: str | None = None
    limit: int | None = Field(default=None, ge=1)
    prompt: str = DEFAULT_PROMPT
    samples: int = Field(default=1, ge=1, le=MAX_SAMPLES)
    temperature: float | None = Field(default=None, ge=0.0, le=MAX_TEMPERATURE)
    max_unit_tokens: int | None = Field(default=2000, ge=16)
    max_output_tokens: int | None = Field(default=1024, ge=1)
    #: output mode: auto (probe and fall back), json_schema, json_object, tools, none
    structured: StructuredMode = "auto"
    train: str | None = None
    train_raters: list[str] = []
    #: the corpus the --train units are in, when not the one coded (a train/test split)
    train_corpus: str | None = None
    #: embedded learner, auto mode: MiniLM joins when the learning step has at most this
    #: many distinct texts (None: ptmcoder.annotate.supervised.DEFAULT_MINILM_TEXTS)
    learn_max_texts: int | None = Field(default=None, ge=0)
    #: no longer used: seconds of a wall-clock budget, which made the learner's choice
    #: depend on machine load; read from older runs and studies, ignored with a note in
    #: the annotator's manifest entry (see learn_max_texts)
    learn_budget: float | None = Field(default=None, ge=0.0)
    #: propose this many not yet human-coded units for a human to code next
    suggest: int = Field(default=0, ge=0)
    shots: int = Field(default=0, ge=0)
    #: numpy's generators take a non-negative seed
    seed: int = Field(default=13, ge=0)
    embedded_temperature: float = Field(default=0.05, gt=0.0)
    multi_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    #: cross-fitting needs at least two folds
    folds: int = Field(default=5, ge=2, le=MAX_FOLDS)
    batch: bool = False


class OperationalSettings(_Strict):
    """Options that may change between the sessions of a run."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    base_url: str | None = None
    #: requests in flight; None: 8, or 1 for a local endpoint (see docs/local-models.md)
    concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    #: requests and tokens per minute; leave out for no limit (0 is not "no limit").
    #: A tpm below one request's tokens is refused when the first request is sized
    #: (:class:`ptmcoder.llm.limiter.RateLimiter`)
    rpm: float | None = Field(default=None, gt=0.0)
    tpm: float | None = Field(default=None, gt=0.0)
    timeout: float = Field(default=60.0, gt=0.0, le=MAX_TIMEOUT)
    max_retries: int = Field(default=6, ge=0, le=MAX_RETRIES)
    cache: bool = True


class RunConfig(AnsweringSettings, OperationalSettings):
    """The ``config`` of an annotate run's manifest: the options (without the
    per-session ``progress`` and ``retry_errors``) and the codebook they coded with.
    Never a key: only the name of the variable the key is read from."""

    codebook_id: str | None = None
    codebook_version: str | None = None
    codebook_hash: str | None = None
    api_key_env: str = "OPENAI_API_KEY"


ANSWERING = tuple(AnsweringSettings.model_fields)


# -- the manifest ---------------------------------------------------------------------

#: the version of ``manifest.json`` this code writes; :func:`upgrade_manifest` reads older ones
SCHEMA_VERSION = 3


class Origin(StrEnum):
    """What made a run: ``ptmcoder annotate`` (one stage) or a study (several)."""

    ANNOTATE = "annotate"
    STUDY = "study"


class RunStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    #: a session was interrupted (Ctrl-C), or killed: status running, lock free
    INTERRUPTED = "interrupted"


class CacheStats(_Strict):
    hits: int = 0
    misses: int = 0


class Session(_Strict):
    """One process that worked on the run; written when it starts (before any work)
    and updated as it goes, so a killed session leaves its trace."""

    started_at: str
    pid: int | None = None
    resumed: bool = False
    retried: int = 0
    finished_at: str | None = None
    seconds: float | None = None
    written: int = 0
    skipped: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    interrupted: bool = False
    cache: CacheStats = Field(default_factory=CacheStats)


class CodebookRef(_Strict):
    id: str
    version: str | None = None
    hash: str | None = None
    level: str | None = None
    allowed_codes: list[str] = Field(default_factory=list)


class PromptRef(_Strict):
    id: str
    sha256: str | None = None


class CorpusRef(_Strict):
    ref: str | None = None
    source: str | None = None
    units_in_corpus: int | None = None
    #: sha256 of the canonical JSON of the units the run was started on (see
    #: :func:`ptmcoder.annotate.runner.corpus_fingerprint`); None in runs written
    #: before schema 2, which are therefore not checked on resume
    fingerprint: str | None = None


class AnnotatorCounts(_Strict):
    records: int = 0
    unique_units: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    pending: int = 0


class Counts(_Strict):
    units: int | None = None
    records: int = 0
    errors: int = 0
    by_annotator: dict[str, AnnotatorCounts] = Field(default_factory=dict)


class StudyRef(_Strict):
    """The study a run of origin ``study`` ran: its id, the study file's name and
    content hash, and its settings as validated
    (:class:`ptmcoder.pipeline.config.StudyConfig`). The file's absolute path is not
    kept: manifests are shared with colleagues."""

    id: str
    file: str
    sha256: str
    config: dict[str, Any] = Field(default_factory=dict)


class StageSession(_Strict):
    """One stage in one session of a study run: written as the stage starts and
    again as it ends, so a killed session shows a stage that started and never ended."""

    stage: str
    input_hash: str
    started_at: str
    pid: int | None = None
    #: running (or killed), ran, skipped, unavailable, failed
    status: str = "running"
    finished_at: str | None = None
    seconds: float | None = None
    output_hash: str | None = None
    note: str | None = None


class Manifest(_Strict):
    """``manifest.json``: one writer (:meth:`Run.write_manifest`), one reader
    (:meth:`Run.manifest`, through :func:`upgrade_manifest`).

    The annotate fields (``config`` to ``training``) describe the annotation store at
    the run's root (origin ``annotate``) or, in a study, each rater's store in
    ``annotate/<rater>/``; ``study`` and ``stage_sessions`` belong to study runs."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    origin: Origin = Origin.ANNOTATE
    created_at: str
    ptmcoder_version: str
    git_commit: str | None = None
    config: RunConfig = Field(default_factory=RunConfig)
    status: RunStatus = RunStatus.CREATED
    codebook: CodebookRef | None = None
    prompt: PromptRef | None = None
    corpus: CorpusRef | None = None
    seed: int | None = None
    counts: Counts = Field(default_factory=Counts)
    cache: CacheStats = Field(default_factory=CacheStats)
    sessions: list[Session] = Field(default_factory=list)
    #: what each annotator reported about itself (model, method, few-shot pool, ...):
    #: free-form by design, one entry per annotator with at least ``name``
    annotators: list[dict[str, Any]] = Field(default_factory=list)
    #: the human codes of ``--train``: file, corpus, units labelled, unknown codes
    #: with counts, aliases applied (:mod:`ptmcoder.annotate.training`)
    training: dict[str, Any] | None = None
    #: origin study: the study, and every stage of every session
    study: StudyRef | None = None
    stage_sessions: list[StageSession] = Field(default_factory=list)


def upgrade_manifest(data: dict[str, Any], *, run_id: str | None = None) -> dict[str, Any]:
    """A manifest written by an earlier version, as this version's data.

    - Version 1 (no ``schema_version``, ptmcoder 0.1 before the typed manifest) had
      the annotate fields, no status before the first session, no corpus fingerprint.
    - Version 2 said ``kind: "annotate"``; version 3 says ``origin``.
    - A study run before version 3 (``kind: "pipeline"``, no ``schema_version``)
      had an untyped manifest: ``study_id``, ``study_file`` (an absolute path, of
      which only the name is kept), ``study_sha256``, ``config`` (the study's
      settings) and its stage sessions under ``sessions``."""
    data = dict(data)
    if data.get("kind") == "pipeline":
        return _upgrade_pipeline(data, run_id=run_id)
    version = data.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"manifest schema {version} is newer than this ptmcoder reads ({SCHEMA_VERSION})",
            hint="upgrade ptmcoder",
        )
    if version == 1:
        data.setdefault("status", RunStatus.CREATED.value)
        if run_id is not None:
            data.setdefault("run_id", run_id)
        data.setdefault("created_at", "")
        data.setdefault("ptmcoder_version", "unknown")
        data["schema_version"] = 2
    if data["schema_version"] == 2:
        data["origin"] = data.pop("kind", Origin.ANNOTATE.value)
        data["annotators"] = [_renamed_learner(a) for a in data.get("annotators") or []]
        data["schema_version"] = 3
    return data


def _renamed_learner(entry: dict[str, Any]) -> dict[str, Any]:
    """An annotator entry of version 2, whose learner trained on human codes said
    ``method: few-shot`` and described itself under ``few_shot``: now ``supervised``
    (few-shot names the examples put in an LLM's prompt, which say ``few-shot:<k>``)."""
    entry = dict(entry)
    if entry.get("method") == "few-shot":
        entry["method"] = "supervised"
        if "few_shot" in entry and "supervised" not in entry:
            entry["supervised"] = entry.pop("few_shot")
    return entry


def _upgrade_pipeline(data: dict[str, Any], *, run_id: str | None) -> dict[str, Any]:
    sessions = [StageSession.model_validate(s).model_dump() for s in data.get("sessions", [])]
    running = any(s["status"] == "running" for s in sessions)
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": data.get("run_id") or run_id or "",
        "origin": Origin.STUDY.value,
        "created_at": data.get("created_at", ""),
        "ptmcoder_version": data.get("ptmcoder_version", "unknown"),
        "git_commit": data.get("git_commit"),
        "status": (RunStatus.RUNNING if running else RunStatus.COMPLETE).value,
        "study": {
            "id": data.get("study_id", ""),
            "file": Path(str(data.get("study_file", ""))).name,
            "sha256": data.get("study_sha256", ""),
            "config": data.get("config", {}),
        },
        "stage_sessions": sessions,
    }
