"""SQLite connections and append-only schema migrations.

Everything that must survive a crash (response cache, review queue, run
progress) lives in SQLite in WAL mode. Each component keeps its own ordered
list of migrations; ``schema_version`` records how many of them a database has
applied. Migrations are only ever appended: never edit or reorder a released
one, add a new one instead.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

_COMPONENT = re.compile(r"^[a-z][a-z0-9_]*$")


def connect(path: str | Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in WAL mode with a busy timeout, in autocommit mode.

    Use ``with transaction(conn):`` (or explicit BEGIN/COMMIT) to group writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), timeout=timeout, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (the write lock taken at once, so what the block reads stays
    true until it commits), ``COMMIT`` at the end, ``ROLLBACK`` on any exception,
    Ctrl-C included."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (no ``;`` inside literals or triggers)."""
    return [s.strip() for s in sql.split(";") if s.strip()]


def schema_version(conn: sqlite3.Connection, component: str) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    row = conn.execute(
        "SELECT version FROM schema_version WHERE component = ?", (component,)
    ).fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[str]) -> int:
    """Apply the migrations of ``component`` not yet applied; returns the version.

    Each migration runs in its own ``BEGIN IMMEDIATE`` transaction that re-reads
    the version first, so two processes opening the same database at once apply
    each migration exactly once.
    """
    if not _COMPONENT.match(component):
        raise ValueError(f"bad component name {component!r}")
    version = schema_version(conn, component)
    if version > len(migrations):
        from ptmcoder.errors import ConfigError

        raise ConfigError(
            f"the {component} database is at schema version {version}, newer "
            f"than this ptmcoder knows ({len(migrations)})",
            hint="upgrade ptmcoder",
        )
    for number, sql in enumerate(migrations, start=1):
        if number <= version:
            continue
        with transaction(conn):
            if schema_version(conn, component) < number:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version(component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, number),
                )
        version = number
    return schema_version(conn, component)
