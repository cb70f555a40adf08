"""Nothing decided is lost: real processes killed with SIGKILL between and during
decisions, and two adjudicators writing the same queue at once."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from review_kit import LABELS, install_run, make_run

from ptmcoder.review import BuildOptions, build_queue, open_queue
from ptmcoder.review.store import Action

REPO = Path(__file__).resolve().parents[1]
CODES = ["dl-fault", "generic", "false-positive", "unclear"]

#: decides every item of the queue in a loop (codes chosen by item and round) and
#: prints each decision as one JSON line once it has returned, i.e. committed
LOOP = f"""
import json, sys
from ptmcoder.review import decide, open_queue
run, who, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
codes = {CODES!r}
with open_queue(run) as queue:
    items = queue.store.items()
    for r in range(rounds):
        for item in items:
            d = decide(queue, item, [codes[(item.id + r) % len(codes)]], adjudicator=who)
            sys.stdout.write(json.dumps(d.to_json()) + "\\n")
            sys.stdout.flush()
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("review-durability-template"))


@pytest.fixture
def queue_run(template, isolated_home):
    path = install_run(template, isolated_home)
    build_queue(path.name, BuildOptions(humans=str(LABELS), audit_size=5))
    return path.name


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PTMCODER_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _successes(stdout: bytes) -> list[dict]:
    """Decisions a killed process reported: every complete JSON line (or document)."""
    text = stdout.decode("utf-8", "replace")
    out = []
    try:
        doc = json.loads(text)
        return [doc] if isinstance(doc, dict) and "decision" in doc else []
    except json.JSONDecodeError:
        pass
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            continue  # torn by the kill: not reported as saved
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "decision" in data:
            out.append(data)
    return out


def _kill_after(cmd: list[str], env: dict, delay: float) -> bytes:
    """Start ``cmd``, SIGKILL it ``delay`` seconds later, return what it printed."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    return out


def _kill_while_writing(cmd: list[str], env: dict, delay: float) -> bytes:
    """Start a decision loop, wait for its first saved decision, then SIGKILL it
    ``delay`` seconds later: in the middle of its stream of commits."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = proc.stdout.readline()
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    return first + out


@pytest.mark.slow
def test_sigkill_between_and_during_decisions_loses_nothing(queue_run, isolated_home):
    env = _env(isolated_home)
    rng = random.Random(20261202)
    with open_queue(queue_run) as queue:
        items = [i.id for i in queue.store.items()]
        db = queue.path
    reported: list[dict] = []
    kills = 0
    # 1. the CLI twin, killed at random moments over its whole life (start-up, the
    #    commit, printing), measured first on one uninterrupted call
    started = time.monotonic()
    calibration = [
        sys.executable, "-m", "ptmcoder", "review", "decide", str(items[0]),
        "--codes", "generic", "--run", queue_run, "--adjudicator", "crash-cli", "--json",
    ]  # fmt: skip
    done = subprocess.run(calibration, env=env, capture_output=True, check=True)
    lifetime = time.monotonic() - started
    reported += _successes(done.stdout)
    for _ in range(10):
        item = rng.choice(items)
        cmd = [
            sys.executable, "-m", "ptmcoder", "review", "decide", str(item),
            "--codes", rng.choice(CODES), "--run", queue_run,
            "--adjudicator", "crash-cli", "--json",
        ]  # fmt: skip
        reported += _successes(_kill_after(cmd, env, rng.uniform(0.3, 1.3) * lifetime))
        kills += 1
    # 2. a loop of decisions, killed while it writes
    for k in range(10):
        cmd = [sys.executable, "-c", LOOP, queue_run, f"crash-loop-{k % 3}", "50"]
        reported += _successes(_kill_while_writing(cmd, env, rng.uniform(0.0, 0.4)))
        kills += 1
    assert kills >= 20
    assert len(reported) >= 20, "too few decisions returned before the kills to test anything"

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = {
        r[0]: r
        for r in conn.execute("SELECT id, item_id, adjudicator, action, codes FROM decisions")
    }
    conn.close()
    missing = [d for d in reported if d["decision"] not in rows]
    assert missing == []
    for d in reported:
        row = rows[d["decision"]]
        assert (row[1], row[2], row[3], json.loads(row[4])) == (
            d["item"],
            d["adjudicator"],
            d["action"],
            d["codes"],
        )
    # reopening resumes at the next undecided item of each adjudicator
    with open_queue(queue_run) as queue:
        current = queue.store.current()
        from ptmcoder.review import next_item

        for who in {d["adjudicator"] for d in reported}:
            nxt = next_item(queue, who)
            if nxt is not None:
                assert (nxt.id, who) not in current


@pytest.mark.slow
def test_two_adjudicators_at_once_never_overwrite_each_other(queue_run, isolated_home):
    env = _env(isolated_home)
    procs = {
        who: subprocess.Popen(
            [sys.executable, "-c", LOOP, queue_run, who, "3"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for who in ("alice", "bob")
    }
    reported = {}
    for who, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        reported[who] = _successes(out)
    with open_queue(queue_run) as queue:
        n_items = len(queue.store.items())
        rows = queue.store.decisions()
        by_id = {d.id: d for d in rows}
        current = queue.store.current()
    assert len(rows) == sum(len(v) for v in reported.values()) == 2 * 3 * n_items
    for who, ds in reported.items():
        assert len(ds) == 3 * n_items
        for d in ds:
            assert by_id[d["decision"]].adjudicator == who
        # each decision replaced this adjudicator's own previous one, never the other's
        for d in (x for x in rows if x.adjudicator == who and x.replaces is not None):
            assert by_id[d.replaces].adjudicator == who
        # the decisions in force are this adjudicator's last round
        for item_id in {d["item"] for d in ds}:
            last = [d for d in ds if d["item"] == item_id][-1]
            assert current[(item_id, who)].id == last["decision"]
            assert current[(item_id, who)].action is Action.CODES
