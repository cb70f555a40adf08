"""The lower floors (corpus, llm, codebook) never import a stage, so every stage can
reach the services they hold (units and their text, embedders, versioned prompts)."""

from __future__ import annotations

import ast
from pathlib import Path

import ptmcoder

PACKAGE = Path(ptmcoder.__file__).parent
LOWER = ["corpus", "llm"]
STAGES = ("annotate", "agreement", "review", "crosswalk", "stats", "pipeline", "report")


def imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


def test_no_lower_floor_module_imports_a_stage():
    files = [p for name in LOWER for p in sorted((PACKAGE / name).glob("**/*.py"))] + [
        PACKAGE / "codebook.py"
    ]
    assert len(files) > 10
    upward = {
        str(path.relative_to(PACKAGE)): module
        for path in files
        for module in imported_modules(path)
        if module.split(".")[:2][-1] in STAGES and module.startswith("ptmcoder.")
    }
    assert upward == {}


def test_the_shared_services_live_below_the_stages():
    from ptmcoder.corpus.units import load_units, unit_text
    from ptmcoder.llm.embed import make_embedder
    from ptmcoder.llm.prompts import load_prompt

    assert unit_text({"id": "a", "title": "T", "body": "B"}) == "Title: T\n\nB"
    assert load_prompt("apply_codebook.v1").id == "apply_codebook.v1"
    assert make_embedder("tfidf").kind == "tfidf"
    assert len(load_units("humbatova_so")) > 0
