"""The up-to-date engine: run every stage of a study that is not up to date.

:func:`run_study` runs the stages in order, data flowing one way::

    import -> sample -> annotate -> agree -> review -> map -> stats -> report

A study run is a run like any other (:mod:`ptmcoder.runs`: one typed manifest,
origin ``study``, one lock). Each stage writes ``runs/<id>/<stage>/`` and, last,
its stage record (:mod:`ptmcoder.pipeline.rundir`): the content hash of its inputs
and settings (the upstream stages' output hashes, the hashes of the files it reads,
its config section), its outputs and their hash. A stage whose input hash equals
the recorded one is skipped; ``--from STAGE`` redoes that stage and every later
one, ``--force STAGE`` redoes that stage (later stages rerun only if its output
changed).

Kill safety: before a stage runs, its old record is removed; the new one is written
(atomically, fsync-ed) only after every output is. A stage killed half-way has no
record and runs again. The manifest records every stage of every session as it
starts and as it ends (``stage_sessions``), so a killed session is visible as a
stage that started and never ended, and the run's status says ``interrupted``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptmcoder import __version__
from ptmcoder.errors import ConfigError, PtmcoderError
from ptmcoder.files import canonical_json, fsync_dir, sha256_file, sha256_text
from ptmcoder.manifest import Origin, RunStatus, StageSession, StudyRef
from ptmcoder.paths import runs_dir
from ptmcoder.pipeline.config import (
    STAGES,
    Stage,
    StudyConfig,
    load_study,
    parse_stage,
)
from ptmcoder.pipeline.rundir import (
    STAGE_RECORD,
    output_files,
    output_hash,
    read_stage_record,
    write_stage_output,
    write_stage_record,
)
from ptmcoder.pipeline.stages import (
    ADAPTERS,
    StageContext,
    StageUnavailable,
    stage_current,
    stage_inputs,
)
from ptmcoder.runs import (
    MANIFEST,
    Run,
    base_manifest,
    create_run,
    git_commit,
    list_run_ids,
    new_run_id,
    utcnow,
)


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


class _Sessions:
    """The run's manifest as the runner updates it: every change written at once."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.manifest = run.manifest()

    def save(self) -> None:
        self.run.write_manifest(self.manifest)

    def start(self, stage: Stage, input_hash: str) -> StageSession:
        entry = StageSession(
            stage=str(stage), input_hash=input_hash, started_at=utcnow(), pid=os.getpid()
        )
        self.manifest.stage_sessions.append(entry)
        self.save()
        return entry

    def end(self, entry: StageSession, outcome: StageOutcome) -> None:
        entry.finished_at = utcnow()
        entry.status = outcome.status
        entry.seconds = round(outcome.seconds, 3)
        entry.output_hash = outcome.output_hash
        entry.note = outcome.note
        self.save()

    def finish(self, status: RunStatus) -> None:
        self.manifest.status = status
        self.save()


def _study_runs(study_id: str) -> list[Path]:
    root = runs_dir()
    out = []
    for rid in list_run_ids(root):
        try:
            manifest = Run(root / rid).manifest()
        except PtmcoderError:  # an unreadable run is not this study's latest
            continue
        if manifest.origin is Origin.STUDY and manifest.study and manifest.study.id == study_id:
            out.append(root / rid)
    return out


