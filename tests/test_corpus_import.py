"""Readers, the atomic store and the corpus CLI on bundled samples and malformed fixtures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from ptmcoder import paths
from ptmcoder.corpus import store
from ptmcoder.corpus.html import html_to_text
from ptmcoder.corpus.schema import UNIT_COLUMNS
from ptmcoder.errors import InputRecordError, NotFoundError

FIX = Path(__file__).resolve().parent / "fixtures" / "corpus"
SAMPLES = paths.samples_dir()
NL_MAP = "title=title,body=body,created_at=created_at,project=repo,tags=label"


@pytest.mark.parametrize(
    "file,fmt,n",
    [
        ("so_dataexplorer_sample.csv", "sede-csv", 77),
        ("so_posts_sample.xml", "posts-xml", 77),
        ("so_api_sample.json", "se-api", 77),
        ("github_issues_sample.jsonl", "github", 125),
    ],
)
def test_bundled_samples_import_with_detected_format(file, fmt, n):
    summary = store.import_corpus([SAMPLES / file], "s")
    assert summary.sources[0]["format"] == fmt
    assert summary.units == n and summary.skipped_count == 0
    df = store.load_corpus("s")
    assert list(df.columns) == UNIT_COLUMNS
    assert df["id"].is_unique and df["title"].notna().all()


def test_the_three_so_formats_agree_on_the_same_questions():
    frames = {}
    for file in ("so_dataexplorer_sample.csv", "so_posts_sample.xml", "so_api_sample.json"):
        store.import_corpus([SAMPLES / file], "x", replace=True)
        frames[file] = store.load_corpus("x").set_index("id").sort_index()
    a, b, c = frames.values()
    for col in ("title", "score", "view_count", "answer_count", "accepted_answer_id", "created_at"):
        assert a[col].equals(b[col]), col
        assert a[col].equals(c[col]), col
    assert a["tags"].map(tuple).equals(c["tags"].map(tuple))
    assert any("bert-language-model" in t for t in a["tags"])


def test_plain_csv_with_mapping_via_cli(run_cli):
    result = run_cli(
        "corpus",
        "import",
        SAMPLES / "nlbse_issues_sample.csv",
        "--name",
        "nl",
        "--map",
        NL_MAP,
        "--platform",
        "github",
        "--json",
    )
    assert result.exit_code == 0, result.stderr + result.stdout
    assert json.loads(result.stdout)["units"] == 150
    df = store.load_corpus("nl")
    assert set(df["project"]) == {
        "facebook/react",
        "tensorflow/tensorflow",
        "microsoft/vscode",
        "bitcoin/bitcoin",
        "opencv/opencv",
    }
    assert df["tags"].map(len).eq(1).all()
    assert df["id"].iloc[0] == "nlbse_issues_sample:2"


def test_plain_csv_needs_platform_and_known_columns(run_cli):
    no_platform = run_cli(
        "corpus", "import", SAMPLES / "nlbse_issues_sample.csv", "--name", "nl", "--map", NL_MAP
    )
    assert no_platform.exit_code == 1 and "--platform" in no_platform.stderr
    bad = run_cli(
        "corpus",
        "import",
        SAMPLES / "nlbse_issues_sample.csv",
        "--name",
        "nl",
        "--map",
        "title=Titel",
        "--platform",
        "github",
    )
    assert bad.exit_code == 2 and "no column 'Titel'" in bad.stderr


def test_posts_xml_joins_accepted_answer_time_and_keeps_code(tmp_path):
    good = tmp_path / "Posts.xml"
    text = (FIX / "truncated_posts.xml").read_text().splitlines()[:-1]
    good.write_text("\n".join(text) + "\n</posts>\n")
    store.import_corpus([good], "p")
    df = store.load_corpus("p").set_index("id")
    assert list(df.index) == ["so:1", "so:4"]
    assert df.loc["so:1", "accepted_answer_id"] == "3"
    assert df.loc["so:1", "accepted_answer_at"] == pd.Timestamp("2020-01-01T02:30:00Z")
    assert pd.isna(df.loc["so:4", "accepted_answer_at"])
    assert df.loc["so:1", "body"] == "Use `bert`\n\n```\nx = 1\n```"
    assert df.loc["so:1", "tags"].tolist() == ["python", "bert"]
    assert store.import_record("p")["counts"] == {"answers read": 2}


def test_truncated_xml_fails_with_location_and_writes_nothing():
    with pytest.raises(InputRecordError) as err:
        store.import_corpus([FIX / "truncated_posts.xml"], "p")
    assert err.value.record.startswith("line 7")
    assert "truncated" in err.value.reason
    assert store.known_corpora() == []
    assert not [p for p in paths.corpora_dir().iterdir()]


def test_truncated_xml_skip_keeps_rows_before_the_break():
    summary = store.import_corpus([FIX / "truncated_posts.xml"], "p", on_error="skip")
    assert summary.units == 2 and summary.skipped_count == 1
    assert summary.skipped[0]["file"].endswith("truncated_posts.xml")


def test_bad_csv_row_fail_names_file_line_and_field(run_cli):
    result = run_cli("corpus", "import", FIX / "bad_row.csv", "--name", "b")
    assert result.exit_code == 1
    assert "bad_row.csv: line 3, field 'Score': expected an integer, got 'lots'" in result.stderr
    assert store.known_corpora() == []


def test_bad_csv_rows_skipped_and_counted(run_cli):
    result = run_cli("corpus", "import", FIX / "bad_row.csv", "--name", "b", "--on-error", "skip")
    assert result.exit_code == 0, result.stderr
    assert "malformed records skipped: n=2" in result.stdout
    assert "line 4, field 'Tags': row has 8 fields, the header has 12" in result.stdout
    record = store.import_record("b")
    assert record["units"] == 2 and record["skipped_count"] == 2
    assert [s["record"] for s in record["skipped"]] == ["line 3", "line 4"]


def test_github_json_bad_records_prs_and_duplicates():
    summary = store.import_corpus([FIX / "bad_record.jsonl"], "g", on_error="skip")
    assert summary.counts == {"pull requests skipped": 1}
    assert [(s["record"], s["field"]) for s in summary.skipped] == [
        ("line 2", "created_at"),
        ("line 3", None),
    ]
    assert summary.duplicates == [
        {
            "id": "gh:o/r#1",
            "occurrences": 2,
            "sources": ["bad_record.jsonl:line 1", "bad_record.jsonl:line 5"],
        }
    ]
    assert summary.duplicate_rows_dropped == 1
    assert summary.by_platform == {"github": 2}  # counted after the duplicate is dropped
    df = store.load_corpus("g")
    assert df["id"].tolist() == ["gh:o/r#1", "gh:o/r#5"]
    assert df["title"].iloc[0] == "Works"  # first occurrence kept
    assert df["tags"].map(list).tolist() == [["bug"], ["question"]]
    assert df["closed_at"].iloc[0] == pd.Timestamp("2021-01-03T00:00:00Z")


def test_se_api_accepted_answer_time_duplicates_and_bad_time():
    with pytest.raises(InputRecordError) as err:
        store.import_corpus([FIX / "se_api_dup.json"], "a")
    assert (err.value.record, err.value.field_name) == ("record 3", "creation_date")
    summary = store.import_corpus([FIX / "se_api_dup.json"], "a", on_error="skip")
    assert summary.units == 1 and summary.duplicate_rows_dropped == 1
    df = store.load_corpus("a")
    assert df["title"].iloc[0] == 'Fine-tune "bert"'
    assert df["accepted_answer_at"].iloc[0] == pd.Timestamp("2020-01-01T01:00:00Z")


def test_non_utf8_bytes_are_replaced_and_reported():
    summary = store.import_corpus([FIX / "latin1.csv"], "l")
    assert summary.units == 2
    assert summary.sources[0]["non_utf8_bytes"] == 2
    assert any("not valid UTF-8" in w for w in summary.warnings)
    assert store.load_corpus("l")["title"].iloc[0] == "Caf\ufffd question"


def test_interrupted_import_leaves_previous_corpus_intact(monkeypatch):
    store.import_corpus([SAMPLES / "so_api_sample.json"], "c")
    before = store.load_corpus("c")
    from ptmcoder.corpus.readers import github

    real = github.to_unit
    calls = {"n": 0}

    def dying(obj, source):
        calls["n"] += 1
        if calls["n"] == 50:
            raise KeyboardInterrupt
        return real(obj, source)

    monkeypatch.setattr(github, "to_unit", dying)
    monkeypatch.setattr(store, "BATCH_ROWS", 10)  # some batches already on disk
    with pytest.raises(KeyboardInterrupt):
        store.import_corpus([SAMPLES / "github_issues_sample.jsonl"], "c", replace=True)
    assert calls["n"] == 50
    assert store.load_corpus("c").equals(before)
    assert sorted(p.name for p in paths.corpora_dir().iterdir()) == ["c"]


def test_staging_left_by_a_killed_import_is_removed_by_the_next():
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    root = paths.corpora_dir()
    root.mkdir(parents=True)
    stale = root / f".c.tmp-{dead_pid}-1"
    (stale / "partial").mkdir(parents=True)
    live = root / f".c.tmp-{os.getpid()}-2"  # an import still running: kept
    live.mkdir()
    store.import_corpus([SAMPLES / "so_api_sample.json"], "c")
    assert not stale.exists()
    assert live.exists()


def test_existing_corpus_needs_replace_and_unknown_corpus_hint(run_cli):
    store.import_corpus([SAMPLES / "so_api_sample.json"], "c")
    again = run_cli("corpus", "import", SAMPLES / "so_api_sample.json", "--name", "c")
    assert again.exit_code == 1 and "--replace" in again.stderr
    with pytest.raises(NotFoundError) as err:
        store.load_corpus("nope")
    assert "known corpora: c" in str(err.value)


def test_info_and_list_json(run_cli):
    store.import_corpus([SAMPLES / "github_issues_sample.jsonl"], "g")
    info = json.loads(run_cli("corpus", "info", "g", "--json").stdout)
    df = store.load_corpus("g")
    assert info["units"] == len(df) == 125
    assert info["by_platform"] == {"github": 125}
    assert sum(info["by_year"].values()) == 125
    assert info["by_state"] == df["state"].value_counts().to_dict()
    assert info["missing"]["view_count"] == 125
    assert info["missing"]["closed_at"] == int(df["closed_at"].isna().sum())
    listed = json.loads(run_cli("corpus", "list", "--json").stdout)
    assert [(c["name"], c["units"]) for c in listed["corpora"]] == [("g", 125)]
    text = run_cli("corpus", "info", "g")
    assert text.exit_code == 0 and "n=125 units" in text.stdout


def test_html_to_text_lists_entities_and_blocks():
    body = (
        "<p>A &amp; B</p><ul><li>one</li><li>two</li></ul>"
        "<pre class='lang-py'><code>if a &lt; b:\n    pass\n</code></pre><p>end<br>line</p>"
    )
    assert (
        html_to_text(body) == "A & B\n\n- one\n- two\n\n```\nif a < b:\n    pass\n```\n\nend\nline"
    )
