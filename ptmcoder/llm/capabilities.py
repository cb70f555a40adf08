"""What an endpoint turned out to support, remembered across runs.

``--structured auto`` starts with ``json_schema`` and steps down
(``json_object``, then plain text) when an endpoint refuses a mode. The mode
that worked is stored per endpoint and model in
``<workspace>/cache/endpoint_modes.json``, so the next run starts with it
instead of probing again. The file holds the endpoint's scheme, host, port and
path (credentials are refused before a client exists, see
:func:`ptmcoder.llm.openai_client.check_base_url`) and never a key.
"""

from __future__ import annotations

import json
from pathlib import Path

from ptmcoder.files import write_json
from ptmcoder.paths import workspace

FILE = "endpoint_modes.json"


def _path() -> Path:
    return workspace() / "cache" / FILE


def _key(base_url: str, model: str) -> str:
    return f"{base_url.rstrip('/')} {model}"


def _load(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # absent or damaged: probe again, nothing is lost
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def known_mode(base_url: str, model: str) -> str | None:
    """The output mode that last worked for this endpoint and model, if any."""
    return _load(_path()).get(_key(base_url, model))


def remember_mode(base_url: str, model: str, mode: str) -> None:
    """Store the mode that worked (:func:`ptmcoder.files.write_json`, atomic; concurrent
    writers lose nothing but each other's newest entry, which is re-probed)."""
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _load(path)
    if data.get(_key(base_url, model)) == mode:
        return
    data[_key(base_url, model)] = mode
    # a cache: a lost entry is probed again, so no fsync
    write_json(path, dict(sorted(data.items())), indent=1, durable=False)
