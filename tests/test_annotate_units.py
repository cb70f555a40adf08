"""Bundled-sample name resolution for --corpus and --train, and the --train-rater warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptmcoder.corpus.units import load_labels, load_units, sample_names
from ptmcoder.errors import NotFoundError

HUMBATOVA_RATERS = ["E1", "E2", "E3", "E4", "E5", "E6"]


def test_a_sample_file_name_without_extension_resolves():
    final = load_labels("humbatova_so_final")
    assert Path(final.attrs["source"]).name == "humbatova_so_final.csv"
    assert set(final["rater"]) == {"final"} and len(final) > 400
    assert final.attrs["raters_available"] == ["final"]
    # the short name still means the raters' labels; the file name means the same file
    short, full = load_labels("humbatova_so"), load_labels("humbatova_so_labels")
    assert Path(short.attrs["source"]).name == "humbatova_so_labels.csv"
    assert short.equals(full)
    assert short.attrs["raters_available"] == HUMBATOVA_RATERS
    assert (
        load_units("humbatova_so_titles")["id"].tolist()
        == load_units("humbatova_so")["id"].tolist()
    )
    assert "humbatova_so_final" in sample_names()


def test_unknown_label_name_lists_the_samples():
    with pytest.raises(NotFoundError) as info:
        load_labels("humbatova_so_finale")
    assert "humbatova_so_final" in info.value.hint


def test_unknown_train_rater_is_reported_with_the_raters_that_exist():
    labels = load_labels("humbatova_so", raters=["final", "E2"])
    assert labels.attrs["raters_unknown"] == ["final"]
    assert set(labels["rater"]) == {"E2"}


def _annotate(run_cli, *train):
    result = run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        "humbatova_so",
        "--annotator",
        "embedded:tfidf",
        "--limit",
        "3",
        "--no-progress",
        "--json",
        *train,
    )
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    records = [
        json.loads(x)
        for x in (Path(json.loads(result.stdout)["path"]) / "annotations.jsonl")
        .read_text()
        .splitlines()
    ]
    return " ".join(result.stderr.split()), records


def test_train_rater_warning_and_the_final_labels_end_to_end(run_cli):
    stderr, records = _annotate(run_cli, "--train", "humbatova_so", "--train-rater", "final")
    assert (
        "--train-rater final: no such rater in humbatova_so_labels.csv; its raters are "
        + ", ".join(HUMBATOVA_RATERS)
    ) in stderr
    assert "use --train humbatova_so_final" in stderr
    assert {r["method"] for r in records} == {"zero-shot"}

    stderr, records = _annotate(run_cli, "--train", "humbatova_so_final", "--train-rater", "final")
    assert "no such rater" not in stderr and "no usable human codes" not in stderr
    assert len(records) == 3 and {r["method"] for r in records} == {"supervised"}
