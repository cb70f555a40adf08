"""The study pipeline: config validation, incremental reruns, kill safety, report, compare."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score

from ptmcoder.errors import ConfigError, ValidationError
from ptmcoder.pipeline import STAGES, load_study, run_study
from ptmcoder.pipeline.rundir import (
    read_codings,
    read_reference,
    read_stage_output,
    read_stage_record,
)
from ptmcoder.report.compare import compare
from ptmcoder.runs import Run

REPO = Path(__file__).resolve().parents[1]


def read_manifest(run_dir: Path) -> dict:
    return Run(run_dir).manifest().model_dump(mode="json")


STUDY = """
[study]
id = "t"
title = "test study"

[import]
files = ["samples:humbatova_so_titles.csv"]
corpus = "t-corpus"
platform = "stackoverflow"
mapping = {{ id = "id", url = "url", title = "title" }}

[annotate]
codebook = "humbatova-screening"
limit = {limit}

[[annotate.raters]]
name = "zero-shot"
annotator = "embedded:tfidf"

[[annotate.raters]]
name = "supervised"
annotator = "embedded:tfidf"
train = "samples:humbatova_so_final.csv"
train_raters = ["final"]
multi_threshold = {threshold}

[agree]
humans = "samples:humbatova_so_labels.csv"
gold = "samples:humbatova_so_final.csv"
bootstrap = 50

[map]
input = "samples:humbatova_so_final.csv"
code_column = "taxonomy_tag"
match = "name"
source = "humbatova2020"
target = "banyongrakkul2025"

