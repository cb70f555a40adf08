"""``ptmcoder agree`` on bad input, as a user would give it: a clean one-line
error naming the file, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "ptmcoder" / "data" / "samples"
LABELS = SAMPLES / "humbatova_so_labels.csv"


@pytest.mark.parametrize("as_gold", [False, True])
def test_empty_file_is_a_clean_error(tmp_path, run_cli, as_gold):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    args = (LABELS, "--gold", empty, "--view", "confusion") if as_gold else (empty,)
    result = run_cli("agree", *args, "--bootstrap", "0")
    assert result.exit_code == 1
    assert result.exception is None
    assert "Traceback" not in result.stderr
    assert f"{empty}: header: the file is empty" in result.stderr
