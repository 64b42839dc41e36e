"""The library index: assets, connections, sync runs, events and folders of a workspace.

On disk: small TinyDB-format JSON files, written atomically and committed through a manifest under
an inter-process lock (see ``docs/index.md``). Use :class:`LibraryIndex`; nothing else in damkit
needs TinyDB. Typed records of what it hands out live in :mod:`damkit.index.models`.
:func:`open_index` opens either it or the PostgreSQL backend (:mod:`damkit.index.postgres`,
imported only for a ``postgresql://`` URL); both satisfy :class:`Index`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api import Index, IndexTransaction, SyncLock
from .backups import latest_backup, list_backups
from .factory import ENV_INDEX_URL, index_location, is_database_url, open_index
from .repository import LibraryIndex, Transaction

if TYPE_CHECKING:
    from .models import AssetRecord, ConnectionRecord, LibraryStats, RunRecord, StatusCounts
    from .tinydb_storage import AtomicJSONStorage

_MODELS = frozenset({"AssetRecord", "ConnectionRecord", "LibraryStats", "RunRecord", "StatusCounts"})


def __getattr__(name: str) -> Any:
    """The typed records load on first use (building pydantic models costs ~25 ms at start), and
    the TinyDB storage class too (importing TinyDB, ~4 ms)."""
    if name in _MODELS:
        from . import models

        return getattr(models, name)
    if name == "AtomicJSONStorage":
        from .tinydb_storage import AtomicJSONStorage

        return AtomicJSONStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ENV_INDEX_URL", "AssetRecord", "AtomicJSONStorage", "ConnectionRecord", "Index",
           "IndexTransaction", "LibraryIndex", "LibraryStats", "RunRecord", "StatusCounts",
           "SyncLock", "Transaction", "index_location", "is_database_url", "latest_backup",
           "list_backups", "open_index"]
