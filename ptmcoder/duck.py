"""DuckDB with a memory cap: the one way ptmcoder opens a DuckDB connection.

The corpus import (duplicate ids and accepted-answer times, on disk) and the
statistics (:mod:`ptmcoder.stats.engine`) both run out-of-core DuckDB queries over
Parquet files; both open their connection here, with the memory cap checked by
:func:`check_memory_limit`, so a corpus never imports the statistics. DuckDB itself
is imported on the first connection, not with this module.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ptmcoder.errors import ConfigError

if TYPE_CHECKING:
    import duckdb

DEFAULT_MEMORY_LIMIT = "1GB"

_MEMORY_LIMIT = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[KMGT]i?B|B|%)\s*$", re.IGNORECASE)


def quote_literal(text: str) -> str:
    """``text`` as an SQL string literal.

    >>> quote_literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def check_memory_limit(value: str, option: str = "--memory-limit") -> str:
    """A DuckDB memory cap such as ``1GB``, ``512MiB``, ``1.5 GB`` or ``80%``;
    anything else raises :class:`~ptmcoder.errors.ConfigError` naming ``option``.

    >>> check_memory_limit("512MiB")
    '512MiB'
    """
    m = _MEMORY_LIMIT.match(str(value))
    if m is None or float(m.group("n")) <= 0 or (m["unit"] == "%" and float(m["n"]) > 100):
        raise ConfigError(
            f"{option} {value!r} is not a memory size",
            hint="a positive number with a unit: 512MB, 1GB, 2GiB (or a share: 50%)",
        )
    return str(value).strip()


def check_threads(value: int | None, option: str = "--threads") -> int | None:
    """A thread count of at least 1 (None: DuckDB's default)."""
    if value is not None and value < 1:
        raise ConfigError(f"{option} must be at least 1, got {value}")
    return value


def connect(
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int | None = None,
    temp_directory: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a memory cap (spilling to
    ``temp_directory`` past it), insertion order not preserved and no progress bar."""
    import duckdb

    check_memory_limit(memory_limit)
    check_threads(threads)
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory:
        con.execute(f"SET temp_directory = {quote_literal(temp_directory)}")
    return con
