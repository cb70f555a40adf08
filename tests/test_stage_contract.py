"""One stage contract: each stage of a study calls the library function its CLI
command calls, so the command and the stage give the same output for the same
inputs and settings. One study run, then each command on its own in the same
workspace, and the files compared (byte for byte where the file holds nothing
that names the run or the time)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ptmcoder.paths import samples_dir
from ptmcoder.pipeline import run_study
from ptmcoder.runs import Run

STUDY = """
[study]
id = "contract"

[import]
files = ["samples:humbatova_so_titles.csv"]
corpus = "h"
platform = "stackoverflow"
mapping = { id = "id", url = "url", title = "title" }

[sample]
design = "random"
size = 60
seed = 3

[annotate]
codebook = "humbatova-screening"
limit = 40

[[annotate.raters]]
name = "zero-shot"
annotator = "embedded:tfidf"

[agree]
humans = "samples:humbatova_so_labels.csv"
gold = "samples:humbatova_so_final.csv"
bootstrap = 50
seed = 13

[review]
audit_size = 5
seed = 13

[map]
input = "samples:humbatova_so_final.csv"
code_column = "taxonomy_tag"
match = "name"
source = "humbatova2020"
target = "banyongrakkul2025"

[stats]
bootstrap = 50
"""

SO_STUDY = """
[study]
id = "so"

[import]
files = ["samples:so_posts_sample.xml"]
corpus = "so"

[annotate]
codebook = "tan2024"
limit = 3

[[annotate.raters]]
name = "zs"
annotator = "embedded:tfidf"

