"""The architecture check: the import graph of ``ptmcoder/`` (docs/architecture.md).

The graph is built here from the source with :mod:`ast`, the way
``../shared/tools/import_graph.py`` builds it (kept self-contained so the check needs
nothing outside the repository): one node per module (a package is its
``__init__``), one edge per import, imports inside functions and under
``TYPE_CHECKING`` included. A module importing its own package (or a package above
it) is no edge: importing ``ptmcoder.review.build`` runs ``ptmcoder/review/__init__``
anyway, so a package that re-exports its submodules is not a circle with them.

- no two modules import each other, directly or through others;
- no module imports another module's private name (``from x import _name``);
- the lower floors never import a higher one: the ground floor imports only the
  ground floor, and the ground, the manifest, codebook, corpus and llm import no
  stage (nor runs); report never imports the pipeline's runner or its stages;
- no module is over 800 lines.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import ptmcoder

PACKAGE = Path(ptmcoder.__file__).parent
MAX_LINES = 800

#: the ground floor: shared mechanics every floor may use
GROUND = ("errors", "paths", "files", "console", "duck", "progress", "store", "tables")
#: the floors below runs and the stages (services every stage reaches)
LOWER = (*GROUND, "manifest", "codebook", "corpus", "llm")
#: what the lower floors must never import: runs and every stage above it
ABOVE_LOWER = (
    "runs",
    "annotate",
    "agreement",
    "review",
    "crosswalk",
    "stats",
    "pipeline",
    "report",
    "export",
    "cli",
)
#: what report must never import: the engine that runs it
NOT_FROM_REPORT = ("ptmcoder.pipeline.runner", "ptmcoder.pipeline.stages")


@dataclass
class Graph:
    files: dict[str, Path]
    edges: dict[str, set[str]]
    #: "importer imports private NAME from module"
    private: list[str] = field(default_factory=list)


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _source_module(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path = PACKAGE) -> Graph:
    """The package's modules, who imports whom, and the private names imported."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph = Graph(files, {m: set() for m in files})
    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[tuple[str, str | None]] = []
            if isinstance(node, ast.Import):
                targets = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _source_module(mod, is_pkg, node)
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.append((sub, None) if sub in files else (source, alias.name))
            for target, name in targets:
                while target and target not in files:  # a third-party or unknown name
                    target = target.rpartition(".")[0]
                if not target or target == mod:
                    continue
                if mod.startswith(target + ".") and files[target].name == "__init__.py":
                    continue  # its own package: loaded before the module anyway
                graph.edges[mod].add(target)
                if name and name.startswith("_") and not name.startswith("__"):
                    graph.private.append(f"{mod} imports private {name} from {target}")
    return graph


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def room(module: str) -> str:
    """``ptmcoder.annotate.runner`` -> ``annotate``; ``ptmcoder.files`` -> ``files``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def arrows(graph: Graph, sources: tuple[str, ...], allowed) -> list[str]:
    """``importer -> imported`` for every import of a module of a room in ``sources``
    whose target ``allowed(target)`` refuses."""
    return sorted(
        f"{mod} -> {target}"
        for mod, targets in graph.edges.items()
        if room(mod) in sources
        for target in targets
        if not allowed(target)
    )


def oversized(graph: Graph, limit: int = MAX_LINES) -> list[str]:
    """``module: N lines`` for every module over ``limit`` lines."""
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in graph.files.items()}
    return sorted(f"{m}: {n} lines" for m, n in sizes.items() if n > limit)


GRAPH = import_graph()


def test_the_graph_sees_the_package():
    """The graph holds every module, and imports inside functions are edges."""
    assert len(GRAPH.files) > 100
    assert "ptmcoder.pipeline.runner" in GRAPH.edges["ptmcoder.pipeline"]
    # pipeline/rundir.rater_codings imports runs inside the function
    assert "ptmcoder.runs" in GRAPH.edges["ptmcoder.pipeline.rundir"]


def test_no_import_circle():
    found = circles(GRAPH.edges)
    assert found == [], "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_import_of_a_private_name_across_modules():
    found = sorted(set(GRAPH.private))
    assert found == [], "private-name imports:\n" + "\n".join(found)


def test_the_ground_floor_imports_only_the_ground_floor():
    found = arrows(GRAPH, GROUND, lambda target: room(target) in GROUND)
    assert found == [], "ground-floor modules importing a higher floor:\n" + "\n".join(found)


def test_no_lower_floor_module_imports_runs_or_a_stage():
    assert {room(m) for m in GRAPH.files} >= set(LOWER) | set(ABOVE_LOWER)
    found = arrows(GRAPH, LOWER, lambda target: room(target) not in ABOVE_LOWER)
    assert found == [], "lower-floor modules importing runs or a stage:\n" + "\n".join(found)


def test_report_never_imports_the_pipeline_runner_or_stages():
    found = arrows(GRAPH, ("report",), lambda target: target not in NOT_FROM_REPORT)
    assert found == [], "report importing the pipeline engine:\n" + "\n".join(found)


def test_no_module_over_800_lines():
    found = oversized(GRAPH)
    assert found == [], f"modules over {MAX_LINES} lines:\n" + "\n".join(found)


def test_the_checks_catch_what_they_forbid(tmp_path):
    """The same checks on a small package that breaks every rule find every breach."""
    pkg = tmp_path / "ptmcoder"
    for name, text in {
        "__init__.py": "from ptmcoder import files\n",  # a package importing its child
        "files.py": "import os\n\ndef f():\n    from ptmcoder import codebook\n",
        "codebook.py": "from ptmcoder.annotate.runner import _go\n",
        "annotate/__init__.py": "from . import runner\n",
        "annotate/runner.py": "from .. import codebook\n" + "x = 1\n" * MAX_LINES,
        "report/__init__.py": "import ptmcoder.pipeline.stages\n",
        "pipeline/__init__.py": "",
        "pipeline/stages.py": "from ptmcoder.report import write\n",
    }.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text, encoding="utf-8")
    graph = import_graph(pkg)
    assert sorted(circles(graph.edges)) == [
        ["ptmcoder.annotate.runner", "ptmcoder.codebook"],
        ["ptmcoder.pipeline.stages", "ptmcoder.report"],
    ]
    assert graph.private == ["ptmcoder.codebook imports private _go from ptmcoder.annotate.runner"]
    assert arrows(graph, ("files",), lambda t: room(t) in GROUND) == [
        "ptmcoder.files -> ptmcoder.codebook"
    ]
    assert arrows(graph, ("codebook",), lambda t: room(t) not in ABOVE_LOWER) == [
        "ptmcoder.codebook -> ptmcoder.annotate.runner"
    ]
    assert arrows(graph, ("report",), lambda t: t not in NOT_FROM_REPORT) == [
        "ptmcoder.report -> ptmcoder.pipeline.stages"
    ]
    assert oversized(graph) == [f"ptmcoder.annotate.runner: {MAX_LINES + 1} lines"]


def test_the_shared_services_live_below_the_stages():
    from ptmcoder.corpus.units import load_units, unit_text
    from ptmcoder.llm.embed import make_embedder
    from ptmcoder.llm.prompts import load_prompt

    assert unit_text({"id": "a", "title": "T", "body": "B"}) == "Title: T\n\nB"
    assert load_prompt("apply_codebook.v1").id == "apply_codebook.v1"
    assert make_embedder("tfidf").kind == "tfidf"
    assert len(load_units("humbatova_so")) > 0


def test_tests_import_their_helpers_as_top_level_modules():
    """``from tests.fakes import ...`` resolves to whichever ``tests`` package comes
    first on the path: ppi-python installs one into site-packages, which hid ours."""
    import re
    from pathlib import Path

    here = Path(__file__).resolve().parent
    pattern = re.compile(r"^\s*(from tests[.\s]|import tests\b)", re.MULTILINE)
    offenders = [p.name for p in sorted(here.glob("*.py")) if pattern.search(p.read_text())]
    assert offenders == []