[stats]
bootstrap = 50
"""


def write_study(path: Path, *, limit: int = 40, threshold: float = 0.5) -> Path:
    path.write_text(STUDY.format(limit=limit, threshold=threshold), encoding="utf-8")
    return path


def statuses(result) -> dict[str, str]:
    return {o.stage: o.status for o in result.outcomes}


# -- config ----------------------------------------------------------------------------


def test_bundled_studies_validate():
    for name in ("demo", "tan2024", "banyongrakkul2025"):
        config, path = load_study(REPO / "studies" / f"{name}.toml")
        assert path.name == f"{name}.toml"
        assert config.annotate.raters


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    study = write_study(tmp_path / "s.toml")
    text = study.read_text().replace('codebook = "humbatova-screening"', 'codebok = "x"')
    text = text.replace("multi_threshold =", "multi_treshold =")
    study.write_text(text)
    with pytest.raises(ValidationError) as info:
        load_study(study)
    message = str(info.value)
    assert str(study) in message
    assert "key annotate.codebok: unknown key 'codebok'; did you mean 'codebook'?" in message
    assert "annotate.raters[1].multi_treshold" in message
    assert "did you mean 'multi_threshold'?" in message


def test_unknown_stage_is_refused_with_suggestion(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'annotate'"):
        run_study(write_study(tmp_path / "s.toml"), from_stage="anotate")


# -- incremental runs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """One first run per module (the machine is shared); tests work on copies of it."""
    home = tmp_path_factory.mktemp("pipeline-home")
    old = os.environ.get("PTMCODER_HOME")
    os.environ["PTMCODER_HOME"] = str(home)
    try:
        result = run_study(write_study(home / "s.toml"))
    finally:
        if old is None:
            os.environ.pop("PTMCODER_HOME", None)
        else:
            os.environ["PTMCODER_HOME"] = old
    return home, result


@pytest.fixture
def first_run(base_run, isolated_home):
    """A copy of the module's first run in this test's own workspace."""
    home, result = base_run
    shutil.copytree(home, isolated_home, dirs_exist_ok=True)
    run_dir = isolated_home / "runs" / result.run_dir.name
    report = run_dir / "report"
    copy = replace(
        result,
        run_dir=run_dir,
        report_md=report / "report.md",
        report_html=report / "report.html",
    )
    return isolated_home / "s.toml", copy


def test_first_run_runs_every_stage_and_records_hashes(first_run):
    study, result = first_run
    s = statuses(result)
    assert [o.stage for o in result.outcomes] == [str(x) for x in STAGES]
    for stage in ("import", "sample", "annotate", "agree", "stats", "report"):
        assert s[stage] == "ran"
    assert s["review"] == "ran" and s["map"] == "ran"
    mapped = read_stage_output(result.run_dir, "map")
    assert mapped["n_input"] > 0
    assert (
        mapped["n_translated"] + sum(u["count"] for u in mapped["untranslated"])
        == mapped["n_input"]
    )
    assert result.annotator_calls == 80
    for stage in ("import", "annotate", "agree", "stats", "report"):
        record = read_stage_record(result.run_dir, stage)
        assert record["status"] == "complete"
        assert record["input_hash"].startswith("sha256:")
        assert record["output_hash"].startswith("sha256:")
    manifest = read_manifest(result.run_dir)
    assert manifest["origin"] == "study" and manifest["status"] == "complete"
    assert all(s["status"] != "running" for s in manifest["stage_sessions"])
    assert {s["stage"] for s in manifest["stage_sessions"]} == {str(x) for x in STAGES}
    codings = read_codings(result.run_dir)
    assert codings.groupby("rater")["unit"].nunique().to_dict() == {
        "supervised": 40,
        "zero-shot": 40,
    }


def test_second_run_skips_everything_and_makes_no_call(first_run):
    study, first = first_run
    second = run_study(study)
    assert second.run_dir == first.run_dir
    assert set(statuses(second).values()) == {"skipped"}
    assert second.annotator_calls == 0
    records = (first.run_dir / "annotate" / "zero-shot" / "annotations.jsonl").read_text()
    assert len(records.splitlines()) == 40


def test_changing_one_rater_setting_reruns_annotate_and_later_not_import(first_run):
    study, first = first_run
    zero = first.run_dir / "annotate" / "zero-shot" / "annotations.jsonl"
    before = zero.read_bytes()
    write_study(study, threshold=0.3)
    second = run_study(study)
    s = statuses(second)
    assert s["import"] == "skipped" and s["sample"] == "skipped"
    assert s["annotate"] == "ran" and s["agree"] == "ran" and s["report"] == "ran"
    # only the changed rater was coded again
    assert second.annotator_calls == 40
    assert zero.read_bytes() == before
    summary = read_stage_output(second.run_dir, "annotate")
    few = next(r for r in summary["raters"] if r["rater"] == "supervised")
    assert few["settings"]["rater"]["multi_threshold"] == 0.3


def test_from_and_force(first_run):
    study, _ = first_run
    s = statuses(run_study(study, from_stage="agree"))
    assert [s[x] for x in ("import", "sample", "annotate")] == ["skipped"] * 3
    assert s["agree"] == "ran" and s["stats"] == "ran" and s["report"] == "ran"
    s = statuses(run_study(study, force=["report"]))
    assert s["report"] == "ran" and s["agree"] == "skipped"


def test_killed_run_keeps_a_readable_manifest_and_resumes(tmp_path, isolated_home):
    study = write_study(tmp_path / "s.toml", limit=200)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PTMCODER_HOME": str(isolated_home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ptmcoder", "run", str(study), "--json"],
        env=env,
        cwd=isolated_home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    runs = isolated_home / "runs"
    deadline = time.time() + 120
    killed_in = None
    while time.time() < deadline and proc.poll() is None:
        for manifest in runs.glob("*/manifest.json") if runs.is_dir() else []:
            try:
                sessions = json.loads(manifest.read_text())["stage_sessions"]
            except (json.JSONDecodeError, KeyError):
                continue
            if sessions and sessions[-1]["stage"] == "annotate":
                proc.send_signal(signal.SIGKILL)
                killed_in = manifest.parent
                break
        if killed_in:
            break
        time.sleep(0.01)
    proc.wait(timeout=60)
    assert killed_in is not None, "the run ended before the annotate stage was seen"
    manifest = read_manifest(killed_in)  # whole JSON: written atomically
    last = manifest["stage_sessions"][-1]
    if last["status"] == "running":  # killed mid-stage: no record, so it reruns
        assert read_stage_record(killed_in, "annotate") is None
    if last["status"] == "running":  # the lock is free: the run says it was killed
        assert Run(killed_in).status().value == "interrupted"
    result = run_study(study)
    assert result.run_dir == killed_in
    assert statuses(result)["import"] == "skipped"
    assert Run(killed_in).status().value == "complete"
    for rater in ("zero-shot", "supervised"):
        lines = (killed_in / "annotate" / rater / "annotations.jsonl").read_text().splitlines()
        ids = [json.loads(line)["unit_id"] for line in lines]
        assert len(ids) == len(set(ids)) == 200


# -- report --------------------------------------------------------------------------------


def test_report_renders_stage_outputs_and_states_what_did_not_run(first_run):
    _, result = first_run
    md = result.report_md.read_text()
    html = result.report_html.read_text()
    agree = read_stage_output(result.run_dir, "agree")
    gold_rows = [p for p in agree["pairs"] if p["kind"] == "annotator-gold"]
    assert len(gold_rows) == 2
    for row in gold_rows:
        assert f"{row['cohen_kappa']:.3f}" in md and f"{row['cohen_kappa']:.3f}" in html
        assert f"[{row['cohen_kappa_ci_low']:.3f}, {row['cohen_kappa_ci_high']:.3f}]" in md
    for section in (
        "Corpus and sample",
        "Annotators",
        "Agreement",
        "Review",
        "Code distribution",
        "Statistics",
        "Reproduce",
    ):
        assert f"## {section}" in md
    assert "review: not run" not in md
    manifest = read_manifest(result.run_dir)
    assert manifest["ptmcoder_version"] in md
    assert manifest["study"]["sha256"] in md
    test = read_stage_output(result.run_dir, "stats")["tests"][0]
    assert test["design"] == "paired" and test["test"].startswith("Stuart-Maxwell")
    assert f"{test['statistic']:.2f}" in md
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html
    assert html.count('src="data:image/png;base64,') >= 2


def test_report_command_rewrites_the_report(first_run, run_cli):
    _, result = first_run
    result.report_html.unlink()
    out = run_cli("report", str(result.run_dir), "--json")
    assert out.exit_code == 0, out.stderr
    assert Path(json.loads(out.stdout)["report_html"]).is_file()


# -- compare ------------------------------------------------------------------------------


def test_compare_two_annotators_of_one_run(first_run, run_cli):
    _, run = first_run
    out = run_cli("compare", str(run.run_dir), "--bootstrap", "200", "--json")
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["a"]["rater"], data["b"]["rater"]) == ("zero-shot", "supervised")
    codings = read_codings(run.run_dir)
    gold = read_reference(run.run_dir)

    def sets(df):
        return df.dropna(subset=["code"]).groupby("unit")["code"].apply(set).to_dict()

    a = sets(codings[codings["rater"] == "zero-shot"])
    b = sets(codings[codings["rater"] == "supervised"])
    g = sets(gold)
    shared = sorted(set(a) & set(b) & set(g))
    assert data["agreement_per_code"]["shared_units"] == len(shared)
    for row in data["agreement_per_code"]["rows"]:
        ya = [int(row["code"] in a[u]) for u in shared]
        yb = [int(row["code"] in b[u]) for u in shared]
        yg = [int(row["code"] in g[u]) for u in shared]
        if len(set(ya) | set(yg)) > 1 and row["kappa_a"] is not None:
            assert row["kappa_a"] == pytest.approx(cohen_kappa_score(ya, yg))
        if len(set(yb) | set(yg)) > 1 and row["kappa_b"] is not None:
            assert row["kappa_b"] == pytest.approx(cohen_kappa_score(yb, yg))
        if row["difference_ci_low"] is not None:
            assert row["difference_ci_low"] <= row["difference"] + 1e-9
            assert row["verdict"] in ("significant", "not significant")
    both = set(a) & set(b)
    changed = sum(1 for u in both if a[u] != b[u])
    assert len(data["changed_units"]) == changed
    assert sum(t["units"] for t in data["transitions"]) == changed
    assert any(d["key"].startswith("annotate.") for d in data["settings_differences"])
    shift = data["distribution_shift"]  # same units: paired, Stuart-Maxwell + McNemar
    assert shift["design"] == "paired" and shift["test"].startswith("Stuart-Maxwell")
    assert shift["shared_units"] == len(both)
    assert {r["code"] for r in shift["mcnemar"]} == {c for u in both for c in a[u] | b[u]}
    html = Path(data["files"]["compare_html"]).read_text()
    assert 'id="table-per-code"' in html and 'id="table-transitions"' in html
    assert 'id="table-mcnemar"' in html


def test_compare_two_runs(tmp_path, first_run):
    study, a = first_run
    b = run_study(study, new=True)
    assert b.run_dir != a.run_dir
    result = compare(a.run_dir, b.run_dir, rater_a="supervised", rater_b="supervised", n_boot=50)
    assert result.changed == []  # same settings, same codes
    assert all(r["difference"] in (0.0, None) for r in result.per_code)


def test_bundled_study_is_found_from_any_directory(isolated_home):
    # the README's `ptmcoder run studies/demo.toml` outside a checkout (wheel: _bundled/studies)
    assert not (isolated_home / "studies").exists()
    config, path = load_study("studies/demo.toml")
    assert config.study.id == "demo" and path.parent.name == "studies"
    with pytest.raises(Exception, match="bundled studies: banyongrakkul2025, demo, tan2024"):
        load_study("studies/nope.toml")


SO_STUDY = """
[study]
id = "so"
title = "PTM questions on Stack Overflow"

