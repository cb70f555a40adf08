"""Versioned prompts: ``prompts/<name>.v<N>.system.md`` and ``.user.md``.

A prompt file is never edited once a run used it; a new wording is a new version.
:func:`load_prompt` reads one by id, :class:`PromptTemplate` carries its id (the
version, recorded in a run's manifest and records) and the sha256 of its text (part
of the response cache key), and :func:`fill` replaces ``{{name}}`` placeholders.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ptmcoder.errors import NotFoundError
from ptmcoder.paths import bundled_dir

_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


@dataclass(frozen=True)
class PromptTemplate:
    id: str
    system: str
    user: str

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.system.encode("utf-8"))
        digest.update(b"\0")
        digest.update(self.user.encode("utf-8"))
        return "sha256:" + digest.hexdigest()

    @property
    def version(self) -> str:
        return self.id


def load_prompt(prompt_id: str) -> PromptTemplate:
    """The prompt ``prompt_id`` (``apply_codebook.v1``) from the bundled ``prompts/``:
    ``<id>.system.md`` and ``<id>.user.md``; an unknown id names the known ones."""
    directory = bundled_dir("prompts")
    try:
        system = (directory / f"{prompt_id}.system.md").read_text(encoding="utf-8")
        user = (directory / f"{prompt_id}.user.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        known = sorted({p.name.rsplit(".", 2)[0] for p in directory.glob("*.system.md")})
        raise NotFoundError(
            f"no prompt {prompt_id!r} in {directory}",
            hint=f"known prompts: {', '.join(known) or 'none'}",
        ) from None
    return PromptTemplate(prompt_id, system, user)


def fill(template: str, values: dict[str, str]) -> str:
    """Replace ``{{name}}`` placeholders in one pass (values are never re-scanned)."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"prompt placeholder {{{{{key}}}}} has no value")
        return values[key]

    return _PLACEHOLDER.sub(sub, template)
