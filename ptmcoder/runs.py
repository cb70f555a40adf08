"""Runs: ``<workspace>/runs/<sortable id>/``, one kind of run whatever made it.

A run is made by ``ptmcoder annotate`` (origin ``annotate``: one stage, the
annotate stage, whose records sit at the run's root) or by a study
(``ptmcoder run``, ``ptmcoder demo``; origin ``study``: several stages, each in
``<stage>/`` with its ``stage.json``, and the annotate stage holding one
annotation store per rater in ``annotate/<rater>/``, laid out as below). Both have
one typed :class:`Manifest`, are found by one resolver (:func:`resolve_run`),
written under one lock (:meth:`Run.lock`), and give their raters' records through
:meth:`Run.raters`, so every command (``runs``, ``report``, ``export``,
``review``, ``compare``) takes either.

An annotation store (the root of an annotate run, or ``annotate/<rater>/``) holds

- ``manifest.json``: the config snapshot, codebook id and hash, prompt id and
  hash, the annotators with their model and parameters, seed, package version,
  git commit, timings (one entry per session, a resumed run has several), cache
  statistics and counts. It never holds an API key: keys are read from the
  environment only and never copied into the config.
- ``annotations.jsonl``: one :class:`~ptmcoder.annotate.records.Annotation` per
  unit and annotator. It is the source of truth for progress: each record is
  written in one ``write`` to a file opened with ``O_APPEND`` and then
  ``fsync``-ed, so after a crash (even ``kill -9``) the file holds whole records
  plus at most one truncated last line. :meth:`Run.repair` cuts that line off
  and its unit is redone; a unit and annotator pair already present is skipped,
  so a resumed run writes every record exactly once.
- ``superseded.jsonl``: error records taken out of ``annotations.jsonl`` by
  ``ptmcoder annotate --run ID --retry-errors`` (:meth:`Run.supersede_errors`), kept
  for the audit trail. ``annotations.jsonl`` is then rewritten atomically without
  them, so it keeps exactly one *current* record per unit and annotator and every
  reader (agreement, stats, ``runs show``) needs no rule about superseded rows; the
  retry's record says ``attempt`` 2 (3, ...).
- ``run.lock``: an exclusive ``flock`` held while a process writes the run, so
  two processes never annotate the same run at once.

A run appears whole or not at all: :func:`create_run` writes the manifest into a
hidden staging directory (``runs/.creating-<id>.<pid>.<hex>/``) renamed to ``runs/<id>/``.
What a kill or an older version left half-made is removed, and said, by the next
command that creates or lists runs (:func:`recover_runs`); the id can be used again.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import math
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict

from ptmcoder import __version__
from ptmcoder.errors import (
    ConfigError,
    InputRecordError,
    NotFoundError,
    Problem,
    problems_from,
)
from ptmcoder.errors import ValidationError as PtmValidationError
from ptmcoder.files import FileLock, LockHeld, append_line, fsync_dir, write_atomic, write_text
from ptmcoder.manifest import (
    Manifest,
    Origin,
    RunConfig,
    RunStatus,
    upgrade_manifest,
)
from ptmcoder.paths import runs_dir

MANIFEST = "manifest.json"
ANNOTATIONS = "annotations.jsonl"
SUPERSEDED = "superseded.jsonl"
LOCK = "run.lock"
#: the prefix of a run being created (hidden; renamed to the run's id once its
#: manifest is written)
STAGING = ".creating-"


def _non_finite(data: Any, path: str = "") -> tuple[str, float] | None:
    """The first NaN or infinity in ``data`` (a model dump): its dotted path and value."""
    if isinstance(data, float) and not math.isfinite(data):
        return path or "(top level)", data
    if isinstance(data, dict):
        items = [(f"{path}.{k}" if path else str(k), v) for k, v in data.items()]
    else:
        items = [(f"{path}[{i}]", v) for i, v in enumerate(data)] if isinstance(data, list) else []
    return next((f for w, v in items if (f := _non_finite(v, w)) is not None), None)


def utcnow() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def new_run_id(now: _dt.datetime | None = None) -> str:
    """A sortable id: ``20261122-071500-ab12`` (UTC time plus 4 random hex digits)."""
    now = now or _dt.datetime.now(_dt.UTC)
    return now.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the ptmcoder checkout, if it runs from one (None otherwise)."""
    here = start or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