[import]
files = ["samples:so_posts_sample.xml"]
corpus = "so-corpus"

[annotate]
codebook = "ptm-relevance"
limit = 10

[[annotate.raters]]
name = "zero-shot"
annotator = "embedded:tfidf"

[stats]
analyses = ["distribution", "popularity", "difficulty"]
ptm_tags = ["huggingface-transformers", "bert-language-model", "pytorch", "tensorflow"]
bootstrap = 20
"""


def test_stats_stage_runs_tan_popularity_and_difficulty_on_the_whole_corpus(isolated_home):
    from ptmcoder.corpus.store import corpus_path
    from ptmcoder.stats.difficulty import difficulty
    from ptmcoder.stats.engine import PtmRule
    from ptmcoder.stats.popularity import popularity

    study = isolated_home / "so.toml"
    study.write_text(SO_STUDY, encoding="utf-8")
    result = run_study(study)
    stats = read_stage_output(result.run_dir, "stats")
    # the same numbers as the stats commands compute on the corpus (77 questions, not
    # the 10 annotated)
    rule = PtmRule(
        tags=("huggingface-transformers", "bert-language-model", "pytorch", "tensorflow")
    )
    path = Path(corpus_path("so-corpus"))
    direct = difficulty(path, rule=rule).to_dict()
    assert sum(g["n"] for g in stats["difficulty"]["groups"]) == 77
    assert [g["n"] for g in stats["difficulty"]["groups"]] == [g["n"] for g in direct["groups"]]
    assert [g["no_acc"] for g in stats["difficulty"]["groups"]] == [
        g["no_acc"] for g in direct["groups"]
    ]
    assert stats["popularity"]["n"] == popularity(path, rule=rule).n > 0
    html = (result.run_dir / "report" / "report.html").read_text(encoding="utf-8")
    assert 'id="table-difficulty"' in html and 'id="table-popularity"' in html
    md = (result.run_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert "Difficulty (Tan et al. RQ2)" in md and "chi-square" in md


def test_a_file_in_runs_is_not_a_run(isolated_home):
    """A checkout's runs/ holds README.md: the README's first command runs the demo from
    the repository root, so the pipeline must pass over files when it looks for runs."""
    (isolated_home / "runs").mkdir()
    (isolated_home / "runs" / "README.md").write_text("runs live here\n", encoding="utf-8")
    study = write_study(isolated_home / "study.toml", limit=6)
    first = run_study(study)
    again = run_study(study)
    assert again.run_dir == first.run_dir and again.annotator_calls == 0


GH_STUDY = """
[study]
id = "gh"
title = "Resolution time of PTM-related issues"

