"""Run directories: ``<workspace>/runs/<sortable id>/``.

A run holds

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
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptmcoder import __version__
from ptmcoder.errors import ConfigError, InputRecordError, NotFoundError
from ptmcoder.paths import runs_dir

MANIFEST = "manifest.json"
ANNOTATIONS = "annotations.jsonl"
SUPERSEDED = "superseded.jsonl"
LOCK = "run.lock"


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


class Run:
    """One run directory. Create with :func:`create_run`, open with :func:`open_run`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.id = self.path.name
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._attempts: dict[tuple[str, str], int] | None = None

    # -- files ---------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def annotations_path(self) -> Path:
        return self.path / ANNOTATIONS

    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(
                f"run {self.id!r} has no manifest.json",
                hint=f"is {self.path} a ptmcoder run directory?",
            ) from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically (write a temporary file, fsync, rename)."""
        tmp = self.manifest_path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, ensure_ascii=False, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)

    # -- records -------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.annotations_path).records

    def done_keys(self) -> set[tuple[str, str]]:
        """(unit id, annotator) pairs that already have a record."""
        return {(r["unit_id"], r["annotator"]) for r in self.records()}

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
                os.write(
                    fd,
                    "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in new).encode("utf-8"),
                )
                os.fsync(fd)
            finally:
                os.close(fd)
        tmp = self.annotations_path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in keep)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.annotations_path)
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._attempts = None
        return gone

    def _prior_attempts(self) -> dict[tuple[str, str], int]:
        if self._attempts is None:
            attempts: dict[tuple[str, str], int] = {}
            for r in self.superseded():
                key = (r.get("unit_id"), r.get("annotator"))
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
        data = (line + "\n").encode("utf-8")
        written = os.write(self._fd, data)
        while written < len(data):  # pragma: no cover - regular files write fully
            written += os.write(self._fd, data[written:])
        os.fsync(self._fd)

    # -- locking ---------------------------------------------------------------
    def lock(self) -> None:
        """Take the run's exclusive lock; fails if another process holds it."""
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"run {self.id} is being written by another process",
                hint="wait for it to finish, or start a new run",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Run:
        self.lock()
        self.repair()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def base_manifest(run_id: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "kind": "annotate",
        "created_at": utcnow(),
        "ptmcoder_version": __version__,
        "git_commit": git_commit(),
        "config": config,
        "sessions": [],
    }


def create_run(
    config: dict[str, Any], *, run_id: str | None = None, root: Path | None = None
) -> Run:
    root = root or runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    run_id = run_id or new_run_id()
    path = root / run_id
    path.mkdir(exist_ok=False)
    run = Run(path)
    run.write_manifest(base_manifest(run_id, config))
    return run


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
    raise NotFoundError(f"no run {ref!r} in {root}", hint="`ptmcoder runs list` shows the runs")


def list_run_ids(root: Path | None = None) -> list[str]:
    root = root or runs_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file())


def run_summary(run: Run) -> dict[str, Any]:
    """One row of ``runs list``: id, creation, codebook, annotators, counts."""
    manifest = run.manifest()
    config = manifest.get("config", {})
    try:
        records = run.records()
    except InputRecordError as exc:  # listed, with the located error as its status
        records, unreadable = [], str(exc.message)
    else:
        unreadable = None
    errors = sum(1 for r in records if r.get("error_type"))
    return {
        "run_id": run.id,
        "created_at": manifest.get("created_at"),
        "codebook": config.get("codebook_id"),
        "level": config.get("level"),
        "corpus": config.get("corpus"),
        "annotators": [
            a if isinstance(a, str) else a.get("name") for a in config.get("annotators", [])
        ],
        "units": manifest.get("counts", {}).get("units"),
        "records": len(records),
        "errors": errors,
        "status": "unreadable" if unreadable else manifest.get("status", "unknown"),
        "problem": unreadable,
        "path": str(run.path),
    }