@dataclass
class ReadResult:
    """The records of a JSON-lines file of a run, read by :func:`read_jsonl`."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    #: the 1-based line number of each record (to locate a later validation error)
    lines: list[int] = field(default_factory=list)
    #: bytes of a truncated or unparseable last line (a crash mid-write), ignored
    torn_tail: int = 0

    @property
    def notes(self) -> list[str]:
        """What was left out, for the reader's caller to report."""
        if not self.torn_tail:
            return []
        return [
            f"{self.path}: ignored a torn last line ({self.torn_tail} bytes; a crash "
            "mid-write); resuming the run cuts it off and codes its unit again"
        ]


def read_jsonl(path: Path) -> ReadResult:
    """Read a run's JSON-lines file (``annotations.jsonl``, ``superseded.jsonl``)
    with the one rule every reader follows: a torn last line (a crash mid-write) is
    ignored and reported in :attr:`ReadResult.torn_tail`; an unparseable line
    anywhere else is an :class:`~ptmcoder.errors.InputRecordError` naming the file
    and the line. A missing file has no records."""
    path = Path(path)
    result = ReadResult(path)
    if not path.exists():
        return result
    lines = path.read_bytes().split(b"\n")
    # a complete file ends with "\n", so the last element is b""
    tail = lines.pop()
    if tail:
        result.torn_tail = len(tail)
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            if i == len(lines) and not tail:
                result.torn_tail = len(line) + 1
                continue
            raise InputRecordError(
                str(path),
                f"line {i}",
                None,
                f"not a JSON record ({exc})",
                hint="only a torn last line is tolerated; fix or remove this line",
            ) from None
        result.records.append(record)
        result.lines.append(i)
    return result


@dataclass(frozen=True)
class RaterSource:
    """A rater of a run: its name there, the annotation store holding its records, and
    the annotator spec those records carry."""

    name: str
    store: Run
    annotator: str


