"""A study run's stage outputs: the one place they are written and read.

Each stage writes ``<run>/<stage>/``: its files, its main output
``<stage>/<stage>.json`` and, last, its stage record ``<stage>/stage.json`` (the
content hash of its inputs and settings, its outputs and their hash). The report,
the comparison and the terminal summary read a run through these functions and
nothing else; the run itself (manifest, raters, lock) is :mod:`ptmcoder.runs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ptmcoder.errors import NotFoundError, PtmcoderError
from ptmcoder.files import hash_files, write_json

STAGE_RECORD = "stage.json"
#: the long table of every rater's codes the agree stage writes (``unit, rater, code``)
CODINGS = "codings.csv"
#: the gold labels the agree stage used (``unit, rater, code``)
GOLD = "gold.csv"


def stage_dir(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / str(stage)


def read_stage_record(run_dir: Path, stage: str) -> dict[str, Any] | None:
    """The stage record, or None when the stage never finished."""
    path = stage_dir(run_dir, stage) / STAGE_RECORD
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_stage_record(run_dir: Path, stage: str, record: dict[str, Any]) -> None:
    """Write the stage record (last, after every output: its presence says done)."""
    write_json(stage_dir(run_dir, stage) / STAGE_RECORD, record)


def read_stage_output(run_dir: Path, stage: str) -> dict[str, Any] | None:
    """A stage's main output (``<stage>/<stage>.json``), or None when it has none."""
    path = stage_dir(run_dir, stage) / f"{stage}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_stage_output(run_dir: Path, stage: str, output: dict[str, Any]) -> None:
    write_json(stage_dir(run_dir, stage) / f"{stage}.json", output)


def require_stage(run_dir: Path, stage: str) -> dict[str, Any]:
    """A stage's main output; a clean error when the stage has not run."""
    out = read_stage_output(run_dir, stage)
    if out is None:
        raise PtmcoderError(f"run {Path(run_dir).name} has no {stage} output", hint="run the study")
    return out


def output_files(run_dir: Path, stage: str) -> list[Path]:
    """The files a stage wrote (not its record, not hidden or lock files)."""
    root = stage_dir(run_dir, stage)
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name != STAGE_RECORD
        and not p.name.startswith(".")
        and p.suffix != ".lock"
    )


def output_hash(run_dir: Path, stage: str) -> str:
    """One hash over a stage's output files (paths and contents)."""
    return hash_files(output_files(run_dir, stage), stage_dir(run_dir, stage))


def _long(path: Path) -> pd.DataFrame:
    from ptmcoder.tables import read_long_table

    return read_long_table(path)


def read_codings(run_dir: Path) -> pd.DataFrame:
    """The raters' codes of a study run, long: ``unit, rater, code`` (agree stage)."""
    path = stage_dir(run_dir, "agree") / CODINGS
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist", hint="run the agree stage first")
    return _long(path)


def read_reference(run_dir: Path) -> pd.DataFrame | None:
    """The gold labels the agree stage used (``unit, rater, code``), or None."""
    path = stage_dir(run_dir, "agree") / GOLD
    return _long(path) if path.is_file() else None


def read_map_tables(run_dir: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The map stage's input codings and its translated table (``unit, rater, code``,
    the translated one with ``source_code, relation, mapping_id``); None where the
    stage wrote none."""
    folder = stage_dir(run_dir, "map")
    source, target = folder / "input.csv", folder / "translated.csv"
    return (
        _long(source) if source.is_file() else None,
        _long(target) if target.is_file() else None,
    )


def codes_by_unit(df: pd.DataFrame, unit: str = "unit") -> dict[str, list[str]]:
    """unit -> its codes, from a long table (a unit without a code is left out)."""
    codes: dict[str, list[str]] = {}
    for u, c in zip(df[unit].astype(str), df["code"], strict=True):
        if isinstance(c, str) and c:
            codes.setdefault(u, []).append(c)
    return codes


def rater_codings(run_dir: Path) -> pd.DataFrame:
    """Every rater's codes in a run of either origin, long: ``unit, rater, code``,
    rater = the rater's name in the run (a study's configured name, or the annotator
    of an annotate run), read with the one reader of annotation records. A failed
    record is a row with an empty code."""
    from ptmcoder.agreement.io import annotations_to_long
    from ptmcoder.runs import Run

    frames = []
    for rater in Run(Path(run_dir)).raters():
        long = annotations_to_long(rater.store.path)
        long = long[long["rater"] == rater.annotator].assign(rater=rater.name)
        frames.append(long[["unit", "rater", "code"]])
    if not frames:
        raise NotFoundError(f"run {Path(run_dir).name} has no annotation records yet")
    return pd.concat(frames, ignore_index=True).astype("string")
