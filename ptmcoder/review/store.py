"""The review queue's SQLite store: items and the decisions made on them.

One database per run, ``<workspace>/reviews/<run id>.sqlite`` (WAL, the project's
append-only migrations in :mod:`ptmcoder.store`). Nothing in it is ever updated
in place except an item's reasons (a rebuild adds reasons, never removes them):

- ``items``: one row per unit or crosswalk suggestion (``kind`` unit or mapping),
  keyed by a stable ``key`` so a rebuild finds the items it made before;
- ``mappings``: subject, object, predicate and mapping-set path of a mapping item;
- ``decisions``: append-only. Every decision, skip and undo is one row committed
  in its own ``BEGIN IMMEDIATE`` transaction with who (``adjudicator``), when, the
  action, the codes, the note and the id of the decision it replaced. An undo is a
  row whose ``replaces`` names the decision it withdraws; withdrawn decisions stay
  in the table for the audit trail.

Two adjudicators (or two processes) working the same queue only ever append rows,
so neither can overwrite the other; ``synchronous=FULL`` makes a committed
decision survive even a power cut, and a killed process loses nothing committed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ptmcoder.errors import InputRecordError
from ptmcoder.store import connect, migrate, transaction

COMPONENT = "review"

MIGRATIONS: list[str] = [
    """
    CREATE TABLE items (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        unit_id TEXT,
        priority REAL NOT NULL,
        reasons TEXT NOT NULL,
        detail TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE mappings (
        item_id INTEGER PRIMARY KEY REFERENCES items(id),
        mapping_set TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        object_id TEXT NOT NULL,
        predicate TEXT NOT NULL
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id INTEGER NOT NULL REFERENCES items(id),
        adjudicator TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        action TEXT NOT NULL,
        codes TEXT,
        rater TEXT,
        predicate TEXT,
        note TEXT,
        replaces INTEGER REFERENCES decisions(id)
    );
    CREATE INDEX decisions_item ON decisions(item_id, adjudicator);
    CREATE TABLE builds (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        built_at TEXT NOT NULL,
        options TEXT NOT NULL,
        added INTEGER NOT NULL,
        updated INTEGER NOT NULL
    )
    """,
]


class Action(StrEnum):
    """What a decision row does."""

    #: the proposal (consensus, gold or the agreed codes) is right
    ACCEPT = "accept"
    #: one rater's codes are right (``rater`` names them)
    ACCEPT_RATER = "accept_rater"
    #: the adjudicator's own codes (fix-and-accept)
    CODES = "codes"
    #: the proposal is wrong; no codes given
    REJECT = "reject"
    #: no code of the codebook fits; the note describes a candidate new code
    NO_FIT = "no_fit"
    #: mapping item: the relation is wrong, ``predicate`` is the right one
    CHANGE_RELATION = "change_relation"
    #: not decided now: the item goes to the end of this adjudicator's queue
    SKIP = "skip"
    #: withdraws the decision named in ``replaces``
    UNDO = "undo"


#: actions that settle an item (skip and undo do not)
DECIDING = frozenset(
    {
        Action.ACCEPT,
        Action.ACCEPT_RATER,
        Action.CODES,
        Action.REJECT,
        Action.NO_FIT,
        Action.CHANGE_RELATION,
    }
)


@dataclass
class Item:
    id: int
    key: str
    kind: str
    unit_id: str | None
    priority: float
    reasons: list[dict[str, Any]]
    detail: dict[str, Any]
    mapping: dict[str, str] | None = None

    @property
    def reason_names(self) -> list[str]:
        return [r["reason"] for r in self.reasons]

    def to_json(self) -> dict[str, Any]:
        out = {
            "item": self.id,
            "kind": self.kind,
            "unit_id": self.unit_id,
            "priority": round(self.priority, 4),
            "reasons": self.reasons,
        }
        if self.mapping:
            out["mapping"] = self.mapping
        out["detail"] = self.detail
        return out


@dataclass
class Decision:
    id: int
    item_id: int
    adjudicator: str
    decided_at: str
    action: Action
    codes: list[str] | None
    rater: str | None
    predicate: str | None
    note: str | None
    replaces: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.id,
            "item": self.item_id,
            "adjudicator": self.adjudicator,
            "decided_at": self.decided_at,
            "action": str(self.action),
            "codes": self.codes,
            "rater": self.rater,
            "predicate": self.predicate,
            "note": self.note,
            "replaces": self.replaces,
        }


def _item(row: sqlite3.Row | tuple, mapping: dict[str, str] | None = None) -> Item:
    return Item(
        id=row[0],
        key=row[1],
        kind=row[2],
        unit_id=row[3],
        priority=row[4],
        reasons=json.loads(row[5]),
        detail=json.loads(row[6]),
        mapping=mapping,
    )


def _decision(row: tuple) -> Decision:
    return Decision(
        id=row[0],
        item_id=row[1],
        adjudicator=row[2],
        decided_at=row[3],
        action=Action(row[4]),
        codes=json.loads(row[5]) if row[5] is not None else None,
        rater=row[6],
        predicate=row[7],
        note=row[8],
        replaces=row[9],
    )


_ITEM_COLS = "id, key, kind, unit_id, priority, reasons, detail"
_DECISION_COLS = (
    "id, item_id, adjudicator, decided_at, action, codes, rater, predicate, note, replaces"
)


class ReviewStore:
    """The queue database of one run. Open with :func:`open_store`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(self.path)
            # a decision is the product of a person's time: make a commit durable on disk
            conn.execute("PRAGMA synchronous=FULL")
            migrate(conn, COMPONENT, MIGRATIONS)
            conn.execute(f"SELECT {_ITEM_COLS} FROM items LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:  # not a database, damaged, or not ours
            if conn is not None:
                conn.close()
            raise damaged(self.path, exc) from None
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: tuple = ()) -> list[Any]:
        """Every row of a read; a database damaged past its first pages is a located
        error naming the file (:func:`damaged`), never an sqlite3 traceback."""
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise damaged(self.path, exc) from None

    # -- items -----------------------------------------------------------------
    def _mappings(self) -> dict[int, dict[str, str]]:
        rows = self._rows(
            "SELECT item_id, mapping_set, subject_id, object_id, predicate FROM mappings"
        )
        return {
            r[0]: {"mapping_set": r[1], "subject_id": r[2], "object_id": r[3], "predicate": r[4]}
            for r in rows
        }

    def items(self) -> list[Item]:
        """Every item, highest priority first (then oldest)."""
        mappings = self._mappings()
        rows = self._rows(f"SELECT {_ITEM_COLS} FROM items ORDER BY priority DESC, id")
        return [_item(r, mappings.get(r[0])) for r in rows]

    def item(self, item_id: int) -> Item | None:
        rows = self._rows(f"SELECT {_ITEM_COLS} FROM items WHERE id = ?", (item_id,))
        if not rows:
            return None
        return _item(rows[0], self._mappings().get(item_id))

    def item_by_unit(self, unit_id: str) -> Item | None:
        rows = self._rows(
            f"SELECT {_ITEM_COLS} FROM items WHERE kind = 'unit' AND unit_id = ?", (unit_id,)
        )
        return _item(rows[0]) if rows else None

    def upsert_items(
        self, new: list[Item], *, now: str, options: dict[str, Any]
    ) -> tuple[int, int]:
        """Insert items whose key is new; for known keys add the new reasons (an
        item's reasons only grow) and refresh its detail and priority. One
        transaction; decisions are not touched. Returns (added, updated)."""
        added = updated = 0
        with transaction(self.conn):
            for item in new:
                row = self.conn.execute(
                    "SELECT id, reasons, priority FROM items WHERE key = ?", (item.key,)
                ).fetchone()
                if row is None:
                    cur = self.conn.execute(
                        "INSERT INTO items(key, kind, unit_id, priority, reasons, detail, "
                        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            item.key,
                            item.kind,
                            item.unit_id,
                            item.priority,
                            json.dumps(item.reasons, ensure_ascii=False),
                            json.dumps(item.detail, ensure_ascii=False, default=str),
                            now,
                            now,
                        ),
                    )
                    if item.mapping:
                        m = item.mapping
                        self.conn.execute(
                            "INSERT INTO mappings(item_id, mapping_set, subject_id, object_id, "
                            "predicate) VALUES (?, ?, ?, ?, ?)",
                            (
                                cur.lastrowid,
                                m["mapping_set"],
                                m["subject_id"],
                                m["object_id"],
                                m["predicate"],
                            ),
                        )
                    added += 1
                    continue
                old = json.loads(row[1])
                names = {r["reason"] for r in item.reasons}
                merged = list(item.reasons) + [r for r in old if r["reason"] not in names]
                if merged != old or item.priority != row[2]:
                    updated += 1
                self.conn.execute(
                    "UPDATE items SET reasons = ?, detail = ?, priority = ?, updated_at = ? "
                    "WHERE id = ?",
                    (
                        json.dumps(merged, ensure_ascii=False),
                        json.dumps(item.detail, ensure_ascii=False, default=str),
                        max(item.priority, row[2]),
                        now,
                        row[0],
                    ),
                )
            self.conn.execute(
                "INSERT INTO builds(built_at, options, added, updated) VALUES (?, ?, ?, ?)",
                (now, json.dumps(options, default=str), added, updated),
            )
        return added, updated

    # -- decisions ---------------------------------------------------------------
    def decisions(self, *, include_withdrawn: bool = True) -> list[Decision]:
        """Every decision row in the order written (``include_withdrawn=False``:
        only rows in force: not undo rows, not withdrawn by an undo)."""
        rows = [
            _decision(r) for r in self._rows(f"SELECT {_DECISION_COLS} FROM decisions ORDER BY id")
        ]
        if include_withdrawn:
            return rows
        return _in_force(rows)

    def current(self) -> dict[tuple[int, str], Decision]:
        """(item, adjudicator) -> the adjudicator's decision in force on the item
        (the latest row not withdrawn; skips included)."""
        out: dict[tuple[int, str], Decision] = {}
        for d in self.decisions(include_withdrawn=False):
            out[(d.item_id, d.adjudicator)] = d
        return out

    def record(
        self,
        item_id: int,
        adjudicator: str,
        action: Action,
        *,
        now: str,
        codes: list[str] | None = None,
        rater: str | None = None,
        predicate: str | None = None,
        note: str | None = None,
    ) -> Decision:
        """Append one decision in its own transaction; ``replaces`` is the
        adjudicator's decision in force on the item, read inside the transaction."""
        with transaction(self.conn):
            live = self._live("item_id = ? AND adjudicator = ?", (item_id, adjudicator))
            replaces = live[-1].id if live else None
            cur = self.conn.execute(
                "INSERT INTO decisions(item_id, adjudicator, decided_at, action, codes, rater, "
                "predicate, note, replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item_id,
                    adjudicator,
                    now,
                    str(action),
                    json.dumps(codes) if codes is not None else None,
                    rater,
                    predicate,
                    note,
                    replaces,
                ),
            )
        return self._decision_row(cur.lastrowid)

    def undo_last(self, adjudicator: str, *, now: str) -> tuple[Decision, Decision] | None:
        """Withdraw the adjudicator's latest row in force (a decision or a skip);
        returns (undo row, withdrawn row), or None when there is nothing to undo."""
        with transaction(self.conn):
            live = self._live("adjudicator = ?", (adjudicator,))
            if not live:
                return None
            target = live[-1]
            cur = self.conn.execute(
                "INSERT INTO decisions(item_id, adjudicator, decided_at, action, note, replaces) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (target.item_id, adjudicator, now, str(Action.UNDO), None, target.id),
            )
        return self._decision_row(cur.lastrowid), target

    def _live(self, where: str, params: tuple) -> list[Decision]:
        """The decisions in force among those matching ``where``, in order."""
        sql = f"SELECT {_DECISION_COLS} FROM decisions WHERE {where} ORDER BY id"
        return _in_force([_decision(r) for r in self.conn.execute(sql, params).fetchall()])

    def _decision_row(self, decision_id: int | None) -> Decision:
        row = self.conn.execute(
            f"SELECT {_DECISION_COLS} FROM decisions WHERE id = ?", (decision_id,)
        ).fetchone()
        return _decision(row)


