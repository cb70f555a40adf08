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
#: a cascade's folder in the annotate stage (``[route]``, :mod:`ptmcoder.pipeline.cascade`)
ROUTE_DIR = "route"
#: the cascade's summary: unit -> tier and threshold, per-tier accounting
ROUTE_FILE = "route.json"
#: the cascade as one routing decision (``review.routing.read_route`` reads it)
CASCADE_FILE = "cascade.json"


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


def route_dir(annotate_dir: Path) -> Path:
    """A cascade's folder inside the annotate stage's directory."""
    return Path(annotate_dir) / ROUTE_DIR


def cascade_file(run_dir: Path) -> Path | None:
    """The cascade's routing decision of a study run (``annotate/route/cascade.json``),
    or None when the study has no ``[route]``."""
    path = route_dir(stage_dir(run_dir, "annotate")) / CASCADE_FILE
    return path if path.is_file() else None


def read_cascade(run_dir: Path) -> dict[str, Any] | None:
    """The one reader of a cascade's summary (``annotate/route/route.json``: every
    accepted unit's tier, threshold, confidence and codes; each tier's guarantee,
    coverage, calls and cost; the calls saved), or None without ``[route]``."""
    path = route_dir(stage_dir(run_dir, "annotate")) / ROUTE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def route_audit(run_dir: Path) -> dict[str, Any] | None:
    """The realized agreement on the audited accepted units of a cascade: each audit
    item of the run's review queue drawn from the accepted units (stratum
    ``accepted``) whose latest decision is in, compared with the codes its tier
    accepted (the same codes: agreement; other codes, reject or no code fits: not),
    with the Wilson 95% interval, overall and per tier. None without a cascade or a
    queue."""
    cascade = read_cascade(run_dir)
    if cascade is None:
        return None
    from ptmcoder.errors import NotFoundError as Missing
    from ptmcoder.review import open_queue
    from ptmcoder.review.outputs import decided, wilson
    from ptmcoder.review.store import Action

    accepted = cascade.get("accepted_units") or {}
    try:
        queue = open_queue(str(run_dir))
    except Missing:
        return None
    with queue.store as store:
        items = [
            i
            for i in store.items()
            if i.kind == "unit"
            and any(
                r.get("reason") == "audit" and r.get("stratum") == "accepted" for r in i.reasons
            )
        ]
        done = decided(queue)
    n = agreeing = 0
    by_tier: dict[str, dict[str, int]] = {}
    for item in items:
        unit = str(item.unit_id)
        ds = done.get(item.id)
        if not ds or unit not in accepted:
            continue
        latest = max(ds, key=lambda d: d.id)
        same = latest.action not in (Action.REJECT, Action.NO_FIT) and sorted(
            latest.codes or []
        ) == sorted(accepted[unit]["codes"])
        tier = by_tier.setdefault(str(accepted[unit]["tier"]), {"n": 0, "agreeing": 0})
        n += 1
        tier["n"] += 1
        agreeing += int(same)
        tier["agreeing"] += int(same)
    low, high = wilson(agreeing, n)
    return {
        "sampled": len(items),
        "n": n,
        "agreeing": agreeing,
        "rate": agreeing / n if n else None,
        "ci_low": low,
        "ci_high": high,
        "ci_method": "Wilson 95%",
        "by_tier": by_tier,
    }
