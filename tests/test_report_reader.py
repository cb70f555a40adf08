"""What a reader of the demo's report.html, report.md and compare.html sees (issue 28):
designed tables only (no Python repr), no absolute path, the report's own stage done,
every code in the distribution chart, shares with one stated denominator and CIs,
degenerate values explained, and a comparison that leads with the decision."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from ptmcoder.pipeline.rundir import read_stage_output
from ptmcoder.report import charts as report_charts
from ptmcoder.report import (
    distribution_series,
    report_context,
    write_compare,
    write_report,
)
from ptmcoder.report.compare import compare
from ptmcoder.stats.plots import plt, reliability_figure

REPR = ("{'", "None", "[]", "built-in method", "object at 0x")
#: an absolute path in running text: a slash not preceded by a word, a dot or a slash
ABSOLUTE = re.compile(r"(?<![\w.:/<])/(?:[\w.-]+/)+[\w.-]+")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import os

    from click.testing import CliRunner

    from ptmcoder.cli import cli

    home = tmp_path_factory.mktemp("reader-home")
    old_home, old_cwd = os.environ.get("PTMCODER_HOME"), os.getcwd()
    os.environ["PTMCODER_HOME"] = str(home)
    os.chdir(home)
    try:
        args = ["demo", "--embedder", "embedded:tfidf", "--limit", "60", "--bootstrap", "50"]
        result = CliRunner().invoke(cli, [*args, "--json"])
        assert result.exit_code == 0, (result.stderr, result.exception)
        data = json.loads(result.stdout)
        run = Path(data["run"])
        cmp = write_compare(compare(run, n_boot=50), home / "cmp")
    finally:
        os.chdir(old_cwd)
        if old_home is None:
            os.environ.pop("PTMCODER_HOME", None)
        else:
            os.environ["PTMCODER_HOME"] = old_home
    return {"home": home, "run": run, "data": data, "compare": cmp}


def visible(page: str) -> str:
    """The text a reader sees: tags and embedded images dropped, entities decoded."""
    page = re.sub(r'src="data:[^"]+"', "", page)
    page = re.sub(r"<style>.*?</style>|<head>.*?</head>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def markdown_text(md: str) -> str:
    return re.sub(r"\]\([^)]*\)", "]", md)  # link and image targets are not prose


def section(page: str, sid: str) -> str:
    return page.split(f'<section id="{sid}">', 1)[1].split("</section>", 1)[0]


def rows(table_html: str) -> list[list[str]]:
    return [
        [visible(c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)]
        for r in re.findall(r"<tr>(.*?)</tr>", table_html, re.S)
    ]


def table(page: str, tid: str) -> str:
    return page.split(f'id="{tid}"', 1)[1].split("</table>", 1)[0]


def test_no_repr_and_no_absolute_path_anywhere(demo):
    home = str(demo["home"])
    report_html = Path(demo["data"]["report_html"]).read_text()
    report_md = Path(demo["data"]["report_md"]).read_text()
    compare_html = demo["compare"]["compare_html"].read_text()
    compare_md = demo["compare"]["compare_md"].read_text()
    # unit titles are the corpus's text (one demo title quotes a path): checked for
    # this machine's paths below, but not for absolute paths in general
    titles = [
        u["title"]
        for u in json.loads(demo["compare"]["compare_json"].read_text())["changed_units"]
        if u["title"]
    ]
    for name, text in (
        ("report.html", visible(report_html)),
        ("report.md", markdown_text(report_md)),
        ("compare.html", visible(compare_html)),
        ("compare.md", markdown_text(compare_md)),
    ):
        for bad in REPR:
            assert bad not in text, (name, bad, text[text.find(bad) - 200 : text.find(bad) + 80])
        assert home not in text and str(Path.cwd()) not in text, name
        for title in titles:
            text = text.replace(title, "")
        assert ABSOLUTE.findall(text) == [], (name, ABSOLUTE.findall(text))
    # the raw files (attributes included) name no path of this machine either
    for raw in (report_html, report_md, compare_html, compare_md):
        assert home not in raw


def test_the_report_stage_is_shown_done_and_nothing_says_not_run(demo):
    page = Path(demo["data"]["report_html"]).read_text()
    stages = {r[0]: r[1] for r in rows(table(page, "table-stages"))[1:]}
    assert stages["report"] == "complete"
    assert set(stages.values()) == {"complete"}
    assert "not run" not in visible(page)
    md = Path(demo["data"]["report_md"]).read_text()
    assert re.search(r"^\| report \| complete \|", md, re.M)
    assert "not run" not in md


def test_review_section_names_the_queue_raters_and_counts(demo):
    run = demo["run"]
    page = section(Path(demo["data"]["report_html"]).read_text(), "review")
    status = read_stage_output(run, "review")["status"]
    annotate = read_stage_output(run, "annotate")
    text = visible(page)
    assert f"reviews/{run.name}.sqlite" in text
    for rater in annotate["raters"]:
        assert rater["rater"] in text
    body = rows(table(page, "table-review"))[1:]
    by_reason = {r[0]: r for r in body}
    for reason, counts in status["by_reason"].items():
        row = by_reason[reason]
        assert int(row[-1]) == sum(counts.values())
        assert int(row[2]) == counts.get("pending", 0)
    assert by_reason["all items"][-1] == str(status["items"])
    audit = rows(table(page, "table-review-audit"))
    assert audit[1][0] == "audit error rate" and audit[1][3] == str(status["audit"]["n"])
    # the audit and the adjudicators' agreement say why they are empty, in words
    assert "Audit: " in text and "Adjudicator agreement: " in text
    if status["adjudicator_agreement"] is None:
        assert "no item has been decided by two adjudicators" in text


def test_distribution_has_one_stated_denominator_cis_and_every_code(demo):
    run = demo["run"]
    stats = read_stage_output(run, "stats")
    page = section(Path(demo["data"]["report_html"]).read_text(), "distribution")
    tables = re.findall(r'<table class="table-distribution">(.*?)</table>', page, re.S)
    assert len(tables) == len(stats["distributions"])
    for (rater, dist), t in zip(stats["distributions"].items(), tables, strict=True):
        n = dist["n_records"]
        assert f"the {n} units of {rater}" in visible(t)  # the caption states it
        body = rows(t)[1:]
        level = next(iter(dist["levels"]))
        expected = [r["id"] for r in dist["levels"][level]] + [r["id"] for r in dist["special"]]
        assert [r[0].replace(" (special)", "") for r in body] == expected
        for r in body:
            units, share = int(r[1]), float(r[2].rstrip("%"))
            assert share == pytest.approx(100 * units / n, abs=0.05)
            low, high = (float(x.strip(" %")) for x in r[3].strip("[]").split(","))
            assert low <= share <= high
    codes, series = distribution_series(report_context(run))
    assert "unclear" in codes
    assert set(series) == set(stats["distributions"])
    for rater, dist in stats["distributions"].items():
        unclear = next(r["units"] for r in dist["special"] if r["id"] == "unclear")
        assert series[rater][codes.index("unclear")] == unclear


def test_degenerate_values_carry_a_note(demo):
    page = Path(demo["data"]["report_html"]).read_text()
    pairs = rows(table(page, "table-agreement"))
    header, body = pairs[0], pairs[1:]
    n_col, note_col, kappa_ci = header.index("n"), header.index("note"), len(header) - 2
    flagged = 0
    for r in body:
        n = int(r[n_col])
        if n < 10 or r[kappa_ci] == "[0.000, 0.000]" or r[kappa_ci - 1] == "–":
            assert r[note_col], r
            flagged += 1
    assert flagged  # the demo's sparse human pairs are among them
    for t in re.findall(r'<table class="table-per-code">(.*?)</table>', page, re.S):
        for r in rows(t)[1:]:
            if r[3] in ("[0.000, 0.000]", "[1.000, 1.000]"):
                assert r[-1], r


def test_a_report_without_humans_says_why_in_one_line(demo, tmp_path):
    run = tmp_path / demo["run"].name
    shutil.copytree(demo["run"], run)
    agree_json = run / "agree" / "agree.json"
    agree = json.loads(agree_json.read_text())
    agree.update(humans=[], pairs=[])
    agree.pop("same_unit", None)
    agree_json.write_text(json.dumps(agree))
    page = write_report(run, tmp_path / "out")["report_html"].read_text()
    text = visible(section(page, "agreement"))
    assert "Every pair" not in text
    raters = [r["rater"] for r in read_stage_output(run, "annotate")["raters"]]
    assert "No human codes in this study" in text
    assert " and ".join(raters) in text and 'href="#statistics"' in page


def test_kappa_chart_draws_the_human_ceiling_as_a_band(demo, tmp_path):
    run = tmp_path / demo["run"].name
    shutil.copytree(demo["run"], run)
    agree_json = run / "agree" / "agree.json"
    agree = json.loads(agree_json.read_text())
    for r in agree["same_unit"]["summary"].values():  # as a larger sample gives it
        r.update(humans_vs_humans=0.55, humans_vs_humans_ci_low=0.4, humans_vs_humans_ci_high=0.7)
    agree_json.write_text(json.dumps(agree))
    ctx = report_context(run)
    assert set(ctx["ceiling"]) == set(agree["annotators"])
    page = write_report(run, tmp_path / "out")["report_html"].read_text()
    assert "Shaded band: humans vs humans on the same units" in visible(page)
    pairs = [
        {**p, "label": f"{p['rater_a']} vs {p['rater_b']}"}
        for p in agree["pairs"]
        if p["kind"] != "human-human"
    ]
    band_rows = [p["label"] for p in pairs if p["kind"] == "annotator-human"]
    fig = report_charts.interval_figure(
        pairs,
        label="label",
        value="cohen_kappa",
        low="cohen_kappa_ci_low",
        high="cohen_kappa_ci_high",
        title="t",
        bands=[{"rows": band_rows, "low": 0.4, "high": 0.7, "value": 0.55, "label": "humans"}],
    )
    ax = fig.axes[0]
    (band,) = ax.collections[:1]
    xs = band.get_paths()[0].vertices[:, 0]
    assert xs.min() == pytest.approx(0.4) and xs.max() == pytest.approx(0.7)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["humans"]
    plt.close(fig)
    # without a ceiling the caption says why
    plain = Path(demo["data"]["report_html"]).read_text()
    if not report_context(demo["run"])["ceiling"]:
        assert "No human ceiling band" in visible(plain)


def test_reliability_diagram_counts_bins_and_leaves_out_empty_ones():
    bins = [
        {"count": 0, "mean_confidence": None, "accuracy": None},
        {"count": 1, "mean_confidence": 0.05, "accuracy": 1.0},
        {"count": 0, "mean_confidence": 0.0, "accuracy": 1.0},  # empty: never drawn
        {"count": 12, "mean_confidence": 0.55, "accuracy": 0.5},
        {"count": 30, "mean_confidence": 0.85, "accuracy": 0.8},
    ]
    fig = reliability_figure({"a": {"bins": bins, "ece": 0.1, "n": 43}}, n_bins=10)
    ax = fig.axes[0]
    curve = ax.get_lines()[1]
    assert list(curve.get_xdata()) == [0.05, 0.55, 0.85]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "12", "30"]
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert legend.y1 <= axes_box.y0  # below the axes, never over a curve
    assert ax.get_xlim() == (0, 1) and ax.get_xlabel() == "mean confidence in bin"
    plt.close(fig)


def test_compare_leads_with_the_decision_and_ends_with_grouped_units(demo, monkeypatch):
    import ptmcoder.report as report

    page = demo["compare"]["compare_html"].read_text()
    order = re.findall(r'<section id="([^"]+)">', page)
    assert order[0] == "decision" and order[-1] == "changes"
    data = json.loads(demo["compare"]["compare_json"].read_text())
    decision = rows(table(page, "table-decision"))
    assert decision[1][1].startswith(
        f"{len(data['changed_units'])} of {data['units_compared']} units"
    )
    assert "95% Wilson CI" in decision[1][1]
    assert any(r[0] == "cost and time" for r in decision)
    changes = section(page, "changes")
    for t in data["transitions"]:
        assert f"{t['from']} → {t['to']}: {t['units']} unit(s)" in visible(changes)
    # the demo corpus has titles and links: each changed unit carries them
    first = data["changed_units"][0]
    assert first["title"] and f'href="{first["url"]}"' in changes
    assert first["title"] in visible(changes)
    # beyond the first N of a transition, the rest is folded
    monkeypatch.setattr(report, "SHOWN_PER_TRANSITION", 5)
    result = compare(demo["run"], n_boot=20)
    folded = write_compare(result, demo["home"] / "cmp5")["compare_html"].read_text()
    details = re.findall(r"<details>(.*?)</details>", folded, re.S)
    big = [t for t in data["transitions"] if t["units"] > 5]
    assert len(details) == len(big) > 0
    for t, d in zip(big, details, strict=True):
        assert d.count("<li>") == t["units"] - 5
