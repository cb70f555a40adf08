"""The public API of ``import ptmcoder``: every name resolves, and lazily."""

from __future__ import annotations

import subprocess
import sys

import ptmcoder


def test_every_public_name_resolves():
    for name in ptmcoder.__all__:
        assert getattr(ptmcoder, name) is not None, name
    assert ptmcoder.evaluate.__module__ == "ptmcoder.agreement.evaluate"


def test_import_stays_cheap():
    code = (
        "import sys, ptmcoder; "
        "heavy = [m for m in ('pandas', 'pydantic', 'scipy', 'torch') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ptmcoder.nope  # noqa: B018
