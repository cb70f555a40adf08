"""End to end: ``--shots N --train LABELS`` with an LLM annotator against the local
server; the few-shot examples are read back from the requests the server received."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fakes import codes_responder, unit_of
from llm_server import LLMServer

FAKE_KEY = "sk-test-shots"
TITLES = [
    "Keras model returns NaN loss after the first epoch",
    "PyTorch tensor shape mismatch in a linear layer",
    "pip cannot install numpy on Windows",
    "TensorFlow GPU out of memory with a large batch size",
    "How do I read a CSV file with pandas",
    "Conv2d expects 4-dimensional input but got 3",
    "Training accuracy stuck at 0.5 with a sigmoid output",
    "Python list comprehension syntax error",
    "Learning rate too high makes the loss explode",
    "Dropout layer behaves differently at test time",
]
#: the training file: units 0-5 are human-coded (unit 3 with two codes), 6-9 are not
TRAIN = {
    "u:0": ["dl-fault"],
    "u:1": ["dl-fault"],
    "u:2": ["generic"],
    "u:3": ["dl-fault", "unclear"],
    "u:4": ["false-positive"],
    "u:5": ["dl-fault"],
}
EXAMPLE_RE = re.compile(
    r"<example>\n<unit>\n(.*?)\n</unit>\n<codes>(.*?)</codes>\n</example>", re.DOTALL
)


def write_inputs(home: Path) -> tuple[Path, Path]:
    units = home / "units.csv"
    units.write_text("id,title\n" + "".join(f"u:{i},{t}\n" for i, t in enumerate(TITLES)))
    train = home / "train.csv"
    train.write_text(
        "unit,rater,code\n" + "".join(f"{u},E1,{c}\n" for u, codes in TRAIN.items() for c in codes)
    )
    return units, train


def examples_by_unit(requests: list[dict]) -> dict[str, list[tuple[str, set[str]]]]:
    """unit id -> [(example unit id, its codes)] in prompt order."""
    unit_by_text = {t: f"u:{i}" for i, t in enumerate(TITLES)}
    out = {}
    for request in requests:
        uid, _ = unit_of(request["messages"])
        user = request["messages"][-1]["content"]
        shown = []
        for text, codes in EXAMPLE_RE.findall(user):
            shown.append((unit_by_text[text], {c["code"] for c in json.loads(codes)["codes"]}))
        out[uid] = shown
    return out


def test_shots_come_from_the_training_file_never_the_unit_and_are_shuffled(run_cli, isolated_home):
    units, train = write_inputs(isolated_home)
    args = (
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        units,
        "--annotator",
        "openai:test-model",
        "--train",
        train,
        "--shots",
        "6",
        "--concurrency",
        "2",
        "--no-progress",
        "--json",
    )
    with LLMServer(responder=codes_responder) as server:
        result = run_cli(*args, "--base-url", server.base_url, env={"OPENAI_API_KEY": FAKE_KEY})
        assert result.exit_code == 0, result.stderr + repr(result.exception)
        shown = examples_by_unit(server.requests)
        assert len(server.requests) == len(TITLES)

        assert sorted(shown) == sorted(f"u:{i}" for i in range(len(TITLES)))
        for uid, examples in shown.items():
            ids = [e for e, _ in examples]
            assert uid not in ids, uid
            assert len(ids) == len(set(ids))
            assert set(ids) <= set(TRAIN)  # only human-coded units
            # a coded unit sees the other five; an uncoded one all six
            assert len(ids) == (5 if uid in TRAIN else 6), (uid, ids)
            for example, codes in examples:
                assert codes == set(TRAIN[example]), (uid, example)
        # the same pool, in a different (seeded) order per unit
        orders = {tuple(e for e, _ in shown[u]) for u in shown if u not in TRAIN}
        assert len(orders) > 1, orders

        summary = json.loads(result.stdout)
        records = [
            json.loads(x)
            for x in (Path(summary["path"]) / "annotations.jsonl").read_text().splitlines()
        ]
        assert {r["method"] for r in records if r["unit_id"] in TRAIN} == {"few-shot:5"}
        assert {r["method"] for r in records if r["unit_id"] not in TRAIN} == {"few-shot:6"}
        manifest = json.loads((Path(summary["path"]) / "manifest.json").read_text())
        assert manifest["annotators"][0]["few_shot"]["pool"] == len(TRAIN)

        # seeded: the same settings render byte-identical prompts (all cache hits) ...
        again = run_cli(*args, "--base-url", server.base_url, env={"OPENAI_API_KEY": FAKE_KEY})
        assert again.exit_code == 0, again.stderr
        assert len(server.requests) == len(TITLES)
        # ... and another seed another order
        other = run_cli(
            *args, "--seed", "99", "--base-url", server.base_url, env={"OPENAI_API_KEY": FAKE_KEY}
        )
        assert other.exit_code == 0, other.stderr
        reseeded = examples_by_unit(server.requests[len(TITLES) :])
    assert any([e for e, _ in reseeded[u]] != [e for e, _ in shown[u]] for u in shown)
    assert all({e for e, _ in reseeded[u]} == {e for e, _ in shown[u]} for u in shown)
