"""One reader per source format, each ``read(path, ctx, ...)`` yielding unit dicts
(columns of :data:`ptmcoder.corpus.schema.UNIT_SCHEMA`) and reporting malformed
records through ``ctx.bad`` as :class:`~ptmcoder.errors.InputRecordError`.

Formats: ``sede-csv`` (Stack Exchange Data Explorer CSV), ``se-api`` (Stack
Exchange API JSON), ``posts-xml`` (the data dump's Posts.xml), ``github`` (GitHub
REST API issues, JSON or JSONL) and ``csv`` (any CSV with a column mapping).
The store reads Posts.xml through ``posts_xml.read_tables`` (the same units as
Arrow tables, a large file range by range, with worker processes when a core is idle).
"""

from __future__ import annotations

from pathlib import Path

from ptmcoder.errors import PtmcoderError

FORMATS = {
    "sede-csv": "Stack Exchange Data Explorer CSV export of Posts",
    "se-api": "Stack Exchange API JSON (questions, with answers where present)",
    "posts-xml": "Stack Overflow data dump Posts.xml (streamed)",
    "github": "GitHub REST API issues, JSON or JSON Lines (pull requests skipped)",
    "csv": "plain CSV with a column mapping (--map title=Title,...)",
}


def detect_format(path: Path, *, has_mapping: bool = False) -> str:
    """Guess a file's format from its extension and first bytes."""
    from ptmcoder.corpus.readers import github, se_api, sede_csv
    from ptmcoder.corpus.readers.csvio import read_header
    from ptmcoder.corpus.readers.jsonio import first_record
    from ptmcoder.errors import InputRecordError

    suffix = path.suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    if suffix == ".xml" or head.startswith((b"<?xml", b"<posts")):
        return "posts-xml"
    if suffix in (".json", ".jsonl", ".ndjson") or head.startswith((b"{", b"[")):
        try:
            obj = first_record(path)
        except ValueError as exc:
            raise InputRecordError(str(path), "record 1", None, str(exc)) from None
        if se_api.looks_like(obj):
            return "se-api"
        if github.looks_like(obj):
            return "github"
        raise PtmcoderError(
            f"{path}: JSON, but neither Stack Exchange API questions "
            f"(question_id) nor GitHub issues (number, html_url)",
            hint="pass --format se-api or --format github",
        )
    if has_mapping:
        return "csv"
    if sede_csv.looks_like(read_header(path)):
        return "sede-csv"
    raise PtmcoderError(
        f"{path}: cannot tell the format (a CSV without the Data Explorer Posts columns)",
        hint="map its columns: --map title=Title,body=Body,created_at=Date "
        "(and --platform), or pass --format",
    )
