"""Progress bars on the stderr console: one look for every long step.

A bar shows the step's name, the bar, ``done/total`` and the time remaining; it is
drawn on the console passed in (stderr) and is off when ``enabled`` is false
(``--no-progress``, ``--json``), so data on stdout is never mixed with it.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def progress_bar(console: Console, enabled: bool) -> Progress:
    """A rich :class:`~rich.progress.Progress` on ``console``; use it as a context
    manager and add one task per step."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
