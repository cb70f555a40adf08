"""The SSSOM model of a crosswalk: its vocabulary (SKOS predicates, SEMAPV justifications,
row statuses, evidence levels, translation relations), the columns of a file, and the
:class:`Mapping` (one row) and :class:`MappingSet` (one file, possibly seen inverted) models."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from ptmcoder.errors import PtmcoderError

SUFFIX = ".sssom.tsv"
NO_TERM = "sssom:NoTermFound"
PAPER_PREFIX = "ptmpaper:"


class Predicate(StrEnum):
    EXACT = "skos:exactMatch"
    CLOSE = "skos:closeMatch"
    BROAD = "skos:broadMatch"  # the object is broader than the subject
    NARROW = "skos:narrowMatch"  # the object is narrower than the subject
    RELATED = "skos:relatedMatch"  # overlap


INVERSE: dict[Predicate, Predicate] = {
    Predicate.EXACT: Predicate.EXACT,
    Predicate.CLOSE: Predicate.CLOSE,
    Predicate.BROAD: Predicate.NARROW,
    Predicate.NARROW: Predicate.BROAD,
    Predicate.RELATED: Predicate.RELATED,
}


class Relation(StrEnum):
    """How a source code relates to the target code it is translated into
    (the ``--relations`` policy). ``narrow``: the source is narrower than the target
    (an SSSOM row ``source skos:broadMatch target``), so the translation generalises and
    loses nothing; ``broad``: the source is broader (``skos:narrowMatch``), the translation
    claims more than the coder said; ``related``: overlap only."""

    EXACT = "exact"
    CLOSE = "close"
    NARROW = "narrow"
    BROAD = "broad"
    RELATED = "related"


RELATION_OF: dict[Predicate, Relation] = {
    Predicate.EXACT: Relation.EXACT,
    Predicate.CLOSE: Relation.CLOSE,
    Predicate.BROAD: Relation.NARROW,
    Predicate.NARROW: Relation.BROAD,
    Predicate.RELATED: Relation.RELATED,
}
DEFAULT_RELATIONS = ("exact", "close", "narrow")


class Justification(StrEnum):
    MANUAL = "semapv:ManualMappingCuration"
    SEMANTIC_SIMILARITY = "semapv:SemanticSimilarityThresholdMatching"
    LEXICAL = "semapv:LexicalMatching"
    LEXICAL_SIMILARITY = "semapv:LexicalSimilarityThresholdMatching"
    BACKGROUND = "semapv:BackgroundKnowledgeBasedMatching"
    INVERSION = "semapv:MappingInversion"
    REVIEW = "semapv:MappingReview"
    UNSPECIFIED = "semapv:UnspecifiedMatching"


class Status(StrEnum):
    REVIEWED = "reviewed"
    REJECTED = "rejected"
    STATED = "stated"
    CONTESTED = "contested"
    SUGGESTION = "suggestion"


class Evidence(StrEnum):
    """Which rows count: ``reviewed`` (human decisions), ``curated`` (decisions and what the
    papers state, contested pairs excluded) or ``all`` (also contested pairs and suggestions)."""

    REVIEWED = "reviewed"
    CURATED = "curated"
    ALL = "all"

    @classmethod
    def from_flags(cls, reviewed_only: bool, include_suggestions: bool) -> Evidence:
        """The level the command-line flags ask for: ``--reviewed-only`` gives
        ``reviewed``, ``--with-suggestions`` ``all``, neither ``curated``; both at once
        is a :class:`~ptmcoder.errors.PtmcoderError`."""
        if reviewed_only and include_suggestions:
            raise PtmcoderError("--reviewed-only and --with-suggestions exclude each other")
        if reviewed_only:
            return cls.REVIEWED
        return cls.ALL if include_suggestions else cls.CURATED

    @property
    def statuses(self) -> frozenset[Status]:
        """The row statuses this level counts."""
        return _ALLOWED[self]


_ALLOWED: dict[Evidence, frozenset[Status]] = {
    Evidence.REVIEWED: frozenset({Status.REVIEWED}),
    Evidence.CURATED: frozenset({Status.REVIEWED, Status.STATED}),
    Evidence.ALL: frozenset({Status.REVIEWED, Status.STATED, Status.CONTESTED, Status.SUGGESTION}),
}

COLUMNS = (
    "record_id",
    "subject_id",
    "subject_label",
    "predicate_id",
    "predicate_modifier",
    "object_id",
    "object_label",
    "mapping_justification",
    "author_id",
    "author_label",
    "reviewer_id",
    "reviewer_label",
    "mapping_date",
    "review_date",
    "confidence",
    "similarity_score",
    "similarity_measure",
    "mapping_tool",
    "comment",
)
REQUIRED_COLUMNS = ("subject_id", "predicate_id", "object_id", "mapping_justification")
REQUIRED_HEADER = ("curie_map", "mapping_set_id", "license", "creator_id")
BASE_CURIE_MAP = {
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "semapv": "https://w3id.org/semapv/vocab/",
    "sssom": "https://w3id.org/sssom/",
    "ptmcoder": "urn:ptmcoder:",
    "ptmpaper": "urn:ptmcoder:paper:",
    "reviewer": "urn:ptmcoder:reviewer:",
    "orcid": "https://orcid.org/",
}
#: the columns that hold a number in [0, 1] (empty: None); every other column is text
FLOAT_COLUMNS = ("confidence", "similarity_score")


# -- the model ---------------------------------------------------------------------


@dataclass
class Mapping:
    """One SSSOM row. ``line`` is its line in the file (None for derived rows)."""

    subject_id: str
    predicate_id: str
    object_id: str
    mapping_justification: str
    record_id: str = ""
    subject_label: str = ""
    object_label: str = ""
    predicate_modifier: str = ""
    author_id: str = ""
    author_label: str = ""
    reviewer_id: str = ""
    reviewer_label: str = ""
    mapping_date: str = ""
    review_date: str = ""
    confidence: float | None = None
    similarity_score: float | None = None
    similarity_measure: str = ""
    mapping_tool: str = ""
    comment: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    line: int | None = None
    status: Status = Status.SUGGESTION
    inverted: bool = False
    #: what an LLM judge said about a suggestion (model, relation, rationale or error);
    #: reported by ``map suggest --json``, not a column of the file
    judge: dict[str, str] | None = None

    @property
    def subject_code(self) -> str | None:
        return None if self.subject_id == NO_TERM else self.subject_id.split(":", 1)[-1]

    @property
    def object_code(self) -> str | None:
        return None if self.object_id == NO_TERM else self.object_id.split(":", 1)[-1]

    @property
    def negated(self) -> bool:
        return self.predicate_modifier == "Not"

    @property
    def no_term(self) -> bool:
        return NO_TERM in (self.subject_id, self.object_id)

    @property
    def positive(self) -> bool:
        """A match between two codes that nobody rejected."""
        return not self.negated and not self.no_term and self.status is not Status.REJECTED

    @property
    def relation(self) -> Relation:
        return RELATION_OF[Predicate(self.predicate_id)]

    def inverse(self) -> Mapping:
        """The same row seen from the object's side (broad <-> narrow)."""
        return replace(
            self,
            subject_id=self.object_id,
            subject_label=self.object_label,
            object_id=self.subject_id,
            object_label=self.subject_label,
            predicate_id=INVERSE[Predicate(self.predicate_id)].value,
            inverted=not self.inverted,
            extra=dict(self.extra),
        )

    def cells(self) -> dict[str, str]:
        out = {name: "" for name in COLUMNS}
        for name in COLUMNS:
            value = getattr(self, name)
            if isinstance(value, float):
                out[name] = f"{value:.4g}"
            elif value is not None:
                out[name] = str(value)
        out.update(self.extra)
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: v for k, v in self.cells().items() if v != ""}
        for name in FLOAT_COLUMNS:
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        data["status"] = self.status.value
        if self.line is not None:
            data["line"] = self.line
        if self.inverted:
            data["derived"] = "inverse"
        if self.judge is not None:
            data["judge"] = dict(self.judge)
        return data


