"""The library index: assets, connections, sync runs, events and folders of a workspace.

On disk: small TinyDB-format JSON files, written atomically and committed through a manifest under
an inter-process lock (see ``docs/index.md``). Use :class:`LibraryIndex`; nothing else in damkit
needs TinyDB. Typed records of what it hands out live in :mod:`damkit.index.models`.
"""

from __future__ import annotations

from .backups import latest_backup, list_backups
from .models import AssetRecord, ConnectionRecord, LibraryStats, RunRecord, StatusCounts
from .repository import LibraryIndex, Transaction
from .storage import AtomicJSONStorage

__all__ = ["AssetRecord", "AtomicJSONStorage", "ConnectionRecord", "LibraryIndex", "LibraryStats",
           "RunRecord", "StatusCounts", "Transaction", "latest_backup", "list_backups"]
