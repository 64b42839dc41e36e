"""Questions over every asset: filtered lists and counts per connection and status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .core import IndexCore
from .state import Doc, copy_json

if TYPE_CHECKING:
    pass


class QueryReads(IndexCore):
    """Index methods that scan the assets."""

    def _matching(
        self,
        connection: str | None,
        provider: str | None,
        status: str | None,
        tag: str | None,
        name_contains: str | None,
    ) -> Iterator[Doc]:
        """Stored documents (not copies) matching every filter. Caller holds the mutex.

        A scan of every document is bound by memory access, so it reads each shard's column
        cache (:mod:`.columns`) rather than the documents: a tag's rows only, when a tag is
        given, and a document itself only to match ``name_contains`` or to return it.
        """
        needle = name_contains.casefold() if name_contains is not None else None
        for shard in self._st.shards.values():
            for doc in shard.columns().match(connection, provider, status, tag):
                if needle is not None and needle not in str(doc.get("name", "")).casefold():
                    continue
                yield doc

    def assets(
        self,
        *,
        connection: str | None = None,
        provider: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        name_contains: str | None = None,
    ) -> list[Doc]:
        """Assets matching every given filter (``tag``: exact tag; ``name_contains``: case-insensitive)."""
        with self._mutex:
            self._read(assets=True)
            found = list(self._matching(connection, provider, status, tag, name_contains))
            return copy_json(found)  # type: ignore[no-any-return]

    def stats(self, connection: str | None = None) -> dict[str, Any]:
        """Counts: ``{"assets", "bytes", "by_status", "by_connection": {name: {...}}}``."""
        with self._mutex:
            self._read(assets=True)
            per: dict[str, dict[str, Any]] = {}
            for doc in self._matching(connection, None, None, None, None):
                entry = per.get(doc["connection"])
                if entry is None:
                    entry = per[doc["connection"]] = {"assets": 0, "bytes": 0, "by_status": {}}
                entry["assets"] += 1
                size = doc.get("size")
                if isinstance(size, int) and not isinstance(size, bool):
                    entry["bytes"] += size
                st = str(doc.get("status"))
                entry["by_status"][st] = entry["by_status"].get(st, 0) + 1
        total: dict[str, Any] = {"assets": 0, "bytes": 0, "by_status": {}}
        for entry in per.values():
            total["assets"] += entry["assets"]
            total["bytes"] += entry["bytes"]
            for st, n in entry["by_status"].items():
                total["by_status"][st] = total["by_status"].get(st, 0) + n
        total["by_connection"] = {name: per[name] for name in sorted(per)}
        return total


__all__ = ["QueryReads"]
