"""A TinyDB storage for reading (and writing) any file of the index with TinyDB itself.

Kept apart from :mod:`.storage` so that only a caller who wants TinyDB imports it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from .storage import corrupt_error, read_json, write_json_atomic


class AtomicJSONStorage(Storage):
    """A ``tinydb`` storage that writes atomically (orjson, temp file + ``os.replace``).

    Usable directly with TinyDB to inspect any index file, e.g.
    ``TinyDB(shard_path, storage=AtomicJSONStorage, access_mode="r").table("assets").all()``.
    A missing file reads as empty (``None``); a corrupt one raises :class:`IndexCorruptError`.
    """

    def __init__(self, path: str | os.PathLike[str], create_dirs: bool = True, **_: Any) -> None:
        super().__init__()
        self.path = Path(path)
        if create_dirs:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> dict[str, dict[str, Any]] | None:
        """Re-read and parse the whole file (never a cached handle)."""
        try:
            data = read_json(self.path)
        except FileNotFoundError:
            return None
        if not isinstance(data, dict):
            raise corrupt_error(self.path, "is not a TinyDB document set")
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        """Atomically replace the file with ``data``."""
        write_json_atomic(self.path, data)

    def close(self) -> None:
        """Nothing to close: no handle is kept open."""


__all__ = ["AtomicJSONStorage"]
