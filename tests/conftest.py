"""The test kit: an isolated workspace per test and a CLI runner.

Every test runs with ``PTMCODER_HOME`` and the working directory set to a fresh
temporary directory, so nothing a test writes touches the checkout or another
test. Offline settings for Hugging Face are forced here as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ptmcoder.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PTMCODER_HOME", str(home))
    monkeypatch.chdir(home)
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PTMCODER_DEBUG"):
        monkeypatch.delenv(key, raising=False)
    return home


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None


@pytest.fixture
def run_cli():
    """Run ``ptmcoder ARGS...`` in-process; returns exit code, stdout and stderr apart."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(
            cli,
            [str(a) for a in args],
            input=input,
            env=env,
            catch_exceptions=True,
            terminal_width=120,
        )
        exc = result.exception if not isinstance(result.exception, SystemExit) else None
        return CliResult(result.exit_code, result.stdout, result.stderr, exc)

    return run
