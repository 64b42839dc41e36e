"""Each shard's tags in a compact form, for queries by tag (a column cache).

A query scans every document, and a scan is bound by memory access: each document is a dict
with its own list of tag strings, and the documents a long-lived process replaced since it
loaded them lie all over memory (a scan meets them about three times slower than freshly
parsed ones). So a shard keeps, once a query by tag asks, its documents in order and each
one's tags joined in one string (its run), built by C loops in one pass, and for a query all
runs in one text (``"\\0hero\\0spring\\0" "\\0logo\\0"``). A query by tag searches that text
and touches only the documents whose run holds the tag. A changed document replaces its run
(the text is joined again by the next query, from the runs alone, not the documents); an added
or removed asset drops the shard's column, and the next query by tag builds it again. Every
hit is confirmed on the document itself, so the column can only make a query faster, never
change what it finds.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate
from operator import add, methodcaller
from typing import Any

Doc = dict[str, Any]
SEP = "\x00"
_TAGS = methodcaller("get", "tags")


def _joined(tags: Any) -> str:
    """The string tags of one document joined by SEP (the slow path)."""
    if tags.__class__ is not list:
        return ""
    return SEP.join(t for t in tags if type(t) is str)


def _run(tags: Any) -> str:
    """One document's run: its tags joined by SEP. Anything but a list of strings may join
    into strings that are no tags (the characters of a string, the keys of a dict): those can
    only be false hits, and every hit is confirmed on the document."""
    try:
        return SEP.join(tags)
    except TypeError:
        return _joined(tags)


class TagColumn:
    """One shard's documents in order and each one's tags joined in one string (its run); for
    a query, every run in one text, with where each run starts."""

    __slots__ = ("_starts", "_text", "docs", "keys", "rows", "runs")

    def __init__(self, docs: dict[str, Doc]) -> None:
        self.keys = docs  # the shard's mapping: any key added or removed drops the column
        self.docs = list(docs.values())
        self.rows: dict[str, int] | None = None  # key -> row, made by the first replace
        try:  # every document with a list of string tags: str.join, mapped in C
            self.runs = list(map(SEP.join, map(_TAGS, self.docs)))
        except TypeError:
            self.runs = [_run(doc.get("tags")) for doc in self.docs]
        self._text = ""
        self._starts: array[int] | None = None

    def replace(self, key: str, doc: Doc) -> bool:
        """Follow a changed document in place; False when ``key`` has no row (a new asset)."""
        if self.rows is None:
            self.rows = dict(zip(self.keys, range(len(self.docs)), strict=True))
        row = self.rows.get(key)
        if row is None:
            return False
        self.docs[row] = doc
        self.runs[row] = _run(doc.get("tags"))
        self._starts = None
        return True

    def with_tag(self, tag: str) -> Iterator[Doc]:
        """The documents (not copies) whose ``tags`` list holds ``tag``, in shard order."""
        starts = self._starts
        if starts is None:  # run i is SEP + runs[i] + SEP, at starts[i]: C loops only
            runs = self.runs
            sums = accumulate(map(len, runs), initial=0)
            starts = self._starts = array("q", map(add, sums, range(0, 2 * len(runs) + 2, 2)))
            self._text = SEP + (SEP + SEP).join(runs) + SEP if runs else ""
        text, docs = self._text, self.docs
        needle = SEP + tag + SEP
        last = -1
        at = text.find(needle)
        while at >= 0:
            row = bisect_right(starts, at) - 1
            if row != last:
                last = row
                doc = docs[row]
                carried = doc.get("tags")
                if carried.__class__ is list and tag in carried:  # exact, as a scan tests it
                    yield doc
            at = text.find(needle, at + 1)


__all__ = ["TagColumn"]
