"""Every fenced ``bash`` command in README.md runs, in-process, against the bundled
samples in an isolated workspace (issue #10, newcomer problems).

A command either runs (``RUN``, in README order, in one workspace, so that
``corpus info so`` sees the corpus imported above it) or is listed in ``SKIPPED``
with the reason. A fenced command that is in neither list fails the test: a new
README example must be made runnable here or be skipped on purpose.

The README's file names are placeholders; the workspace maps them to bundled
samples (``FILES``). Two adaptations keep the test under a minute, and are the
only differences from the README text: the embedded annotator runs with its
TF-IDF embedder (``embedded:tfidf``; the sentence-transformers path is tested in
test_annotate_embedded.py), and the ``humbatova_so`` corpus that ``ptmcoder demo``
creates is imported the way the demo imports it.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from ptmcoder import paths
from ptmcoder.corpus import store

README = Path(__file__).resolve().parents[1] / "README.md"
SAMPLES = paths.samples_dir()
CODEBOOKS = Path(__file__).resolve().parents[1] / "codebooks"

FILES = {
    "Posts.xml": SAMPLES / "so_posts_sample.xml",
    "QueryResults.csv": SAMPLES / "so_dataexplorer_sample.csv",
    "issues.jsonl": SAMPLES / "github_issues_sample.jsonl",
    "issues.csv": SAMPLES / "nlbse_issues_sample.csv",
    "labels.csv": SAMPLES / "humbatova_so_labels.csv",
    "final.csv": SAMPLES / "humbatova_so_final.csv",
    "their.qdc": Path(__file__).resolve().parent / "fixtures" / "refi_qda" / "spec_codebook.qdc",
}

NETWORK = "calls a model provider: needs the network and an API key"
ELIDED = "'...' stands for the options of a command above; the option is tested elsewhere"
PLACEHOLDER_LABELS = (
    "LABEL,... is the user's PTM label list; the bundled GitHub sample is one project "
    "without PTM labels"
)

STUDY = (
    "runs the demo study with MiniLM (about 25 s): tests/test_pipeline.py and "
    "tests/test_demo.py run, rerun, report and compare study runs"
)

SKIPPED = {
    "python -m pip install torch==2.13.0 && python -m pip install -e .[embed] && ptmcoder demo": (
        "installs packages from the network; the demo itself runs in tests/test_demo.py"
    ),
    "bash scripts/test.sh": "runs this test suite",
    "ptmcoder stats prevalence latest --gold final.csv --rater supervised --assume-random": (
        "tests/test_inference_cli.py runs prevalence on runs and tables"
    ),
    "ptmcoder stats plan-gold latest --gold final.csv --rater supervised --assume-random "
    "--width 0.05": ("tests/test_inference_cli.py runs plan-gold"),
    "ptmcoder sample gold latest --size 100 --strata code --allocation equal": (
        "tests/test_gold_sample.py draws gold samples from a run, by code and by field"
    ),
    "ptmcoder route latest --gold final.csv --target 0.85 --allow-none": (
        "tests/test_routing.py routes runs and tables against gold files"
    ),
    "ptmcoder review build latest --route --audit-size 20": (
        "tests/test_routing.py builds a queue from a routing decision"
    ),
    "ptmcoder codebook import their.qdpx -o codebooks/theirs.yaml": (
        "needs a project made by a QDA program; tests/test_refi_inputs.py imports the "
        "codebook of the spec's project and of ptmcoder's own export"
    ),
    "ptmcoder corpus sample gh --design banyongrakkul --ptm-labels LABEL,...": PLACEHOLDER_LABELS,
    "ptmcoder stats resolution --corpus gh --ptm-labels LABEL,...": PLACEHOLDER_LABELS,
    "ptmcoder annotate --codebook tan2024 --corpus so --annotator openai:gpt-4o-mini --rpm 500 "
    "--samples 3 --shots 4 --train labels.csv": NETWORK,
    "ptmcoder annotate ... --annotator openai:llama3 --base-url http://localhost:11434/v1": (
        "needs an Ollama server on localhost; " + ELIDED
    ),
    "ptmcoder annotate ... --annotator langchain:anthropic:claude-sonnet": NETWORK,
    "ptmcoder annotate ... --batch": NETWORK + " (OpenAI Batch API)",
    "ptmcoder annotate ... --run latest": ELIDED + " (resume: test_annotate_server.py)",
    "ptmcoder run studies/demo.toml": STUDY,
    "ptmcoder run studies/demo.toml --from agree": STUDY,
    "ptmcoder run studies/demo.toml --force report": STUDY,
    "ptmcoder report latest": STUDY,
    "ptmcoder compare latest": STUDY,
    "ptmcoder compare RUN_A RUN_B --json": "RUN_A and RUN_B stand for two study runs; " + STUDY,
    "ptmcoder compare RUN_A RUN_B --gold final.csv": (
        "RUN_A and RUN_B stand for two annotate runs: tests/test_one_run.py compares two"
    ),
    "ptmcoder import-codings coded.qdpx --corpus so -o coded.csv": (
        "coded.qdpx stands for a project coded in a QDA program; export and import-codings "
        "round trip in tests/test_export_qdpx.py"
    ),
    "ptmcoder review latest": (
        "opens the full-screen app; tests/test_review_app.py drives every key with Textual's "
        "Pilot and in a real terminal under tmux"
    ),
}

#: commands run, each with text its output must contain (stdout or stderr)
RUN = {
    "ptmcoder codebook list": "tan2024",
    "ptmcoder codebook show tan2024": "42 leaf codes",
    "ptmcoder codebook validate my_codebook.yaml": "",
    "ptmcoder codebook export tan2024 --format markdown -o manual.md": "manual.md",
    "ptmcoder corpus import Posts.xml --name so": "77",
    "ptmcoder corpus import QueryResults.csv --name sede": "77",
    "ptmcoder corpus import issues.jsonl --name gh": "125",
    "ptmcoder corpus import issues.csv --name nl --format csv --platform github --map "
    "title=title,body=body,project=repo,created_at=created_at,tags=label": "github",
    "ptmcoder corpus info so": "77",
    "ptmcoder corpus sample so --design tan --seed 1": "sample",
    "ptmcoder stats sample-size --population 2829": "339",
    "ptmcoder annotate --codebook humbatova-screening --corpus humbatova_so --annotator "
    "embedded": "477",
    "ptmcoder annotate --codebook humbatova-screening --corpus humbatova_so --annotator "
    "embedded --train humbatova_so": "477",
    "ptmcoder annotate --codebook tan2024 --corpus so --annotator openai:gpt-4o-mini --plan": (
        "gpt-4o-mini"
    ),
    "ptmcoder runs list": "embedded",
    "ptmcoder runs show latest": "477",
    "ptmcoder agree labels.csv": "kappa",
    "ptmcoder agree labels.csv --run latest --gold final.csv --view vs-humans --min-n 20": (
        "same units"
    ),
    "ptmcoder agree labels.csv --run latest --gold final.csv --view calibration "
    "--png reliability.png": "ECE",
    "ptmcoder agree labels.csv --view pairwise": "E1",
    "ptmcoder agree labels.csv --run latest --view aat --epsilon 0.2": "epsilon",
    "ptmcoder agree labels.csv --codebook humbatova-screening --level outcome --json": (
        "percent_agreement"
    ),
    "ptmcoder codebook export tan2024 --format qdc -o tan2024.qdc": "tan2024.qdc",
    "ptmcoder codebook import their.qdc -o codebooks/theirs.yaml": "codes",
    "ptmcoder export latest --humans labels.csv --gold final.csv -o run.qdpx": "run.qdpx",
    "ptmcoder review build latest --humans labels.csv --audit-size 20": "review queue",
    "ptmcoder review next --json": "unit",
    "ptmcoder review decide 12 --codes generic --note off-by-one": "generic",
    "ptmcoder review decide 13 --no-fit --note tokenizer-mismatch": "",
    "ptmcoder review status": "audit",
    "ptmcoder review export --format csv --out gold.csv": "gold.csv",
    "ptmcoder codebook propose humbatova-screening --from-review latest": "humbatova",
    "ptmcoder stats popularity --corpus so": "popularity",
    "ptmcoder stats difficulty --corpus so": "chi-square",
    "ptmcoder stats proportion-test --counts 4357/5896 --counts 5780000/10000000": "625",
    "ptmcoder stats distribution --labels final.csv --rater final --codebook "
    "humbatova-screening": "dl-fault",
}


def readme_commands(text: str) -> list[str]:
    """The commands of every ```bash block: continuation lines joined, comments
    dropped, ``a; b`` split, each normalised to single spaces."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";")
            lexer.whitespace_split = True
            words: list[str] = []
            for token in [*lexer, ";"]:
                if token == ";":
                    if words:
                        commands.append(" ".join(words))
                    words = []
                else:
                    words.append(token)
    return commands


def adapt(words: list[str]) -> list[str]:
    """The test's only change to a README command (see the module docstring)."""
    return ["embedded:tfidf" if w == "embedded" else w for w in words]


def test_every_readme_command_is_run_or_skipped_with_a_reason():
    commands = readme_commands(README.read_text(encoding="utf-8"))
    unlisted = [c for c in commands if c not in RUN and c not in SKIPPED]
    assert not unlisted, (
        "README commands neither run nor skipped in tests/test_readme_commands.py: "
        + "; ".join(unlisted)
    )
    assert all(reason for reason in SKIPPED.values())


def setup_workspace(home: Path) -> None:
    for name, source in FILES.items():
        shutil.copy(source, home / name)
    text = (CODEBOOKS / "humbatova-screening.yaml").read_text(encoding="utf-8")
    (home / "my_codebook.yaml").write_text(
        re.sub(r"^id: .*$", "id: my_codebook", text, count=1, flags=re.MULTILINE),
        encoding="utf-8",
    )
    # what `ptmcoder demo` creates (the demo line installs packages, so it is skipped)
    store.import_corpus(
        [SAMPLES / "humbatova_so_titles.csv"],
        "humbatova_so",
        fmt="csv",
        mapping={"id": "id", "url": "url", "title": "title"},
        platform="stackoverflow",
    )


@pytest.mark.filterwarnings("ignore")
def test_readme_commands_run_against_the_bundled_samples(run_cli, isolated_home):
    setup_workspace(isolated_home)
    commands = [c for c in readme_commands(README.read_text(encoding="utf-8")) if c in RUN]
    assert len(commands) == len(RUN), sorted(set(RUN) - set(commands))
    failures = []
    for command in commands:
        words = adapt(shlex.split(command))
        assert words[0] == "ptmcoder"
        result = run_cli(*words[1:], env={"COLUMNS": "200"})
        output = result.stdout + result.stderr
        if result.exit_code != 0 or result.exception is not None:
            failures.append(f"{command}\n  exit {result.exit_code}: {output[-600:]}")
        elif RUN[command] not in output:
            failures.append(f"{command}\n  output lacks {RUN[command]!r}: {output[-400:]}")
    assert not failures, "\n".join(failures)


def test_codebook_show_names_a_special_code_once(run_cli):
    result = run_cli("codebook", "show", "tan2024")
    assert result.exit_code == 0
    line = next(x for x in result.stdout.splitlines() if "False positive" in x)
    assert line.count("false-positive") == 1, line
