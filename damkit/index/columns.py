"""Each shard's tags in a compact form, for queries by tag (a column cache).

A query scans every document, and a scan is bound by memory access: each document is a dict
with its own list of tag strings, and the documents a long-lived process replaced since it
loaded them lie all over memory (a scan meets them about three times slower than freshly
parsed ones). So a shard keeps, once queries by tag ask, its documents in order and all their
tags in one text, one run per document (``"\\0hero\\0spring\\0" "\\0logo\\0"``), built by C
loops in one pass: about 35 bytes per asset. A query by tag searches that text and touches only
the documents whose run holds the tag; the rows it found are kept for the next query by that
tag (for the last few tags asked). Any change to the shard drops its column, and the next
query by tag builds it again (a few milliseconds per shard). Every hit is confirmed on the
document itself unless the column proves it (every document's tags a list of strings free of
the separator), so the column can only make a query faster, never change what it finds.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate, repeat
from operator import add, methodcaller, sub
from typing import Any

Doc = dict[str, Any]
SEP = "\x00"
_TAGS = methodcaller("get", "tags")
_START = methodcaller("start")
POSTINGS = 8
"""The rows of at most this many tags are kept per shard (the tags asked most lately)."""


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
    """One shard's documents in order and all their tags in one text, with where each
    document's run (its tags joined by SEP, between two SEPs) starts."""

    __slots__ = ("docs", "exact", "postings", "starts", "text")

    def __init__(self, docs: dict[str, Doc]) -> None:
        self.docs = list(docs.values())
        tags = list(map(_TAGS, self.docs))
        exact = bool(tags) and set(map(type, tags)) == {list}
        try:  # every document with a list of string tags: str.join, mapped in C
            runs = list(map(SEP.join, tags))
        except TypeError:
            runs, exact = [_run(t) for t in tags], False
        sums = accumulate(map(len, runs), initial=0)  # C loops: no Python code per document
        self.starts = array("q", map(add, sums, range(0, 2 * len(runs) + 2, 2)))
        self.text = SEP + (SEP + SEP).join(runs) + SEP if runs else ""
        if exact:  # lists of strings: does any tag hold SEP? Count the SEPs the runs would have
            counts = list(map(len, tags))
            exact = self.text.count(SEP) == 2 * len(runs) + sum(counts) - len(runs) + counts.count(0)
        # exact: every document's tags a list of strings, none holding SEP, so a hit of a tag
        # that is neither empty nor holds SEP is one of the tags of the run it falls in
        self.exact = exact
        self.postings: dict[str, list[int]] = {}  # tag -> its rows, for the tags asked lately

    def with_tag(self, tag: str) -> Iterator[Doc]:
        """The documents (not copies) whose ``tags`` list holds ``tag``, in shard order."""
        text, starts, docs = self.text, self.starts, self.docs
        needle = SEP + tag + SEP
        if self.exact and tag and SEP not in tag:
            rows = self.postings.get(tag)
            if rows is None:
                # every hit is a tag of its run; two hits share a SEP only within one run (a
                # tag listed twice), so the non-overlapping hits reach every run holding it.
                # C loops: the hits' positions, their runs (i + 1, by bisect), each run once
                hits = map(_START, re.finditer(re.escape(needle), text))
                runs = dict.fromkeys(map(bisect_right, repeat(starts), hits))
                rows = list(map(sub, runs, repeat(1)))
                if len(self.postings) >= POSTINGS:
                    del self.postings[next(iter(self.postings))]
                self.postings[tag] = rows
            yield from map(docs.__getitem__, rows)
            return
        last = -1
        at = text.find(needle)
        while at >= 0:
            row = bisect_right(starts, at) - 1
            if row != last:
                last = row
                doc = docs[row]
                carried = doc.get("tags")
                if carried.__class__ is list and tag in carried:  # as a scan tests it
                    yield doc
            at = text.find(needle, at + 1)


__all__ = ["TagColumn"]
