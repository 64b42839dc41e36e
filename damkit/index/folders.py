"""Library folders (``DAM Import/<connection>`` and their parents), one document per path."""

from __future__ import annotations

from .batch import Batch
from .core import IndexCore
from .state import Doc, copy_json, folder_path, now_iso


class FolderWrites(Batch):
    """Transaction methods for folders."""

    def ensure_folder(self, path: str) -> Doc:
        """Create the library folder ``path`` (and its parents) if missing; returns it."""
        self._check()
        norm = folder_path(path)
        parts = norm.split("/")
        folders = self._st.folders
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in folders:
                folders[sub] = {
                    "path": sub,
                    "name": parts[i - 1],
                    "parent": "/".join(parts[: i - 1]) or None,
                    "created": now_iso(),
                }
                self.dirty_tables.add("folders")
        return copy_json(folders[norm])  # type: ignore[no-any-return]


class FolderReads(IndexCore):
    """Index methods for folders."""

    def folders(self) -> list[Doc]:
        """Library folders, sorted by path."""
        with self._mutex:
            self._read()
            folders = self._st.folders
            return copy_json([folders[p] for p in sorted(folders)])  # type: ignore[no-any-return]

    def ensure_folder(self, path: str) -> Doc:
        """The folder ``path`` (e.g. ``"DAM Import/acme"``), created with its parents if missing."""
        norm = folder_path(path)
        with self._mutex:
            self._read()
            doc = self._st.folders.get(norm)
            if doc is not None:
                return copy_json(doc)  # type: ignore[no-any-return]
        with self.transaction() as tx:
            return tx.ensure_folder(norm)


__all__ = ["FolderReads", "FolderWrites"]
