"""The review queue: where a person adjudicates what the coders disagree on.

- :mod:`~ptmcoder.review.build`: which items go to review and why (:func:`build_queue`);
- :mod:`~ptmcoder.review.store`: the SQLite store, append-only decisions;
- :mod:`~ptmcoder.review.actions`: every action (the app's keys and the CLI twins);
- :mod:`~ptmcoder.review.outputs`: status, conflicts, gold export, new codes;
- :mod:`~ptmcoder.review.app`: the Textual screen (``ptmcoder review``).
"""

import importlib
from typing import Any

#: the package's API, imported on first use: ``review next`` and the other twins need
#: the store and the actions, not the builder's numpy and pandas
_API = {
    **dict.fromkeys(
        (
            "Queue",
            "accept",
            "change_relation",
            "decide",
            "default_adjudicator",
            "get_item",
            "next_item",
            "no_code_fits",
            "open_queue",
            "progress",
            "reject",
            "skip",
            "undo",
        ),
        "ptmcoder.review.actions",
    ),
    **dict.fromkeys(
        ("BuildOptions", "BuildResult", "Reason", "build_queue"), "ptmcoder.review.build"
    ),
    **dict.fromkeys(
        ("conflicts", "export", "new_codes", "propose_codebook", "status", "write_export"),
        "ptmcoder.review.outputs",
    ),
}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'ptmcoder.review' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
