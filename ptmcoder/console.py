"""Consoles and rendering helpers shared by the CLI commands.

Data goes to stdout, progress and status to stderr. Tests build consoles with a
fixed width and no colour and compare the rendered text.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from rich.console import Console


def make_console(*, stderr: bool = False, width: int | None = None) -> Console:
    """A console for data (stdout) or status (stderr). When the stream is not a
    terminal (a file, a pipe, a test) tables are laid out $COLUMNS wide, 120 by default."""
    stream = sys.stderr if stderr else sys.stdout
    if width is None and not stream.isatty():
        width = int(os.environ.get("COLUMNS", "120"))
    return Console(stderr=stderr, width=width, soft_wrap=False, highlight=False)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item"):  # numpy scalars
        value = obj.item()
        return None if isinstance(value, float) and not math.isfinite(value) else value
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean_floats(obj: Any) -> Any:
    """Replace NaN/inf with None so the output is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_floats(v) for v in obj]
    return obj


def dumps_json(data: Any) -> str:
    """Strict JSON (no NaN) with stable key order as given."""
    return json.dumps(
        _clean_floats(data), default=_jsonable, indent=2, ensure_ascii=False, allow_nan=False
    )


def print_json(data: Any) -> None:
    sys.stdout.write(dumps_json(data) + "\n")
    sys.stdout.flush()
