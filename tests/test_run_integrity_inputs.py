"""Issue #25, inputs: no silent success from agree, review build and the demo, and
located errors for a study file's bytes and numbers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes import write_units

from ptmcoder.errors import ValidationError
from ptmcoder.pipeline import load_study

TFIDF = ("--annotator", "embedded:tfidf", "--no-progress")

STUDY = """
[study]
id = "snap"

[import]
files = ["units.csv"]
platform = "stackoverflow"
mapping = {{ id = "id", title = "title" }}

[annotate]
codebook = "humbatova-screening"

[[annotate.raters]]
name = "first"
annotator = "embedded:tfidf"
"""


def write_study(home: Path, extra: str = "") -> Path:
    write_units(home / "units.csv", 4)
    study = home / "snap.toml"
    study.write_text(STUDY.format() + extra, encoding="utf-8")
    return study


def tfidf_annotate(units: Path) -> tuple[str, ...]:
    return ("annotate", "--codebook", "humbatova-screening", "--corpus", str(units), *TFIDF)


def _labels(path: Path, units: list[str]) -> Path:
    path.write_text("unit,rater,code\n" + "".join(f"{u},E1,generic\n" for u in units))
    return path


def test_agree_and_review_build_refuse_a_run_sharing_no_unit(isolated_home, run_cli):
    units = write_units(isolated_home / "units.csv", 4)
    assert run_cli(*tfidf_annotate(units)).exit_code == 0
    other = _labels(isolated_home / "other.csv", ["x:1", "x:2"])
    result = run_cli("agree", str(other), "--run", "latest", "--view", "pairs")
    assert result.exit_code != 0 and result.exception is None
    assert "shares no unit with the labels" in result.stderr
    assert "(latest)" in result.stderr
    result = run_cli("review", "build", "latest", "--humans", str(other))
    assert result.exit_code != 0 and result.exception is None
    assert "shares no unit with" in result.stderr and "other.csv" in result.stderr
    # labels that do share units still work
    mine = _labels(isolated_home / "mine.csv", ["u:0", "u:1"])
    assert run_cli("review", "build", "latest", "--humans", str(mine)).exit_code == 0


def test_demo_writes_only_inside_its_workspace(tmp_path, monkeypatch):
    from ptmcoder.demo import DEMO_WORKSPACE, run_demo

    cwd = tmp_path / "checkout"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("PTMCODER_HOME")
    result = run_demo(embedder="embedded:tfidf", limit=10, n_boot=10)
    outside = [p for p in cwd.iterdir() if p.name != DEMO_WORKSPACE]
    assert outside == []
    workspace = cwd / DEMO_WORKSPACE
    assert result.run_dir.is_relative_to(workspace)
    assert (workspace / "locks").is_dir() and (workspace / "corpora").is_dir()
    assert "PTMCODER_HOME" not in os.environ  # restored


def test_study_file_with_non_utf8_bytes_is_located(isolated_home):
    study = write_study(isolated_home)
    study.write_bytes(study.read_bytes().replace(b'id = "snap"', b'id = "sn\xe9p"'))
    with pytest.raises(ValidationError) as info:
        load_study(study)
    assert f"{study}: line 3, column 9: not UTF-8 text (byte 0xe9)" in str(info.value)


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ("\n[agree]\nbootstrap = 1000000000000\n", "agree.bootstrap", "100000"),
        ("\n[stats]\nbootstrap = 10000000000\n", "stats.bootstrap", "100000"),
        ("", "annotate.raters[0].folds", "greater than or equal to 2"),
    ],
)
def test_study_numbers_out_of_range_are_located(isolated_home, extra, key, words):
    study = write_study(isolated_home, extra)
    if not extra:
        text = study.read_text().replace('name = "first"', 'name = "first"\nfolds = 0')
        study.write_text(text)
    with pytest.raises(ValidationError) as info:
        load_study(study)
    message = str(info.value)
    assert f"{study}: key {key}" in message and words in message
