"""``runs list``: one summary row per run of either origin, after the half-made runs a
killed creation left are recovered (:func:`ptmcoder.runs.recover_runs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptmcoder.errors import InputRecordError, PtmcoderError
from ptmcoder.manifest import Origin
from ptmcoder.paths import runs_dir
from ptmcoder.runs import (
    MANIFEST,
    Run,
    distinguishing_settings,
    list_run_ids,
    recover_runs,
    stage_states,
)


def _unreadable_row(run: Run, problem: str) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "origin": None,
        "study": None,
        "created_at": None,
        "codebook": None,
        "level": None,
        "corpus": None,
        "annotators": [],
        "models": [],
        "settings": "",
        "units": None,
        "records": 0,
        "errors": 0,
        "stages": {},
        "status": "unreadable",
        "problem": problem,
        "path": str(run.path),
    }


def run_summary(run: Run) -> dict[str, Any]:
    """One row of ``runs list`` for a run of either origin: id, origin, study,
    creation, codebook, raters with their models and distinguishing settings, counts,
    a study's stages with their last status. A run whose manifest or records cannot
    be read is a row with status ``unreadable`` and the located error in ``problem``
    (the listing goes on)."""
    try:
        manifest = run.manifest()
        raters = run.raters(manifest)
        stores = {r.store.path: r.store.manifest() for r in raters}
    except PtmcoderError as exc:
        return _unreadable_row(run, exc.message)
    records: list[dict[str, Any]] = []
    unreadable = None
    try:
        for path in stores:
            records.extend(Run(path).records())
    except InputRecordError as exc:  # listed, with the located error as its status
        records, unreadable = [], str(exc.message)
    first = next(iter(stores.values()), manifest)
    config = first.config
    models: list[str | None] = []
    settings: list[str] = []
    for r in raters:
        m = stores[r.store.path]
        by_name = {a.get("name"): a.get("model") for a in m.annotators}
        models.append(by_name.get(r.annotator))
        if manifest.origin is Origin.STUDY and distinguishing_settings(m.config):
            settings.append(f"{r.name}: {distinguishing_settings(m.config)}")
    if manifest.origin is Origin.ANNOTATE:
        settings = [distinguishing_settings(config)]
    study = manifest.study.id if manifest.study else None
    return {
        "run_id": run.id,
        "origin": manifest.origin.value,
        "study": study,
        "created_at": manifest.created_at,
        "codebook": (
            (manifest.study.config.get("annotate") or {}).get("codebook")
            if manifest.study
            else config.codebook_id
        ),
        "level": config.level,
        "corpus": config.corpus,
        "annotators": [r.name for r in raters],
        "models": models,
        "settings": "; ".join(s for s in settings if s),
        "units": first.counts.units,
        "records": len(records),
        "errors": sum(1 for r in records if r.get("error_type")),
        "stages": stage_states(manifest),
        "status": "unreadable" if unreadable else run.status(manifest).value,
        "problem": unreadable,
        "path": str(run.path),
    }


def list_runs(root: Path | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """``runs list``: after :func:`recover_runs`, one :func:`run_summary` row per run,
    oldest first, and an ``unreadable`` row for a directory that holds data but no
    manifest; and the recovery notes."""
    root = root or runs_dir()
    notes = recover_runs(root)
    rows = [run_summary(Run(root / rid)) for rid in list_run_ids(root)]
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if (
                entry.is_dir()
                and not entry.name.startswith(".")
                and not (entry / MANIFEST).exists()
            ):
                rows.append(
                    _unreadable_row(
                        Run(entry),
                        f"{entry / MANIFEST}: missing (the run was killed while being "
                        "created, or the file was removed); its files are kept",
                    )
                )
    rows.sort(key=lambda r: r["run_id"])
    return rows, notes