def open_study_run(config: StudyConfig, study_path: Path, run: str | None, new: bool) -> Run:
    """The run directory: ``run`` (id or path), else the latest run of this study,
    else a new one (made atomically by :func:`~ptmcoder.runs.create_run`: a half-made
    directory of that id is replaced, and :attr:`Run.notes` says so); its manifest says
    which study file (name and hash) it runs."""
    root = runs_dir()
    if run:
        path = Path(run) if os.sep in run else root / run
    else:
        mine = [] if new else _study_runs(config.study.id)
        path = mine[-1] if mine else root / f"{new_run_id()}-{config.study.id}"
    study = StudyRef(
        id=config.study.id,
        file=study_path.name,
        sha256=sha256_file(study_path),
        config=config.model_dump(mode="json", by_alias=True),
    )
    if not (path / MANIFEST).is_file():
        manifest = base_manifest(path.name, {})
        manifest.origin = Origin.STUDY
        manifest.study = study
        return create_run({}, run_id=path.name, root=path.parent, manifest=manifest)
    target = Run(path)
    manifest = target.manifest()
    if manifest.origin is not Origin.STUDY:
        raise ConfigError(
            f"run {path.name} was made by `ptmcoder annotate`, not by a study",
            hint="give another --run, or --new",
        )
    manifest.study = study
    manifest.ptmcoder_version = __version__
    manifest.git_commit = git_commit()
    target.write_manifest(manifest)
    return target


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
    target = open_study_run(config, study_path, run, new)
    for note in target.notes:
        say(f"recovered: {note}")
    target.lock()
    run_dir = target.path
    ctx = StageContext(config, study_path, run_dir, say, stderr=stderr, progress=progress)
    sessions = _Sessions(target)
    outcomes: list[StageOutcome] = []
    calls = 0
    sessions.finish(RunStatus.RUNNING)
    try:
        redo = False
        for stage in STAGES:
            redo = redo or stage is first
            outcome, output = _run_stage(ctx, sessions, stage, redo, stage in forced)
            outcomes.append(outcome)
            if stage is Stage.ANNOTATE and output:
                calls += int(output.get("calls", 0))
    except BaseException:
        sessions.finish(RunStatus.INCOMPLETE)
        raise
    else:
        sessions.finish(RunStatus.COMPLETE)
    finally:
        target.close()
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


def _run_stage(
    ctx: StageContext, sessions: _Sessions, stage: Stage, redo: bool, forced: bool
) -> tuple[StageOutcome, dict[str, Any] | None]:
    """Skip one stage when it is up to date, else run it and record it."""
    run_dir, say = ctx.run_dir, ctx.say
    stage_dir = ctx.dir(stage)
    inputs = stage_inputs(ctx, stage)
    input_hash = sha256_text(canonical_json(inputs))
    record = read_stage_record(run_dir, str(stage))
    if (
        record is not None
        and record.get("status") in ("complete", "unavailable")
        and record.get("input_hash") == input_hash
        and not redo
        and not forced
        and stage_current(ctx, stage)
    ):
        ctx.outputs[str(stage)] = record["output_hash"]
        outcome = StageOutcome(
            str(stage), "skipped", 0.0, input_hash, record["output_hash"], record.get("note")
        )
        sessions.end(sessions.start(stage, input_hash), outcome)
        say(f"{stage}: up to date, skipped")
        return outcome, None
    say(f"{stage}: running")
    ctx.redo = redo or forced
    entry = sessions.start(stage, input_hash)
    t0 = time.perf_counter()
    record_path = stage_dir / STAGE_RECORD
    if record_path.exists():
        record_path.unlink()
        fsync_dir(stage_dir)
    if stage is not Stage.ANNOTATE and stage_dir.exists():
        shutil.rmtree(stage_dir)  # annotate keeps its stores (resume, per-rater reuse)
    stage_dir.mkdir(parents=True, exist_ok=True)
    try:
        output: dict[str, Any] | None = ADAPTERS[stage](ctx)
        status, note = "complete", None
    except StageUnavailable as exc:
        output, status, note = None, "unavailable", str(exc)
        say(f"{stage}: {note}")
    except BaseException as exc:
        failed = StageOutcome(
            str(stage), "failed", time.perf_counter() - t0, input_hash, note=str(exc)
        )
        sessions.end(entry, failed)
        raise
    if output is not None:
        write_stage_output(run_dir, str(stage), output)
    digest = output_hash(run_dir, str(stage))
    seconds = time.perf_counter() - t0
    write_stage_record(
        run_dir,
        str(stage),
        {
            "stage": str(stage),
            "status": status,
            "note": note,
            "input_hash": input_hash,
            "inputs": inputs,
            "output_hash": digest,
            "outputs": [
                p.relative_to(stage_dir).as_posix() for p in output_files(run_dir, str(stage))
            ][:200],
            "started_at": entry.started_at,
            "finished_at": utcnow(),
            "seconds": round(seconds, 3),
        },
    )
    ctx.outputs[str(stage)] = digest
    outcome = StageOutcome(
        str(stage), "ran" if status == "complete" else status, seconds, input_hash, digest, note
    )
    sessions.end(entry, outcome)
    return outcome, output
