"""Fetch one file into the library: stream to a ``.part`` file, verify, then publish it.

The ``.part`` file lives in the store's staging folder (for the local folder,
``DAM Import/<connection>/.partial/``: same file system, so the final ``os.replace`` is atomic;
for a bucket, a local folder, then one atomic upload: :mod:`damkit.storage`), is opened with
``O_EXCL|O_NOFOLLOW`` under a random name, and is removed on any failure. No whole file is ever
held in memory. A file is published only when its byte count equals the provider's size and its
hash equals the provider's checksum (when given).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from typing import Any

from ..errors import (
    AuthError,
    BodyCut,
    CircuitOpen,
    DamkitError,
    LocalStorageError,
    RateLimited,
    local_storage_error,
)
from ..library import PART_SUFFIX
from ..providers.base import Provider, RemoteAsset
from ..storage import LibraryStore, chunks, split_rel

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class FetchError(Exception):
    """One file failed. ``retryable``: fetch it again in this run (only what the HTTP layer
    could not retry itself: a body cut off, a size or checksum that does not match);
    ``fatal``: stop the run (the disk refused, the credentials were refused, the breaker
    opened). ``cause``: the typed error behind it, when there is one."""

    def __init__(self, message: str, *, retryable: bool = True, fatal: bool = False,
                 cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable and not fatal
        self.fatal = fatal
        self.cause = cause


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


def _classify(exc: BaseException, where: str) -> FetchError:
    """Branch on the error's type: the HTTP layer already retried what it could."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, OSError):
        disk = local_storage_error(exc, where)
        if disk is not None:
            return FetchError(str(disk), fatal=True, cause=disk)
        return FetchError(f"cannot write the file: {exc.strerror or exc}", retryable=False,
                          cause=exc)
    if isinstance(exc, ValueError):  # a path that would leave the library
        return FetchError(str(exc), retryable=False, cause=exc)
    if isinstance(exc, LocalStorageError):
        return FetchError(str(exc), fatal=True, cause=exc)
    if isinstance(exc, (AuthError, CircuitOpen, RateLimited)):  # RateLimited: patience ran out
        return FetchError(exc.message, fatal=True, cause=exc)
    if isinstance(exc, BodyCut):
        return FetchError(exc.message, retryable=True, cause=exc)
    if isinstance(exc, DamkitError):
        return FetchError(exc.message, retryable=False, cause=exc)
    return FetchError(f"{type(exc).__name__}: {exc}", retryable=True, cause=exc)


async def fetch_file(provider: Provider, asset: RemoteAsset, store: LibraryStore, rel: str) -> int:
    """Download ``asset`` to library file ``rel`` atomically; the byte count. Raises FetchError."""
    part_dir = store.staging(split_rel(rel)[0])
    part = part_dir / f"{secrets.token_hex(12)}{PART_SUFFIX}"
    expected = parse_checksum(asset.checksum)
    hasher = _hasher(expected[0]) if expected else None
    fd = -1
    count = 0
    try:
        part_dir.mkdir(parents=True, exist_ok=True)
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
        publish = asyncio.ensure_future(asyncio.to_thread(store.publish, part, rel))
        try:
            await asyncio.shield(publish)
        except asyncio.CancelledError:
            # a move or an upload under way cannot be stopped: wait for it, so that a file that
            # lands in the library is recorded (the run is cancelled all the same)
            try:
                await publish
            except (OSError, ValueError, DamkitError):
                raise asyncio.CancelledError from None
        return count
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(part)
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
            raise
        raise _classify(exc, str(part_dir.parent)) from None


def _hash_file(store: LibraryStore, rel: str, algo: str) -> str:
    h = _hasher(algo)
    with store.open(rel) as handle:
        for chunk in chunks(handle):
            h.update(chunk)
    return str(h.hexdigest())


async def file_matches(store: LibraryStore, rel: str, size: int | None,
                       checksum: str | None) -> bool:
    """Is library file ``rel`` exactly the provider's (size and checksum)? Reads in a thread."""
    expected = parse_checksum(checksum)
    if expected is None or size is None:
        return False
    try:
        if await asyncio.to_thread(store.size, rel) != size:
            return False
        return await asyncio.to_thread(_hash_file, store, rel, expected[0]) == expected[1]
    except (OSError, ValueError, DamkitError):
        return False


__all__ = ["FetchError", "fetch_file", "file_matches", "parse_checksum"]
