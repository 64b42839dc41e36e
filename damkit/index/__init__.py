"""The library index: assets, connections, sync runs, events and folders of a workspace.

On disk: small TinyDB-format JSON files, written atomically and committed through a manifest under
an inter-process lock (see ``docs/index.md``). Use :class:`LibraryIndex`; nothing else in damkit
needs TinyDB.
"""

from __future__ import annotations

from .backups import latest_backup, list_backups
from .repository import LibraryIndex, Transaction
from .storage import AtomicJSONStorage

__all__ = ["AtomicJSONStorage", "LibraryIndex", "Transaction", "latest_backup", "list_backups"]
