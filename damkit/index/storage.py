"""Atomic, crash-safe JSON files for the library index.

Every file of the index is written the same way: serialise first (orjson), write a temporary
file in the same directory, ``fsync`` it, ``os.replace`` it over the target, then ``fsync`` the
directory. A crash at any moment leaves either the old file or the new one, never a torn file
(TinyDB's own ``JSONStorage`` rewrites in place and can tear, see msiemens/tinydb #301, #461).

Reads re-open the file every time (a kept handle would pin the old inode after a replace) and
raise :class:`~damkit.errors.IndexCorruptError` on anything unreadable: a corrupt file is never
treated as empty.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from ..errors import IndexCorruptError

TMP_SUFFIX = ".tmp"


def fsync_dir(directory: Path) -> None:
    """Make renames and new entries in ``directory`` durable (no-op where unsupported)."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:  # Windows: directories cannot be opened/fsynced
        return
    fd = os.open(directory, flags | os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dumps(data: Any) -> bytes:
    """Serialise ``data`` as JSON (raises ``TypeError`` before anything touches the disk)."""
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


def write_bytes_atomic(path: Path, payload: bytes, *, sync_dir: bool = True) -> None:
    """Write ``payload`` to ``path`` atomically: temp file, fsync, ``os.replace``, dir fsync.

    With ``sync_dir=False`` the caller promises to call :func:`fsync_dir` itself (used to batch
    one directory fsync over several new files of a commit).
    """
    directory = path.parent
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(directory)


def write_json_atomic(path: Path, data: Any, *, sync_dir: bool = True) -> None:
    """Serialise ``data`` and write it atomically to ``path``."""
    write_bytes_atomic(path, dumps(data), sync_dir=sync_dir)


def corrupt_error(path: Path, what: str) -> IndexCorruptError:
    """An :class:`IndexCorruptError` about ``path`` (kept in its ``path`` attribute)."""
    err = IndexCorruptError(f"index file {path} {what}")
    err.path = Path(path)  # type: ignore[attr-defined]
    return err


def read_file(path: Path) -> bytes:
    """The bytes of ``path``: ``FileNotFoundError`` if it does not exist, else
    :class:`IndexCorruptError` if it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise corrupt_error(path, f"cannot be read: {exc}") from exc


def read_buffer(path: Path) -> bytearray:
    """Like :func:`read_file`, into one mutable buffer (a large file is held once, not twice)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            buffer = bytearray(size)
            got = handle.readinto(buffer)
            if got != size:  # the file changed size while read: what was read
                del buffer[got:]
            return buffer
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise corrupt_error(path, f"cannot be read: {exc}") from exc


def read_json(path: Path) -> Any:
    """Parse the JSON file at ``path``.

    Raises ``FileNotFoundError`` if it does not exist and :class:`IndexCorruptError` if it is
    empty, unreadable or not valid JSON.
    """
    return parse_json(path, read_file(path))


def parse_json(path: Path, raw: bytes | bytearray | memoryview) -> Any:
    """Parse bytes read from ``path``; IndexCorruptError if empty or not JSON."""
    view = memoryview(raw)
    if not bytes(view[:64]).strip() and not bytes(view).strip():  # (no copy of a large file)
        raise corrupt_error(path, "is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise corrupt_error(path, f"is not valid JSON: {exc}") from exc


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide and not thread-safe

