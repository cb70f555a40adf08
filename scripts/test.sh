#!/usr/bin/env bash
# Install ptmcoder with everything the tests need, then run the checks CI runs:
# ruff (lint and format), mypy over the package (both configured in pyproject.toml),
# the test suite and the doctests of the package (one pytest call).
# torch is pinned first so that pip takes the local CPU wheel rather than a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[embed,test]"
ruff check .
ruff format --check .
mypy ptmcoder
exec python -m pytest tests --doctest-modules ptmcoder "$@"
