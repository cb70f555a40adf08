#!/usr/bin/env bash
# Install ptmcoder with everything the tests need, then run the whole suite.
# torch is pinned first so that pip takes the local CPU wheel rather than a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[embed,test]"
exec python -m pytest "$@"
