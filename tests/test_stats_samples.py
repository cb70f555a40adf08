"""End to end on the bundled samples: import, then every stats command."""

from __future__ import annotations

import json

from ptmcoder.paths import samples_dir


def test_stats_on_bundled_samples(run_cli, tmp_path):
    so = samples_dir() / "so_dataexplorer_sample.csv"
    gh = samples_dir() / "github_issues_sample.jsonl"
    assert run_cli("corpus", "import", "--name", "so", so, "--no-progress").exit_code == 0
    assert run_cli("corpus", "import", "--name", "gh", gh, "--no-progress").exit_code == 0
    out = tmp_path / "figs"

    diff = json.loads(
        run_cli(
            "stats", "difficulty", "--corpus", "so", "--threads", "1", "--out", out, "--json"
        ).stdout
    )
    groups = {g["name"]: g for g in diff["groups"]}
    assert groups["ptm"]["n"] + groups["non-ptm"]["n"] == 77
    assert diff["accepted_without_time"] > 0  # Data Explorer CSV has no answer dates
    assert len(diff["proportion_tests"]) == 2

    pop = run_cli("stats", "popularity", "--corpus", "so", "--scope", "all", "--out", out)
    assert pop.exit_code == 0, pop.stderr
    assert "Units per year (all, n=77)" in pop.stdout and (out / "popularity.png").exists()

    res = run_cli(
        "stats",
        "resolution",
        "--corpus",
        "gh",
        "--ptm-labels",
        "dataset request,vision,dataset-viewer",
        "--out",
        out,
        "--json",
    )
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    n = data["sample"]["n"]
    assert n["ptm"] == n["non-ptm"] > 0
    assert data["mann_whitney"]["n_x"] == n["ptm"]
    assert (out / "resolution_groups.png").exists()


def test_bad_since_date_is_a_clean_error(run_cli):
    so = samples_dir() / "so_dataexplorer_sample.csv"
    assert run_cli("corpus", "import", "--name", "so", so, "--no-progress").exit_code == 0
    for command in ("popularity", "difficulty"):
        result = run_cli("stats", command, "--corpus", "so", "--since", "notadate")
        assert result.exit_code == 1, command
        assert result.exception is None, command
        assert "since: not a date: 'notadate'" in result.stderr
    ok = run_cli("stats", "popularity", "--corpus", "so", "--scope", "all", "--since", "2018-01-01")
    assert ok.exit_code == 0, ok.stderr
    assert "Units per year (all, n=19)" in ok.stdout  # 2018: 9, 2019: 7, 2020: 3


def test_corpus_path_that_is_not_parquet_is_one_clean_line(tmp_path, run_cli):
    bad = tmp_path / "units.csv"
    bad.write_text("")
    result = run_cli("stats", "popularity", "--corpus", bad)
    assert result.exit_code == 1 and result.exception is None
    lines = result.stderr.splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("Error:"))
    assert lines[error].startswith(f"Error: cannot read {bad} as Parquet: ")
    assert lines[error + 1].startswith("  hint:")  # no DuckDB query echo in between
