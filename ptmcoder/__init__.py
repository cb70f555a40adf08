"""ptmcoder: an auditable annotator for qualitative coding of developer posts.

The public API a notebook calls, one name per stage, imported lazily (``import
ptmcoder`` stays cheap; a name's module loads when the name is first used)::

    import ptmcoder as pc

    book = pc.load_codebook("tan2024")
    pc.import_corpus(["Posts.xml"], "so")                       # units
    run = pc.annotate(pc.AnnotateOptions(codebook="tan2024", corpus="so",
                                         annotators=["embedded"])).run
    records = pc.read_annotations(run.id)                       # annotations
    result = pc.evaluate(run=run.id, gold="final.csv", view="vs-humans")
    book.map_codes(["MLM.MC"], "category")                      # one level mapper
    pc.distribution(book, pc.coded_units(run.id))               # statistics

See docs/architecture.md for the stages and the artifacts between them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> "module:attribute"
_API = {
    # codebook
    "Codebook": "ptmcoder.codebook:Codebook",
    "load_codebook": "ptmcoder.codebook:load_codebook",
    "codebook_hash": "ptmcoder.codebook:codebook_hash",
    "LevelMapping": "ptmcoder.codebook:LevelMapping",
    # corpus
    "import_corpus": "ptmcoder.corpus.store:import_corpus",
    "load_corpus": "ptmcoder.corpus.store:load_corpus",
    "cochran_sample_size": "ptmcoder.corpus.sampling:cochran_sample_size",
    "tan_sample": "ptmcoder.corpus.sampling:tan_sample",
    "balanced_stratified_sample": "ptmcoder.corpus.sampling:balanced_stratified_sample",
    # annotate
    "AnnotateOptions": "ptmcoder.annotate.options:AnnotateOptions",
    "annotate": "ptmcoder.annotate.runner:annotate",
    "Annotation": "ptmcoder.annotate.records:Annotation",
    "read_annotations": "ptmcoder.annotate.records:read_annotations",
    # runs
    "Manifest": "ptmcoder.runs:Manifest",
    "resolve_run": "ptmcoder.runs:resolve_run",
    "list_run_ids": "ptmcoder.runs:list_run_ids",
    # agreement
    "AgreeOptions": "ptmcoder.agreement.evaluate:AgreeOptions",
    "evaluate": "ptmcoder.agreement.evaluate:evaluate",
    "rating_matrix": "ptmcoder.agreement.data:rating_matrix",
    "compute_coefficients": "ptmcoder.agreement.compute:compute_coefficients",
    "alt_test": "ptmcoder.agreement.aat:alt_test",
    # statistics
    "popularity": "ptmcoder.stats.popularity:popularity",
    "difficulty": "ptmcoder.stats.difficulty:difficulty",
    "distribution": "ptmcoder.stats.distribution:distribution",
    "coded_units": "ptmcoder.stats.distribution:coded_units",
    "resolution": "ptmcoder.stats.resolution:resolution",
    "two_proportion_test": "ptmcoder.stats.proportion:two_proportion_test",
    "cliffs_delta": "ptmcoder.stats.effect_sizes:cliffs_delta",
    # errors
    "PtmcoderError": "ptmcoder.errors:PtmcoderError",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'ptmcoder' has no attribute {name!r}")
    module, attribute = target.split(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
