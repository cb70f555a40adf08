"""The embedded annotator on real titles from the bundled Humbatova sample."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ptmcoder.annotate.embedded import EmbeddedAnnotator, segments
from ptmcoder.annotate.fewshot import select_examples
from ptmcoder.annotate.prompt import allowed_codes
from ptmcoder.codebook import load_codebook
from ptmcoder.corpus.units import unit_text
from ptmcoder.llm.embed import MiniLMEmbedder, TfidfEmbedder
from ptmcoder.paths import samples_dir

EMBED_EXTRA = "needs the embed extra (pip install 'ptmcoder[embed]')"


@pytest.fixture(scope="session")
def minilm():
    # the tests of this module that use MiniLM skip (with the reason) without the extra;
    # the TF-IDF ones still run
    pytest.importorskip("sentence_transformers", reason=EMBED_EXTRA)
    return MiniLMEmbedder()  # loaded once per test session


@pytest.fixture(scope="module")
def book():
    return load_codebook("humbatova-screening")


@pytest.fixture(scope="module")
def units():
    frame = pd.read_csv(samples_dir() / "humbatova_so_titles.csv", dtype=str)
    return frame.to_dict("records")


def test_zero_shot_records_carry_codes_confidence_evidence(minilm, book, units):
    annotator = EmbeddedAnnotator(book, None, minilm)
    annotator.prepare(units)
    sample = units[:40]
    records = list(annotator.annotate(sample))
    assert [r.unit_id for r in records] == [u["id"] for u in sample]
    allowed = set(allowed_codes(book, None))
    for unit, rec in zip(sample, records, strict=True):
        assert rec.ok and rec.codes and rec.method == "zero-shot"
        assert set(rec.scores) == allowed
        assert sum(rec.scores.values()) == pytest.approx(1.0, abs=1e-3)
        for c in rec.codes:
            assert c.code in allowed
            assert 0.0 <= c.confidence <= 1.0
            assert c.evidence and c.evidence in unit_text(unit)
            assert "similarity" in c.rationale
    # the scores discriminate: not every unit gets the same code
    assert len({r.codes[0].code for r in records}) >= 2


def test_evidence_is_the_most_similar_sentence(minilm, book):
    from ptmcoder.annotate.embedded import EmbeddedConfig

    # multi_threshold 0 assigns every code, so each code's evidence can be checked
    config = EmbeddedConfig(multi_threshold=0, evidence="embedding")
    annotator = EmbeddedAnnotator(book, None, minilm, config=config)
    annotator.prepare([])
    unit = {
        "id": "t:1",
        "title": "Question",
        "body": "I love hiking on weekends. My Keras model gives NaN loss after the first "
        "epoch of training.",
    }
    rec = next(annotator.annotate([unit]))
    assert len(rec.codes) == len(annotator.codes)
    dl = [c for c in rec.codes if c.code == "dl-fault"]
    assert "NaN loss" in dl[0].evidence


def test_code_vectors_cached_by_codebook_hash(minilm, book, tmp_path):
    a = EmbeddedAnnotator(book, None, minilm, cache_dir=tmp_path)
    a.prepare([])
    files = list(tmp_path.glob("codes-*-leaf-minilm.npy"))
    assert len(files) == 1
    b = EmbeddedAnnotator(book, None, minilm, cache_dir=tmp_path)
    b.prepare([])
    assert np.allclose(a.code_vectors, b.code_vectors)


def test_fewshot_is_cross_fitted_never_sees_own_label(book, units):
    """Random labels are memorisable only by a model that saw them: in-sample fitting
    would reproduce them; the supervised annotator's cross-fitting must stay near chance."""
    from ptmcoder.annotate.learn import tfidf_features
    from ptmcoder.annotate.supervised import SupervisedAnnotator
    from ptmcoder.corpus.units import unit_text

    pool = units[:120]
    rng = np.random.default_rng(0)
    codes = ["dl-fault", "generic", "false-positive"]
    labels = {u["id"]: [codes[i]] for u, i in zip(pool, rng.integers(0, 3, len(pool)), strict=True)}
    annotator = SupervisedAnnotator(book, None, mode="tfidf")
    annotator.fit(labels, pool, pool)
    records = list(annotator.annotate(pool))
    assert all(r.method == "supervised" for r in records)
    hits = np.mean([r.codes[0].code in labels[r.unit_id] for r in records if r.codes])
    assert hits < 0.6, hits  # in-sample, the same features memorise the labels
    from sklearn.linear_model import LogisticRegression

    X = tfidf_features([unit_text(u) for u in pool])
    y = [labels[u["id"]][0] for u in pool]
    in_sample = LogisticRegression(max_iter=2000, C=4.0).fit(X, y).score(X, y)
    assert in_sample > 0.9  # the leak the cross-fitting prevents is real


