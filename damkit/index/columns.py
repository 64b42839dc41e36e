"""Each shard's documents per tag, for the tags asked lately (a cache for queries by tag).

A query scans every document, and a scan is bound by memory access: each document is a dict
with its own list of tag strings, and the documents a long-lived process replaced since it
loaded them lie all over memory (a scan meets them about three times slower than freshly
parsed ones). So once queries by tag ask again, a shard keeps, for each of the last few tags
asked, the documents that carry it (references, in shard order: 8 bytes each), found by one
scan of the shard that tests each document exactly as a query's scan does. A query by a tag
kept touches only the documents that carry it. Any change to the shard drops what it kept, and
the next query by tag scans that shard again (a few milliseconds). The cache holds no text or
copy of the tags: at 100,000 assets a tag carried by one asset in eight costs about 100 KB.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Doc = dict[str, Any]
POSTINGS = 8
"""The documents of at most this many tags are kept per shard (the tags asked most lately)."""


class TagColumn:
    """One shard's documents that carry each of the tags asked lately, in shard order."""

    __slots__ = ("docs", "postings")

    def __init__(self, docs: dict[str, Doc]) -> None:
        self.docs = docs  # the shard's own mapping: the column is dropped when it changes
        self.postings: dict[str, list[Doc]] = {}

    def with_tag(self, tag: str) -> Iterator[Doc]:
        """The documents (not copies) whose ``tags`` list holds ``tag``, in shard order."""
        found = self.postings.get(tag)
        if found is None:
            found = []
            keep = found.append
            for doc in self.docs.values():
                carried = doc.get("tags")
                if carried.__class__ is list and tag in carried:  # as a scan tests it
                    keep(doc)
            if len(self.postings) >= POSTINGS:
                del self.postings[next(iter(self.postings))]
            self.postings[tag] = found
        yield from found


__all__ = ["TagColumn"]
