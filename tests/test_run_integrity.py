"""Issue #25, runs and studies: one corpus snapshot per study run, atomic run creation
and recovery of half-made runs, no silent success, located errors for bad records and
study files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fakes import answer, codes_responder, openai_annotate, write_units
from llm_server import LLMServer, Reply

from ptmcoder.errors import ConfigError, InputRecordError, ValidationError
from ptmcoder.pipeline import run_study
from ptmcoder.runlist import list_runs
from ptmcoder.runs import MANIFEST, STAGING, Run, create_run, list_run_ids

FAKE_KEY = "sk-test-integrity-0000"
MAPPING = {"id": "id", "title": "title"}
REPLACE = {"platform": "stackoverflow", "replace": True}
TFIDF = ("--annotator", "embedded:tfidf", "--no-progress")


def tfidf_annotate(units: Path) -> tuple[str, ...]:
    return ("annotate", "--codebook", "humbatova-screening", "--corpus", str(units), *TFIDF)


STUDY = """
[study]
id = "snap"

[import]
files = ["{units}"]
corpus = "snap-corpus"
platform = "stackoverflow"
mapping = {{ id = "id", title = "title" }}

[annotate]
codebook = "humbatova-screening"

[[annotate.raters]]
name = "first"
annotator = "embedded:tfidf"

