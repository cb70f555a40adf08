"""Crosswalks: SSSOM mapping sets between codebooks, suggestions, coverage, translation.

A crosswalk is one SSSOM file per pair of codebooks, ``codebooks/crosswalks/<A>__<B>.sssom.tsv``:
a YAML header (lines starting with ``#``: ``curie_map``, ``mapping_set_id``, ``license``,
``creator_id``...) and a TSV of mappings. Codes are CURIEs whose prefix is the codebook id
(``tan2024:CRI.api``); predicates come from SKOS; ``sssom:NoTermFound`` on one side records a
code the source says has no counterpart; ``predicate_modifier: Not`` records a rejected pair.
SSSOM: Matentzoglu et al., "A Simple Standard for Sharing Ontological Mappings (SSSOM)",
Database 2022 (https://mapping-commons.github.io/sssom/).

Every row has a *status*, derived from its columns, never stored:

- ``reviewed``: a human decision (``reviewer_id`` set); ``rejected`` when it carries ``Not``;
- ``stated``: ``semapv:ManualMappingCuration`` authored by a paper (``author_id`` ``ptmpaper:...``),
  the quoted sentence and its section in ``comment``;
- ``contested``: a stated positive row and a stated ``NoTermFound`` row on the same code or its
  ancestors (the texts pull two ways); left to review;
- ``suggestion``: anything else without a reviewer (similarity matches, text-hinted pairs).

:func:`load_mapping_set` is the one reader of these files; the inverse direction is derived
(``broadMatch`` <-> ``narrowMatch``; exact, close and related are symmetric).

Modules: :mod:`.model` (vocabulary, row and set models), :mod:`.io` (locating, reading,
validating, writing files; recording review decisions), :mod:`.suggestions` (similarity
suggestions), :mod:`.overlap` (coverage and its chart), :mod:`.translation` (translating
codings). The public API is re-exported here: ``from ptmcoder.crosswalk import ...``.
"""

from ptmcoder.crosswalk.io import (
    ValidationReport,
    crosswalk_dirs,
    list_mapping_sets,
    load_codebook,
    load_mapping_set,
    new_mapping_set,
    pending_review,
    read_mapping_file,
    record_decision,
    render_mapping_set,
    resolve_mapping_set,
    set_files,
    validate_mapping_sets,
    write_mapping_set,
)
from ptmcoder.crosswalk.model import (
    BASE_CURIE_MAP,
    COLUMNS,
    DEFAULT_RELATIONS,
    INVERSE,
    NO_TERM,
    PAPER_PREFIX,
    RELATION_OF,
    REQUIRED_COLUMNS,
    REQUIRED_HEADER,
    SUFFIX,
    Evidence,
    Justification,
    Mapping,
    MappingSet,
    Predicate,
    Relation,
    Status,
)
from ptmcoder.crosswalk.overlap import (
    FIG4_COLOURS,
    CoverageResult,
    NodeCoverage,
    coverage,
    coverage_chart,
    coverage_many,
    coverage_targets,
)
from ptmcoder.crosswalk.suggestions import add_suggestions, suggest
from ptmcoder.crosswalk.translation import (
    TranslateResult,
    read_codings,
    resolve_labels,
    translate,
    translate_file,
)

__all__ = [
    "BASE_CURIE_MAP",
    "COLUMNS",
    "DEFAULT_RELATIONS",
    "FIG4_COLOURS",
    "INVERSE",
    "NO_TERM",
    "PAPER_PREFIX",
    "RELATION_OF",
    "REQUIRED_COLUMNS",
    "REQUIRED_HEADER",
    "SUFFIX",
    "CoverageResult",
    "Evidence",
    "Justification",
    "Mapping",
    "MappingSet",
    "NodeCoverage",
    "Predicate",
    "Relation",
    "Status",
    "TranslateResult",
    "ValidationReport",
    "add_suggestions",
    "coverage",
    "coverage_chart",
    "coverage_many",
    "coverage_targets",
    "crosswalk_dirs",
    "list_mapping_sets",
    "load_codebook",
    "load_mapping_set",
    "new_mapping_set",
    "pending_review",
    "read_codings",
    "read_mapping_file",
    "record_decision",
    "render_mapping_set",
    "resolve_labels",
    "resolve_mapping_set",
    "set_files",
    "suggest",
    "translate",
    "translate_file",
    "validate_mapping_sets",
    "write_mapping_set",
]