def test_tfidf_fallback_works_without_torch(book, units):
    annotator = EmbeddedAnnotator(book, None, TfidfEmbedder(), name="embedded:tfidf")
    annotator.prepare(units[:30])
    records = list(annotator.annotate(units[:30]))
    assert all(r.ok and r.model == "tfidf" for r in records)
    # a title sharing no word with any code description is a reported tie, not a code
    untold = [r for r in records if not r.codes]
    assert len(untold) == annotator.ties and len(untold) < 5
    assert all(r.flags[0].startswith("tie: every code has the same similarity") for r in untold)


def test_unit_without_text_is_an_error_row(book):
    annotator = EmbeddedAnnotator(book, None, TfidfEmbedder())
    annotator.prepare([{"id": "a", "title": "keras loss"}])
    rec = next(annotator.annotate([{"id": "e", "title": "", "body": ""}]))
    assert rec.error_type.value == "no_text" and not rec.codes


def test_segments_are_substrings():
    text = "Title: Use torch.cuda.FloatTensor?\n\nFirst sentence. Second one! third"
    segs = segments(text)
    assert "Title: Use torch.cuda.FloatTensor?" in segs
    assert all(s in text for s in segs)


def test_select_examples_rules():
    ids = ["u0", "u1", "u2", "u3", "u4", "u5"]
    vecs = np.eye(6, dtype=float)
    vecs[1] = vecs[0] * 0.9 + vecs[1] * 0.1  # u1 very similar to u0
    vecs[2] = vecs[0] * 0.8 + vecs[2] * 0.2
    labels = [["a"], ["a"], ["a"], ["b"], ["c"], ["a"]]
    texts = ["t0", "t1", "t0", "t3", "t4", "t5"]
    chosen = select_examples(
        "u0", vecs[0], ids, vecs, labels, 3, seed=1, unit_text="t0", pool_texts=texts
    )
    assert 0 not in chosen  # never the unit itself
    assert 2 not in chosen  # nor a unit with the same text
    assert {tuple(labels[i]) for i in chosen} == {("a",), ("b",), ("c",)}  # diverse
    assert 1 in chosen  # the most similar of label a
    again = select_examples(
        "u0", vecs[0], ids, vecs, labels, 3, seed=1, unit_text="t0", pool_texts=texts
    )
    assert again == chosen  # deterministic per unit (cache-friendly)
    orders = {
        tuple(
            select_examples(
                "u0", vecs[0], ids, vecs, labels, 3, seed=s, unit_text="t0", pool_texts=texts
            )
        )
        for s in range(12)
    }
    assert len(orders) > 1  # shuffled


