"""The ground floor: durable writes, locks, canonical JSON and content hashes.

Every module that writes a file another process or a later session reads goes
through this module, so the durability rule is stated once:

- **Replacing a file** (:func:`write_atomic`, :func:`write_text`, :func:`write_json`):
  the new content goes to a temporary file in the same directory, which is
  ``fsync``-ed and renamed over the target with :func:`os.replace`; the directory
  is then ``fsync``-ed so that the rename itself survives a power loss. A reader
  sees the old file or the new one, never a mix, and a process killed half-way
  leaves at most a hidden ``.<name>.<pid>.tmp`` that the next write replaces.
- **Appending a record** (:func:`append_line`): one ``write`` of one whole line
  to a file opened with ``O_APPEND``, then ``fsync``. After a crash the file
  holds whole lines plus at most one torn last line, which readers ignore.
- **Locks** (:class:`FileLock`): an exclusive ``flock`` on a lock file that is
  never removed (removing it would let two processes lock two different files of
  one name). The holder's pid is written into it for error messages.

Caches that can be rebuilt (tokenizer vocabularies, model weights) still go
through :func:`write_atomic` but pass ``durable=False``: a torn cache is worse
than a missing one, a lost one only costs time.

JSON that is hashed or compared is written by :func:`canonical_json` (sorted keys,
no spaces, UTF-8); :func:`jsonable` turns numpy scalars, NaN and infinities into
what strict JSON holds (NaN and infinities become ``null``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "FileLock",
    "LockHeld",
    "append_line",
    "canonical_json",
    "fsync_dir",
    "hash_files",
    "jsonable",
    "sha256_bytes",
    "sha256_file",
    "sha256_text",
    "try_lock",
    "write_atomic",
    "write_json",
    "write_text",
]


# -- canonical JSON and hashes ------------------------------------------------------


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars as Python numbers, NaN and infinities as None,
    tuples and sets as lists (sets sorted), paths and dates as strings, and pydantic
    models dumped, recursively: what strict JSON can hold.

    >>> import math
    >>> jsonable({"a": math.nan, "b": (1, 2.5), 3: {"x", "w"}})
    {'a': None, 'b': [1, 2.5], '3': ['w', 'x']}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted(jsonable(v) for v in obj)
    if isinstance(obj, str | bool) or obj is None:
        return obj
    if hasattr(obj, "model_dump"):
        return jsonable(obj.model_dump(mode="json"))
    if hasattr(obj, "item") and not isinstance(obj, bytes):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, int | str | bool):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


def canonical_json(obj: Any) -> str:
    """The one canonical JSON text of ``obj`` (sorted keys, no whitespace, UTF-8
    kept): equal data give equal text, so equal hashes.

    >>> canonical_json({"b": 1, "a": [1.5, None, "é"]})
    '{"a":[1.5,null,"é"],"b":1}'
    """
    return json.dumps(
        jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``.

    >>> sha256_bytes(b"")
    'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """``sha256:<hex>`` of the UTF-8 bytes of ``text``."""
    return sha256_bytes(text.encode("utf-8"))


def sha256_file(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def hash_files(paths: list[Path], root: Path) -> str:
    """One hash over files: their paths relative to ``root`` and their contents."""
    parts = {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(paths)}
    return sha256_text(canonical_json(parts))


# -- durable writes -------------------------------------------------------------------


def fsync_dir(path: str | Path) -> None:
    """Make a rename or a new file in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: str | Path, write: Callable[[BinaryIO], object], *, durable: bool = True
) -> Path:
    """Replace ``path`` with what ``write`` writes to the binary file it is given;
    see the module docstring for the rule. ``durable=False`` skips the fsyncs (for
    caches that can be rebuilt). The temporary file is removed on any error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> Path:
    """Replace ``path`` with ``data``, atomically."""
    return write_atomic(path, lambda fh: fh.write(data), durable=durable)


def write_text(path: str | Path, text: str, *, durable: bool = True) -> Path:
    """Replace ``path`` with ``text`` (UTF-8), atomically."""
    return write_bytes(path, text.encode("utf-8"), durable=durable)


def write_json(
    path: str | Path, data: Any, *, indent: int | None = 2, durable: bool = True
) -> Path:
    """Replace ``path`` with ``data`` as strict JSON (:func:`jsonable` first), keys in
    the order given, a final newline, atomically."""
    text = json.dumps(jsonable(data), indent=indent, ensure_ascii=False, allow_nan=False)
    return write_text(path, text + "\n", durable=durable)


def append_line(fd: int, line: str) -> None:
    """Append one line durably to ``fd`` (opened with ``O_APPEND``): one ``write`` of
    the whole line, then ``fsync``. ``line`` must not contain a newline."""
    data = (line + "\n").encode("utf-8")
    written = os.write(fd, data)
    while written < len(data):  # pragma: no cover - regular files write fully
        written += os.write(fd, data[written:])
    os.fsync(fd)


# -- locks ----------------------------------------------------------------------------


class LockHeld(Exception):
    """Another process holds the lock (``holder``: its pid as written, or "?")."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by pid {holder}")
        self.path = path
        self.holder = holder


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing, never removed).

    ``acquire()`` raises :class:`LockHeld` when another process holds it (or waits
    for it with ``wait=True``); ``held_by_other()`` tells without taking it. Usable
    as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait: bool = False) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(self.path, self.holder()) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> str:
        """The pid written by the process that last held the lock, or "?"."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def held_by_other(self) -> bool:
        """Whether another process holds the lock now (False when it does not exist)."""
        if self._fd is not None or not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return False

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def try_lock(path: str | Path, *, wait: bool = False) -> Iterator[FileLock | None]:
    """Hold the lock of ``path`` for the block; yields None when another process holds
    it and ``wait`` is False."""
    lock = FileLock(path)
    try:
        lock.acquire(wait=wait)
    except LockHeld:
        yield None
        return
    try:
        yield lock
    finally:
        lock.release()
