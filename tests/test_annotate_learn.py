"""The embedded annotator that learns from human codes: training units through the
codebook's aliases and the input's ids, cross-validated choice, cross-fitting, calibrated
multi-label decisions, and active-learning suggestions."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from ptmcoder.annotate.active import suggest, uncertainty
from ptmcoder.annotate.learn import learn, predictions, tfidf_features
from ptmcoder.annotate.training import load_training, original_id
from ptmcoder.codebook import load_codebook

# words that signal each class, and filler shared by all (test data, not research labels)
SIGNAL = {
    "bug": "crash exception traceback segfault broken regression",
    "feature": "please add support option proposal would be nice",
    "question": "how can I is there a way to what is the best",
}
FILLER = "the build on linux with python version latest release today after update".split()


def _text(kind: str, rng: random.Random) -> str:
    words = SIGNAL[kind].split()
    body = rng.sample(words, 3) + rng.sample(FILLER, 4)
    rng.shuffle(body)
    return " ".join(body)


def _split(prefix: str, n_per_class: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n_per_class * 3):
        kind = list(SIGNAL)[i % 3]
        rows.append(
            {
                "id": f"{prefix}{i:03d}",
                "title": _text(kind, rng),
                "body": _text(kind, rng),
                "repo": "acme/widget",
                "label": kind,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def split(isolated_home, run_cli):
    train, test = _split("tr", 12, 1), _split("te", 4, 2)
    for name, frame in (("train", train), ("test", test)):
        frame.drop(columns="label").to_csv(isolated_home / f"{name}.csv", index=False)
        result = run_cli(
            "corpus", "import", isolated_home / f"{name}.csv", "--name", f"toy_{name}",
            "--format", "csv", "--map", "id=id,title=title,body=body,project=repo",
            "--platform", "github", "--no-progress",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    labels = pd.DataFrame({"unit": train["id"], "rater": "h1", "code": train["label"]})
    labels.loc[len(labels)] = {"unit": "tr000", "rater": "h1", "code": "wontfix"}
    labels.to_csv(isolated_home / "labels.csv", index=False)
    return train, test


def test_original_ids_are_recovered_from_namespaced_ones():
    assert original_id("gh:owner/repo#tr0000") == "tr0000"
    assert original_id("so:123") == "123"
    assert original_id("tr:0000") == "0000"
    assert original_id("plain") == "plain"


def test_train_corpus_aliases_unknown_codes_and_records(split, run_cli, isolated_home):
    train, test = split
    result = run_cli(
        "annotate", "--codebook", "issue-type", "--corpus", "toy_test",
        "--annotator", "embedded:tfidf", "--train", isolated_home / "labels.csv",
        "--train-corpus", "toy_train", "--suggest", "3", "--no-progress", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    stderr = " ".join(result.stderr.split())
    assert "1 code(s) not in codebook 'issue-type'" in stderr and "'wontfix' (n=1)" in stderr
    run_dir = isolated_home / "runs" / json.loads(result.stdout)["run_id"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["training"]["aliases_applied"] == {"feature -> enhancement": 12}
    assert manifest["training"]["units_labelled"] == 36
    learner = manifest["annotators"][0]["learner"]
    assert learner["representation"] == "tfidf" and learner["cv"]["labelled_units"] == 36
    assert {c["representation"] for c in learner["cv"]["candidates"]} == {"tfidf"}
    records = [json.loads(x) for x in (run_dir / "annotations.jsonl").read_text().splitlines()]
    assert len(records) == len(test)
    truth = dict(zip("gh:acme/widget#" + test["id"], test["label"], strict=True))
    alias = {"feature": "enhancement"}
    hits = sum(alias.get(truth[r["unit_id"]], truth[r["unit_id"]]) in
               [c["code"] for c in r["codes"]] for r in records)  # fmt: skip
    assert hits >= len(test) - 2  # the signal words are unambiguous
    for r in records:
        assert set(r["scores"]) >= {"bug", "question", "enhancement"}
        assert set(r["raw_scores"]) == {"bug", "question", "enhancement"}
        for c in r["codes"]:
            assert 0 <= c["confidence"] <= 1 and c["evidence"]
    suggestions = pd.read_csv(run_dir / "suggestions.csv")
    assert len(suggestions) == 3 and suggestions["unit"].is_unique
    assert set(suggestions["unit"]) <= set(truth)


def test_labels_matching_no_unit_are_an_error_not_zero_shot(split, run_cli, isolated_home):
    result = run_cli(
        "annotate", "--codebook", "issue-type", "--corpus", "toy_test",
        "--annotator", "embedded:tfidf", "--train", isolated_home / "labels.csv",
        "--no-progress",
    )  # fmt: skip
    assert result.exit_code != 0
    message = " ".join(result.stderr.split())
    assert "none of its 36 unit ids is in the corpus toy_test" in message
    assert "'tr000'" in message and "--train-corpus" in message
    assert "Traceback" not in result.stderr


def test_load_training_matches_ids_as_given_and_stored(split, isolated_home):
    from ptmcoder.corpus.units import load_units

    book = load_codebook("issue-type")
    units = load_units("toy_train").to_dict("records")
    warnings: list[str] = []
    ts = load_training(str(isolated_home / "labels.csv"), book, None, units, warn=warnings.append)
    assert len(ts.labels) == 36 and all(k.startswith("gh:acme/widget#") for k in ts.labels)
    assert ts.labels["gh:acme/widget#tr001"] == ["enhancement"]
    assert len(warnings) == 1 and "wontfix" in warnings[0]


def _multilabel_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    words = {"a": "alpha apple anchor", "b": "beta banana bridge", "c": "gamma cherry canal"}
    texts, Y = [], []
    for _ in range(n):
        row = rng.random(3) < 0.45
        if not row.any():
            row[rng.integers(3)] = True
        parts = [w for j, k in enumerate("abc") if row[j] for w in words[k].split()]
        parts += list(rng.choice(FILLER, 3))
        rng.shuffle(parts)
        texts.append(" ".join(parts))
        Y.append(row.astype(int))
    return texts, np.array(Y)


def test_learn_multilabel_calibrated_thresholded_and_cross_fitted():
    texts, Y = _multilabel_data(160, 3)
    flipped = 0  # one unit's label contradicts its text: out of fold, its text wins
    Y[flipped] = 1 - Y[flipped] if Y[flipped].sum() < 3 else [1, 0, 0]
    X = tfidf_features(texts + ["alpha apple beta banana", "gamma cherry canal"])
    learned = learn(
        ["a", "b", "c"], Y, {"tfidf": (X[:160], X[160:])}, folds=4, seed=1,
        learners={"logreg": (4.0,), "svm": (0.5,)},
    )  # fmt: skip
    assert len(learned.candidates) == 2 and learned.cv_macro_f1 > 0.9
    assert learned.decision in ("threshold", "top1+threshold")
    assert ((learned.proba >= 0) & (learned.proba <= 1)).all()
    assert set(learned.thresholds) == {"a", "b", "c"}
    pred = predictions(learned)
    assert pred[160].tolist() == [True, True, False]  # two codes
    assert pred[161].tolist() == [False, False, True]
    own = pred[flipped].astype(int)
    assert (own != Y[flipped]).any()  # not memorised: scored by a model without it


def test_special_codes_are_exclusive():
    from ptmcoder.annotate.learn import decide

    proba = np.array([[0.9, 0.8, 0.95], [0.9, 0.8, 0.1]])
    pred = decide(proba, np.array([0.5, 0.5, 0.5]), "threshold", special_idx=[2])
    assert pred.tolist() == [[False, False, True], [True, True, False]]


def test_suggest_prefers_uncertain_and_diverse_units():
    proba = np.array([[0.5, 0.5], [0.51, 0.49], [0.99, 0.01], [0.55, 0.45]])
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    u = uncertainty(proba, np.array([0.5, 0.5]), "top1+threshold")
    assert u.argmax() == 0 and u.argmin() == 2
    picks = [i for i, _ in suggest(proba, X, None, 2, thresholds=np.array([0.5, 0.5]))]
    assert picks[0] == 0 and picks[1] == 3  # unit 1 duplicates unit 0: diversity skips it
    coded = np.array([[0.0, 1.0]])  # units like 3 are coded already
    picks = [i for i, _ in suggest(proba, X, coded, 2, thresholds=np.array([0.5, 0.5]))]
    assert picks == [0, 1]


def test_minilm_is_left_out_over_the_text_limit_with_the_reason(tmp_path):
    from ptmcoder.annotate.supervised import SupervisedAnnotator

    annotator = SupervisedAnnotator(
        load_codebook("issue-type"), None, max_texts=8, cache_path=tmp_path / "e.sqlite"
    )
    assert annotator._minilm([f"text number {i}" for i in range(9)], 9) is None
    reason = annotator.skipped["minilm"]
    assert "9 distinct texts" in reason and "limit of 8" in reason and "never a time" in reason
    assert not (tmp_path / "e.sqlite").exists()  # decided before anything is opened or loaded


def test_the_representation_never_depends_on_the_time_embedding_takes(tmp_path, monkeypatch):
    """A machine so loaded that every clock reading is 1,000 s after the last (the old
    learner measured a probe and dropped MiniLM) chooses as a quiet one: MiniLM joins
    (the text count is under the limit) and the manifest says which limit applied."""
    pytest.importorskip("sentence_transformers")
    import time as time_module

    from ptmcoder.annotate import supervised

    clock = iter(range(0, 10**9, 1000))
    monkeypatch.setattr(time_module, "perf_counter", lambda: float(next(clock)))
    texts = [f"the program crashes with error {i}" for i in range(6)]
    texts += [f"please add an option for feature {i}" for i in range(6)]
    units = [{"id": f"u{i}", "title": t} for i, t in enumerate(texts)]
    labels = {f"u{i}": ["bug" if i < 6 else "feature"] for i in range(12)}
    annotator = supervised.SupervisedAnnotator(
        load_codebook("issue-type"), None, cache_path=tmp_path / "e.sqlite", ignored_budget=1
    )
    annotator.fit(labels, units, units)
    learner = annotator.describe()["learner"]
    assert "minilm" in annotator.features and "minilm" not in learner["representations_skipped"]
    assert learner["max_texts"] == supervised.DEFAULT_MINILM_TEXTS
    assert "auto mode never fine-tunes" in learner["representations_skipped"]["minilm-finetuned"]
    assert learner["notes"] and "learn_budget = 1 s was ignored" in learner["notes"][0]


def test_vector_cache_tells_which_texts_it_has_without_reading_vectors(tmp_path):
    from ptmcoder.annotate.vectors import VectorCache, text_hash

    cache = VectorCache(tmp_path / "v.sqlite")
    cache.put_many("s", {text_hash("a"): np.ones(3, np.float32)})
    cache.put_many("other", {text_hash("b"): np.ones(3, np.float32)})
    assert cache.present("s", [text_hash(t) for t in "abca"]) == {text_hash("a")}
    many = [text_hash(str(i)) for i in range(1200)]  # more than one query batch
    cache.put_many("s", {h: np.zeros(2, np.float32) for h in many[::3]})
    assert cache.present("s", many) == set(many[::3])
    cache.close()


def test_one_code_per_unit_uncertainty_is_the_margin_of_the_two_most_probable():
    # top1 (humans gave one code per unit): a unit torn between two codes is the most
    # uncertain, whatever the per-code thresholds (they play no part in top1)
    proba = np.array([[0.45, 0.44, 0.11], [0.80, 0.10, 0.10], [0.34, 0.33, 0.33]])
    u = uncertainty(proba, np.array([0.9, 0.9, 0.9]), "top1")
    np.testing.assert_allclose(u, [0.99, 0.30, 0.99])
    assert uncertainty(proba, np.array([0.9, 0.9, 0.9]), "threshold").argmax() == 1
