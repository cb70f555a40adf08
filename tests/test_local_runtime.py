"""Opt-in: ``annotate`` against a real local model runtime.

node-llama-cpp (llama.cpp's CPU build from npm) serves SmolLM2-135M-Instruct
behind tests/local_llm/server.mjs, an OpenAI-compatible wrapper started here on
127.0.0.1. The wrapper refuses ``json_schema`` with HTTP 500 as llama.cpp's
Python server does, so ``--structured auto`` must step down to ``json_object``
with the schema as a grammar. Set up and run with
``bash scripts/setup_local_runtime.sh`` (it sets PTMCODER_LOCAL_RUNTIME=1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
WRAPPER = TESTS / "local_llm" / "server.mjs"
GGUF = Path(
    os.environ.get(
        "PTMCODER_LOCAL_GGUF",
        Path.home() / ".cache/ptmcoder/models/SmolLM2-135M-Instruct.Q4_1.gguf",
    )
)

pytestmark = [
    pytest.mark.local_runtime,
    pytest.mark.skipif(
        os.environ.get("PTMCODER_LOCAL_RUNTIME") != "1",
        reason="opt-in: run scripts/setup_local_runtime.sh (sets PTMCODER_LOCAL_RUNTIME=1)",
    ),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (TESTS / "local_llm" / "node_modules" / "node-llama-cpp").is_dir(),
        reason="node-llama-cpp is not installed: run scripts/setup_local_runtime.sh",
    ),
    pytest.mark.skipif(not GGUF.is_file(), reason=f"no model at {GGUF}: run the setup script"),
]

UNITS = [
    ("so:1", "Keras model.fit raises ValueError: Shapes (None, 1) and (None, 10) are incompatible"),
    ("so:2", "How do I center a div with CSS flexbox?"),
    ("so:3", "TensorFlow training loss becomes NaN after a few epochs with Adam"),
    ("so:4", "PyTorch CUDA out of memory when the batch size is 64"),
]


@pytest.fixture(scope="module")
def runtime():
    proc = subprocess.Popen(
        [
            "node",
            str(WRAPPER),
            "--model",
            str(GGUF),
            "--port",
            "0",
            "--threads",
            "1",
            "--refuse-json-schema",
            "--name",
            "smollm2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # LISTENING <port> once the model is loaded
        assert line.startswith("LISTENING"), line + proc.stderr.read()
        yield f"http://127.0.0.1:{line.split()[1]}"
    finally:
        proc.kill()
        proc.wait()


def requests_made(base: str) -> int:
    with urllib.request.urlopen(base + "/stats", timeout=5) as resp:
        return json.load(resp)["requests"]


def records(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "annotations.jsonl").read_text().splitlines()]


def annotate(run_cli, units: Path, base: str, *extra: str):
    result = run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        str(units),
        "--annotator",
        "openai:smollm2",
        "--base-url",
        base + "/v1",
        "--timeout",
        "300",
        "--max-retries",
        "1",
        "--no-progress",
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    return json.loads(result.stdout)


def test_annotate_with_a_real_runtime(run_cli, isolated_home, runtime):
    units = isolated_home / "units.csv"
    units.write_text("id,title\n" + "".join(f'{i},"{t}"\n' for i, t in UNITS))

    summary = annotate(run_cli, units, runtime, "--max-output-tokens", "200")
    run_dir = Path(summary["path"])
    recs = records(run_dir)
    assert len(recs) == len(UNITS)
    # auto mode: json_schema refused with a 500, json_object + grammar used, no API error
    assert not [r for r in recs if r.get("error_type") in ("api", "timeout")], recs
    valid = [r for r in recs if not r.get("error_type")]
    assert valid, recs
    allowed = {"false-positive", "generic", "dl-fault", "unclear"}
    assert all(c["code"] in allowed for r in valid for c in r["codes"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["annotators"][0]["structured_output_used"] == "json_object"
    made = requests_made(runtime)

    # the cache: the same work again makes no request
    again = annotate(run_cli, units, runtime, "--max-output-tokens", "200")
    assert requests_made(runtime) == made
    assert len(records(Path(again["path"]))) == len(UNITS)
    # resume of a finished run: nothing to do, no request
    annotate(run_cli, units, runtime, "--max-output-tokens", "200", "--run", summary["run_id"])
    assert requests_made(runtime) == made

    # the cap: an answer cut at 6 tokens is an output_truncated row, not a repair loop
    capped = annotate(run_cli, units, runtime, "--max-output-tokens", "6", "--limit", "1")
    cut = records(Path(capped["path"]))
    assert [r["error_type"] for r in cut] == ["output_truncated"]
    assert requests_made(runtime) == made + 1