class Run:
    """One run directory. Create with :func:`create_run`, open with :func:`open_run`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.id = self.path.name
        self._lock: FileLock | None = None
        self._fd: int | None = None
        self._attempts: dict[tuple[str, str], int] | None = None
        self._read: tuple[tuple[int, int], list[dict[str, Any]]] | None = None
        self.notes: list[str] = []  # what creating it recovered (a half-made run removed)

    # -- files ---------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def annotations_path(self) -> Path:
        return self.path / ANNOTATIONS

    def manifest(self) -> Manifest:
        """The run's manifest (an older one upgraded); a located error if unreadable."""
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(
                f"run {self.id!r} has no manifest.json",
                hint=f"is {self.path} a ptmcoder run directory?",
            ) from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise InputRecordError(str(self.manifest_path), "file", None, str(exc)) from None
        try:
            return Manifest.model_validate(upgrade_manifest(data, run_id=self.id))
        except pydantic.ValidationError as exc:
            raise PtmValidationError(
                problems_from(exc, str(self.manifest_path)),
                hint="manifest.json is written by ptmcoder; was it edited?",
            ) from None

    def write_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest atomically and durably (:func:`ptmcoder.files.write_text`).
        What is written must read back: a value JSON cannot hold (an option of NaN or
        infinity, stored as ``null``) is refused, located, before anything is written."""
        manifest = Manifest.model_validate(manifest)  # the one writer validates
        where = _non_finite(manifest.model_dump())
        if where is not None:
            raise PtmValidationError(
                [Problem(str(self.manifest_path), where[0], f"not a finite number ({where[1]})")],
                hint="give a finite value; JSON cannot hold NaN or infinity",
            )
        text = manifest.model_dump_json(indent=2)
        try:
            Manifest.model_validate_json(text)
        except pydantic.ValidationError as exc:
            raise PtmValidationError(
                problems_from(exc, str(self.manifest_path)),
                hint="a value that is not a finite number cannot be stored in a run's "
                "manifest; give a finite one",
            ) from None
        write_text(self.manifest_path, text + "\n")

    def _lockfile(self) -> FileLock:
        return FileLock(self.path / LOCK)

    def is_locked(self) -> bool:
        """Whether a process holds the run's lock (is writing it now)."""
        return self._lockfile().held_by_other()

    def status(self, manifest: Manifest | None = None) -> RunStatus:
        """The manifest's status, except that a run marked running whose lock is free
        was killed: it is ``interrupted``."""
        manifest = manifest or self.manifest()
        if manifest.status == RunStatus.RUNNING and not self.is_locked():
            return RunStatus.INTERRUPTED
        return manifest.status

    # -- stages and raters -----------------------------------------------------
    def stage_dir(self, stage: str) -> Path:
        """Where a study run's stage writes (``<run>/<stage>/``)."""
        return self.path / stage

    def raters(self, manifest: Manifest | None = None) -> list[RaterSource]:
        """The run's raters in order, each with the annotation store holding its
        records: a study's raters (``annotate/<rater>/``, those that have a store),
        or the annotators of an annotate run (its root)."""
        manifest = manifest or self.manifest()
        if manifest.origin is Origin.ANNOTATE:
            names = list(manifest.config.annotators)
            for r in self.records():  # records written by an annotator added later
                if r.get("annotator") and r["annotator"] not in names:
                    names.append(str(r["annotator"]))
            return [RaterSource(a, self, a) for a in names]
        config = (manifest.study.config if manifest.study else {}).get("annotate") or {}
        out = []
        for rater in config.get("raters") or []:
            store = Run(self.path / "annotate" / str(rater.get("name")))
            if store.manifest_path.is_file():
                specs = store.manifest().config.annotators
                spec = specs[0] if specs else str(rater.get("annotator"))
                out.append(RaterSource(str(rater.get("name")), store, spec))
        return out

    def coding_manifest(self) -> Manifest:
        """The manifest of the annotation store whose settings stand for the run's
        coding (codebook, level, corpus, prompt): the run's own for an annotate run,
        the first rater's store for a study (a study's raters share its codebook and
        corpus); a study not yet annotated gives its own, with the study's codebook."""
        manifest = self.manifest()
        if manifest.origin is Origin.ANNOTATE:
            return manifest
        raters = self.raters(manifest)
        if raters:
            return raters[0].store.manifest()
        annotate = (manifest.study.config if manifest.study else {}).get("annotate") or {}
        manifest.config = manifest.config.model_copy(
            update={"codebook": annotate.get("codebook"), "level": annotate.get("level")}
        )
        return manifest

    def rater(self, name: str | None = None, *, index: int = 0) -> RaterSource:
        """One rater by name, or the ``index``-th; a located error naming the raters."""
        raters = self.raters()
        names = [r.name for r in raters]
        if name is None:
            if index < len(raters):
                return raters[index]
            raise NotFoundError(
                f"run {self.id} has {len(raters)} rater(s)"
                + (f": {', '.join(names)}" if names else ""),
                hint="compare two runs, or a run with two raters",
            )
        for r in raters:
            if r.name == name:
                return r
        raise NotFoundError(
            f"run {self.id} has no rater {name!r}", hint=f"raters: {', '.join(names) or 'none'}"
        )

    def rater_records(self) -> list[dict[str, Any]]:
        """Every rater's current records, each with ``annotator`` set to its rater's
        name (in a study, two raters may use one annotator with other settings; an
        annotate run's records already name theirs)."""
        out: list[dict[str, Any]] = []
        for rater in self.raters():
            if rater.store is self:  # an annotate run: its records name their annotator
                return self.records()
            out.extend({**r, "annotator": rater.name} for r in rater.store.records())
        return out

    # -- records -------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """The current records (:func:`read_jsonl`'s rule). Read once per state of the
        file: asking again (raters, counts, summaries) costs no second read until the
        file changes size or time."""
        try:
            st = self.annotations_path.stat()
        except FileNotFoundError:
            return []
        key = (st.st_size, st.st_mtime_ns)
        if self._read is None or self._read[0] != key:
            self._read = (key, read_jsonl(self.annotations_path).records)
        return list(self._read[1])

    def done_keys(self) -> set[tuple[str, str]]:
        """(unit id, annotator) pairs that already have a record. A record without a
        string ``unit_id`` or ``annotator`` (an edited file) is an
        :class:`~ptmcoder.errors.InputRecordError` naming the file, line and field."""
        result = read_jsonl(self.annotations_path)
        keys = set()
        for line, r in zip(result.lines, result.records, strict=True):
            for name in ("unit_id", "annotator"):
                value = r.get(name)
                if not isinstance(value, str) or not value:
                    raise InputRecordError(
                        str(self.annotations_path),
                        f"line {line}",
                        name,
                        "missing" if value is None else f"not a non-empty string ({value!r})",
                        hint="every record names its unit and annotator; fix or remove "
                        "this line, then resume",
                    )
            keys.add((r["unit_id"], r["annotator"]))
        return keys

    @property
    def superseded_path(self) -> Path:
        return self.path / SUPERSEDED

    def superseded(self) -> list[dict[str, Any]]:
        """Error records replaced by a retry (oldest first)."""
        return read_jsonl(self.superseded_path).records

    def supersede_errors(self, annotators: list[str] | None = None) -> list[dict[str, Any]]:
        """Take the error records (of ``annotators``, default all) out of
        ``annotations.jsonl`` so that their units are pending again; returns them.

        Crash-safe in two steps: the records are first appended durably to
        ``superseded.jsonl`` (skipping any already there from an interrupted call),
        then ``annotations.jsonl`` is replaced atomically by a copy without them.
        A crash before the replace leaves the run as it was; after it, the units are
        simply pending and a plain resume codes them. Call it holding the run's lock
        and before any :meth:`append` of the session."""
        if self._fd is not None:
            raise RuntimeError("supersede_errors must run before records are appended")
        result = read_jsonl(self.annotations_path)
        wanted = None if annotators is None else set(annotators)
        gone = [
            r
            for r in result.records
            if r.get("error_type") and (wanted is None or r.get("annotator") in wanted)
        ]
        if not gone:
            return []
        gone_ids = {id(r) for r in gone}
        keep = [r for r in result.records if id(r) not in gone_ids]
        known = {json.dumps(r, sort_keys=True) for r in self.superseded()}
        new = [r for r in gone if json.dumps(r, sort_keys=True) not in known]
        if new:
            fd = os.open(self.superseded_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                for r in new:
                    append_line(fd, json.dumps(r, ensure_ascii=False))
            finally:
                os.close(fd)
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep).encode("utf-8")
        write_atomic(self.annotations_path, lambda fh: fh.write(data))
        self._attempts = None
        return gone

    def _prior_attempts(self) -> dict[tuple[str, str], int]:
        if self._attempts is None:
            attempts: dict[tuple[str, str], int] = {}
            for r in self.superseded():
                unit_id, annotator = r.get("unit_id"), r.get("annotator")
                if not isinstance(unit_id, str) or not isinstance(annotator, str):
                    continue  # a record's (unit_id, annotator) lookup could never match it
                key = (unit_id, annotator)
                attempts[key] = max(attempts.get(key, 0), int(r.get("attempt") or 1))
            self._attempts = attempts
        return self._attempts

    def repair(self) -> int:
        """Cut a torn last line left by a crash; returns the bytes removed."""
        path = self.annotations_path
        if not path.exists():
            return 0
        result = read_jsonl(path)
        if result.torn_tail:
            size = path.stat().st_size
            with open(path, "r+b") as fh:
                fh.truncate(size - result.torn_tail)
                fh.flush()
                os.fsync(fh.fileno())
        return result.torn_tail

    def append(self, record: Any) -> None:
        """Append one record durably: a single ``write`` of one line, then fsync."""
        if self._fd is None:
            self._fd = os.open(self.annotations_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if hasattr(record, "model_copy") and hasattr(record, "attempt"):
            prior = self._prior_attempts().get((record.unit_id, record.annotator))
            if prior:  # a retry of superseded error records
                record = record.model_copy(update={"attempt": prior + 1})
        if hasattr(record, "model_dump_json"):
            line = record.model_dump_json(exclude_none=False)
        else:
            line = json.dumps(record, ensure_ascii=False)
        append_line(self._fd, line)

    # -- locking ---------------------------------------------------------------
    def lock(self) -> None:
        """Take the run's exclusive lock (``run.lock``, one for every origin); fails
        if another process holds it."""
        lock = self._lockfile()
        try:
            lock.acquire()
        except LockHeld:
            raise ConfigError(
                f"run {self.id} is being written by another process (pid {lock.holder()})",
                hint="wait for it to finish, or start a new run",
            ) from None
        self._lock = lock

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Run:
        self.lock()
        self.repair()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def base_manifest(run_id: str, config: RunConfig | dict[str, Any]) -> Manifest:
    return Manifest(
        run_id=run_id,
        created_at=utcnow(),
        ptmcoder_version=__version__,
        git_commit=git_commit(),
        config=RunConfig.model_validate(config),
    )


def create_run(
    config: RunConfig | dict[str, Any],
    *,
    run_id: str | None = None,
    root: Path | None = None,
    manifest: Manifest | None = None,
) -> Run:
    """A new run directory ``root/run_id`` with its manifest (``manifest``, else
    :func:`base_manifest` of ``config``), atomically (see the module docstring); a
    half-made directory of that id is replaced, and :attr:`Run.notes` says so. Two
    processes creating one id: the second gets a :class:`~ptmcoder.errors.ConfigError`."""
    root = root or runs_dir()
    run_id = run_id or new_run_id()
    if manifest is None:
        manifest = base_manifest(run_id, config)
    manifest = Manifest.model_validate(manifest.model_copy(update={"run_id": run_id}))
    path = root / run_id
    root.mkdir(parents=True, exist_ok=True)
    notes = recover_runs(root, only=run_id)
    exists = ConfigError(
        f"run {path.name} already exists (another `ptmcoder annotate` may have just started it)",
        hint=f"resume it with `ptmcoder annotate --run {path.name}`, or pick a new id",
    )
    if path.exists():
        raise exists
    staging = root / f"{STAGING}{run_id}.{os.getpid()}.{secrets.token_hex(2)}"
    staging.mkdir()
    try:
        Run(staging).write_manifest(manifest)
        fsync_dir(staging)
        try:
            os.rename(staging, path)  # atomic; refused when another run took the id
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                raise exists from None
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(root)
    run = Run(path)
    run.notes = notes
    return run


def half_made(path: Path) -> bool:
    """Whether ``path`` is a run directory killed before its manifest was written: no
    ``manifest.json``, nothing in it but a lock or a temporary file, no process
    holding its lock. Records or stage outputs without a manifest are not half-made
    (they are kept, and listed as unreadable)."""
    if not path.is_dir() or (path / MANIFEST).exists():
        return False
    for entry in path.iterdir():
        temporary = entry.is_file() and entry.name.startswith(".") and entry.name.endswith(".tmp")
        if entry.name != LOCK and not temporary:
            return False
    return not Run(path).is_locked()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def recover_runs(root: Path | None = None, *, only: str | None = None) -> list[str]:
    """Remove what a killed run creation left in ``root`` (only ``only``'s when given):
    staging directories whose creating process is gone, and half-made run directories
    (:func:`half_made`). Returns one note per directory removed, for the caller to say."""
    root = root or runs_dir()
    if not root.is_dir():
        return []
    notes = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(STAGING):
            head = entry.name[len(STAGING) :].rpartition(".")[0]  # <id>.<pid>
            run_id, _, pid = head.rpartition(".")
            if only is not None and run_id != only:
                continue
            if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
                continue  # still being created
            shutil.rmtree(entry, ignore_errors=True)
            notes.append(
                f"removed {entry.name}: the creation of run {run_id or '?'} was killed "
                "before it finished (no run was made)"
            )
        elif (only is None or entry.name == only) and half_made(entry):
            shutil.rmtree(entry, ignore_errors=True)
            notes.append(
                f"removed the half-made run {entry.name}: it was killed before its manifest "
                "was written and held no records; it can be created again with that id"
            )
    if notes:
        fsync_dir(root)
    return notes


def resolve_run(ref: str, *, root: Path | None = None) -> Run:
    """A run by id, unique id prefix, ``latest``, or a path to a run directory."""
    candidate = Path(ref)
    if (candidate / MANIFEST).exists():
        return Run(candidate)
    root = root or runs_dir()
    ids = list_run_ids(root)
    if ref == "latest":
        if not ids:
            raise NotFoundError("there are no runs yet", hint="start one with `ptmcoder annotate`")
        return Run(root / ids[-1])
    if ref in ids:
        return Run(root / ref)
    matches = [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return Run(root / matches[0])
    if len(matches) > 1:
        raise NotFoundError(
            f"run id {ref!r} is ambiguous", hint="matches: " + ", ".join(matches[:5])
        )
    if (root / ref).is_dir() and not ref.startswith("."):
        raise NotFoundError(
            f"run {ref!r} has no {MANIFEST} ({root / ref}): it was killed while being created",
            hint="`ptmcoder annotate --run ID` with --codebook, --corpus and --annotator "
            "creates it again (a half-made run without records is replaced)",
        )
    raise NotFoundError(f"no run {ref!r} in {root}", hint="`ptmcoder runs list` shows the runs")


def list_run_ids(root: Path | None = None) -> list[str]:
    """The runs' ids, sorted; a hidden directory (a run being created) is none."""
    root = root or runs_dir()
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file()
    )