@dataclass
class MappingSet:
    """A mapping set oriented ``subject_book -> object_book`` (possibly derived by inversion)."""

    path: Path
    subject_book: str
    object_book: str
    header: dict[str, Any]
    mappings: list[Mapping]
    header_text: str = ""
    columns: list[str] = field(default_factory=lambda: list(COLUMNS))
    inverted: bool = False

    @property
    def id(self) -> str:
        return str(self.header.get("mapping_set_id", ""))

    @property
    def file_pair(self) -> tuple[str, str]:
        """The pair in the order of the file on disk."""
        if self.inverted:
            return self.object_book, self.subject_book
        return self.subject_book, self.object_book

    def inverse(self) -> MappingSet:
        return MappingSet(
            path=self.path,
            subject_book=self.object_book,
            object_book=self.subject_book,
            header=self.header,
            mappings=[m.inverse() for m in self.mappings],
            header_text=self.header_text,
            columns=self.columns,
            inverted=not self.inverted,
        )

    def rows(self, evidence: Evidence = Evidence.ALL) -> list[Mapping]:
        allowed = evidence.statuses
        return [m for m in self.mappings if m.status in allowed]

    def status_counts(self) -> dict[str, int]:
        return dict(Counter(m.status.value for m in self.mappings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mapping_set_id": self.id,
            "file": str(self.path),
            "subject": self.subject_book,
            "object": self.object_book,
            "derived_inverse": self.inverted,
            "rows": len(self.mappings),
            "status": self.status_counts(),
            "mappings": [m.to_dict() for m in self.mappings],
        }
