"""The study file: one TOML file (``studies/*.toml``) read with :mod:`tomllib` into
:class:`StudyConfig` (pydantic, ``extra="forbid"``: an unknown key is refused with
the file, the key and the nearest known key), and the stages it names."""

from __future__ import annotations

import difflib
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from ptmcoder.agreement.bootstrap import MAX_BOOTSTRAP
from ptmcoder.errors import ConfigError, NotFoundError, Problem, ValidationError, problems_from
from ptmcoder.llm.base import StructuredMode
from ptmcoder.manifest import MAX_FOLDS
from ptmcoder.paths import bundled_dir, samples_dir


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
    #: cross-fitting folds of a supervised rater (at least 2)
    folds: int = Field(default=5, ge=2, le=MAX_FOLDS)
    #: embedded annotator with ``train``, auto mode: MiniLM joins when the learning step
    #: has at most this many distinct texts (default 2,000)
    learn_max_texts: int | None = Field(default=None, ge=0)
    #: no longer used (seconds: the choice depended on machine load); accepted, ignored
    #: with a note in the manifest
    learn_budget: float | None = None
    #: LLM annotators: output mode and the cap on one answer's tokens
    structured: StructuredMode = "auto"
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
    #: resamples, at most MAX_BOOTSTRAP (100,000)
    bootstrap: int = Field(default=1000, ge=0, le=MAX_BOOTSTRAP)
    seed: int = 13
    #: same-unit view: triads with fewer common units are shown, left out of the means
    min_n: int = Field(default=20, ge=1)
    #: same-unit view: the humans' ceiling from the first two ratings of each unit
    #: ("independent") or from every rating, conflict-resolution ones included ("all")
    ratings: Literal["independent", "all"] = "independent"


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


Analysis = Literal["distribution", "popularity", "difficulty", "resolution"]


def _default_analyses() -> list[Analysis]:
    return ["distribution"]


class StatsConfig(_Model):
    #: distribution: the codes of each rater and taxonomy; popularity and difficulty:
    #: Tan et al.'s RQ1/RQ2 over the whole imported corpus (PTM-tagged questions
    #: against the rest as baseline)
    #: resolution: Banyongrakkul et al.'s RQ2 over the imported issues (resolution time of
    #: PTM-related against other issues, and across the themes of the coded ones)
    analyses: list[Analysis] = Field(default_factory=_default_analyses)
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
    #: resamples, at most MAX_BOOTSTRAP (100,000)
    bootstrap: int = Field(default=1000, ge=0, le=MAX_BOOTSTRAP)
    seed: int = 13


class GoldConfig(_Model):
    """The human sample the findings are corrected with (prediction-powered estimates,
    :mod:`ptmcoder.inference`): human codes on a random sample of the coded units."""

    #: the human codes: a long table ``unit,rater,code`` (every row the humans') or
    #: ``unit,code``, optionally with ``inclusion_probability``
    file: str
    #: the sample's design: a table ``unit,inclusion_probability`` (what ``ptmcoder
    #: sample gold`` writes)
    design: str | None = None
    #: or: draw a uniform random sample of this many of the file's units (with
    #: ``seed``) and use only their codes; for a file that codes every unit, it shows
    #: what a study with that many human codes would report (the demo)
    sample: int | None = Field(default=None, ge=3)
    seed: int = 13
    #: or: take the file's units as a uniform random sample of the coded ones (stated)
    assume_random: bool = False
    #: the raters whose codes are corrected (default: every rater)
    raters: list[str] | None = None


