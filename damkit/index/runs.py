"""The library's history: sync runs (one document per run) and the capped event log."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..errors import NotFoundError
from . import tuning
from .batch import Batch
from .core import IndexCore
from .state import Doc, copy_json, json_copy, now_iso

if TYPE_CHECKING:
    from .models import RunRecord


class RunWrites(Batch):
    """Transaction methods for runs and events."""

    def add_run(self, doc: Doc) -> str:
        """Record a sync run; returns its id (``doc["id"]`` if given)."""
        self._check()
        stored = json_copy(doc, "run")
        run_id = stored.get("id") or (
            datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        )
        if not isinstance(run_id, str):
            raise ValueError("a run id must be a string")
        stored["id"] = run_id
        stored.setdefault("started", now_iso())
        self._st.runs[run_id] = stored
        self.dirty_tables.add("runs")
        return run_id

    def update_run(self, run_id: str, fields: Doc) -> None:
        """Merge fields into a run; raises NotFoundError if there is none with that id."""
        self._check()
        old = self._st.runs.get(run_id)
        if old is None:
            raise NotFoundError(f"no sync run {run_id!r}")
        self._st.runs[run_id] = {**old, **json_copy(fields, "run fields"), "id": run_id}
        self.dirty_tables.add("runs")

    def add_event(self, doc: Doc) -> None:
        """Append an event (``at`` defaults to now); only the newest MAX_EVENTS are kept."""
        self._check()
        stored = json_copy(doc, "event")
        stored.setdefault("at", now_iso())
        events = self._st.events
        events.append(stored)
        if len(events) > tuning.MAX_EVENTS:
            del events[: len(events) - tuning.MAX_EVENTS]
        self.dirty_tables.add("events")


class RunReads(IndexCore):
    """Index methods for runs and events."""

    def runs(self, connection: str | None = None, limit: int | None = None) -> list[Doc]:
        """Sync runs, newest first, optionally of one connection."""
        with self._mutex:
            self._read()
            out = [r for r in reversed(self._st.runs.values())
                   if connection is None or r.get("connection") == connection]
            return copy_json(out if limit is None else out[:limit])  # type: ignore[no-any-return]

    def run_record(self, run_id: str) -> RunRecord | None:
        """One run as a typed record, or ``None``."""
        with self._mutex:
            self._read()
            doc = self._st.runs.get(run_id)
            raw = None if doc is None else copy_json(doc)
        from .models import RunRecord

        return None if raw is None else RunRecord.model_validate(raw)

    def events(self, limit: int = 100) -> list[Doc]:
        """The newest events, newest first."""
        with self._mutex:
            self._read()
            return copy_json(self._st.events[-limit:][::-1]) if limit > 0 else []


__all__ = ["RunReads", "RunWrites"]
