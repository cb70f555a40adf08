"""Corpora: the normalized unit record, readers per source format, sampling designs."""
