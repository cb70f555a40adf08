"""ptmcoder: an auditable annotator for qualitative coding of developer posts."""

__version__ = "0.1.0"