[import]
files = ["samples:github_issues_sample.jsonl"]
corpus = "gh-corpus"

[annotate]
codebook = "banyongrakkul2025"

[[annotate.raters]]
name = "zero-shot"
annotator = "embedded:tfidf"

[stats]
analyses = ["distribution", "resolution"]
ptm_labels = ["dataset request", "vision", "dataset-viewer"]
bootstrap = 20
"""


def test_stats_stage_runs_banyongrakkul_resolution_time_with_the_coded_themes(isolated_home):
    from ptmcoder.codebook import load_codebook
    from ptmcoder.corpus.store import corpus_path
    from ptmcoder.stats.resolution import load_issues, resolution, theme_table

    study = isolated_home / "gh.toml"
    study.write_text(GH_STUDY, encoding="utf-8")
    result = run_study(study)
    stats = read_stage_output(result.run_dir, "stats")["resolution"]
    # the same numbers as `stats resolution` computes, with the rater's codes as themes
    path = Path(corpus_path("gh-corpus"))
    df, _ = load_issues(path, ptm_labels=["dataset request", "vision", "dataset-viewer"])
    codes = read_codings(result.run_dir)
    book = load_codebook("banyongrakkul2025")
    themes = theme_table(codes.rename(columns={"unit_id": "unit"}), book)
    direct = resolution(df, themes=themes, seed=13)  # the stats stage's default seed
    assert stats["themes_from"] == "zero-shot"
    assert stats["sample"]["n"] == direct.sample_record["n"]
    assert stats["sample"]["n"]["ptm"] == stats["sample"]["n"]["non-ptm"] > 0
    assert stats["mann_whitney"]["u"] == direct.mann_whitney.u
    assert [t["n"] for t in stats["themes"]] == [t.n for t in direct.themes]
    assert sum(t["n"] for t in stats["themes"]) > 0
    assert (result.run_dir / "stats" / "resolution_groups.png").is_file()
    md = (result.run_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert "Resolution time (Banyongrakkul et al. RQ2)" in md and "Cliff's delta" in md
    html = (result.run_dir / "report" / "report.html").read_text(encoding="utf-8")
    assert 'id="table-resolution"' in html
