"""Connections in the index: settings without secrets, one document per name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .batch import Batch
from .core import IndexCore
from .state import Doc, copy_json, json_copy

if TYPE_CHECKING:
    pass


class ConnectionWrites(Batch):
    """Transaction methods for connections."""

    def put_connection(self, doc: Doc) -> None:
        """Insert or replace the connection named ``doc["name"]`` (settings without secrets)."""
        self._check()
        stored = json_copy(doc, "connection")
        if not isinstance(stored.get("name"), str) or not stored["name"]:
            raise ValueError("a connection needs a non-empty 'name'")
        self._st.connections[stored["name"]] = stored
        self.dirty_tables.add("connections")

    def remove_connection(self, name: str) -> bool:
        """Remove a connection (not its assets); returns whether it existed."""
        self._check()
        if self._st.connections.pop(name, None) is None:
            return False
        self.dirty_tables.add("connections")
        return True


class ConnectionReads(IndexCore):
    """Index methods for connections."""

    def get_connection(self, name: str) -> Doc | None:
        """The connection's settings (without secrets), or ``None``."""
        with self._mutex:
            self._read()
            doc = self._st.connections.get(name)
            return None if doc is None else copy_json(doc)

    def list_connections(self) -> list[Doc]:
        """All connections, sorted by name."""
        with self._mutex:
            self._read()
            conns = self._st.connections
            return copy_json([conns[n] for n in sorted(conns)])  # type: ignore[no-any-return]


__all__ = ["ConnectionReads", "ConnectionWrites"]
