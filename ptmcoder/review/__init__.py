"""The review queue: where a person adjudicates what the coders disagree on.

- :mod:`~ptmcoder.review.build`: which items go to review and why (:func:`build_queue`);
- :mod:`~ptmcoder.review.store`: the SQLite store, append-only decisions;
- :mod:`~ptmcoder.review.actions`: every action (the app's keys and the CLI twins);
- :mod:`~ptmcoder.review.outputs`: status, conflicts, gold export, new codes;
- :mod:`~ptmcoder.review.app`: the Textual screen (``ptmcoder review``).
"""

from ptmcoder.review.actions import (
    Queue,
    accept,
    change_relation,
    decide,
    default_adjudicator,
    get_item,
    next_item,
    no_code_fits,
    open_queue,
    progress,
    reject,
    skip,
    undo,
)
from ptmcoder.review.build import BuildOptions, BuildResult, Reason, build_queue
from ptmcoder.review.outputs import (
    conflicts,
    export,
    new_codes,
    propose_codebook,
    status,
    write_export,
)

__all__ = [
    "BuildOptions",
    "BuildResult",
    "Queue",
    "Reason",
    "accept",
    "build_queue",
    "change_relation",
    "conflicts",
    "decide",
    "default_adjudicator",
    "export",
    "get_item",
    "new_codes",
    "next_item",
    "no_code_fits",
    "open_queue",
    "progress",
    "propose_codebook",
    "reject",
    "skip",
    "status",
    "undo",
    "write_export",
]