def damaged(path: Path, exc: Exception) -> InputRecordError:
    """The error for a review database SQLite cannot read (garbage, truncated, a
    directory, another program's database): names the file; other queues and runs
    are untouched."""
    return InputRecordError(
        str(path),
        "file",
        None,
        f"not a readable review queue database ({exc})",
        hint=f"move {path.name} aside (its decisions are lost unless it is repaired), "
        "then `ptmcoder review build` makes a new queue",
    )


def _in_force(rows: list[Decision]) -> list[Decision]:
    withdrawn = {d.replaces for d in rows if d.action is Action.UNDO}
    return [d for d in rows if d.action is not Action.UNDO and d.id not in withdrawn]


def open_store(path: str | Path) -> ReviewStore:
    return ReviewStore(Path(path))


def queue_path(run: Any) -> Path:
    """``<workspace>/reviews/<run id>.sqlite``, for a run of either origin. A study run
    whose queue was built before runs were one kind has it under its first rater's
    name (``<id>--<rater>.sqlite``): that one is used while it exists."""
    from ptmcoder.paths import reviews_dir

    path = reviews_dir() / f"{run.id}.sqlite"
    if not path.exists():
        raters = run.raters()
        if raters and raters[0].store is not run:
            older = reviews_dir() / f"{run.id}--{raters[0].name}.sqlite"
            if older.exists():
                return older
    return path