def distinguishing_settings(config: RunConfig) -> str:
    """The settings that tell two runs of one annotator apart (few-shot training,
    samples, model options), in one short line; empty for a plain zero-shot run."""
    parts = []
    if config.train:
        raters = f"[{','.join(config.train_raters)}]" if config.train_raters else ""
        parts.append(f"train={Path(config.train).name}{raters}")
    if config.shots:
        parts.append(f"shots={config.shots}")
    if config.samples != 1:
        parts.append(f"samples={config.samples}")
    if config.temperature is not None:
        parts.append(f"T={config.temperature}")
    if config.limit is not None:
        parts.append(f"limit={config.limit}")
    if config.prompt != RunConfig.model_fields["prompt"].default:
        parts.append(f"prompt={config.prompt}")
    if config.batch:
        parts.append("batch")
    return " ".join(parts)


def stage_states(manifest: Manifest) -> dict[str, str]:
    """A study run's stages in order, each with the status of its last session
    (ran, skipped, unavailable, failed, or running: killed unless the run is locked)."""
    states: dict[str, str] = {}
    for s in manifest.stage_sessions:
        states[s.stage] = s.status
    return states


def rater_setting(config: RunConfig) -> str:
    """How a rater used human codes: ``few-shot (k examples)`` placed in an LLM's
    prompt, ``supervised`` (a learner trained on them), or ``zero-shot`` (none)."""
    if config.shots:
        return f"few-shot ({config.shots} examples)"
    return "supervised" if config.train else "zero-shot"


