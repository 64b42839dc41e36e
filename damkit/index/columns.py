"""The fields the queries filter on, kept per shard in a compact form (a column cache).

A query scans every document, and a scan is bound by memory access: each document is a dict
with its own strings, and the documents a long-lived process replaced since it loaded them lie
all over memory (a scan meets them about three times slower than freshly parsed ones). So each
shard keeps, once a query asks, its documents in order and beside them the connection, provider
and status of each (one shared string per distinct value) and, per tag, the rows that carry it.
A query by tag then visits only the rows with that tag; any other query reads the columns, not
the documents. The cache of a shard is dropped when the shard changes and rebuilt by the next
query, from the documents alone: it can never disagree with them.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator
from typing import Any

Doc = dict[str, Any]


def _shared(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


class Columns:
    """One shard's documents in order, their filter fields, and each tag's rows."""

    __slots__ = ("connection", "docs", "provider", "status", "tags")

    def __init__(self, docs: dict[str, Doc]) -> None:
        rows = list(docs.values())
        connection: list[Any] = []
        provider: list[Any] = []
        status: list[Any] = []
        tags: dict[str, array[int]] = {}
        for i, doc in enumerate(rows):
            connection.append(_shared(doc["connection"]))
            provider.append(_shared(doc.get("provider")))
            status.append(_shared(doc.get("status")))
            carried = doc.get("tags")
            if carried.__class__ is list:
                for tag in carried:
                    if type(tag) is not str:
                        continue
                    post = tags.get(tag)
                    if post is None:
                        tags[tag] = array("I", (i,))
                    elif post[-1] != i:  # a tag listed twice is one match
                        post.append(i)
        self.docs = rows
        self.connection = connection
        self.provider = provider
        self.status = status
        self.tags = tags

    def match(self, connection: str | None, provider: str | None, status: str | None,
              tag: str | None) -> Iterator[Doc]:
        """The documents (not copies) matching every given filter, in shard order; a document
        matches ``tag`` when its ``tags`` is a list holding that string, as in a scan."""
        rows: Any = range(len(self.docs)) if tag is None else self.tags.get(tag, ())
        docs, conns, provs, stats = self.docs, self.connection, self.provider, self.status
        connection, provider, status = _shared(connection), _shared(provider), _shared(status)
        for i in rows:
            if connection is not None and conns[i] != connection:
                continue
            if provider is not None and provs[i] != provider:
                continue
            if status is not None and stats[i] != status:
                continue
            yield docs[i]


__all__ = ["Columns"]
