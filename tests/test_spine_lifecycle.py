"""Run lifecycle (#10 items 2, 7, 9, 10) and the typed manifest (#9): each test
reproduces the defect first."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fakes import openai_annotate

from ptmcoder.annotate.options import AnnotateOptions, RunConfig, resume_options
from ptmcoder.errors import ConfigError
from ptmcoder.manifest import Manifest
from ptmcoder.runs import Run, RunReport, create_run, resolve_run

FIXTURES = Path(__file__).parent / "fixtures" / "runs"


def _annotate(run_cli, *args):
    return run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--annotator",
        "embedded:tfidf",
        "--no-progress",
        "--json",
        *args,
    )


def test_a_manifest_written_before_the_typed_model_still_loads(isolated_home, run_cli):
    # tests/fixtures/runs/v1: a run written by ptmcoder 0.1 as it was (no schema_version)
    raw = json.loads((FIXTURES / "v1" / "manifest.json").read_text())
    assert "schema_version" not in raw
    dest = isolated_home / "runs" / raw["run_id"]
    shutil.copytree(FIXTURES / "v1", dest)
    manifest = Run(dest).manifest()
    assert manifest.schema_version == 3 and manifest.status == "complete"
    assert manifest.config.codebook_id == "humbatova-screening"
    assert manifest.corpus.fingerprint is None  # not recorded then: not checked on resume
    assert manifest.sessions[0].written == 2
    shown = run_cli("runs", "show", raw["run_id"], "--json")
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    RunReport.model_validate(data)
    Manifest.model_validate({k: data[k] for k in Manifest.model_fields})
    # an unknown key is a located error, not a silent merge
    raw["colour"] = "blue"
    (dest / "manifest.json").write_text(json.dumps(raw))
    bad = run_cli("runs", "show", raw["run_id"])
    assert bad.exit_code == 2 and "manifest.json: colour: unknown key 'colour'" in bad.stderr
    [row] = json.loads(run_cli("runs", "list", "--json").stdout)  # the listing goes on
    assert row["status"] == "unreadable" and "unknown key 'colour'" in row["problem"]


def test_runs_show_json_validates_against_the_manifest_model(isolated_home, run_cli):
    units = isolated_home / "u.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\nx:2,pip install fails\n")
    made = _annotate(run_cli, "--corpus", units)
    assert made.exit_code == 0, made.stderr
    data = json.loads(run_cli("runs", "show", "latest", "--json").stdout)
    manifest = Manifest.model_validate({k: data[k] for k in Manifest.model_fields})
    assert manifest.schema_version == 3 and manifest.corpus.fingerprint.startswith("sha256:")
    assert data["records"] == 2


def test_resume_against_a_changed_corpus_is_refused_with_both_fingerprints(isolated_home, run_cli):
    units = isolated_home / "mix.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\nx:2,pip install fails\n")
    assert _annotate(run_cli, "--corpus", units, "--run", "r").exit_code == 0
    before = resolve_run("r").manifest().corpus.fingerprint
    units.write_text("id,title\ny:1,Another corpus\ny:2,Other units\ny:3,More\n")
    resumed = run_cli("annotate", "--run", "r", "--no-progress")
    assert resumed.exit_code == 1
    assert "changed since run r started" in resumed.stderr
    assert before[:19] in resumed.stderr and "now sha256:" in resumed.stderr
    assert "hint:" in resumed.stderr
    assert len(resolve_run("r").records()) == 2  # nothing coded into the old run


def test_resume_with_differing_settings_names_every_field(isolated_home):
    stored = RunConfig(codebook="cb", corpus="c", annotators=["embedded"], samples=1, limit=20)
    given = AnnotateOptions(samples=3, limit=40, concurrency=2)
    with pytest.raises(ConfigError) as err:
        resume_options(given, stored)
    assert "--samples 3 differs from the run's 1" in str(err.value)
    assert "--limit 40 differs from the run's 20" in str(err.value)
    # operational settings may change; unset ones keep the run's own
    merged = resume_options(AnnotateOptions(concurrency=2, annotators=["embedded"]), stored)
    assert (merged.concurrency, merged.limit, merged.samples) == (2, 20, 1)
    with pytest.raises(Exception, match="unknown key 'colour'"):
        AnnotateOptions(colour="blue")


def test_two_new_runs_with_one_id_the_second_is_refused_cleanly(isolated_home, run_cli):
    create_run({}, run_id="same")
    with pytest.raises(ConfigError, match="run same already exists"):
        create_run({}, run_id="same")


def test_killed_run_shows_as_interrupted_while_a_running_one_does_not(isolated_home, run_cli):
    run = create_run({"annotators": ["embedded"]}, run_id="k")
    manifest = run.manifest()
    manifest.status = "running"
    run.write_manifest(manifest)
    holder = Run(run.path)
    holder.lock()  # another process writing it
    try:
        assert run.status() == "running"
        assert json.loads(run_cli("runs", "list", "--json").stdout)[0]["status"] == "running"
    finally:
        holder.close()
    assert run.status() == "interrupted"  # lock free, status running: it was killed
    assert json.loads(run_cli("runs", "list", "--json").stdout)[0]["status"] == "interrupted"
    assert "(interrupted)" in run_cli("runs", "show", "k").stdout


def test_session_start_is_written_before_work(isolated_home, monkeypatch):
    from ptmcoder.annotate import runner

    units = isolated_home / "u.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\n")
    seen = {}

    def boom(*args, **kwargs):  # the first unit of work: look at the manifest, then die
        manifest = resolve_run("s").manifest()
        seen["sessions"], seen["status"] = len(manifest.sessions), manifest.status
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "build_annotator", boom)
    options = AnnotateOptions(
        codebook="humbatova-screening",
        corpus=str(units),
        annotators=["embedded:tfidf"],
        progress=False,
    )
    result = runner.annotate(options, run_ref="s")
    assert seen == {"sessions": 1, "status": "running"}
    assert result.interrupted and resolve_run("s").manifest().status == "interrupted"


def test_credentials_in_openai_base_url_are_refused_before_a_run_exists(isolated_home, run_cli):
    units = isolated_home / "u.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\n")
    result = run_cli(
        *openai_annotate(units),
        env={"OPENAI_BASE_URL": "http://user:secret@127.0.0.1:9/v1", "OPENAI_API_KEY": "k"},
    )
    assert result.exit_code == 1 and "must not carry credentials" in result.stderr
    runs = isolated_home / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_runs_list_tells_two_runs_of_one_annotator_apart(isolated_home, run_cli):
    units = isolated_home / "u.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\nx:2,pip install fails\nx:3,GPU OOM\n")
    train = isolated_home / "train.csv"
    train.write_text("unit,rater,code\nx:1,final,dl-fault\nx:2,final,generic\n")
    assert _annotate(run_cli, "--corpus", units, "--run", "zero").exit_code == 0
    few = _annotate(run_cli, "--corpus", units, "--run", "few", "--train", train)
    assert few.exit_code == 0, few.stderr
    rows = {r["run_id"]: r for r in json.loads(run_cli("runs", "list", "--json").stdout)}
    assert rows["zero"]["settings"] == "" and rows["few"]["settings"] == "train=train.csv"
    table = run_cli("runs", "list").stdout
    assert "zero-shot" in table and "train=train.csv" in table


def test_agree_reads_nan_and_NaN_as_missing_not_two_codes(tmp_path, run_cli):
    path = tmp_path / "long.csv"
    path.write_text("unit,rater,code\nu1,a,x\nu1,b,nan\nu2,a,NaN\nu2,b,x\nu3,a,x\nu3,b,x\n")
    from ptmcoder.agreement.io import read_long_table

    df = read_long_table(path)
    assert df["code"].isna().sum() == 2 and set(df["code"].dropna()) == {"x"}


def test_a_new_run_can_be_given_by_path_and_resolved_by_it(isolated_home, run_cli):
    units = isolated_home / "u.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\n")
    where = isolated_home / "elsewhere" / "my-run"
    made = _annotate(run_cli, "--corpus", units, "--run", str(where))
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout)["path"] == str(where)
    assert Run(where).manifest().run_id == "my-run"
    assert len(read_annotations_of(where)) == 1
    resumed = run_cli("annotate", "--run", str(where), "--no-progress", "--json")
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["skipped"] == 1


def read_annotations_of(path):
    from ptmcoder.annotate.records import read_annotations

    return read_annotations(path).records


def test_resume_of_a_run_whose_manifest_names_no_codebook_is_a_clean_error(isolated_home, run_cli):
    units = isolated_home / "u.csv"
    units.write_text("id,title\nx:1,Keras NaN loss\nx:2,pip install fails\n")
    assert _annotate(run_cli, "--corpus", units, "--run", "r").exit_code == 0
    path = resolve_run("r").path / "manifest.json"
    raw = json.loads(path.read_text())
    raw["config"]["codebook"] = None  # a hand-edited or truncated snapshot
    path.write_text(json.dumps(raw))
    resumed = run_cli("annotate", "--run", "r", "--no-progress")
    assert resumed.exit_code == 1, resumed.stderr
    assert "run r's manifest names no codebook" in resumed.stderr
    assert "hint:" in resumed.stderr
