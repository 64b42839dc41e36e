"""The per-connection sync lock of the file index: an OS file lock beside the index files.

One sync of a connection at a time across the processes of one machine; the OS releases it when
the holder dies. (On PostgreSQL the same lock is a session advisory lock: across machines.)
"""

from __future__ import annotations

from pathlib import Path

from ..errors import IndexLockedError
from ..oslock import FileLock, LockTimeout

LOCK_DIR = "locks"
"""Folder of the index holding ``sync-<connection>.lock`` files."""


class FileSyncLock:
    """A non-blocking file lock (``try_acquire``/``release``, or ``with``)."""

    def __init__(self, path: Path, connection: str) -> None:
        self.path = path
        self.connection = connection
        self._lock = FileLock(str(path), thread_local=False)

    def try_acquire(self) -> bool:
        if self._lock.is_locked:
            return False  # not re-entrant: a second run in this process is refused too
        try:
            self._lock.acquire(timeout=0)
        except LockTimeout:
            return False
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

    def __enter__(self) -> FileSyncLock:
        if not self.try_acquire():
            raise IndexLockedError(f"a sync of '{self.connection}' is already running")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def sync_lock_path(directory: Path, connection: str) -> Path:
    """Where the file index keeps the sync lock of ``connection``."""
    if not connection or "/" in connection or "\\" in connection or connection in (".", ".."):
        raise ValueError(f"bad connection name {connection!r}")
    return directory / LOCK_DIR / f"sync-{connection}.lock"


__all__ = ["FileSyncLock", "sync_lock_path"]
