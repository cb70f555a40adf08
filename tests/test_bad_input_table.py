"""Bad input at the edge (issue #25, item 12): one row per bad option or file, run
through the CLI. Each must exit non-zero with no traceback and a message naming the
option, file or field; inconsistent data that a command can still use is a warning
naming it. Fixtures are built here or kept in ``tests/fixtures/bad_input/``.

Bad inputs handled in files owned elsewhere (study files, ``.qdc`` / ``.qdpx``,
``units.parquet``, a record without ``unit_id``, a huge item number, duplicate
columns and the other corpus checks) have their rows in those modules' tests.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes import codes_responder, openai_annotate, write_units
from llm_server import LLMServer

from ptmcoder.agreement.bootstrap import MAX_BOOTSTRAP
from ptmcoder.codebook import MAX_NESTING
from ptmcoder.crosswalk.io import MAX_CELL

BAD = Path(__file__).resolve().parent / "fixtures" / "bad_input"
REPO = Path(__file__).resolve().parents[1]
CROSSWALK = REPO / "codebooks" / "crosswalks" / "tan2024__zhao2021.sssom.tsv"


def embedded_annotate(home: Path, *extra: str) -> tuple[str, ...]:
    """``annotate`` of three bundled units with the offline TF-IDF annotator."""
    return (
        "annotate",
        "--codebook",
        "humbatova2020",
        "--corpus",
        "humbatova_so",
        "--annotator",
        "embedded:tfidf",
        "--limit",
        "3",
        "--no-progress",
        *extra,
    )


def run_dirs(home: Path) -> list[str]:
    return sorted(os.listdir(home / "runs")) if (home / "runs").exists() else []


def a_run(run_cli, home: Path) -> str:
    result = run_cli(*embedded_annotate(home, "--json"))
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["run_id"]


# -- building each bad input (home: the test's workspace) -------------------------------


def option(*flags: str) -> Callable[[object, Path], tuple[str, ...]]:
    return lambda run_cli, home: embedded_annotate(home, *flags)


def deep_codebook(run_cli, home: Path) -> tuple[str, ...]:
    path = home / "deep.yaml"
    path.write_text("id: deep\nnodes: " + "[" * 4000 + "]" * 4000 + "\n")
    return ("codebook", "show", str(path))


def deep_json_codebook(run_cli, home: Path) -> tuple[str, ...]:
    path = home / "deep.json"  # JSON is YAML: the same reader, the same limit
    path.write_text('{"id": "deep", "nodes": ' + "[" * 5000 + "]" * 5000 + "}\n")
    return ("codebook", "show", str(path))


def directory_for_codebook(run_cli, home: Path) -> tuple[str, ...]:
    (home / "a-directory.yaml").mkdir()
    return ("codebook", "show", str(home / "a-directory.yaml"))


def crosswalk_lines() -> tuple[list[str], int]:
    lines = CROSSWALK.read_text(encoding="utf-8").splitlines(keepends=True)
    first_row = next(i for i, line in enumerate(lines) if not line.startswith("#")) + 1
    return lines, first_row


def non_utf8_crosswalk(run_cli, home: Path) -> tuple[str, ...]:
    lines, row = crosswalk_lines()
    path = home / CROSSWALK.name
    data = "".join(lines[:row]).encode() + b"\xff\xfe latin-1 \xe9" + "".join(lines[row:]).encode()
    path.write_bytes(data)
    return ("map", "validate", str(path))


def long_cell_crosswalk(run_cli, home: Path) -> tuple[str, ...]:
    lines, row = crosswalk_lines()
    cells = lines[row].rstrip("\n").split("\t")
    cells[-1] = "x" * (MAX_CELL + 1000)
    path = home / CROSSWALK.name
    path.write_text("".join(lines[:row]) + "\t".join(cells) + "\n" + "".join(lines[row + 1 :]))
    return ("map", "validate", str(path))


def garbage_review_db(run_cli, home: Path) -> tuple[str, ...]:
    run_id = a_run(run_cli, home)
    reviews = home / "reviews"
    reviews.mkdir(exist_ok=True)
    (reviews / f"{run_id}.sqlite").write_bytes(b"SQLite format 2\x00" + bytes(range(256)) * 40)
    return ("review", "status", run_id)


def nan_in_manifest(run_cli, home: Path) -> tuple[str, ...]:
    run_id = a_run(run_cli, home)
    path = home / "runs" / run_id / "manifest.json"
    text = path.read_text()
    path.write_text(re.sub(r'"temperature": [^,\n]+', '"temperature": NaN', text))
    return ("runs", "show", run_id)


def huge_bootstrap(run_cli, home: Path) -> tuple[str, ...]:
    humans = home / "humans.csv"
    humans.write_text(
        "unit,rater,code\n" + "".join(f"u{i},a,x\nu{i},b,{'xy'[i % 2]}\n" for i in range(20))
    )
    return ("agree", str(humans), "--bootstrap", str(10**10))


@dataclass(frozen=True)
class Row:
    name: str
    make: Callable[[object, Path], tuple[str, ...]]
    #: what the message must name (option, file, field), each a regex
    names: tuple[str, ...]


ROWS = [
    Row("temperature nan", option("--temperature", "nan"), ("--temperature", "finite")),
    Row("temperature inf", option("--temperature", "inf"), ("--temperature", "finite")),
    Row("temperature 5", option("--temperature", "5"), ("--temperature", "less than or equal")),
    Row("timeout nan", option("--timeout", "nan"), ("--timeout", "finite")),
    Row("timeout 0", option("--timeout", "0"), ("--timeout", "greater than 0")),
    Row("rpm -5", option("--rpm", "-5"), ("--rpm", "greater than 0")),
    Row("rpm 0", option("--rpm", "0"), ("--rpm", "greater than 0")),
    Row("tpm nan", option("--tpm", "nan"), ("--tpm", "finite")),
    Row("seed -1", option("--seed", "-1"), ("--seed",)),
    Row("codebook nested 4,000 deep", deep_codebook, (r"deep\.yaml", "line 2", str(MAX_NESTING))),
    Row("JSON codebook nested 5,000 deep", deep_json_codebook, (r"deep\.json", str(MAX_NESTING))),
    Row("a directory for a file", directory_for_codebook, (r"a-directory\.yaml", "directory")),
    Row("non-UTF-8 crosswalk", non_utf8_crosswalk, (CROSSWALK.name, r"line \d+", "UTF-8")),
    Row(
        "crosswalk cell over 128 KiB", long_cell_crosswalk, (CROSSWALK.name, r"line \d+", "131,072")
    ),
    Row("garbage review database", garbage_review_db, (r"reviews/.*\.sqlite", "not a readable")),
    Row("NaN in a manifest", nan_in_manifest, (r"manifest\.json", r"config\.temperature")),
    Row(
        "stats --threads 0", lambda r, h: ("stats", "popularity", "--threads", "0"), ("--threads",)
    ),
    Row("stats --top-k -1", lambda r, h: ("stats", "difficulty", "--top-k", "-1"), ("--top-k",)),
    Row("bootstrap 10^10", huge_bootstrap, ("--bootstrap", f"{MAX_BOOTSTRAP:,}")),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_bad_input_is_a_located_error(row: Row, run_cli, isolated_home: Path):
    args = row.make(run_cli, isolated_home)
    before = run_dirs(isolated_home)
    result = run_cli(*args)
    output = result.stdout + result.stderr
    assert result.exit_code not in (0, None), output
    assert result.exception is None, repr(result.exception)  # a message, not a crash
    assert "Traceback" not in output
    for pattern in row.names:
        assert re.search(pattern, output), f"{pattern!r} not in {output!r}"
    if args[0] == "annotate":  # a refused option leaves no run behind
        after = (
            sorted(os.listdir(isolated_home / "runs")) if (isolated_home / "runs").exists() else []
        )
        assert after == before


def test_tpm_below_one_request_is_refused_with_the_wait(run_cli, isolated_home: Path):
    units = write_units(isolated_home / "units.csv", 2)
    with LLMServer(responder=codes_responder) as server:
        result = run_cli(
            *openai_annotate(units, server.base_url),
            "--tpm",
            "1",
            "--no-progress",
            env={"OPENAI_API_KEY": "sk-test"},
        )
        assert server.requests == []  # refused before anything was sent
    output = result.stdout + result.stderr
    assert result.exit_code != 0 and result.exception is None, output
    assert "Traceback" not in output
    assert re.search(r"--tpm 1 is below one request's estimated [\d,]+ tokens", output)
    assert re.search(r"wait about [\d,]+ minutes", output)


def test_folds_zero_names_the_field():
    from ptmcoder.annotate.options import AnnotateOptions
    from ptmcoder.errors import ValidationError

    with pytest.raises(ValidationError, match=r"--folds \(folds\): .*greater than or equal to 2"):
        AnnotateOptions(folds=0)


def test_an_alias_on_two_codes_is_warned_and_resolves_to_neither(run_cli, isolated_home: Path):
    path = isolated_home / "alias_on_two_codes.yaml"
    shutil.copy(BAD / "alias_on_two_codes.yaml", path)
    result = run_cli("codebook", "show", str(path))
    assert result.exit_code == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warning == [
        f"warning: {path}: label 'crash' is on 2 codes: fault (alias), question (alias); it "
        "resolves to none of them (counted as an unknown code where coders used it)"
    ], result.stderr

    from ptmcoder.codebook import load_codebook_file

    with pytest.warns(UserWarning, match="'crash' is on 2 codes"):
        book = load_codebook_file(path)
    assert book.ambiguous_labels() == {"crash": ["fault", "question"]}
    assert [book.resolve_label(x) for x in ("crash", "CRASH", "bug report", "fault")] == [
        None,
        None,
        "fault",
        "fault",
    ]


def test_a_name_on_a_category_and_its_own_leaf_is_the_leaf():
    # humbatova2020: category T4.2.3 "Wrong Input Format" holds leaf "Wrong input format";
    # its notes say a human tag with that wording maps to the leaf (it mapped to T4.2.3)
    from ptmcoder.codebook import load_codebook

    book = load_codebook("humbatova2020")
    assert book.resolve_label("wrong input format") == "wrong-input-format"
    assert book.ambiguous_labels() == {}


def test_unreadable_file_names_the_path(run_cli, isolated_home: Path, monkeypatch):
    path = isolated_home / "locked.yaml"
    shutil.copy(REPO / "codebooks" / "issue-type.yaml", path)
    real = pathlib.Path.read_text

    def refuse(self, *args, **kwargs):  # root reads any file: refuse it as a 000 file is
        if self.name == "locked.yaml":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", refuse)
    result = run_cli("codebook", "show", str(path))
    assert result.exit_code == 1 and result.exception is None
    assert "Traceback" not in result.stderr
    assert f"cannot use {path}: Permission denied" in result.stderr


def test_debug_reraises_a_file_error(run_cli, isolated_home: Path):
    (isolated_home / "d.yaml").mkdir()
    result = run_cli("codebook", "show", "d.yaml", env={"PTMCODER_DEBUG": "1"})
    assert isinstance(result.exception, IsADirectoryError)


def test_a_damaged_review_database_leaves_the_rest_working(run_cli, isolated_home: Path):
    good, bad = a_run(run_cli, isolated_home), a_run(run_cli, isolated_home)
    (isolated_home / "reviews").mkdir()
    (isolated_home / "reviews" / f"{bad}.sqlite").write_text("not a database\n" * 50)
    listed = run_cli("runs", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert {good, bad} <= {r["run_id"] for r in json.loads(listed.stdout)}
    result = run_cli("review", "status", bad)
    assert result.exit_code != 0 and result.exception is None
    assert f"{bad}.sqlite" in result.stderr
