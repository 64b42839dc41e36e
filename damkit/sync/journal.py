"""A per-connection journal of files put in place but not yet committed to the index.

Index commits are batched (one transaction per page), so a process killed between two commits
would forget files that are already whole in the library, and the next run would fetch them
again. Each finished file's record is therefore appended to ``state/<connection>/sync.journal``
(one JSON line, one ``write`` on an ``O_APPEND`` descriptor) right after it is published. The
next run replays the journal (records whose file is present with the recorded size) before it
plans, then deletes it; a run that ends normally deletes it too. A torn last line is skipped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

JOURNAL = "sync.journal"


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def append(self, doc: dict[str, Any]) -> None:
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                               | getattr(os, "O_CLOEXEC", 0), 0o600)
        os.write(self._fd, orjson.dumps(doc) + b"\n")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def discard(self) -> None:
        """Forget the journal (everything in it is committed to the index)."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def read(self, size_of: Callable[[str], int | None]) -> list[dict[str, Any]]:
        """Journaled records whose file is still whole in the library (last entry per asset
        wins); ``size_of``: a record path's byte count, None when absent."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        latest: dict[str, dict[str, Any]] = {}
        for line in raw.splitlines():
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a torn line (power loss): that file is fetched again
            if isinstance(doc, dict) and isinstance(doc.get("provider_id"), str):
                latest[doc["provider_id"]] = doc
        out = []
        for doc in latest.values():
            rel = doc.get("local_path")
            if isinstance(rel, str) and rel and size_of(rel) == doc.get("size", -1):
                out.append(doc)
        return out


__all__ = ["JOURNAL", "Journal"]
