"""The shared table reader: label, gold and id files."""

from __future__ import annotations

import pandas as pd
import pytest

from ptmcoder.errors import InputRecordError, NotFoundError
from ptmcoder.tables import as_long_table, read_ids, read_long_table, read_table


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


@pytest.mark.parametrize("unit_column", ["unit", "unit_id"])
def test_every_long_table_reader_reads_one_convention(tmp_path, unit_column):
    from ptmcoder.agreement.io import read_gold
    from ptmcoder.agreement.io import read_long_table as agreement_reader
    from ptmcoder.crosswalk import read_codings

    path = tmp_path / "long.csv"
    path.write_text(f"{unit_column},rater,code,note\nu1,a,x,n\nu1,b,,n\nu2,a,y,n\n")
    df = read_long_table(path)
    assert list(df.columns) == ["unit", "rater", "code", "note"]
    assert df["unit"].tolist() == ["u1", "u1", "u2"] and str(df["unit"].dtype) == "string"
    assert df["code"].isna().tolist() == [False, True, False]
    assert agreement_reader(path).equals(df)
    gold = read_gold(path)
    assert gold["unit"].tolist() == ["u1", "u1", "u2"] and set(gold["rater"]) == {"gold"}
    assert read_codings(path).columns.tolist() == ["unit", "rater", "code"]


def test_long_table_errors_name_the_file_and_the_columns_found(tmp_path):
    from ptmcoder.agreement.io import read_gold

    path = tmp_path / "labels.csv"
    path.write_text("item,who,label\n1,a,x\n")
    with pytest.raises(InputRecordError, match=r"labels\.csv: header: missing column\(s\) unit, "):
        read_long_table(path)
    with pytest.raises(InputRecordError, match="found item, who, label") as err:
        read_gold(path)
    assert err.value.hint == "gold labels need columns unit and code"
    # a table already in memory: the same check, named by its source
    frame = pd.DataFrame({"unit": ["u"], "code": ["x"]})
    with pytest.raises(InputRecordError, match=r"^codings: header: missing column\(s\) rater"):
        as_long_table(frame, "codings")
    renamed = as_long_table(frame.rename(columns={"unit": "unit_id"}), "t", required=())
    assert list(renamed.columns) == ["unit", "code"]
