"""One kind of run: a run made by `annotate` and a run made by a study are listed,
shown, reported, exported, reviewed and compared by the same commands, and runs
written before there was one kind still read."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from test_readme_commands import README, adapt, readme_commands, setup_workspace

from ptmcoder.manifest import SCHEMA_VERSION, Origin
from ptmcoder.runs import Run

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "runs"
OLD_STUDY = "20261207-233503-6b53-demo"

#: README commands that name a run with `latest` (or act on the latest run's review
#: queue) and are not run here, with the reason
NOT_HERE = {
    "ptmcoder review latest": "the full-screen app: tests/test_review_app.py drives it",
    "ptmcoder annotate ... --run latest": "'...' elides the options of a command above",
    # final.csv adjudicates all 470 units; this demo codes 60 of them, and a gold sample
    # must come from the coded units (the command refuses the others, naming them)
    "ptmcoder stats prevalence latest --gold final.csv --rater supervised --assume-random": (
        "tests/test_demo.py checks the demo's findings; tests/test_inference_cli.py the command"
    ),
    "ptmcoder stats plan-gold latest --gold final.csv --rater supervised --assume-random "
    "--width 0.05": ("tests/test_inference_cli.py"),
}


def latest_commands() -> list[str]:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    picked = [
        c
        for c in commands
        if ("latest" in c.split() or c.startswith("ptmcoder review ")) and c not in NOT_HERE
    ]
    assert len(picked) >= 10, picked
    return picked


@pytest.mark.filterwarnings("ignore")
def test_every_readme_latest_command_works_on_the_demo_run(run_cli, isolated_home):
    setup_workspace(isolated_home)
    demo = run_cli("demo", "--embedder", "embedded:tfidf", "--limit", "60", "--json")
    assert demo.exit_code == 0, demo.stdout + demo.stderr
    run_id = Path(json.loads(demo.stdout)["run"]).name
    failures = []
    for command in latest_commands():
        words = adapt(shlex.split(command))
        result = run_cli(*words[1:], env={"COLUMNS": "200"})
        if result.exit_code != 0 or result.exception is not None:
            output = (result.stdout + result.stderr)[-600:]
            failures.append(f"{command}\n  exit {result.exit_code}: {output}")
    assert not failures, "\n".join(failures)
    # the demo's run is listed with its stages and raters
    rows = json.loads(run_cli("runs", "list", "--json").stdout)
    row = next(r for r in rows if r["run_id"] == run_id)
    assert row["origin"] == "study" and row["study"] == "demo"
    assert row["annotators"] == ["zero-shot", "supervised"]
    assert list(row["stages"]) == [
        "import",
        "sample",
        "annotate",
        "agree",
        "review",
        "map",
        "stats",
        "report",
    ]
    assert row["records"] == 120 and row["status"] == "complete"
    shown = json.loads(run_cli("runs", "show", run_id, "--json").stdout)
    assert [r["name"] for r in shown["raters"]] == ["zero-shot", "supervised"]
    assert [r["records"] for r in shown["raters"]] == [60, 60]
    assert shown["study"]["file"] == "demo.toml" and "/" not in shown["study"]["file"]
    # the review commands found the demo's queue (the one the review stage built) and
    # worked on it: the decisions made above are in it
    status = json.loads(run_cli("review", "status", "latest", "--json").stdout)
    assert status["run_id"] == run_id and Path(status["queue"]).name == f"{run_id}.sqlite"
    assert status["items"] > 0 and sum(status["adjudicators"].values()) >= 1


def annotate(run_cli, *extra: str) -> str:
    """Run `ptmcoder annotate` and return the id of the run it made."""
    runs = Path.cwd() / "runs"
    before = set(p.name for p in runs.iterdir()) if runs.is_dir() else set()
    result = run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        "humbatova_so",
        "--annotator",
        "embedded:tfidf",
        "--limit",
        "40",
        *extra,
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    (made,) = set(p.name for p in runs.iterdir()) - before
    return made


def indicator(codes: dict[str, list[str]], units: list[str], code: str) -> list[int]:
    return [int(code in codes.get(u, [])) for u in units]


@pytest.mark.filterwarnings("ignore")
def test_compare_two_annotate_runs_with_a_gold_file(run_cli, isolated_home):
    setup_workspace(isolated_home)
    a = annotate(run_cli)
    b = annotate(run_cli, "--train", "final.csv", "--train-rater", "final")
    result = run_cli("compare", a, b, "--gold", "final.csv", "--bootstrap", "200", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["a"]["rater"] == data["b"]["rater"] == "embedded:tfidf"
    assert data["agreement_per_code"]["reference"] == "the --gold file"
    shared = data["agreement_per_code"]["shared_units"]
    assert 30 <= shared <= 40
    assert any(d["key"] == "annotate.train" for d in data["settings_differences"])
    # each kappa is Cohen's kappa of the binary code indicator against the gold file
    gold = pd.read_csv("final.csv", dtype=str)
    reference: dict[str, list[str]] = {}
    for unit, code in zip(gold["unit"], gold["code"], strict=True):
        if isinstance(code, str) and code:
            reference.setdefault(unit, []).append(code)

    def codes_of(run_id: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in Run(isolated_home / "runs" / run_id).records():
            if r["codes"]:  # a zero-shot tie assigns no code: not a coded unit
                out[r["unit_id"]] = [c["code"] for c in r["codes"]]
        return out

    ca, cb = codes_of(a), codes_of(b)
    units = sorted(set(ca) & set(cb) & set(reference))
    assert len(units) == shared
    checked = 0
    for row in data["agreement_per_code"]["rows"]:
        g = indicator(reference, units, row["code"])
        for side, codes in (("kappa_a", ca), ("kappa_b", cb)):
            x = indicator(codes, units, row["code"])
            if row[side] is None:
                continue
            assert row[side] == pytest.approx(cohen_kappa_score(x, g), abs=1e-12)
            checked += 1
    assert checked >= 2
    # the same annotate run alone has one rater: a clean error names it
    alone = run_cli("compare", a)
    assert alone.exit_code != 0 and "1 rater(s): embedded:tfidf" in alone.stderr


def copy_old_study(home: Path) -> Path:
    shutil.copytree(FIXTURES / "study_v0" / "runs", home / "runs")
    shutil.copytree(FIXTURES / "study_v0" / "reviews", home / "reviews")
    return home / "runs" / OLD_STUDY


def test_a_study_run_written_before_one_kind_of_run_upgrades(isolated_home):
    raw = json.loads((FIXTURES / "study_v0" / "runs" / OLD_STUDY / "manifest.json").read_text())
    assert raw["kind"] == "pipeline" and "schema_version" not in raw
    path = copy_old_study(isolated_home)
    manifest = Run(path).manifest()
    assert manifest.schema_version == SCHEMA_VERSION and manifest.origin is Origin.STUDY
    assert manifest.study.id == "demo" and manifest.study.file == "demo.toml"
    assert manifest.study.sha256 == raw["study_sha256"]
    assert len(manifest.stage_sessions) == len(raw["sessions"]) == 8
    assert manifest.status.value == "complete"
    # each rater's store was written as schema 2 (kind: annotate) and reads as schema 3
    store = path / "annotate" / "zero-shot" / "manifest.json"
    assert json.loads(store.read_text())["schema_version"] == 2
    assert Run(store.parent).manifest().origin is Origin.ANNOTATE
    assert [r.name for r in Run(path).raters()] == ["zero-shot", "few-shot"]  # as named then
    # its learner trained on human codes said method few-shot; it is called supervised now
    learner = path / "annotate" / "few-shot"
    assert json.loads((learner / "manifest.json").read_text())["annotators"][0]["method"] == (
        "few-shot"
    )
    (entry,) = Run(learner).manifest().annotators
    assert entry["method"] == "supervised" and "few_shot" not in entry


@pytest.mark.filterwarnings("ignore")
def test_every_command_reads_a_study_run_written_before_one_kind_of_run(run_cli, isolated_home):
    copy_old_study(isolated_home)
    listed = json.loads(run_cli("runs", "list", "--json").stdout)
    assert [(r["run_id"], r["origin"], r["records"]) for r in listed] == [(OLD_STUDY, "study", 24)]
    for args in (
        ("runs", "show", "latest"),
        ("review", "status", "latest"),
        ("review", "next", "--json"),
        ("compare", "latest", "--json"),
        ("report", "latest"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 0, (args, result.stdout + result.stderr)
    report = (isolated_home / "runs" / OLD_STUDY / "report" / "report.md").read_text()
    assert "supervised" in report and "zero-shot" in report


def test_agree_reads_a_study_run_directory_given_as_an_input(run_cli, isolated_home):
    """``agree LABELS runs/<study run>``: a study's records are in its raters' stores;
    the directory was read as an annotate run ("no annotation records yet")."""
    copy_old_study(isolated_home)
    labels = Path(__file__).resolve().parents[1] / "ptmcoder/data/samples/humbatova_so_labels.csv"
    by_path = run_cli("agree", labels, isolated_home / "runs" / OLD_STUDY, "--json")
    by_run = run_cli("agree", labels, "--run", OLD_STUDY, "--json")
    assert by_path.exit_code == 0, by_path.stderr
    assert by_run.exit_code == 0, by_run.stderr
    out = json.loads(by_path.stdout)
    assert out["cohen_kappa"]["n_raters"] == 8  # six evaluators and the study's two raters
    assert "zero-shot" in out["cohen_kappa"]["note"]
    assert out == json.loads(by_run.stdout)
