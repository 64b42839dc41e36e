"""Questions over every asset: filtered lists and counts per connection and status."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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

        A scan of every document is bound by memory access, so each document is touched as
        little as possible: the values alone (the connection is in the document), the rarest
        match (a tag) tested first, and each test skipped when its filter is not given. From
        the second query by tag in a process on, each shard's tag column (:mod:`.columns`)
        picks the documents that carry the tag, and the others are not touched at all.
        """
        needle = name_contains.casefold() if name_contains is not None else None
        st = self._st
        columns = tag is not None and st.tag_queries > 0  # a cache for a process that asks again
        if tag is not None:
            st.tag_queries += 1
        for shard in st.shards.values():
            if tag is not None and (columns or shard.cols is not None):
                docs: Iterable[Doc] = shard.tag_column().with_tag(tag)
                test_tag = None  # the column matched it
            else:
                docs, test_tag = shard.docs.values(), tag
            for doc in docs:
                if test_tag is not None:
                    tags = doc.get("tags")
                    if tags.__class__ is not list or test_tag not in tags:
                        continue
                if connection is not None and doc["connection"] != connection:
                    continue
                if provider is not None and doc.get("provider") != provider:
                    continue
                if status is not None and doc.get("status") != status:
                    continue
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
