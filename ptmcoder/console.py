"""Consoles and rendering helpers shared by the CLI commands.

Data goes to stdout, progress and status to stderr. Tests build consoles with a
fixed width and no colour and compare the rendered text.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from typing import Any

from rich.console import Console

from ptmcoder.files import jsonable


def make_console(*, stderr: bool = False, width: int | None = None) -> Console:
    """A console for data (stdout) or status (stderr). When the stream is not a
    terminal (a file, a pipe, a test) tables are laid out $COLUMNS wide, 120 by default."""
    stream = sys.stderr if stderr else sys.stdout
    if width is None and not stream.isatty():
        width = int(os.environ.get("COLUMNS", "120"))
    return Console(stderr=stderr, width=width, soft_wrap=False, highlight=False)


def dumps_json(data: Any) -> str:
    """Strict JSON (NaN and infinities as null, see :func:`ptmcoder.files.jsonable`)
    with stable key order as given."""
    return json.dumps(jsonable(data), indent=2, ensure_ascii=False, allow_nan=False)


def print_json(data: Any) -> None:
    sys.stdout.write(dumps_json(data) + "\n")
    sys.stdout.flush()


# -- the one set of number formatters (terminal and report) -------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, float | int) and not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt_number(
    value: Any, digits: int = 3, *, missing: str = "n/a", thousands: bool = False
) -> str:
    """A number as the terminal and the report print it: floats to ``digits`` places
    (with thousands separators when ``thousands``), integers with thousands
    separators, booleans as yes/no, ``missing`` for None, NaN and infinities.

    >>> fmt_number(0.46412), fmt_number(1059), fmt_number(float("nan"), missing="–")
    ('0.464', '1,059', '–')
    >>> fmt_number(1234.56, 1, thousands=True)
    '1,234.6'
    """
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if _missing(value):
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"
    return str(value)


def fmt_ci(low: Any, high: Any, digits: int = 3, *, missing: str = "n/a") -> str:
    """A confidence interval ``[low, high]``; ``missing`` when either end is missing.

    >>> fmt_ci(0.412, 0.5112), fmt_ci(None, 0.5, missing="")
    ('[0.412, 0.511]', '')
    """
    if _missing(low) or _missing(high):
        return missing
    return f"[{fmt_number(float(low), digits)}, {fmt_number(float(high), digits)}]"


def fmt_pct(value: Any, digits: int = 1, *, missing: str = "n/a") -> str:
    """A share as a percentage.

    >>> fmt_pct(0.2346)
    '23.5%'
    """
    if _missing(value):
        return missing
    return f"{100 * float(value):.{digits}f}%"


def fmt_p(value: Any, *, missing: str = "n/a") -> str:
    """A p-value: four decimals, or ``< 0.0001``.

    >>> fmt_p(0.03456), fmt_p(1e-9)
    ('0.0346', '< 0.0001')
    """
    if _missing(value):
        return missing
    return "< 0.0001" if float(value) < 1e-4 else f"{float(value):.4f}"


# -- untrusted text on the terminal ---------------------------------------------------

#: C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides
#: and isolates that reorder what is shown (Trojan Source)
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: Any) -> str:
    """Text from a post, an issue or a model's answer as it may be shown on a terminal:
    every control character (ESC, BEL, backspace, C1 controls such as CSI ``\\x9b``
    and OSC ``\\x9d``) and every bidi override is written out as a visible escape
    (``\\x1b``), so that a post cannot clear the screen, move the cursor or set the
    window title; newlines and tabs are kept, a CRLF becomes a newline. Print the
    result with ``markup=False`` (or inside a ``rich.text.Text``) so that ``[bold]``
    stays literal too.

    >>> safe_text("ok\\x1b[2J\\x1b]0;pwned\\x07 line\\r\\nnext\\tcol")
    'ok\\\\x1b[2J\\\\x1b]0;pwned\\\\x07 line\\nnext\\tcol'
    >>> safe_text(None)
    ''
    """
    if text is None:
        return ""
    return _UNSAFE.sub(_visible, str(text).replace("\r\n", "\n"))
