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

    diff = json.loads(run_cli("stats", "difficulty", "--corpus", "so", "--threads", "1",
                              "--out", out, "--json").stdout)
    groups = {g["name"]: g for g in diff["groups"]}
    assert groups["ptm"]["n"] + groups["non-ptm"]["n"] == 77
    assert diff["accepted_without_time"] > 0  # Data Explorer CSV has no answer dates
    assert len(diff["proportion_tests"]) == 2

    pop = run_cli("stats", "popularity", "--corpus", "so", "--scope", "all", "--out", out)
    assert pop.exit_code == 0, pop.stderr
    assert "Units per year (all, n=77)" in pop.stdout and (out / "popularity.png").exists()

    res = run_cli("stats", "resolution", "--corpus", "gh", "--ptm-labels",
                  "dataset request,vision,dataset-viewer", "--out", out, "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    n = data["sample"]["n"]
    assert n["ptm"] == n["non-ptm"] > 0
    assert data["mann_whitney"]["n_x"] == n["ptm"]
    assert (out / "resolution_groups.png").exists()