class RouteConfig(_Model):
    """A cascade of annotators with a guarantee (:mod:`ptmcoder.pipeline.cascade`):
    the first tier codes every unit; each later tier codes only the units the tier
    before escalated; each tier's confidence threshold is chosen by Learn-then-Test
    (:mod:`ptmcoder.review.routing`) on the calibration units that reached it, at
    ``delta / len(tiers)`` so that every tier's guarantee holds at once with probability
    ``>= 1 - delta``. What the last tier escalates goes to people (the review queue)."""

    #: raters of [annotate], in the order they are asked (at least one)
    tiers: list[str] = Field(min_length=1)
    #: the agreement with the humans guaranteed on accepted units
    target: float = Field(gt=0.0, lt=1.0)
    #: the probability the guarantee fails, shared by the tiers (Bonferroni)
    delta: float = Field(default=0.1, gt=0.0, lt=1.0)
    method: Literal["binomial", "hoeffding-bentkus"] = "binomial"
    #: the calibration units' human codes (``unit,code`` or a long table, equal
    #: inclusion probabilities); default: [agree] gold (its gold_rater's rows), else
    #: the [gold] file (all of its units)
    gold: str | None = None
    #: candidate thresholds tested need at least this many accepted calibration units
    #: (default: ``routing.min_accepted(target, delta / len(tiers))``)
    min_n: int | None = Field(default=None, ge=1)


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
    gold: GoldConfig | None = None
    route: RouteConfig | None = None
    report: ReportConfig = Field(default_factory=ReportConfig)

    @model_validator(mode="after")
    def _check_route(self) -> StudyConfig:
        if self.route is None:
            return self
        names = [r.name for r in self.annotate.raters]
        unknown = [t for t in self.route.tiers if t not in names]
        if unknown:
            raise ValueError(
                f"route.tiers: {', '.join(unknown)} is not a rater of [annotate] "
                f"(raters: {', '.join(names)})"
            )
        if len(set(self.route.tiers)) != len(self.route.tiers):
            raise ValueError("route.tiers: a rater is listed twice")
        if "route" in names:
            raise ValueError("annotate.raters: 'route' is the cascade's folder; rename the rater")
        if self.annotate.level not in (None, "leaf"):
            raise ValueError(
                "route: the calibration compares leaf codes; [annotate] level must be leaf"
            )
        if not (self.route.gold or self.agree.gold or self.gold):
            raise ValueError("route: no calibration gold (set route.gold, agree.gold or [gold])")
        return self

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
        out = value.model_dump(mode="json") if value is not None else {}
        if stage is Stage.STATS and self.gold is not None:  # the findings are the stats'
            out["gold"] = self.gold.model_dump(mode="json")
        if stage is Stage.ANNOTATE and self.route is not None:  # the cascade is annotate's
            out["route"] = self.route.model_dump(mode="json")
            out["route"]["calibration"] = self.calibration_gold()
        return out

    def calibration_gold(self) -> dict[str, Any]:
        """Where the cascade's calibration units come from: ``{"file", "rater",
        "source"}`` (``route.gold``, else [agree] gold with its gold_rater, else the
        [gold] file)."""
        if self.route is not None and self.route.gold:
            return {"file": self.route.gold, "rater": None, "source": "route.gold"}
        if self.agree.gold:
            return {"file": self.agree.gold, "rater": self.agree.gold_rater, "source": "agree.gold"}
        if self.gold is not None:
            return {"file": self.gold.file, "rater": None, "source": "gold.file"}
        return {"file": None, "rater": None, "source": None}


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
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            [Problem(str(path), "", f"cannot be read ({exc.strerror})")]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValidationError(
            [
                Problem(
                    str(path),
                    f"line {line}, column {column}",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                )
            ],
            hint="save the study file as UTF-8",
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError([Problem(str(path), "", f"invalid TOML: {exc}")]) from None
    try:
        return StudyConfig.model_validate(data), path.resolve()
    except PydanticValidationError as exc:
        raise ValidationError(
            problems_from(exc, str(path), model=StudyConfig),
            hint="see studies/*.toml for commented examples",
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


def corpus_name(config: StudyConfig) -> str:
    """The corpus a study imports into (``[import] corpus``, else ``study-<id>``)."""
    return config.import_.corpus or f"study-{config.study.id}"


def parse_stage(name: str | None) -> Stage | None:
    """A stage by name; an unknown name is refused with the nearest known one."""
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
