"""The shared table reader: label, gold and id files."""

from __future__ import annotations

import pytest

from ptmcoder.errors import InputRecordError, NotFoundError
from ptmcoder.tables import read_ids, read_table


@pytest.mark.parametrize(
    "name,text",
    [
        ("ids.csv", "unit,other\nso:1,x\nso:2,y\n"),
        ("ids2.csv", "id\nso:1\nso:2\n\n"),
        ("ids.txt", "so:1\n\nso:2\n"),
    ],
)
def test_read_ids_accepts_unit_or_id_columns_and_plain_lines(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert read_ids(path) == {"so:1", "so:2"}


def test_read_ids_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nx\n")
    with pytest.raises(InputRecordError, match=r"bad\.csv.*no id column"):
        read_ids(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputRecordError, match=r"empty\.csv.*the file is empty"):
        read_ids(empty)
    with pytest.raises(NotFoundError):
        read_ids(tmp_path / "missing.csv")


def test_read_table_reads_empty_cells_as_missing(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("unit,rater,code\nu1,a,x\nu2,a,\n")
    table = read_table(path)
    assert table["code"].isna().tolist() == [False, True]