[[annotate.raters]]
name = "second"
annotator = "embedded:tfidf"
multi_threshold = 0.4
"""


def write_study(home: Path, extra: str = "") -> Path:
    units = write_units(home / "units.csv", 12)
    study = home / "snap.toml"
    study.write_text(STUDY.format(units=units) + extra, encoding="utf-8")
    return study


def store_units(store: Path) -> set[str]:
    lines = (store / "annotations.jsonl").read_text().splitlines()
    return {json.loads(line)["unit_id"] for line in lines}


# -- item 9: a study codes one snapshot ----------------------------------------------------


def test_corpus_replaced_between_raters_never_reaches_the_second(isolated_home, monkeypatch):
    from ptmcoder.corpus.store import import_corpus
    from ptmcoder.pipeline import stages

    study = write_study(isolated_home)
    other = isolated_home / "other.csv"
    other.write_text("id,title\n" + "".join(f"new:{i},Replaced text {i}\n" for i in range(9)))
    real = stages._adapt_annotate_rater
    seen: list[str] = []

    def replace_after_first(ctx, rater, *args, **kwargs):
        seen.append(rater.name)
        if rater.name == "second":  # the corpus is replaced between the two raters
            import_corpus(
                [other], "snap-corpus", mapping=MAPPING, platform="stackoverflow", replace=True
            )
        return real(ctx, rater, *args, **kwargs)

    monkeypatch.setattr(stages, "_adapt_annotate_rater", replace_after_first)
    with pytest.raises(ConfigError, match="snap-corpus.*replaced after the run started"):
        run_study(study)
    assert seen == ["first", "second"]
    run_dir = Path(isolated_home / "runs" / list_run_ids()[0])
    first = run_dir / "annotate" / "first"
    second = run_dir / "annotate" / "second"
    assert store_units(first) == {f"u:{i}" for i in range(12)}
    assert not (second / "annotations.jsonl").exists()  # the new texts reached no rater
    assert Run(run_dir).manifest().status.value == "incomplete"

    # the next run is not "up to date": the import stage restores the study's corpus,
    # and both raters code that one version
    monkeypatch.setattr(stages, "_adapt_annotate_rater", real)
    result = run_study(study)
    status = {o.stage: o.status for o in result.outcomes}
    assert status["import"] == "ran"
    assert store_units(first) == store_units(second) == {f"u:{i}" for i in range(12)}
    fingerprints = {Run(s).manifest().corpus.fingerprint for s in (first, second)}
    assert len(fingerprints) == 1


def test_corpus_replaced_between_sessions_reruns_the_import(isolated_home):
    from ptmcoder.corpus.store import import_corpus

    study = write_study(isolated_home)
    run_study(study)
    other = isolated_home / "other.csv"
    other.write_text("id,title\nnew:1,Replaced\n")
    import_corpus([other], "snap-corpus", mapping=MAPPING, **REPLACE)
    result = run_study(study)
    assert {o.stage: o.status for o in result.outcomes}["import"] == "ran"
    again = run_study(study)
    assert {o.stage: o.status for o in again.outcomes}["import"] == "skipped"


# -- item 10: atomic creation, half-made runs recovered -----------------------------------


def test_create_run_is_atomic_when_killed_before_the_rename(isolated_home, monkeypatch):
    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt  # as a kill between the manifest and the rename

    with monkeypatch.context() as patch:
        patch.setattr(os, "rename", killed)
        with pytest.raises(KeyboardInterrupt):
            create_run({"codebook": "x"}, run_id="r1")
    root = isolated_home / "runs"
    assert not (root / "r1").exists()  # never visible without its manifest
    assert list_run_ids(root) == []
    run = create_run({"codebook": "x"}, run_id="r1")
    assert (run.path / MANIFEST).is_file() and run.manifest().run_id == "r1"
    assert not [p for p in root.iterdir() if p.name.startswith(STAGING)]


def test_a_dead_creators_staging_directory_is_cleaned_and_said(isolated_home, run_cli):
    root = isolated_home / "runs"
    staging = root / f"{STAGING}r2.999999999.abcd"
    staging.mkdir(parents=True)
    (staging / MANIFEST).write_text("{}")
    result = run_cli("runs", "list")
    assert result.exit_code == 0, result.stderr
    assert not staging.exists()
    assert "recovered" in result.stderr and "r2" in result.stderr


def test_half_made_run_is_recreated_with_the_same_id(isolated_home, run_cli):
    units = write_units(isolated_home / "units.csv", 5)
    half = isolated_home / "runs" / "20260101-000000-dead"
    half.mkdir(parents=True)  # killed between mkdir and the manifest (older versions)
    (half / ".manifest.json.4242.tmp").write_text('{"run_')
    # --run ID alone says why it cannot resume and how to recreate it
    result = run_cli("annotate", "--run", half.name, "--no-progress")
    assert result.exit_code != 0 and result.exception is None
    assert "killed before its manifest was written" in result.stderr
    # recreated with the same id
    result = run_cli(*tfidf_annotate(units), "--run", half.name)
    assert result.exit_code == 0, result.stderr
    assert "recovered" in result.stderr and half.name in result.stderr
    assert Run(half).manifest().run_id == half.name
    assert len(Run(half).records()) == 5
    listed = run_cli("runs", "list", "--json")
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [half.name]


def test_runs_list_cleans_an_empty_half_made_run_and_shows_one_with_data(isolated_home, run_cli):
    root = isolated_home / "runs"
    (root / "20260101-000000-aaaa").mkdir(parents=True)
    kept = root / "20260101-000000-bbbb"
    kept.mkdir()
    (kept / "annotations.jsonl").write_text('{"unit_id": "u:1", "annotator": "x"}\n')
    rows, notes = list_runs(root)
    assert not (root / "20260101-000000-aaaa").exists()
    assert any("20260101-000000-aaaa" in n for n in notes)
    assert [(r["run_id"], r["status"]) for r in rows] == [(kept.name, "unreadable")]
    assert "manifest.json: missing" in rows[0]["problem"]
    assert kept.exists()  # records are never removed


def test_study_run_killed_before_its_manifest_is_recovered(isolated_home):
    study = write_study(isolated_home)
    half = isolated_home / "runs" / "20260101-000000-cafe-snap"
    half.mkdir(parents=True)
    notes: list[str] = []
    result = run_study(study, run=half.name, say=notes.append)
    assert result.run_dir == half
    assert Run(half).manifest().study.id == "snap"
    assert any("recovered" in n and half.name in n for n in notes)


# -- item 7: no silent success ---------------------------------------------------------------


def test_annotate_exits_non_zero_when_every_record_is_an_error(isolated_home, run_cli):
    units = write_units(isolated_home / "units.csv", 3)
    # every answer gives a code outside the codebook: an error record per unit
    with LLMServer(responder=lambda _r: Reply.ok(answer("no-such-code"))) as server:
        result = run_cli(
            *openai_annotate(units, server.base_url),
            "--no-progress",
            env={"OPENAI_API_KEY": FAKE_KEY},
        )
    assert result.exception is None
    assert result.exit_code != 0
    assert "all 3 record(s) are errors" in result.stderr
    assert "--retry-errors" in result.stderr
    (run_dir,) = (isolated_home / "runs").iterdir()
    assert len(Run(run_dir).records()) == 3  # kept for the retry


def test_annotate_with_some_answers_still_exits_zero(isolated_home, run_cli):
    units = write_units(isolated_home / "units.csv", 3)
    with LLMServer(responder=codes_responder) as server:
        server.enqueue(Reply.ok(answer("no-such-code")), Reply.ok(answer("no-such-code")))
        result = run_cli(
            *openai_annotate(units, server.base_url),
            "--no-progress",
            "--concurrency",
            "1",
            env={"OPENAI_API_KEY": FAKE_KEY},
        )
    assert result.exit_code == 0, result.stderr


def test_refused_run_leaves_nothing_behind(isolated_home, run_cli):
    result = run_cli(
        "annotate", "--codebook", "humbatova-screening", "--corpus", "no-such-corpus", *TFIDF
    )
    assert result.exit_code != 0 and result.exception is None
    assert not (isolated_home / "runs").exists()


def test_manifest_that_would_not_read_back_is_refused(isolated_home):
    run = create_run({"codebook": "x"}, run_id="r3")
    manifest = run.manifest()
    manifest.config = manifest.config.model_copy(update={"temperature": float("nan")})
    with pytest.raises(ValidationError, match="temperature"):
        run.write_manifest(manifest)
    assert run.manifest().config.temperature is None  # the old manifest is intact


# -- item 12: located errors -----------------------------------------------------------------


def test_record_without_unit_id_on_resume_is_a_located_error(isolated_home, run_cli):
    units = write_units(isolated_home / "units.csv", 3)
    assert run_cli(*tfidf_annotate(units), "--run", "r4").exit_code == 0
    path = isolated_home / "runs" / "r4" / "annotations.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    del record["unit_id"]
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    result = run_cli("annotate", "--run", "r4", "--no-progress")
    assert result.exit_code != 0 and result.exception is None
    assert f"{path}: line 2, field 'unit_id': missing" in result.stderr
    with pytest.raises(InputRecordError):
        Run(path.parent).done_keys()


def test_kill_9_during_creation_leaves_no_visible_run(isolated_home):
    """A real ``kill -9`` while the manifest is staged: no ``runs/ID/`` appears, and the
    next creation of that id removes the staging directory and succeeds."""
    import signal
    import subprocess
    import sys
    import time

    child = (
        "import os, time\n"
        "from ptmcoder.runs import create_run\n"
        "def hang(*a, **k):\n"
        "    print('staged', flush=True)\n"
        "    time.sleep(60)\n"
        "os.rename = hang\n"
        "create_run({'codebook': 'x'}, run_id='r9')\n"
    )
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PTMCODER_HOME": str(isolated_home), "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-c", child], env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"staged"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    root = isolated_home / "runs"
    (staging,) = [p for p in root.iterdir() if p.name.startswith(STAGING)]
    assert (staging / MANIFEST).is_file()
    assert not (root / "r9").exists() and list_run_ids(root) == []
    time.sleep(0.05)
    run = create_run({"codebook": "x"}, run_id="r9")
    assert run.manifest().run_id == "r9"
    assert any("r9" in n and "killed" in n for n in run.notes)
    assert not staging.exists()