def test_cli_codes_bundled_sample_offline(run_cli, isolated_home, minilm):
    result = run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        "humbatova_so",
        "--annotator",
        "embedded",
        "--limit",
        "25",
        "--no-progress",
        "--json",
    )
    assert result.exit_code == 0, result.stderr + str(result.exception)
    summary = json.loads(result.stdout)
    assert summary["written"] == 25
    run_dir = isolated_home / "runs" / summary["run_id"]
    records = [json.loads(line) for line in (run_dir / "annotations.jsonl").open()]
    assert len(records) == 25
    assert all(
        r["codes"] and r["codes"][0]["evidence"] and 0 <= r["codes"][0]["confidence"] <= 1
        for r in records
    )
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["annotators"][0]["embedder"] == "minilm"
    assert manifest["status"] == "complete"
    # rerun with --run: nothing left to do, nothing written twice
    again = run_cli("annotate", "--run", summary["run_id"], "--no-progress", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["written"] == 0
    assert len((run_dir / "annotations.jsonl").read_text().splitlines()) == 25


def test_cli_fewshot_manifest_says_cross_fitted(run_cli, isolated_home, minilm):
    result = run_cli(
        "annotate",
        "--codebook",
        "humbatova-screening",
        "--corpus",
        "humbatova_so",
        "--annotator",
        "embedded",
        "--train",
        "humbatova_so",
        "--limit",
        "60",
        "--no-progress",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    run_dir = isolated_home / "runs" / json.loads(result.stdout)["run_id"]
    meta = json.loads((run_dir / "manifest.json").read_text())["annotators"][0]
    assert meta["method"] == "supervised" and "few_shot" not in meta
    assert "without its fold" in meta["supervised"]["cross_fitting"]
    assert meta["learner"]["cross_fitting"]["outer_folds"] >= 2
    assert meta["supervised"]["labelled_units"] > 400


def test_annotating_before_prepare_names_the_missing_step(book, units):
    embedder = TfidfEmbedder()
    embedder.fit([unit_text(u) for u in units[:30]])
    annotator = EmbeddedAnnotator(book, None, embedder, name="embedded:tfidf")
    with pytest.raises(RuntimeError, match=r"only after prepare\(\)"):
        list(annotator.annotate(units[:1]))


def test_a_unit_sharing_no_word_with_any_description_is_a_reported_tie(book, units):
    """TF-IDF gives every code the same similarity (0) for such a unit: the record
    assigns no code (never the codebook's first) and says which codes tied; the
    manifest counts it. Centring on the corpus mean would otherwise pick a code."""
    annotator = EmbeddedAnnotator(book, None, TfidfEmbedder())
    odd = {"id": "odd", "title": "zzqx wibble frobnicate"}
    plain = {"id": "plain", "title": "Keras model training: the loss is NaN after one epoch"}
    annotator.prepare([*units[:40], odd, plain])
    assert annotator.describe()["prior_correction"]["applied"]
    rec = {r.unit_id: r for r in annotator.annotate([plain, odd])}
    assert rec["odd"].ok and rec["odd"].codes == []
    (flag,) = rec["odd"].flags
    assert flag == (
        f"tie: every code has the same similarity 0.0000 to the unit "
        f"({', '.join(annotator.codes)}); no code assigned"
    )
    assert rec["plain"].codes and rec["plain"].flags == []
    assert annotator.describe()["ties"] == 1


def test_codes_that_share_the_top_score_are_a_reported_tie(book):
    annotator = EmbeddedAnnotator(book, None, TfidfEmbedder())
    unit = {"id": "b", "title": "keras loss is nan"}
    annotator.prepare([unit])
    own = annotator.encode_units([unit])[0]
    annotator.code_vectors = annotator.prepared_code_vectors.copy()
    annotator.code_vectors[0] = annotator.code_vectors[1] = own  # both as close as can be
    rec = next(annotator.annotate([unit]))
    first, second = annotator.codes[:2]
    top = max(rec.scores.values())
    assert rec.codes == [] and rec.scores[first] == rec.scores[second] == top
    assert rec.flags == [
        f"tie: 2 codes share the top score {top:.4f} ({first}, {second}); no code assigned"
    ]


def test_a_unit_coded_alone_gets_its_most_similar_code_not_the_first(minilm, book):
    """Under prior_min_units units nothing is centred: a unit coded alone (or among a few)
    gets the code its raw similarity ranks first, the same in both cases, with no tie;
    the manifest and the rationale say the scores were not centred."""
    unit = {"id": "u", "title": "How do I set the learning rate of the Adam optimizer?"}
    others = [{"id": f"o{i}", "title": f"pip install fails on Windows {i}"} for i in range(10)]
    alone = EmbeddedAnnotator(book, None, minilm)
    alone.prepare([unit])
    rec = next(alone.annotate([unit]))
    sims = alone.encode_units([unit]) @ alone.prepared_code_vectors.T
    assert rec.codes[0].code == alone.codes[int(np.argmax(sims[0]))] and rec.flags == []
    assert "not centred" in rec.codes[0].rationale
    entry = alone.describe()["prior_correction"]
    assert entry == {
        "applied": False,
        "units": 1,
        "reason": "1 unit(s) with text, fewer than 20 (prior_min_units)",
    }
    among = EmbeddedAnnotator(book, None, minilm)
    among.prepare([*others, unit])
    assert next(among.annotate([unit])).scores == rec.scores


def test_centred_scores_do_not_depend_on_order_or_batches(book, units):
    """The mean each code is centred on is fitted once on the run's units: coding them in
    another order, in other batches, gives every unit the same scores; the manifest says
    what the mean was fitted on."""
    from ptmcoder.annotate.embedded import EmbeddedConfig

    pool = units[:60]
    first = EmbeddedAnnotator(book, None, TfidfEmbedder())
    first.prepare(pool)
    forward = {r.unit_id: r.scores for r in first.annotate(pool)}
    second = EmbeddedAnnotator(book, None, TfidfEmbedder(), config=EmbeddedConfig(batch_size=7))
    second.prepare(pool)
    backward = {r.unit_id: r.scores for r in second.annotate(pool[::-1])}
    assert forward == backward
    entry = first.describe()["prior_correction"]
    assert (
        entry["applied"]
        and entry["units"] == 60
        and set(entry["mean_similarity"]) == set(first.codes)
    )
    assert (
        first.describe()["embedder_fitted_on"]
        == "the code descriptions and the 60 units of the run"
    )
