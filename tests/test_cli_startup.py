"""Fast start (#28 item 3): ``ptmcoder --help`` and every command print their first
line before any heavy library loads. Each check runs Python in a subprocess with
``-X importtime`` and reads which modules were imported, so what is measured is
what a person's terminal pays, not what this test process already holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ptmcoder.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]

#: libraries that take 0.1-2 s each to import: never before a command runs
HEAVY = (
    "pandas",
    "numpy",
    "scipy",
    "sklearn",
    "torch",
    "transformers",
    "sentence_transformers",
    "duckdb",
    "pyarrow",
    "matplotlib",
    "textual",
    "openai",
    "langchain",  # and langchain_core, langchain_openai, ...
    "statsmodels",
)

#: heavy modules still loaded through files outside this change, with where from;
#: their checks are xfail (not strict) until those files change
PENDING: set[str] = set()
PENDING_REASON = (
    "ptmcoder/cli/agree.py imports ptmcoder.agreement.evaluate at module level (for "
    "VIEWS, the --view choices), and ptmcoder.agreement/__init__ imports pandas, numpy "
    "and pyarrow; `ptmcoder --help` imports every command module (LazyGroup.get_command "
    "for each short help) so it pays for them too"
)
PENDING_COMMANDS: set[str] = set()

_LINE = re.compile(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTMCODER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PTMCODER_HOME"] = str(tmp_path)
    return env


def heavy_imports(args: list[str], tmp_path: Path) -> set[str]:
    """The heavy top-level packages ``python -X importtime ARGS`` imported."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    names = {m.group(1).split(".")[0] for m in map(_LINE.match, out.stderr.splitlines()) if m}
    assert "ptmcoder" in names  # the measure saw the package load
    return {n for n in names if n in HEAVY or n.startswith("langchain")}


def test_import_ptmcoder_and_its_cli_load_nothing_heavy(tmp_path):
    assert heavy_imports(["-c", "import ptmcoder"], tmp_path) == set()
    assert heavy_imports(["-c", "import ptmcoder.cli, ptmcoder.__main__"], tmp_path) == set()


@pytest.fixture(scope="module")
def top_help(tmp_path_factory) -> set[str]:
    return heavy_imports(["-m", "ptmcoder", "--help"], tmp_path_factory.mktemp("help"))


def test_top_level_help_loads_nothing_heavy_but_the_pending(top_help):
    assert top_help - PENDING == set()


def test_top_level_help_loads_nothing_heavy(top_help):
    assert top_help & PENDING == set()


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=False, reason=PENDING_REASON))
        if name in PENDING_COMMANDS
        else name
        for name in sorted(COMMANDS)
    ],
)
def test_command_help_loads_nothing_heavy(command, tmp_path):
    """The command's module, imported for its help (as for any run of it), loads no
    heavy library: each command imports those inside its function, after parsing."""
    assert heavy_imports(["-m", "ptmcoder", command, "--help"], tmp_path) == set()


def test_the_review_twins_load_nothing_heavy(tmp_path):
    """What ``review next`` and the other twins import before they read the queue."""
    code = "from ptmcoder.review import next_item, open_queue, accept, decide, skip, undo"
    assert heavy_imports(["-c", code], tmp_path) == set()


def test_the_review_actions_need_nothing_heavy_themselves(tmp_path):
    """review.actions itself, imported without its package's eager exports, loads
    nothing heavy: what is left is in ptmcoder/review/__init__.py and build.queue_path."""
    code = (
        "import sys, types, ptmcoder, pathlib; "
        "p = types.ModuleType('ptmcoder.review'); "
        "p.__path__ = [str(pathlib.Path(ptmcoder.__file__).parent / 'review')]; "
        "sys.modules['ptmcoder.review'] = p; "
        "import ptmcoder.review.actions, ptmcoder.review.store"
    )
    assert heavy_imports(["-c", code], tmp_path) == set()


def first_line_after(args: list[str], tmp_path: Path) -> tuple[float, str]:
    """Seconds from starting ``python ARGS`` to its first line on stdout, and the line."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.stdout.read()
    proc.wait(timeout=60)
    return elapsed, line


def test_help_prints_its_first_line_quickly(tmp_path):
    """Within 0.5 s on an idle machine (#28); the bound here is 3 s, the best of three
    runs, for CI machines under load."""
    runs = [first_line_after(["-m", "ptmcoder", "--help"], tmp_path) for _ in range(3)]
    assert all(line.startswith("Usage: ") for _, line in runs)
    assert min(seconds for seconds, _ in runs) < 3.0, runs


def test_the_agree_cli_spells_the_views_of_the_library():
    from ptmcoder.agreement.evaluate import VIEWS
    from ptmcoder.cli.agree import VIEWS as CLI_VIEWS

    assert tuple(VIEWS) == CLI_VIEWS
