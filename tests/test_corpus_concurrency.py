"""Regression tests for issue #10 items 3 and 8: concurrent imports of one name, and
a kill between the two renames of the corpus swap."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ptmcoder import paths
from ptmcoder.corpus import store

REPO = Path(__file__).resolve().parents[1]
SAMPLES = paths.samples_dir()
SO = SAMPLES / "so_dataexplorer_sample.csv"  # 77 questions
GH = SAMPLES / "github_issues_sample.jsonl"  # 125 issues


def child(code: str, home: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PTMCODER_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


SLOW_IMPORT = """
import sys, time
from ptmcoder.corpus import store
finish = store._finish
def slow(*args, **kwargs):
    print("finishing", flush=True)
    time.sleep(4)
    return finish(*args, **kwargs)
store._finish = slow
summary = store.import_corpus([{path!r}], "mix")
print("units", summary.units, flush=True)
"""


def test_a_concurrent_import_of_the_same_name_is_refused(isolated_home):
    first = child(SLOW_IMPORT.format(path=str(SO)), isolated_home)
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "finishing"  # A holds the lock now
    env = {**os.environ, "PYTHONPATH": str(REPO), "PTMCODER_HOME": str(isolated_home)}
    second = subprocess.run(
        [sys.executable, "-m", "ptmcoder", "corpus", "import", str(GH), "--name", "mix"],
        cwd=isolated_home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert out.strip() == "units 77"
    assert second.returncode != 0
    assert "being written by another process" in second.stderr
    assert f"(pid {first.pid})" in " ".join(second.stderr.split())  # the lock holder, named
    assert "Traceback" not in second.stderr
    df = store.load_corpus("mix")
    assert len(df) == 77 and set(df["platform"]) == {"stackoverflow"}


KILL_BETWEEN_RENAMES = """
import os
from ptmcoder.corpus import store
replace = os.replace
def replace_then_die(src, dst):
    if os.path.basename(src).startswith(".c.tmp-"):  # the second rename: staging -> target
        os._exit(137)        # like kill -9: no handler, no cleanup
    return replace(src, dst)
store.os.replace = replace_then_die
store.import_corpus([{path!r}], "c", replace=True)
"""

KILL_BEFORE_REMOVING_OLD = """
import os
from ptmcoder.corpus import store
rmtree = store.shutil.rmtree
def die_at_old(path, *args, **kwargs):
    if ".old-" in str(path):  # after both renames, before the old copy is removed
        os._exit(137)
    return rmtree(path, *args, **kwargs)
store.shutil.rmtree = die_at_old
store.import_corpus([{path!r}], "c", replace=True)
"""


def hidden(root: Path) -> list[str]:
    return sorted(p.name.split("-")[0] for p in root.iterdir() if p.name.startswith(".c."))


def test_kill_between_the_renames_restores_the_previous_corpus(run_cli, isolated_home):
    store.import_corpus([SO], "c")
    proc = child(KILL_BETWEEN_RENAMES.format(path=str(GH)), isolated_home)
    proc.communicate(timeout=120)
    assert proc.returncode == 137
    root = paths.corpora_dir()
    assert not (root / "c").exists()  # the state the kill left: only .c.old-* remains
    assert ".c.old" in hidden(root)
    result = run_cli("corpus", "info", "c", "--json")  # the next command restores it
    assert result.exit_code == 0, result.stderr
    assert len(store.load_corpus("c")) == 77
    assert ".c.old" not in hidden(root)
    # and the next import of that name works as usual
    assert store.import_corpus([GH], "c", replace=True).units == 125


def test_kill_after_the_renames_finishes_the_swap(isolated_home):
    store.import_corpus([SO], "c")
    proc = child(KILL_BEFORE_REMOVING_OLD.format(path=str(GH)), isolated_home)
    proc.communicate(timeout=120)
    assert proc.returncode == 137
    root = paths.corpora_dir()
    assert ".c.old" in hidden(root)
    assert store.known_corpora() == ["c"]
    assert ".c.old" not in hidden(root)
    assert len(store.load_corpus("c")) == 125


def test_recover_leaves_a_running_import_alone(isolated_home):
    store.import_corpus([SO], "c")
    root = paths.corpora_dir()
    old = root / f".c.old-{os.getpid()}-{int(time.time() * 1000)}"
    with store.importing("c"):
        os.replace(root / "c", old)
        assert store.known_corpora() == []  # locked: not touched
        assert old.exists()
        os.replace(old, root / "c")