def rater_usage(rater: RaterSource) -> dict[str, Any]:
    """What one rater cost: its annotator, model, prompt, records and errors, tokens,
    cost, mean latency, cache use and the seconds its sessions took (the annotate
    stage's summary and the cost section of ``compare``)."""
    manifest = rater.store.manifest()
    records = [r for r in rater.store.records() if r.get("annotator") == rater.annotator]
    meta = next((a for a in manifest.annotators if a.get("name") == rater.annotator), {})
    latencies = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    costs = [r["cost_usd"] for r in records if r.get("cost_usd") is not None]
    return {
        "rater": rater.name,
        "annotator": rater.annotator,
        "model": meta.get("model") or next((r.get("model") for r in records), None),
        "method": meta.get("method"),
        "prompt": manifest.prompt.id if manifest.prompt else None,
        "prompt_version": next((r.get("prompt_version") for r in records), None),
        "setting": rater_setting(manifest.config),
        "records": len(records),
        "errors": sum(1 for r in records if r.get("error_type")),
        "input_tokens": sum(r.get("input_tokens") or 0 for r in records),
        "output_tokens": sum(r.get("output_tokens") or 0 for r in records),
        "cost_usd": round(sum(costs), 6) if costs else None,
        "latency_mean_s": round(sum(latencies) / len(latencies), 4) if latencies else None,
        "cache_hits": manifest.cache.hits,
        "cache_misses": manifest.cache.misses,
        "cached_records": sum(1 for r in records if r.get("cached")),
        "seconds": round(sum(s.seconds or 0 for s in manifest.sessions), 3),
    }


class ErrorRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: str
    annotator: str
    error_type: str | None = None
    error: str | None = None


class RaterReport(BaseModel):
    """One rater of ``runs show``: its records counted in its annotation store."""

    model_config = ConfigDict(extra="forbid")

    name: str
    annotator: str
    model: str | None = None
    method: str | None = None
    settings: str = ""
    records: int = 0
    errors: int = 0
    pending: int | None = None
    store: str


class RunReport(Manifest):
    """What ``runs show --json`` prints: the manifest (its status as :meth:`Run.status`
    sees it), the run's current records counted per rater, a study's stages."""

    path: str
    records: int
    superseded_records: int
    error_records: list[ErrorRecord]
    raters: list[RaterReport]
    stages: dict[str, str]


def run_report(run: Run) -> RunReport:
    """The manifest of ``run`` with its records counted (read with the one rule of
    :func:`read_jsonl`) for each rater; ``status`` says ``interrupted`` for a killed
    run. In a study run, error records carry the rater's name as ``annotator``."""
    manifest = run.manifest()
    raters = run.raters(manifest)
    records = run.rater_records()  # current records: superseded ones are elsewhere
    errors = [r for r in records if r.get("error_type")]
    superseded = sum(len(s.superseded()) for s in {r.store.path: r.store for r in raters}.values())
    rows = []
    for r in raters:
        m = r.store.manifest()
        meta = next((a for a in m.annotators if a.get("name") == r.annotator), {})
        mine = [x for x in records if x.get("annotator") == r.name]
        counts = m.counts.by_annotator.get(r.annotator)
        rows.append(
            RaterReport(
                name=r.name,
                annotator=r.annotator,
                model=meta.get("model"),
                method=meta.get("method"),
                settings=distinguishing_settings(m.config) or "zero-shot",
                records=len(mine),
                errors=sum(1 for x in mine if x.get("error_type")),
                pending=counts.pending if counts else None,
                store=str(r.store.path),
            )
        )
    data = manifest.model_dump()
    data["status"] = run.status(manifest)
    return RunReport(
        **data,
        path=str(run.path),
        records=len(records),
        superseded_records=superseded,
        error_records=[
            ErrorRecord.model_validate(
                {k: r.get(k) for k in ("unit_id", "annotator", "error_type", "error")}
            )
            for r in errors
        ],
        raters=rows,
        stages=stage_states(manifest),
    )
