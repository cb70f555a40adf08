"""Fixtures of the review tests: a real annotation run on the bundled Humbatova et
al. sample, coded by the offline TF-IDF annotator, plus two records written
through the runs API: an API error row and a record carrying a prompt-injection
flag (the ``flags`` field the hardening issue adds)."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from ptmcoder.annotate.records import Annotation, CodeAssignment, ErrorType
from ptmcoder.paths import samples_dir

LABELS = samples_dir() / "humbatova_so_labels.csv"
FINAL = samples_dir() / "humbatova_so_final.csv"
N_UNITS = 40
ERROR_UNIT_INDEX = 0  # the first unit also gets an API error row of a second annotator
INJECTION_UNIT_INDEX = 1
SECOND = "openai:gpt-test"  # a second annotator's records, written through the runs API


def make_run(root: Path) -> Path:
    """Annotate the first N_UNITS units of ``humbatova_so`` with ``embedded:tfidf``
    (supervised by the adjudicated labels)
    into a run under ``root`` (the workspace), then append the two extra records."""
    import os

    from ptmcoder.annotate.runner import AnnotateOptions, annotate
    from ptmcoder.corpus.units import load_units
    from ptmcoder.runs import resolve_run

    old = os.environ.get("PTMCODER_HOME")
    os.environ["PTMCODER_HOME"] = str(root)
    try:
        result = annotate(
            AnnotateOptions(
                codebook="humbatova-screening",
                corpus="humbatova_so",
                annotators=["embedded:tfidf"],
                limit=N_UNITS,
                # supervised by the adjudicated labels (cross-fitted: never a unit's own),
                # so that some units are coded as every human coded them (audit pool)
                train="humbatova_so_final",
                train_raters=["final"],
                progress=False,
            ),
            stderr=Console(stderr=True, quiet=True),
        )
        run = resolve_run(str(result.run.path))
    finally:
        if old is None:
            os.environ.pop("PTMCODER_HOME", None)
        else:
            os.environ["PTMCODER_HOME"] = old
    units = load_units("humbatova_so", limit=N_UNITS)
    ids = list(units["id"])
    with run:
        run.append(
            Annotation(
                unit_id=ids[ERROR_UNIT_INDEX],
                annotator=SECOND,
                error_type=ErrorType.API,
                error="HTTP 500 from the endpoint",
            )
        )
        flagged = Annotation(
            unit_id=ids[INJECTION_UNIT_INDEX],
            annotator=SECOND,
            codes=[CodeAssignment(code="generic", confidence=0.9, evidence="not in the title")],
        ).model_dump(mode="json")
        flagged["flags"] = ["possible_injection: 'ignore previous instructions' in the body"]
        run.append(flagged)
    return run.path


def install_run(template: Path, home: Path) -> Path:
    """Copy a template run into ``home``'s runs/ (each test gets its own copy)."""
    target = home / "runs" / template.name
    shutil.copytree(template, target)
    return target


# -- a real crosswalk to review ---------------------------------------------------------


CROSSWALK = "banyongrakkul2025__humbatova2020"


def workspace_crosswalk(home: Path) -> tuple[Path, list[dict]]:
    """A workspace copy of a bundled crosswalk (decisions are written into it, never
    into the bundled file) and its first three suggestion rows, as review reads them."""
    import shutil

    from ptmcoder.paths import bundled_dir
    from ptmcoder.review.build import mapping_suggestions

    target = home / "codebooks" / "crosswalks" / f"{CROSSWALK}.sssom.tsv"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(bundled_dir("codebooks") / "crosswalks" / f"{CROSSWALK}.sssom.tsv", target)
    return target, mapping_suggestions(target)[:3]


def reviewed_rows(path: Path, adjudicator: str) -> dict[tuple[str, str], object]:
    """The rows of a crosswalk file reviewed by ``adjudicator``, by (subject, object)."""
    from ptmcoder.crosswalk import load_mapping_set

    return {
        (m.subject_id, m.object_id): m
        for m in load_mapping_set(path).mappings
        if m.reviewer_id == f"reviewer:{adjudicator}"
    }
