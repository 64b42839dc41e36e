"""Fetch one file into the library: stream to a ``.part`` file, verify, then move into place.

The ``.part`` file lives in ``DAM Import/<connection>/.partial/`` (same file system, so the final
``os.replace`` is atomic), is opened with ``O_EXCL|O_NOFOLLOW`` under a random name, and is
removed on any failure. No whole file is ever held in memory. A file is published only when its
byte count equals the provider's size and its hash equals the provider's checksum (when given).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from ..errors import AuthError, DamkitError, HttpError
from ..library import PART_SUFFIX
from ..providers.base import Provider, RemoteAsset

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_FATAL_ERRNO = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS})


class FetchError(Exception):
    """One file failed. ``retryable``: try it again in this run; ``fatal``: stop the run."""

    def __init__(self, message: str, *, retryable: bool = True, fatal: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable and not fatal
        self.fatal = fatal


def parse_checksum(checksum: str | None) -> tuple[str, str] | None:
    """``"md5:ab12.."`` -> ``("md5", "ab12..")``; None when absent or of an unknown kind."""
    if not checksum or ":" not in checksum:
        return None
    algo, _, digest = checksum.partition(":")
    algo = algo.strip().lower().replace("-", "")
    if algo not in ("md5", "sha1", "sha256", "sha512") or not digest.strip():
        return None
    return algo, digest.strip().lower()


def _hasher(algo: str) -> Any:
    return hashlib.new(algo, usedforsecurity=False)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _classify(exc: BaseException) -> FetchError:
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, OSError):
        if exc.errno in _FATAL_ERRNO:
            return FetchError(f"cannot write to the library: {os.strerror(exc.errno or 0)}",
                              fatal=True)
        return FetchError(f"cannot write the file: {exc.strerror or exc}", retryable=False)
    if isinstance(exc, AuthError):
        return FetchError(exc.message, fatal=True)
    if isinstance(exc, HttpError):
        transient = exc.status is None or exc.status in (408, 429) or exc.status >= 500
        return FetchError(exc.message, retryable=transient)
    if isinstance(exc, DamkitError):
        return FetchError(exc.message, retryable=False)
    return FetchError(f"{type(exc).__name__}: {exc}", retryable=True)


async def fetch_file(provider: Provider, asset: RemoteAsset, target: Path, part_dir: Path) -> int:
    """Download ``asset`` to ``target`` atomically; returns the byte count. Raises FetchError."""
    part_dir.mkdir(parents=True, exist_ok=True)
    part = part_dir / f"{secrets.token_hex(12)}{PART_SUFFIX}"
    expected = parse_checksum(asset.checksum)
    hasher = _hasher(expected[0]) if expected else None
    fd = -1
    count = 0
    try:
        fd = os.open(part, _OPEN_FLAGS, 0o644)
        async for chunk in provider.download(asset):
            if not chunk:
                continue
            _write_all(fd, chunk)
            count += len(chunk)
            if hasher is not None:
                hasher.update(chunk)
            if asset.size is not None and count > asset.size:
                raise FetchError(f"received more than the {asset.size} bytes announced")
        if asset.size is not None and count != asset.size:
            raise FetchError(f"incomplete file: {count} of {asset.size} bytes")
        if hasher is not None and expected is not None and hasher.hexdigest() != expected[1]:
            raise FetchError(f"{expected[0]} checksum mismatch")
        await asyncio.to_thread(os.fsync, fd)
        os.close(fd)
        fd = -1
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, target)
        return count
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(part)
        except OSError:
            pass
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
            raise
        raise _classify(exc) from None


def _hash_file(path: Path, algo: str) -> str:
    h = _hasher(algo)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


async def file_matches(path: Path, size: int | None, checksum: str | None) -> bool:
    """Is the file at ``path`` exactly the provider's (size and checksum)? Hashes in a thread."""
    expected = parse_checksum(checksum)
    if expected is None or size is None:
        return False
    try:
        if os.stat(path).st_size != size:
            return False
        return await asyncio.to_thread(_hash_file, path, expected[0]) == expected[1]
    except OSError:
        return False


def sweep_partials(part_dir: Path) -> int:
    """Remove temporary files left by a killed run (call under the connection's sync lock)."""
    removed = 0
    try:
        entries = list(os.scandir(part_dir))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
    return removed


__all__ = ["FetchError", "fetch_file", "file_matches", "parse_checksum", "sweep_partials"]
