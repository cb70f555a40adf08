"""Where things live: the user's workspace and the files bundled with ptmcoder.

The *workspace* is the research project directory: ``$PTMCODER_HOME`` when set,
otherwise the current directory. It holds ``codebooks/`` (user codebooks),
``corpora/`` (imported corpora), ``runs/`` (annotation runs) and ``reviews/``.

*Bundled* resources (codebooks, prompts) sit at the repository root in a source
checkout or editable install, and inside the package (``ptmcoder/_bundled``) in a
wheel; :func:`bundled_dir` finds either.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def workspace() -> Path:
    """The workspace directory (``$PTMCODER_HOME`` or the current directory)."""
    home = os.environ.get("PTMCODER_HOME")
    return Path(home).expanduser().resolve() if home else Path.cwd()


@contextlib.contextmanager
def use_workspace(path: str | Path) -> Iterator[Path]:
    """Work in ``path`` (created if missing) for the block: :func:`workspace` and every
    directory under it (corpora, runs, reviews, caches, locks) point there; the
    previous ``$PTMCODER_HOME`` is restored after."""
    target = Path(path).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("PTMCODER_HOME")
    os.environ["PTMCODER_HOME"] = str(target)
    try:
        yield target
    finally:
        if old is None:
            os.environ.pop("PTMCODER_HOME", None)
        else:
            os.environ["PTMCODER_HOME"] = old


def bundled_dir(name: str) -> Path:
    """The directory of a bundled resource, ``codebooks`` or ``prompts``."""
    packaged = PACKAGE_DIR / "_bundled" / name
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent / name


def samples_dir() -> Path:
    """Small real data samples shipped with the package (see their ATTRIBUTION.md)."""
    return PACKAGE_DIR / "data" / "samples"


def corpora_dir() -> Path:
    return workspace() / "corpora"


def runs_dir() -> Path:
    return workspace() / "runs"


def reviews_dir() -> Path:
    return workspace() / "reviews"