[stats]
analyses = ["popularity", "difficulty"]
bootstrap = 20
"""

#: fields of an annotation record that name the run or the time, not the answer
VOLATILE = ("latency_s", "created_at", "run_id")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    home = tmp_path_factory.mktemp("contract")
    mp = pytest.MonkeyPatch()
    mp.setenv("PTMCODER_HOME", str(home))
    mp.chdir(home)
    (home / "s.toml").write_text(STUDY, encoding="utf-8")
    result = run_study(home / "s.toml")
    yield home, result.run_dir
    mp.undo()


@pytest.fixture
def in_study(study, monkeypatch):
    home, run_dir = study
    monkeypatch.setenv("PTMCODER_HOME", str(home))
    monkeypatch.chdir(home)
    return home, run_dir


def test_import_stage_and_corpus_import_write_the_same_units(in_study, run_cli):
    home, _ = in_study
    result = run_cli(
        "corpus",
        "import",
        samples_dir() / "humbatova_so_titles.csv",
        "--name",
        "cli",
        "--format",
        "csv",
        "--platform",
        "stackoverflow",
        "--map",
        "id=id,url=url,title=title",
    )
    assert result.exit_code == 0, result.stderr
    stage = (home / "corpora" / "h" / "units.parquet").read_bytes()
    assert (home / "corpora" / "cli" / "units.parquet").read_bytes() == stage


def test_sample_stage_and_corpus_sample_draw_the_same_units(in_study, run_cli):
    home, run_dir = in_study
    result = run_cli(
        "corpus", "import", samples_dir() / "humbatova_so_titles.csv", "--name", "cli2",
        "--format", "csv", "--platform", "stackoverflow", "--map", "id=id,url=url,title=title",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    result = run_cli(
        "corpus", "sample", "cli2", "--design", "random", "--size", "60", "--seed", "3",
        "--sample-name", "study", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    stage = home / "corpora" / "h" / "samples" / "study.parquet"
    command = home / "corpora" / "cli2" / "samples" / "study.parquet"
    assert command.read_bytes() == stage.read_bytes()
    sampled = json.loads((run_dir / "sample" / "sample.json").read_text())
    assert sampled["units"] == 60 and sampled["design"] == "random"


def records(store: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in Run(store).records()]


def test_annotate_stage_and_annotate_give_the_same_records(in_study, run_cli):
    home, run_dir = in_study
    result = run_cli(
        "annotate", "--codebook", "humbatova-screening", "--corpus", "h-sample",
        "--annotator", "embedded:tfidf", "--limit", "40", "--seed", "13", "--run", "cli-annotate",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    stage = records(run_dir / "annotate" / "zero-shot")
    assert len(stage) == 40
    assert records(home / "runs" / "cli-annotate") == stage


def test_agree_stage_and_agree_give_the_same_same_unit_comparison(in_study, run_cli):
    _, run_dir = in_study
    result = run_cli(
        "agree", samples_dir() / "humbatova_so_labels.csv", "--run", run_dir,
        "--gold", samples_dir() / "humbatova_so_final.csv", "--view", "vs-humans",
        "--bootstrap", "50", "--seed", "13", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    command = json.loads(result.stdout)
    stage = json.loads((run_dir / "agree" / "agree.json").read_text())["same_unit"]
    for key in ("summary", "triads", "min_n"):
        assert command[key] == stage[key], key
    assert sum(t["n"] for t in stage["triads"]) > 0
    # pairs and calibration: on the human codes and gold labels cut to the coded units,
    # which the stage writes beside its result (human pairs on the same units)
    agree = json.loads((run_dir / "agree" / "agree.json").read_text())
    for view, key in (("pairs", "pairs"), ("calibration", "calibration")):
        result = run_cli(
            "agree", run_dir / "agree" / "humans.csv", "--run", run_dir,
            "--gold", run_dir / "agree" / "gold.csv", "--view", view,
            "--bootstrap", "50", "--seed", "13", "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == agree[key], view
    assert any(p["kind"] == "annotator-gold" for p in agree["pairs"])


def queue_items(run_ref: str) -> list[dict]:
    from ptmcoder.review import open_queue

    with open_queue(run_ref) as queue:
        return [
            {"unit": i.unit_id, "reasons": i.reason_names, "detail": i.detail}
            for i in queue.store.items()
        ]


def test_review_stage_and_review_build_queue_the_same_items(in_study, run_cli):
    home, run_dir = in_study
    copy = home / "runs" / "copy-of-study"
    shutil.copytree(run_dir, copy)
    result = run_cli(
        "review", "build", "copy-of-study", "--humans", samples_dir() / "humbatova_so_labels.csv",
        "--gold", samples_dir() / "humbatova_so_final.csv", "--audit-size", "5", "--seed", "13",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    stage = queue_items(run_dir.name)
    assert stage and queue_items("copy-of-study") == stage
    built = json.loads((run_dir / "review" / "review.json").read_text())["build"]
    assert built["by_reason"] == json.loads(result.stdout)["by_reason"]


def test_map_stage_and_map_translate_write_the_same_table(in_study, run_cli, tmp_path):
    _, run_dir = in_study
    out = tmp_path / "translated.csv"
    result = run_cli(
        "map", "translate", samples_dir() / "humbatova_so_final.csv",
        "--from", "humbatova2020", "--to", "banyongrakkul2025",
        "--code-column", "taxonomy_tag", "--aliases", "-o", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == (run_dir / "map" / "translated.csv").read_bytes()
    summary = json.loads(result.stdout)
    stage = json.loads((run_dir / "map" / "map.json").read_text())
    for key in ("n_input", "n_translated", "untranslated", "target_counts"):
        assert summary[key] == stage[key], key


def test_stats_stage_and_stats_distribution_count_the_same(in_study, run_cli):
    _, run_dir = in_study
    store = run_dir / "annotate" / "zero-shot"
    result = run_cli(
        "stats", "distribution", "--codebook", "humbatova-screening",
        "--annotations", store, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    command = json.loads(result.stdout)
    stage = json.loads((run_dir / "stats" / "stats.json").read_text())["distributions"]
    assert command["levels"] == stage["zero-shot"]["levels"]
    assert command["n_coded"] == stage["zero-shot"]["n_coded"] > 0


def test_report_stage_and_report_write_the_same_files(in_study, run_cli, tmp_path):
    _, run_dir = in_study
    result = run_cli("report", run_dir, "--out", tmp_path / "again")
    assert result.exit_code == 0, result.stderr
    for name in ("report.md", "report.html"):
        assert (tmp_path / "again" / name).read_bytes() == (run_dir / "report" / name).read_bytes()


@pytest.mark.filterwarnings("ignore")
def test_popularity_and_difficulty_stage_and_commands_agree(isolated_home, run_cli, tmp_path):
    (isolated_home / "so.toml").write_text(SO_STUDY, encoding="utf-8")
    run_dir = run_study(isolated_home / "so.toml").run_dir
    stats = json.loads((run_dir / "stats" / "stats.json").read_text())
    for analysis, pngs in (("popularity", ["popularity.png"]), ("difficulty", ["no_acc.png"])):
        out = tmp_path / analysis
        result = run_cli("stats", analysis, "--corpus", "so", "--out", out, "--json")
        assert result.exit_code == 0, result.stderr
        command = json.loads(result.stdout)
        assert [Path(f).name for f in command.pop("figures")] == stats[analysis].pop("figures")
        command.pop("source"), stats[analysis].pop("source")
        assert command == stats[analysis]
        for png in pngs:  # the same figure, drawn by the same library function
            assert (out / png).read_bytes() == (run_dir / "stats" / png).read_bytes()
    assert pd.DataFrame(stats["popularity"]["per_year"])["n"].sum() == stats["popularity"]["n"]
