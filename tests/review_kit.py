"""Fixtures of the review tests: a real annotation run on the bundled Humbatova et
al. sample, coded by the offline TF-IDF annotator, plus two records written
through the runs API: an API error row and a record carrying a prompt-injection
flag (the ``flags`` field the hardening issue adds)."""

from __future__ import annotations

import shutil
import sys
import types
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
    (few-shot from the adjudicated labels)
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
                # few-shot from the adjudicated labels (cross-fitted: never a unit's own),
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


# -- STAND-IN, clearly marked ----------------------------------------------------------
# ptmcoder.crosswalk (helper "crosswalk") is written on another branch; until the
# merge, mapping decisions are checked against this stand-in, which only records the
# calls it receives. The real integration is tested once both branches are merged.


def crosswalk_standin(log: list) -> types.ModuleType:
    module = types.ModuleType("ptmcoder.crosswalk")

    def record_decision(
        mapping_set_path, subject_id, object_id, predicate, decision, *, reviewer, date, **kw
    ):
        log.append(
            {
                "mapping_set": str(mapping_set_path),
                "subject_id": subject_id,
                "object_id": object_id,
                "predicate": predicate,
                "decision": decision,
                "reviewer": reviewer,
                "date": date,
                "new_predicate": kw.get("new_predicate"),
            }
        )

    module.record_decision = record_decision
    module.__doc__ = "STAND-IN for tests only"
    return module


def install_crosswalk_standin(monkeypatch, log: list) -> None:
    monkeypatch.setitem(sys.modules, "ptmcoder.crosswalk", crosswalk_standin(log))
