"""ptmcoder.store: the transaction helper every SQLite writer uses."""

from __future__ import annotations

import pytest

from ptmcoder.store import connect, migrate, schema_version, transaction


def test_a_transaction_commits_its_block_or_nothing_of_it(tmp_path):
    conn = connect(tmp_path / "t.sqlite")
    conn.execute("CREATE TABLE t (x INTEGER)")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(KeyboardInterrupt), transaction(conn):  # Ctrl-C mid-block
        conn.execute("INSERT INTO t VALUES (2)")
        raise KeyboardInterrupt
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert not conn.in_transaction


def test_migrations_apply_once_each_across_connections(tmp_path):
    steps = ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"]
    first, second = connect(tmp_path / "m.sqlite"), connect(tmp_path / "m.sqlite")
    assert migrate(first, "demo", steps[:1]) == 1
    assert migrate(second, "demo", steps) == 2  # only the new one runs
    assert migrate(first, "demo", steps) == 2 and schema_version(first, "demo") == 2
