"""Regression test for issue #10 item 12: DuckDB options are validated, never a
ParserException traceback."""

from __future__ import annotations

import pytest

from ptmcoder import paths
from ptmcoder.corpus import store
from ptmcoder.duck import check_memory_limit
from ptmcoder.errors import ConfigError


@pytest.mark.parametrize("value", ["1GB", "512MiB", "1.5 GB", "80%", "100mb", "2TiB", "64KB"])
def test_memory_limit_accepted(value):
    assert check_memory_limit(value) == value.strip()


@pytest.mark.parametrize("value", ["lots", "", "100", "0GB", "-1GB", "1GB'; DROP", "150%", "GB"])
def test_memory_limit_refused(value):
    with pytest.raises(ConfigError, match="--memory-limit"):
        check_memory_limit(value)


@pytest.mark.parametrize("command", ["popularity", "difficulty"])
@pytest.mark.parametrize("option,value", [("--memory-limit", "lots"), ("--threads", "0")])
def test_stats_commands_give_a_clean_error(run_cli, command, option, value):
    store.import_corpus([paths.samples_dir() / "so_dataexplorer_sample.csv"], "so")
    result = run_cli("stats", command, "--corpus", "so", option, value)
    assert result.exit_code != 0
    assert result.exception is None, repr(result.exception)
    assert option in result.stderr and "Traceback" not in result.stderr
