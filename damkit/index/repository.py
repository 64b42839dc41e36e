"""The library index: a small repository API over sharded TinyDB files.

Nothing outside this package sees TinyDB ``Query`` objects: callers pass plain dicts and get
plain dicts or typed records (:mod:`damkit.index.models`). The API is assembled from one module
per concept (connections, assets, queries, runs, folders) over :mod:`.core` (lock, load,
refresh, transactions), :mod:`.batch` (commits) and :mod:`.state` (memory). See ``docs/index.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from .assets import AssetReads
from .batch import Batch
from .connections import ConnectionReads
from .derived import DerivedMethods
from .folders import FolderReads
from .queries import QueryReads
from .runs import RunReads
from .synclock import FileSyncLock, sync_lock_path
from .transaction import Transaction


class LibraryIndex(ConnectionReads, AssetReads, QueryReads, RunReads, FolderReads, DerivedMethods):
    """The local library index (assets, connections, sync runs, events, folders).

    Safe to use from several threads and several processes at once. Every mutating call is one
    atomic, durable commit; use :meth:`transaction` to batch several into one. Reads see other
    processes' commits (a cheap ``stat`` of the manifest on each call). Returned dicts are copies.
    """

    _transaction_class: ClassVar[type[Batch]] = Transaction

    @classmethod
    def open(cls, directory: Path, *, lock_timeout: float = 30.0) -> LibraryIndex:
        """Open the index in ``directory``, creating an empty one if there is none.

        Raises :class:`IndexCorruptError` (naming the file and the latest backup) if any index
        file is unreadable, and :class:`IndexLockedError` if the lock is not free within
        ``lock_timeout`` seconds. Backs up the index when it changed since the last backup and
        removes leftovers of interrupted commits.
        """
        index: LibraryIndex = cls._open(directory, lock_timeout=lock_timeout)
        return index

    def sync_lock(self, connection: str) -> FileSyncLock:
        """The lock that lets one sync of ``connection`` run at a time (a file lock in
        ``locks/``: across the processes of this machine; released if the holder dies)."""
        return FileSyncLock(sync_lock_path(self.directory, connection), connection)

    def __enter__(self) -> LibraryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["LibraryIndex", "Transaction"]
